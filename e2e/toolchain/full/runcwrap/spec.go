package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// dropped is the capability this machine's bounding set lacks.
const dropped = "CAP_SYS_RESOURCE"

// clamped are the limits only CAP_SYS_RESOURCE could raise past the hard limit.
var clamped = map[string]int{
	"RLIMIT_NOFILE":  syscall.RLIMIT_NOFILE,
	"RLIMIT_NPROC":   6, // RLIMIT_NPROC on Linux (not in package syscall)
	"RLIMIT_MEMLOCK": 8, // RLIMIT_MEMLOCK on Linux
}

// hardLimit is this process's hard limit of resource r.
var hardLimit = func(r int) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(r, &l); err != nil {
		return 0, err
	}
	return l.Max, nil
}

// editFile rewrites the spec at path (a whole OCI config, or only its process when
// isProcess), keeping every field it does not change.
func editFile(path string, isProcess bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := editSpec(b, isProcess)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(out, b) {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".runcwrap")
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func editSpec(b []byte, isProcess bool) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // RLIM_INFINITY does not fit a float64
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	proc := doc
	if !isProcess {
		p, ok := doc["process"].(map[string]any)
		if !ok {
			return b, nil
		}
		proc = p
	}
	changed, err := editProcess(proc)
	if err != nil || !changed {
		return b, err
	}
	return json.Marshal(doc)
}

func editProcess(p map[string]any) (bool, error) {
	changed := false
	if caps, ok := p["capabilities"].(map[string]any); ok {
		for set, v := range caps {
			list, ok := v.([]any)
			if !ok {
				continue
			}
			kept := slices.DeleteFunc(slices.Clone(list), func(c any) bool { return c == dropped })
			if len(kept) != len(list) {
				caps[set] = kept
				changed = true
			}
		}
	}
	if rl, ok := p["rlimits"].([]any); ok {
		for _, e := range rl {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			typ, _ := m["type"].(string)
			r, ok := clamped[typ]
			if !ok {
				continue
			}
			hard, err := hardLimit(r)
			if err != nil {
				return false, err
			}
			for _, k := range []string{"hard", "soft"} {
				n, ok := m[k].(json.Number)
				if !ok {
					continue
				}
				v, err := strconv.ParseUint(n.String(), 10, 64)
				if err != nil {
					return false, fmt.Errorf("rlimit %s %s: %w", typ, k, err)
				}
				if v > hard {
					m[k] = json.Number(strconv.FormatUint(hard, 10))
					changed = true
				}
			}
		}
	}
	if n, ok := p["oomScoreAdj"].(json.Number); ok {
		if v, err := n.Int64(); err == nil && v < 0 {
			p["oomScoreAdj"] = json.Number("0")
			changed = true
		}
	}
	return changed, nil
}
