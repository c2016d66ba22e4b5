package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decodeStrict decodes one YAML document into a Config. Every unknown field is
// reported with its path and line, not just the first one, so a user fixes a file in one go.
func decodeStrict(source string, data []byte) (*Config, error) {
	var cfg Config
	if _, err := DecodeStrict(source, data, &cfg, "start with apiVersion: "+APIVersion, "apiVersion, kind and spec"); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Lines maps a field path ("spec.verify[0].timeout") to the line it is on in the
// document, so that a check made after decoding can point at the line too.
type Lines map[string]int

// At is the line of path, or of the nearest enclosing field that has one.
func (l Lines) At(path string) int {
	for p := path; p != ""; {
		if n, ok := l[p]; ok {
			return n
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// DecodeStrict decodes one YAML document into out (a pointer to a struct with yaml
// tags), reporting every unknown or repeated field and every type error with its path,
// line and, for a near miss, a suggestion, all at once, as a *ConfigError. empty says
// what an empty document should start with, and fields what a document holds. Other
// labsbx documents (drill files) are read with it, so they fail the same way.
func DecodeStrict(source string, data []byte, out any, empty, fields string) (Lines, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{Source: source, Errs: []*FieldError{{Path: "(document)", Msg: "is empty; " + empty}}}
		}
		fe := &FieldError{Path: "(document)", Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		if _, serr := fmt.Sscanf(fe.Msg, "line %d:", &fe.Line); serr == nil {
			_, fe.Msg, _ = strings.Cut(fe.Msg, ": ")
		}
		return nil, &ConfigError{Source: source, Errs: []*FieldError{fe}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &ConfigError{Source: source, Errs: []*FieldError{{Path: "(document)", Line: extra.Line, Msg: "holds more than one YAML document"}}}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, &ConfigError{Source: source, Errs: []*FieldError{{Path: "(document)", Line: doc.Line, Msg: "must be a mapping with " + fields}}}
	}
	w := walker{lines: map[int]string{}, paths: Lines{}}
	w.check(doc, reflect.TypeOf(out), "")
	if len(w.errs) > 0 {
		return w.paths, &ConfigError{Source: source, Errs: w.errs}
	}
	if err := doc.Decode(out); err != nil {
		return w.paths, &ConfigError{Source: source, Errs: w.typeErrors(err)}
	}
	return w.paths, nil
}

// walker walks the node tree beside the Go type. It records every mapping key that has
// no field, with the field path and the line, and the path of each line so that the
// decoder's line-only type errors can name the field.
type walker struct {
	errs  []*FieldError
	lines map[int]string
	paths Lines
}

func (w *walker) check(n *yaml.Node, t reflect.Type, path string) {
	if _, ok := w.lines[n.Line]; !ok || n.Kind == yaml.ScalarNode {
		w.lines[n.Line] = path
	}
	if _, ok := w.paths[path]; !ok && path != "" {
		w.paths[path] = n.Line
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(Duration{}):
		return
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f
			}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				w.errs = append(w.errs, &FieldError{Path: p, Line: k.Line, Msg: "unknown field" + suggest(k.Value, fields)})
				continue
			}
			if seen[k.Value] {
				w.errs = append(w.errs, &FieldError{Path: p, Line: k.Line, Msg: "is set twice"})
			}
			seen[k.Value] = true
			w.check(v, f.Type, p)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			w.check(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest names a known field close to key: the same but for case, or one or two
// edits away (the most common typos).
func suggest(key string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	return Suggest(key, names)
}

// Suggest is " (did you mean "x"?)" for the known word closest to got (the same
// ignoring case, or at most two edits away), or "".
func Suggest(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		d := distance(strings.ToLower(got), strings.ToLower(k))
		if d < bestD || d == bestD && best != "" && k < best {
			best, bestD = k, d
		}
	}
	if best == "" || best == got {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance of two short words.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// typeErrors turns yaml.v3's type errors ("line 4: cannot unmarshal !!str `x` into int")
// into field errors. yaml.v3 does not report the path, only the line.
func (w *walker) typeErrors(err error) []*FieldError {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	out := make([]*FieldError, 0, len(msgs))
	for _, e := range msgs {
		fe := &FieldError{Path: "(document)", Msg: e}
		if _, err := fmt.Sscanf(e, "line %d:", &fe.Line); err == nil {
			_, fe.Msg, _ = strings.Cut(e, ": ")
			if p, ok := w.lines[fe.Line]; ok && p != "" {
				fe.Path = p
			}
		}
		fe.Msg = strings.ReplaceAll(fe.Msg, "!!str ", "string ")
		out = append(out, fe)
	}
	return out
}

// UnmarshalYAML reads "90s", "2m" or "1h30m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as \"90s\"", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use forms such as \"90s\" or \"5m\")", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// Marshal renders a config as YAML, the form `labsbx config view` prints.
func Marshal(c *Config) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("duration must be a string such as \"90s\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}
