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
