// Package report is what a drill run reports: report.json (its schema beside it),
// junit.xml and report.md, and the guard-approved directory they are written to.
package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// SchemaVersion names the report schema (scenarios/report/report.schema.json). It changes only
// when a field changes meaning or disappears.
const SchemaVersion = "labsbx.dev/drill-report/v1"

//go:embed report.schema.json
var reportSchema []byte

// Schema is the JSON schema of report.json.
func Schema() []byte { return append([]byte(nil), reportSchema...) }

// Results.
const (
	ResultPassed  = "passed"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// Report is one drill run: report.json, and the source of junit.xml and report.md.
type Report struct {
	SchemaVersion string           `json:"schemaVersion"`
	Sandbox       string           `json:"sandbox"`
	Profile       string           `json:"profile"`
	LabsbxVersion string           `json:"labsbxVersion"`
	VaultVersion  string           `json:"vaultVersion"`
	Manual        bool             `json:"manual"`
	NoRecover     bool             `json:"noRecover"`
	StartedAt     time.Time        `json:"startedAt"`
	FinishedAt    time.Time        `json:"finishedAt"`
	DurationMs    int64            `json:"durationMs"`
	Result        string           `json:"result"`
	Scenarios     []ScenarioResult `json:"scenarios"`
	// With --repeat: the rounds, the order's seed, and each drill's figures over them.
	Repeat  int            `json:"repeat,omitempty"`
	Shuffle bool           `json:"shuffle,omitempty"`
	Seed    int64          `json:"seed,omitempty"`
	Summary []DrillSummary `json:"summary,omitempty"`
}

// ScenarioResult is one scenario's run.
type ScenarioResult struct {
	Name            string            `json:"name"`
	Description     string            `json:"description"`
	Result          string            `json:"result"`
	FailedPhase     string            `json:"failedPhase,omitempty"`
	Error           string            `json:"error,omitempty"`
	StartedAt       time.Time         `json:"startedAt"`
	FinishedAt      time.Time         `json:"finishedAt"`
	TimeToDetectMs  int64             `json:"timeToDetectMs"`
	TimeToRecoverMs int64             `json:"timeToRecoverMs"`
	TotalMs         int64             `json:"totalMs"`
	Phases          []PhaseResult     `json:"phases"`
	Milestones      []MilestoneOffset `json:"milestones"`
	// Checks are the cells of a drill that checks a matrix (policy-isolation); other
	// drills leave it out.
	Checks []Check `json:"checks,omitempty"`
	// Round is the run's round with --repeat (1, 2, …); 0 without.
	Round int `json:"round,omitempty"`
	// Source is the drill file a file drill came from.
	Source string `json:"source,omitempty"`
	// Probes are a drill file's probes, each phase's last try.
	Probes []ProbeResult `json:"probes,omitempty"`
	// Output is what a drill file's commands printed, redacted.
	Output []CommandOutput `json:"output,omitempty"`
	// Change is what a change drill (vault-upgrade) changed, how long Vault was
	// unavailable, and which evidence came through it; other drills leave it out.
	Change *Change `json:"change,omitempty"`
}

// Change is a change drill's account: the versions before and after, the window in
// which Vault served no request, and the evidence written before the change, each
// said to have survived or not.
type Change struct {
	// Kind is what changed: "vault-upgrade".
	Kind        string `json:"kind"`
	FromImage   string `json:"fromImage"`
	ToImage     string `json:"toImage"`
	FromVersion string `json:"fromVersion"`
	ToVersion   string `json:"toVersion,omitempty"`
	// LastGoodBefore is the last request Vault served before the change,
	// FirstGoodAfter the first it served after; UnavailableMs the time between (0 and
	// no FirstGoodAfter: Vault never served again in the drill).
	LastGoodBefore time.Time `json:"lastGoodBefore,omitzero"`
	FirstGoodAfter time.Time `json:"firstGoodAfter,omitzero"`
	UnavailableMs  int64     `json:"unavailableMs"`
	// Evidence is what was written before the change, and whether it came through.
	Evidence []Evidence `json:"evidence"`
	// Rollback says how the change is undone.
	Rollback string `json:"rollback"`
}

// Evidence is one thing written (or issued) before a change and checked after it.
type Evidence struct {
	Name     string `json:"name"`
	Survived bool   `json:"survived"`
	// Detail says what was checked, or why it did not survive (never a secret).
	Detail string `json:"detail,omitempty"`
}

// Lost are the evidence that did not survive.
func (c *Change) Lost() []Evidence {
	var out []Evidence
	for _, e := range c.Evidence {
		if !e.Survived {
			out = append(out, e)
		}
	}
	return out
}

// ProbeResult is one probe of a drill file, at its phase's last try.
type ProbeResult struct {
	Phase      string `json:"phase"`
	Probe      string `json:"probe"`
	Kind       string `json:"kind"`
	Pass       bool   `json:"pass"`
	Detail     string `json:"detail,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// CommandOutput is one command of a drill file (fault, recovery, rollback) as it ran:
// its text and output with secrets redacted, and its exit status (-1: it did not
// finish).
type CommandOutput struct {
	Phase    string `json:"phase"`
	Field    string `json:"field"`
	Command  string `json:"command"`
	ExitCode int    `json:"exitCode"`
	Output   string `json:"output"`
}

// Expectations and outcomes of a check.
const (
	Allow = "allow"
	Deny  = "deny"
	// Errored: Vault gave no answer that says either (no connection, sealed).
	Errored = "error"
)

// Identities of a check.
const (
	IdentityRuntime = "runtime"
	IdentityCI      = "ci"
)

// Check is one request a drill made to see whether Vault allows it: who asked, for
// what, what the layout expects, and what Vault did. It never holds a token.
type Check struct {
	// Identity is "runtime" (policy <app>) or "ci" (JWT role gitea_cicd_<app>, policy
	// <app>-ops), of App.
	Identity string `json:"identity"`
	App      string `json:"app"`
	// Target is the app whose path is asked for.
	Target    string `json:"target"`
	Operation string `json:"operation"`
	Path      string `json:"path"`
	Expected  string `json:"expected"`
	Got       string `json:"got"`
	// Detail is Vault's HTTP status, or why there was none.
	Detail     string  `json:"detail,omitempty"`
	DurationMs float64 `json:"durationMs"`
	Pass       bool    `json:"pass"`
}

// String names the cell and its outcome.
func (c Check) String() string {
	who := "runtime token of " + c.App
	if c.Identity == IdentityCI {
		who = "CI token of " + c.App
		if strings.HasPrefix(c.Operation, "login") {
			who = "CI of " + c.App
		}
	}
	return fmt.Sprintf("%s: %s %s: expected %s, got %s", who, c.Operation, c.Path, c.Expected, c.Got)
}

// FailedChecks are the checks that did not pass.
func FailedChecks(cs []Check) []Check {
	var out []Check
	for _, c := range cs {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

// PhaseResult is one phase of a scenario.
type PhaseResult struct {
	Name       string    `json:"name"`
	StartedAt  time.Time `json:"startedAt"`
	DurationMs int64     `json:"durationMs"`
	Result     string    `json:"result"`
	Error      string    `json:"error,omitempty"`
}

// MilestoneOffset is a milestone with its offset from the scenario's start.
type MilestoneOffset struct {
	Name     string    `json:"name"`
	At       time.Time `json:"at"`
	OffsetMs int64     `json:"offsetMs"`
}

// markdownTitle starts every report.md.
const markdownTitle = "# Drill report: sandbox "

// Files that Write writes.
const (
	JSONFile     = "report.json"
	JUnitFile    = "junit.xml"
	MarkdownFile = "report.md"
)

// Dir is a report directory the guard approved: a new or existing directory
// outside every state dir, where each report file is new or already a labsbx drill
// report of that kind.
type Dir struct {
	dir   guard.DirApproval
	files map[string]guard.FileApproval
}

// reportFormats are the files Write writes, with what an existing one must be.
var reportFormats = map[string]guard.Format{JSONFile: reportJSONFormat, JUnitFile: reportJUnitFormat, MarkdownFile: reportMDFormat}

// ApproveDir asks the guard for dir (relative to the working directory) before a
// drill runs, so that a refused directory costs nothing.
func ApproveDir(dir string, scope guard.WriteScope) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	d, err := guard.ApproveDir(abs, guard.DirFormat{Name: "report directory"}, scope)
	if err != nil {
		return nil, err
	}
	rd := &Dir{dir: d, files: map[string]guard.FileApproval{}}
	for name, f := range reportFormats {
		if rd.files[name], err = d.File(name, f); err != nil {
			return nil, err
		}
	}
	return rd, nil
}

// Path is the directory as approved.
func (rd *Dir) Path() string { return rd.dir.Path() }

// Write writes report.json, junit.xml and report.md. The guard checks each again.
func (rd *Dir) Write(r *Report) error {
	j, err := r.JSON()
	if err != nil {
		return err
	}
	x, err := r.JUnit()
	if err != nil {
		return err
	}
	if err := rd.dir.MkdirAll(0o755); err != nil {
		return fmt.Errorf("create report dir: %w", err)
	}
	for name, b := range map[string][]byte{JSONFile: j, JUnitFile: x, MarkdownFile: []byte(r.Markdown())} {
		if err := rd.files[name].WriteAtomic(b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Write approves dir and writes the three reports into it.
func Write(dir string, scope guard.WriteScope, r *Report) error {
	rd, err := ApproveDir(dir, scope)
	if err != nil {
		return err
	}
	return rd.Write(r)
}

// The formats of the report files: an existing file is replaced only when it is a
// labsbx drill report of the same kind.
var (
	reportJSONFormat = guard.Format{Name: "labsbx drill report (report.json)", Recognise: func(b []byte) error {
		var v struct {
			SchemaVersion string `json:"schemaVersion"`
		}
		if json.Unmarshal(b, &v) != nil || !strings.HasPrefix(v.SchemaVersion, "labsbx.dev/drill-report/") {
			return errors.New("no labsbx drill-report schemaVersion")
		}
		return nil
	}}
	reportJUnitFormat = guard.Format{Name: "labsbx JUnit report (junit.xml)", Recognise: func(b []byte) error {
		var v struct {
			XMLName xml.Name
			Name    string `xml:"name,attr"`
		}
		if xml.Unmarshal(b, &v) != nil || v.XMLName.Local != "testsuites" || v.Name != "labsbx" {
			return errors.New(`not a <testsuites name="labsbx"> document`)
		}
		return nil
	}}
	reportMDFormat = guard.Format{Name: "labsbx Markdown report (report.md)", Recognise: func(b []byte) error {
		if !bytes.HasPrefix(b, []byte(markdownTitle)) {
			return errors.New("it does not start with labsbx's report title")
		}
		return nil
	}}
)

// JSON is report.json.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	return append(b, '\n'), err
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func secs(msec int64) string { return fmt.Sprintf("%.3f", float64(msec)/1000) }

// JUnit is junit.xml: one testcase per scenario; a failure carries the failed phase.
func (r *Report) JUnit() ([]byte, error) {
	suite := junitSuite{Name: "labsbx drills (" + r.Profile + " profile, sandbox " + r.Sandbox + ")",
		Time: secs(r.DurationMs), Timestamp: r.StartedAt.UTC().Format("2006-01-02T15:04:05")}
	for _, s := range r.Scenarios {
		c := junitCase{Name: s.runName(), Classname: "labsbx.drill." + r.Profile, Time: secs(s.TotalMs)}
		var out strings.Builder
		for _, p := range s.Phases {
			fmt.Fprintf(&out, "%-13s %-7s %6d ms %s\n", p.Name, p.Result, p.DurationMs, p.Error)
		}
		fmt.Fprintf(&out, "time to detect %d ms, time to recover %d ms, total %d ms\n", s.TimeToDetectMs, s.TimeToRecoverMs, s.TotalMs)
		for _, ch := range s.Checks {
			fmt.Fprintf(&out, "%-4s %8.3f ms %s\n", passWord(ch.Pass), ch.DurationMs, ch)
		}
		for _, p := range s.Probes {
			fmt.Fprintf(&out, "%-4s %-13s %s %s\n", passWord(p.Pass), p.Phase, p.Probe, p.Detail)
		}
		for _, o := range s.Output {
			fmt.Fprintf(&out, "--- %s (%s), exit %d:\n%s\n", o.Field, o.Phase, o.ExitCode, strings.TrimRight(o.Output, "\n"))
		}
		if ch := s.Change; ch != nil {
			fmt.Fprintf(&out, "change %s: %s (%s) -> %s (%s), unavailable %d ms\n", ch.Kind, ch.FromImage, ch.FromVersion, ch.ToImage, ch.ToVersion, ch.UnavailableMs)
			for _, e := range ch.Evidence {
				fmt.Fprintf(&out, "%-4s evidence %s %s\n", passWord(e.Survived), e.Name, e.Detail)
			}
		}
		c.SystemOut = out.String()
		switch s.Result {
		case ResultPassed:
		case ResultSkipped:
			suite.Skipped++
			c.Skipped = &junitSkipped{Message: s.Error}
		default:
			suite.Failures++
			msg := s.FailedPhase + ": " + s.Error
			if failed := FailedChecks(s.Checks); len(failed) > 0 {
				// Every failed cell by name, whatever the error kept of them.
				names := make([]string, len(failed))
				for i, ch := range failed {
					names[i] = ch.String()
				}
				msg = fmt.Sprintf("%s: %d of %d checks failed: %s", s.FailedPhase, len(failed), len(s.Checks), strings.Join(names, "; "))
			}
			c.Failure = &junitFailure{Message: msg, Type: s.FailedPhase, Text: c.SystemOut}
		}
		suite.Tests++
		suite.Cases = append(suite.Cases, c)
	}
	all := junitSuites{Name: "labsbx", Tests: suite.Tests, Failures: suite.Failures, Time: suite.Time, Suites: []junitSuite{suite}}
	b, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// Markdown is report.md: a summary, then per scenario a mermaid gantt timeline (in the
// lab's docs convention) followed by the same milestones as an ordered list.
func (r *Report) Markdown() string {
	var b strings.Builder
	icon := map[string]string{ResultPassed: "✅", ResultFailed: "❌", ResultSkipped: "⏭️"}
	fmt.Fprintf(&b, markdownTitle+"`%s` (%s profile)\n\n", r.Sandbox, r.Profile)
	fmt.Fprintf(&b, "%s **%s** — %d scenario(s) in %s, started %s. labsbx %s, Vault %s.\n\n",
		icon[r.Result], r.Result, len(r.Scenarios), time.Duration(r.DurationMs)*time.Millisecond,
		r.StartedAt.UTC().Format(time.RFC3339), r.LabsbxVersion, r.VaultVersion)
	b.WriteString("| scenario | result | time to detect | time to recover | total |\n|---|---|---|---|---|\n")
	for _, s := range r.Scenarios {
		fmt.Fprintf(&b, "| %s | %s %s | %d ms | %d ms | %d ms |\n", s.runName(), icon[s.Result], s.Result, s.TimeToDetectMs, s.TimeToRecoverMs, s.TotalMs)
	}
	markdownSummary(&b, r)
	for _, s := range r.Scenarios {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", s.runName(), s.Description)
		if s.Source != "" {
			fmt.Fprintf(&b, "Drill file: `%s`\n\n", s.Source)
		}
		switch s.Result {
		case ResultFailed:
			fmt.Fprintf(&b, "**Failed in %s:** %s\n\n", s.FailedPhase, mdEscape(s.Error))
		case ResultSkipped:
			fmt.Fprintf(&b, "**Not run:** %s\n\n", mdEscape(s.Error))
		}
		b.WriteString("```mermaid\n%%{init: {'theme':'base'}}%%\ngantt\n")
		fmt.Fprintf(&b, "    title %s\n    dateFormat x\n    axisFormat %%S.%%L s\n", s.Name)
		b.WriteString("    section phases\n")
		for _, p := range s.Phases {
			if p.Result == ResultSkipped {
				continue
			}
			start := p.StartedAt.Sub(s.StartedAt).Milliseconds()
			tag := ""
			if p.Result == ResultFailed {
				tag = "crit, "
			}
			fmt.Fprintf(&b, "    %s : %s%d, %d\n", p.Name, tag, start, start+max(p.DurationMs, 1))
		}
		if len(s.Milestones) > 0 {
			b.WriteString("    section milestones\n")
			for _, m := range s.Milestones {
				fmt.Fprintf(&b, "    %s : milestone, %d, 0ms\n", ganttLabel(m.Name), m.OffsetMs)
			}
		}
		b.WriteString("```\n\n")
		for i, m := range s.Milestones {
			fmt.Fprintf(&b, "%d. **+%d ms** %s\n", i+1, m.OffsetMs, m.Name)
		}
		markdownChecks(&b, s.Checks)
		markdownProbes(&b, s.Probes, s.Output)
		markdownChange(&b, s.Change)
	}
	return b.String()
}

// markdownChange renders a change drill's versions, window and evidence.
func markdownChange(b *strings.Builder, c *Change) {
	if c == nil {
		return
	}
	to := c.ToVersion
	if to == "" {
		to = "(did not answer)"
	}
	fmt.Fprintf(b, "\n### Change: %s\n\n| | image | Vault |\n|---|---|---|\n| from | `%s` | %s |\n| to | `%s` | %s |\n\n",
		c.Kind, c.FromImage, c.FromVersion, c.ToImage, to)
	if c.FirstGoodAfter.IsZero() {
		b.WriteString("Unavailable from the last good request before the change; no good request after it in the drill.\n")
	} else {
		fmt.Fprintf(b, "Unavailable for **%d ms**: last good request before the change at %s, first good request after at %s.\n",
			c.UnavailableMs, c.LastGoodBefore.UTC().Format("15:04:05.000"), c.FirstGoodAfter.UTC().Format("15:04:05.000"))
	}
	lost := c.Lost()
	fmt.Fprintf(b, "\n%d of %d pieces of evidence survived.\n\n| evidence | survived | detail |\n|---|---|---|\n", len(c.Evidence)-len(lost), len(c.Evidence))
	for _, e := range c.Evidence {
		fmt.Fprintf(b, "| %s | %s | %s |\n", mdEscape(e.Name), passWord(e.Survived), mdEscape(e.Detail))
	}
	fmt.Fprintf(b, "\nRollback: %s\n", mdEscape(c.Rollback))
}

// runName is the scenario's name, with its round under --repeat.
func (s ScenarioResult) runName() string {
	if s.Round > 0 {
		return fmt.Sprintf("%s (round %d)", s.Name, s.Round)
	}
	return s.Name
}

// markdownSummary: with --repeat, each drill's pass rate and figures.
func markdownSummary(b *strings.Builder, r *Report) {
	if len(r.Summary) == 0 {
		return
	}
	order := "in the order given"
	if r.Shuffle {
		order = fmt.Sprintf("shuffled with seed %d", r.Seed)
	}
	fmt.Fprintf(b, "\n### Game day: %d rounds, %s\n\n", r.Repeat, order)
	b.WriteString("| drill | passed | detect min / median / max | recover min / median / max |\n|---|---|---|---|\n")
	for _, s := range r.Summary {
		fmt.Fprintf(b, "| %s | %d of %d | %d / %d / %d ms | %d / %d / %d ms |\n", s.Name, s.Passed, s.Runs,
			s.Detect.Min, s.Detect.Median, s.Detect.Max, s.Recover.Min, s.Recover.Median, s.Recover.Max)
	}
}

var reLongFence = regexp.MustCompile(`~{4,}`)

// markdownProbes renders a drill file's probes and its commands' output (in a ~~~~
// fence, which a ``` or ~~~ in the output cannot close).
func markdownProbes(b *strings.Builder, ps []ProbeResult, outs []CommandOutput) {
	if len(ps) > 0 {
		b.WriteString("\n### Probes\n\n| phase | probe | time | pass | detail |\n|---|---|---|---|---|\n")
		for _, p := range ps {
			icon := "✅"
			if !p.Pass {
				icon = "❌"
			}
			fmt.Fprintf(b, "| %s | %s | %d ms | %s | %s |\n", p.Phase, mdEscape(p.Probe), p.DurationMs, icon, mdEscape(p.Detail))
		}
	}
	for _, o := range outs {
		fmt.Fprintf(b, "\n### `%s` (%s), exit %d\n\n~~~~\n%s\n~~~~\n", o.Field, o.Phase, o.ExitCode, strings.TrimRight(reLongFence.ReplaceAllString(o.Output, "~~~"), "\n"))
	}
}

// markdownChecks renders a drill's checks as a table, failed cells first.
func markdownChecks(b *strings.Builder, cs []Check) {
	if len(cs) == 0 {
		return
	}
	failed := FailedChecks(cs)
	fmt.Fprintf(b, "\n### Checks\n\n%d of %d passed.\n\n", len(cs)-len(failed), len(cs))
	b.WriteString("| identity | app | target | operation | path | expected | got | time | pass |\n|---|---|---|---|---|---|---|---|---|\n")
	rows := append(failed, slices.DeleteFunc(slices.Clone(cs), func(c Check) bool { return !c.Pass })...)
	for _, c := range rows {
		got := c.Got
		if c.Detail != "" {
			got += " (" + c.Detail + ")"
		}
		icon := "✅"
		if !c.Pass {
			icon = "❌"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | `%s` | %s | %s | %.3f ms | %s |\n", c.Identity, c.App, c.Target,
			mdEscape(c.Operation), mdEscape(c.Path), c.Expected, mdEscape(got), c.DurationMs, icon)
	}
}

func passWord(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

// ganttLabel keeps a label from breaking mermaid's "label : spec" syntax.
func ganttLabel(s string) string { return strings.NewReplacer(":", " ", "#", " ", ";", " ").Replace(s) }

func mdEscape(s string) string { return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s) }

// Validate checks report.json against the published schema.
func Validate(b []byte) error {
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(reportSchema))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("report.schema.json", schemaDoc); err != nil {
		return err
	}
	sch, err := c.Compile("report.schema.json")
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("report is not JSON: %w", err)
	}
	return sch.Validate(doc)
}
