package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// Output is the format of results on stdout.
type Output string

const (
	OutputText Output = "text"
	OutputJSON Output = "json"
)

// ParseOutput accepts "text" and "json".
func ParseOutput(s string) (Output, error) {
	switch Output(s) {
	case OutputText, OutputJSON:
		return Output(s), nil
	}
	return "", fmt.Errorf("invalid output format %q: use text or json", s)
}

// WriteJSON writes v as indented JSON with a trailing newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Print writes a command's result v on w: as indented JSON when format is json, else
// through text, the command's own form for people (v as JSON when text is nil). It is
// the one place where a command's output format is decided.
func Print(w io.Writer, format Output, v any, text func(io.Writer) error) error {
	if format == OutputJSON || text == nil {
		return WriteJSON(w, v)
	}
	return text(w)
}
