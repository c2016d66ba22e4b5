// Package cli holds what the commands share for talking to a person: the step status
// lines on stderr (kind style) and the output format of results on stdout.
package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Status prints one line per step on stderr: " ✓ Creating network" when it succeeds,
// " ✗ Creating network" when it fails. On a terminal a spinner runs while the step
// works; elsewhere (CI, pipes) only the final line is written.
type Status struct {
	w       io.Writer
	quiet   bool
	spinner bool

	mu      sync.Mutex
	current string
	started time.Time
	stop    chan struct{}
	done    chan struct{}
}

// NewStatus writes to w. quiet suppresses step lines (errors still reach main).
func NewStatus(w io.Writer, quiet bool) *Status {
	s := &Status{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		s.spinner = true
	}
	return s
}

var frames = []string{"⠈⠁", "⠈⠑", "⠈⠱", "⠈⡱", "⢀⡱", "⢄⡱", "⢄⡱", "⢆⡱", "⢎⡱", "⢎⡰", "⢎⡠", "⢎⡀", "⢎⠁", "⠎⠁", "⠊⠁"}

// Start begins a step. A step still running is ended as failed first.
func (s *Status) Start(msg string) {
	s.End(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current, s.started = msg, time.Now()
	if s.quiet || !s.spinner {
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			s.mu.Lock()
			fmt.Fprintf(s.w, "\r %s %s ", frames[i%len(frames)], msg)
			s.mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}(s.stop, s.done)
}

// End finishes the running step with ✓ or ✗. It does nothing when no step runs.
func (s *Status) End(ok bool) {
	s.mu.Lock()
	msg, stop, done := s.current, s.stop, s.done
	s.current, s.stop, s.done = "", nil, nil
	s.mu.Unlock()
	if msg == "" {
		return
	}
	if stop != nil {
		close(stop)
		<-done
	}
	if s.quiet {
		return
	}
	mark := "✓"
	if !ok {
		mark = "✗"
	}
	prefix := ""
	if s.spinner {
		prefix = "\r\x1b[K"
	}
	s.mu.Lock()
	fmt.Fprintf(s.w, "%s %s %s\n", prefix, mark, msg)
	s.mu.Unlock()
}

// Step runs fn as one step and reports it.
func (s *Status) Step(msg string, fn func() error) error {
	s.Start(msg)
	err := fn()
	s.End(err == nil)
	return err
}

// Infof prints a plain progress line (not a step), unless quiet.
func (s *Status) Infof(format string, args ...any) {
	if s.quiet {
		return
	}
	_, _ = fmt.Fprintf(s, format+"\n", args...)
}

// Write writes whole lines (log records, Infof) through the status line, as kind's
// logger does: on a terminal the spinner's line is cleared first, and the spinner draws
// itself again on its next tick, so that a log line never tears it. A logger of the
// commands writes here, whatever -q says (its level decides).
func (s *Status) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spinner && s.current != "" {
		if _, err := fmt.Fprint(s.w, "\r\x1b[K"); err != nil {
			return 0, err
		}
	}
	return s.w.Write(p)
}
