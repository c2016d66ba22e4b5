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
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{Source: source, Errs: []*FieldError{{Path: "(document)", Msg: "is empty; start with apiVersion: " + APIVersion}}}
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
		return nil, &ConfigError{Source: source, Errs: []*FieldError{{Path: "(document)", Line: doc.Line, Msg: "must be a mapping with apiVersion, kind and spec"}}}
	}
	w := walker{lines: map[int]string{}}
	w.check(doc, reflect.TypeOf(Config{}), "")
	if len(w.errs) > 0 {
		return nil, &ConfigError{Source: source, Errs: w.errs}
	}
	var cfg Config
	if err := doc.Decode(&cfg); err != nil {
		return nil, &ConfigError{Source: source, Errs: w.typeErrors(err)}
	}
	return &cfg, nil
}

// walker walks the node tree beside the Go type. It records every mapping key that has
// no field, with the field path and the line, and the path of each line so that the
// decoder's line-only type errors can name the field.
type walker struct {
	errs  []*FieldError
	lines map[int]string
}

func (w *walker) check(n *yaml.Node, t reflect.Type, path string) {
	if _, ok := w.lines[n.Line]; !ok || n.Kind == yaml.ScalarNode {
		w.lines[n.Line] = path
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

// suggest names a known field that differs only in case, the most common typo.
func suggest(key string, fields map[string]reflect.StructField) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
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
