package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"mvdan.cc/sh/v3/syntax"
)

// workflow is what a Gitea (or GitHub) Actions workflow file must hold for the
// runners to take it; unknown keys are errors, so a typo in the example fails here.
type workflow struct {
	Name        string            `yaml:"name"`
	On          map[string]any    `yaml:"on"`
	Concurrency map[string]any    `yaml:"concurrency"`
	Env         map[string]string `yaml:"env"`
	Jobs        map[string]struct {
		RunsOn         string            `yaml:"runs-on"`
		TimeoutMinutes int               `yaml:"timeout-minutes"`
		Env            map[string]string `yaml:"env"`
		Steps          []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			With map[string]string `yaml:"with"`
			Run  string            `yaml:"run"`
			If   string            `yaml:"if"`
			Env  map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// expr is an Actions expression; the test gives it a plain value a shell word can hold.
var expr = regexp.MustCompile(`\$\{\{[^}]*\}\}`)

// TestExampleWorkflows parses every example workflow, checks the shape the runners
// need (a trigger, jobs with runs-on and steps, each step one of run or uses, down
// always run), and runs every labsbx command line of every run script through labsbx's
// own parser: the subcommand must exist, its flags parse and its arguments validate.
func TestExampleWorkflows(t *testing.T) {
	files, err := filepath.Glob("../../examples/*/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example workflows: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wf workflow
			dec := yaml.NewDecoder(strings.NewReader(string(b)))
			dec.KnownFields(true)
			if err := dec.Decode(&wf); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if wf.Name == "" || len(wf.On) == 0 || len(wf.Jobs) == 0 {
				t.Fatalf("%s: a workflow needs name, on and jobs", f)
			}
			var lines [][]string
			downAlways := false
			for job, j := range wf.Jobs {
				if j.RunsOn == "" || len(j.Steps) == 0 {
					t.Errorf("job %s: needs runs-on and steps", job)
				}
				for i, st := range j.Steps {
					if (st.Run == "") == (st.Uses == "") {
						t.Errorf("job %s step %d (%s): exactly one of run and uses", job, i, st.Name)
					}
					if st.Run == "" {
						continue
					}
					cmds := labsbxCommands(t, expr.ReplaceAllString(st.Run, "x1"))
					for _, args := range cmds {
						if args[0] == "down" && st.If == "always()" {
							downAlways = true
						}
					}
					lines = append(lines, cmds...)
				}
			}
			if !downAlways {
				t.Error("no `labsbx down` step with if: always(): a failed job would leave its sandbox")
			}
			seen := map[string]bool{}
			for _, args := range lines {
				seen[args[0]] = true
				if err := parseOnly(args); err != nil {
					t.Errorf("labsbx %s: %v", strings.Join(args, " "), err)
				}
			}
			for _, want := range []string{"up", "ci", "drill", "down"} {
				if !seen[want] {
					t.Errorf("the example runs no `labsbx %s`", want)
				}
			}
		})
	}
}

// labsbxCommands are the arguments of every labsbx command in a shell script, found by
// a real shell parser (pipelines, lists, continuations and quotes included).
func labsbxCommands(t *testing.T, script string) [][]string {
	t.Helper()
	f, err := syntax.NewParser().Parse(strings.NewReader(script), "run")
	if err != nil {
		t.Fatalf("run script does not parse: %v\n%s", err, script)
	}
	var out [][]string
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 || wordString(call.Args[0]) != "labsbx" {
			return true
		}
		var args []string
		for _, w := range call.Args[1:] {
			args = append(args, wordString(w))
		}
		if len(args) == 0 {
			t.Errorf("a bare `labsbx` in %q", script)
			return true
		}
		out = append(out, args)
		return true
	})
	return out
}

// wordString is a shell word as the command receives it, with parameters standing for
// a plain value.
func wordString(w *syntax.Word) string {
	var sb strings.Builder
	var part func(p syntax.WordPart)
	part = func(p syntax.WordPart) {
		switch p := p.(type) {
		case *syntax.Lit:
			sb.WriteString(p.Value)
		case *syntax.SglQuoted:
			sb.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				part(q)
			}
		default: // $VAR, $(cmd) and the like
			sb.WriteString("x1")
		}
	}
	for _, p := range w.Parts {
		part(p)
	}
	return sb.String()
}

// parseOnly runs args through the command tree as labsbx would, up to (not including)
// running the command: the subcommand, its flags and its argument rules.
func parseOnly(args []string) error {
	root := newRootCmd(io.Discard, io.Discard, func(string) string { return "" })
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd == root || !cmd.Runnable() {
		return errUnknown(args)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	return cmd.ValidateArgs(cmd.Flags().Args())
}

type errUnknown []string

func (e errUnknown) Error() string { return "not a runnable labsbx command: " + strings.Join(e, " ") }
