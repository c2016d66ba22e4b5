// Package drillfile reads drill files: a versioned document (apiVersion
// labsbx.dev/v1alpha1, kind Drill) that describes a drill the way the lab's runbooks
// do: probes that hold in the steady state, a fault (built in, or a command), the
// symptom, the recovery (built in, a person, or the lab's own script), what must hold
// again, and what undoes the fault. It is decoded as strictly as the sandbox config
// (every unknown field, with its path, line and a suggestion), then validated, and
// every command in it is judged by the guard before anything runs.
//
// The package only reads and checks; the scenarios package runs a drill file.
package drillfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// APIVersion and Kind identify a drill file.
const (
	APIVersion = "labsbx.dev/v1alpha1"
	Kind       = "Drill"
)

// Drill is one drill file.
type Drill struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   Metadata `yaml:"metadata"`
	Spec       Spec     `yaml:"spec"`

	// Source is the file's path as given, Dir its directory (where commands run), Raw
	// its bytes (recorded with the fault, so that `drill recover` can roll it back).
	Source string `yaml:"-"`
	Dir    string `yaml:"-"`
	Raw    []byte `yaml:"-"`
	// URLs are the loopback URLs the commands and probes name, with where: they must be
	// the sandbox's endpoints (guard.ApproveRunbookURL) before the drill runs.
	URLs []NamedURL `yaml:"-"`
}

// NamedURL is a URL and the field that names it.
type NamedURL struct{ Field, URL string }

// Metadata names the drill.
type Metadata struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// Spec is what the drill does, in the order of its phases.
type Spec struct {
	// Env says what the commands get beyond the sandbox's endpoints.
	Env Env `yaml:"env"`
	// Steady: probes that must hold before the fault.
	Steady []Probe `yaml:"steady"`
	// Fault: a built-in fault, or a command.
	Fault Fault `yaml:"fault"`
	// Change, instead of a fault: what a change drill changes (a built-in change, or a
	// command), with the same steady-state, verify and rollback probes.
	Change *Change `yaml:"change"`
	// Symptom: probes polled until each shows what it expects while the fault is in
	// place (a probe with expect: fail must fail). A change may list none.
	Symptom []Probe `yaml:"symptom"`
	// Recovery: builtin, manual or run. A change may give none: a built-in change
	// then recovers as built in (vault-upgrade: unseal), a command has nothing to
	// recover.
	Recovery Recovery `yaml:"recovery"`
	// Verify: probes polled until all hold again, each within its timeout.
	Verify []Probe `yaml:"verify"`
	// Rollback: what undoes the fault when recovery failed or the drill was
	// interrupted (`labsbx drill recover`).
	Rollback Rollback `yaml:"rollback"`
}

// Env is what a drill's commands get beyond VAULT_ADDR, PG*, KUBECONFIG and
// LABSBX_UNSEAL_KEY_FILE.
type Env struct {
	// VaultToken: VAULT_TOKEN is the sandbox's root token.
	VaultToken bool `yaml:"vaultToken"`
}

// Built-in faults.
const (
	FaultSeal        = "seal"
	FaultRevokeLease = "revoke-lease"
	FaultDropGrant   = "drop-grant"
	FaultDropRole    = "drop-role"
	FaultRestart     = "restart"
	FaultStop        = "stop"
	FaultVMPowerCut  = "vm-power-cut"
)

// Components a restart or stop fault takes.
const (
	ComponentVault    = "vault"
	ComponentPostgres = "postgres"
)

// faultParams says which parameter each built-in fault takes.
var faultParams = map[string]string{
	FaultSeal: "", FaultRevokeLease: "app", FaultDropGrant: "", FaultDropRole: "app",
	FaultRestart: "component", FaultStop: "component", FaultVMPowerCut: "vm",
}

// Faults are the built-in faults' names, sorted.
func Faults() []string {
	var out []string
	for k := range faultParams {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Fault is what breaks: a built-in fault with its parameter, or a command.
type Fault struct {
	Builtin   string `yaml:"builtin"`
	App       string `yaml:"app"`
	Component string `yaml:"component"`
	VM        string `yaml:"vm"`
	Run       string `yaml:"run"`
}

// Param is the built-in fault's parameter, if it takes one.
func (f Fault) Param() string {
	switch faultParams[f.Builtin] {
	case "app":
		return f.App
	case "component":
		return f.Component
	case "vm":
		return f.VM
	}
	return ""
}

// String names the fault ("revoke-lease webapp", "a command").
func (f Fault) String() string {
	if f.Builtin == "" {
		return "a command"
	}
	return strings.TrimSpace(f.Builtin + " " + f.Param())
}

// Built-in changes.
const (
	// ChangeVaultUpgrade upgrades the vault profile's Vault to the image to names.
	ChangeVaultUpgrade = "vault-upgrade"
)

// Changes are the built-in changes' names.
func Changes() []string { return []string{ChangeVaultUpgrade} }

// Change is what a change drill changes: a built-in change with its target, or a
// command (the lab's own change script, `labsbx ci exec <app> -- …`).
type Change struct {
	Builtin string `yaml:"builtin"`
	// To is what a built-in change changes to (vault-upgrade: the Vault image).
	To  string `yaml:"to"`
	Run string `yaml:"run"`
	// Timeout bounds run (default 2m).
	Timeout config.Duration `yaml:"timeout"`
}

// String names the change ("vault-upgrade to labsbx.local/vault:1.21.0", "a command").
func (c Change) String() string {
	if c.Builtin == "" {
		return "a command"
	}
	return c.Builtin + " to " + c.To
}

// What names what the drill does: its fault, or its change.
func (s Spec) What() string {
	if s.Change != nil {
		return "change " + s.Change.String()
	}
	return s.Fault.String()
}

// RecoveryKind is "builtin", "manual" or "run", and for a change that gives none
// "builtin" (a built-in change) or "none" (a command).
func (s Spec) RecoveryKind() string {
	r := s.Recovery
	if s.Change != nil && !r.Builtin && r.Manual == "" && r.Run == "" {
		if s.Change.Builtin != "" {
			return "builtin"
		}
		return "none"
	}
	return r.Kind()
}

// Recovery is how the sandbox comes back: exactly one of the three.
type Recovery struct {
	// Builtin: labsbx undoes the built-in fault.
	Builtin bool `yaml:"builtin"`
	// Manual: the step a person follows; labsbx prints it and polls verify.
	Manual string `yaml:"manual"`
	// Run: the lab's own commands or script (sh -c, in the drill file's directory).
	Run string `yaml:"run"`
	// Timeout bounds run (default: the drill's timeout).
	Timeout config.Duration `yaml:"timeout"`
}

// Kind is "builtin", "manual" or "run".
func (r Recovery) Kind() string {
	switch {
	case r.Builtin:
		return "builtin"
	case r.Manual != "":
		return "manual"
	}
	return "run"
}

// Rollback undoes the fault: labsbx's own undo of a built-in fault (the default), or
// commands.
type Rollback struct {
	Builtin bool   `yaml:"builtin"`
	Run     string `yaml:"run"`
}

// Probe kinds' values.
const (
	VaultUnsealed      = "unsealed"
	VaultSealed        = "sealed"
	VaultSameClusterID = "same-cluster-id"
	AppsHealthy        = "healthy"
	ExpectPass         = "pass"
	ExpectFail         = "fail"
	AsSuperuser        = "superuser"
)

// Probe is one check, of exactly one kind.
type Probe struct {
	// Name labels the probe in the report (default: what it checks).
	Name string `yaml:"name"`

	Vault    string   `yaml:"vault"`    // unsealed | sealed | same-cluster-id
	Creds    string   `yaml:"creds"`    // app: postgres/creds/<app> issues
	Connects string   `yaml:"connects"` // app: fresh credentials connect, as <app>_role
	KV       *KV      `yaml:"kv"`
	HTTP     *HTTP    `yaml:"http"`
	SQL      *SQL     `yaml:"sql"`
	Apps     string   `yaml:"apps"` // healthy: VSO's Secret and the app (full profile)
	Command  *Command `yaml:"command"`

	// Expect: pass (default), or fail: the probe must fail (a symptom).
	Expect string `yaml:"expect"`
	// Timeout: in verify, how long the probe may take to hold (default: the drill's
	// timeout).
	Timeout config.Duration `yaml:"timeout"`
}

// KV reads a secret with the root token: kvv2/<app>/config, kv/<app>/...
type KV struct {
	Path string `yaml:"path"`
	// Key, when set, must be in the secret; Equals, when set, is its value.
	Key    string `yaml:"key"`
	Equals string `yaml:"equals"`
}

// HTTP is a GET of a sandbox endpoint. The URL may start with $VAULT_ADDR.
type HTTP struct {
	URL    string `yaml:"url"`
	Status int    `yaml:"status"`
}

// SQL is a query as the superuser or as an app's dynamic user.
type SQL struct {
	Query string `yaml:"query"`
	// As is superuser (default) or an app.
	As string `yaml:"as"`
	// Output, when set, is a regular expression the first column of the first row
	// must match.
	Output string `yaml:"output"`
}

// Command is a command probe: sh -c run, in the drill file's directory.
type Command struct {
	Run string `yaml:"run"`
	// Exit is the exit status that passes (default 0).
	Exit *int `yaml:"exit"`
	// Output, when set, is a regular expression stdout and stderr must match.
	Output string `yaml:"output"`
}

// Kind is what the probe checks, for the report: "vault", "creds", "sql", ...
func (p Probe) Kind() string {
	if ks := p.kinds(); len(ks) > 0 {
		return ks[0]
	}
	return ""
}

func (p Probe) kinds() []string {
	var ks []string
	add := func(set bool, k string) {
		if set {
			ks = append(ks, k)
		}
	}
	add(p.Vault != "", "vault")
	add(p.Creds != "", "creds")
	add(p.Connects != "", "connects")
	add(p.KV != nil, "kv")
	add(p.HTTP != nil, "http")
	add(p.SQL != nil, "sql")
	add(p.Apps != "", "apps")
	add(p.Command != nil, "command")
	return ks
}

// Label is the probe's name, or what it checks.
func (p Probe) Label() string {
	if p.Name != "" {
		return p.Name
	}
	var s string
	switch p.Kind() {
	case "vault":
		s = "vault " + p.Vault
	case "creds":
		s = "creds issue for " + p.Creds
	case "connects":
		s = p.Connects + " connects"
	case "kv":
		s = "kv read " + p.KV.Path
	case "http":
		s = fmt.Sprintf("GET %s is %d", p.HTTP.URL, p.HTTP.Status)
	case "sql":
		s = fmt.Sprintf("sql as %s: %s", p.sqlAs(), p.SQL.Query)
	case "apps":
		s = "apps " + p.Apps
	case "command":
		s = "command: " + firstLine(p.Command.Run)
	}
	if p.Expect == ExpectFail {
		s += " (expected to fail)"
	}
	return s
}

func (p Probe) sqlAs() string {
	if p.SQL.As == "" {
		return AsSuperuser
	}
	return p.SQL.As
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// Apps are the apps the drill names (creds, connects, sql as, fault app): each must
// be an app of the sandbox it runs on.
func (d *Drill) Apps() []string {
	var out []string
	add := func(a string) {
		if a != "" && a != AsSuperuser && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	add(d.Spec.Fault.App)
	for _, ps := range [][]Probe{d.Spec.Steady, d.Spec.Symptom, d.Spec.Verify} {
		for _, p := range ps {
			add(p.Creds)
			add(p.Connects)
			if p.SQL != nil {
				add(p.SQL.As)
			}
		}
	}
	return out
}

// maxFileSize bounds a drill file and each script it names.
const maxFileSize = 1 << 20

// Load reads, decodes, validates and guards the drill file at path.
func Load(path string) (*Drill, error) {
	data, err := fsutil.ReadRegular(path, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("read drill file: %w", err)
	}
	d, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	d.Dir = abs
	if err := d.guardScripts(); err != nil {
		return nil, err
	}
	return d, nil
}

// Parse decodes and validates a drill file's bytes; source names it in errors. The
// commands are judged by the guard (CheckRunbook); scripts they name are judged by
// Load, which knows the file's directory.
func Parse(source string, data []byte) (*Drill, error) {
	var d Drill
	lines, err := config.DecodeStrict(source, data, &d, "start with apiVersion: "+APIVersion+" and kind: "+Kind, "apiVersion, kind, metadata and spec")
	var ce *config.ConfigError
	if errors.As(err, &ce) {
		ce.What = "drill file"
	}
	if err != nil {
		return nil, err
	}
	d.Source, d.Raw = source, append([]byte(nil), data...)
	if errs := d.validate(); len(errs) > 0 {
		for _, fe := range errs {
			fe.Line = lines.At(fe.Path)
		}
		slices.SortStableFunc(errs, func(a, b *config.FieldError) int { return a.Line - b.Line })
		return nil, &config.ConfigError{Source: source, Errs: errs, What: "drill file"}
	}
	for _, c := range d.commands() {
		urls, err := guard.CheckRunbook(fmt.Sprintf("%s: %s (line %d)", source, c.field, lines.At(c.field)), c.text)
		if err != nil {
			return nil, err
		}
		for _, u := range urls {
			d.URLs = append(d.URLs, NamedURL{Field: c.field, URL: u})
		}
	}
	return &d, nil
}

// namedText is a command (or a person's step) and the field it is in.
type namedText struct{ field, text string }

// commands are every text of the file that runs, or that a person follows.
func (d *Drill) commands() []namedText {
	s := &d.Spec
	var out []namedText
	add := func(field, text string) {
		if text != "" {
			out = append(out, namedText{field, text})
		}
	}
	add("spec.fault.run", s.Fault.Run)
	if s.Change != nil {
		add("spec.change.run", s.Change.Run)
	}
	add("spec.recovery.run", s.Recovery.Run)
	add("spec.recovery.manual", s.Recovery.Manual)
	add("spec.rollback.run", s.Rollback.Run)
	for _, ps := range []struct {
		field string
		list  []Probe
	}{{"spec.steady", s.Steady}, {"spec.symptom", s.Symptom}, {"spec.verify", s.Verify}} {
		for i, p := range ps.list {
			f := fmt.Sprintf("%s[%d]", ps.field, i)
			if p.Command != nil {
				add(f+".command.run", p.Command.Run)
			}
			if p.HTTP != nil {
				add(f+".http.url", p.HTTP.URL)
			}
		}
	}
	return out
}

// reWord splits a command into the words that may name a script.
var reWord = regexp.MustCompile(`[^\s'"();|&<>` + "`" + `]+`)

// guardScripts judges the scripts the commands name: every word that is a relative
// path to a regular file under the drill file's directory is read and checked like
// the command itself.
func (d *Drill) guardScripts() error {
	seen := map[string]bool{}
	for _, c := range d.commands() {
		for _, w := range reWord.FindAllString(c.text, -1) {
			if filepath.IsAbs(w) || strings.HasPrefix(w, "-") || strings.Contains(w, "$") {
				continue
			}
			p := filepath.Join(d.Dir, w)
			if rel, err := filepath.Rel(d.Dir, p); err != nil || strings.HasPrefix(rel, "..") || seen[p] {
				continue
			}
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			seen[p] = true
			data, err := fsutil.ReadRegular(p, maxFileSize)
			if err != nil {
				return fmt.Errorf("%s: %s names script %s, which labsbx must read to check: %w", d.Source, c.field, w, err)
			}
			urls, err := guard.CheckRunbook(fmt.Sprintf("%s: script %s (named in %s)", d.Source, w, c.field), string(data))
			if err != nil {
				return err
			}
			for _, u := range urls {
				d.URLs = append(d.URLs, NamedURL{Field: c.field + " → " + w, URL: u})
			}
		}
	}
	return nil
}

var (
	nameRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	slugRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
)

// DefaultRecoveryTimeout bounds a drill file's commands outside a drill run, which
// has no timeout of its own (`labsbx drill recover` running a rollback).
const DefaultRecoveryTimeout = 2 * time.Minute

func (d *Drill) validate() []*config.FieldError {
	var errs []*config.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, &config.FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if d.APIVersion != APIVersion {
		add("apiVersion", "must be %q (got %q)", APIVersion, d.APIVersion)
	}
	if d.Kind != Kind {
		add("kind", "must be %q (got %q)", Kind, d.Kind)
	}
	if !nameRE.MatchString(d.Metadata.Name) {
		add("metadata.name", "%q is not a drill name: lower-case letters, digits and '-', at most 63, starting with a letter", d.Metadata.Name)
	}
	s := &d.Spec

	f := s.Fault
	isChange := s.Change != nil
	builtinChange := isChange && s.Change.Builtin != ""
	if isChange {
		validateChange(s, add)
	}
	switch {
	case isChange:
	case f.Builtin == "" && f.Run == "":
		add("spec.fault", "name a built-in fault (builtin: one of %s) or give a command (run:)", strings.Join(Faults(), ", "))
	case f.Builtin != "" && f.Run != "":
		add("spec.fault", "has both builtin and run; give one")
	case f.Builtin != "":
		param, ok := faultParams[f.Builtin]
		if !ok {
			add("spec.fault.builtin", "unknown fault %q%s; built-in faults: %s", f.Builtin, config.Suggest(f.Builtin, Faults()), strings.Join(Faults(), ", "))
			break
		}
		for _, p := range []struct{ name, val string }{{"app", f.App}, {"component", f.Component}, {"vm", f.VM}} {
			switch {
			case p.name == param && p.val == "":
				add("spec.fault."+p.name, "fault %s needs its %s", f.Builtin, p.name)
			case p.name != param && p.val != "":
				add("spec.fault."+p.name, "fault %s takes no %s", f.Builtin, p.name)
			}
		}
		if param == "app" && f.App != "" && !slugRE.MatchString(f.App) {
			add("spec.fault.app", "%q is not an app slug", f.App)
		}
		if param == "component" && f.Component != "" && f.Component != ComponentVault && f.Component != ComponentPostgres {
			add("spec.fault.component", "must be %q or %q (got %q)", ComponentVault, ComponentPostgres, f.Component)
		}
	default:
		for _, p := range []struct{ name, val string }{{"app", f.App}, {"component", f.Component}, {"vm", f.VM}} {
			if p.val != "" {
				add("spec.fault."+p.name, "belongs to a built-in fault, not to a command")
			}
		}
	}

	r := s.Recovery
	switch n := countTrue(r.Builtin, r.Manual != "", r.Run != ""); {
	case n == 0 && isChange:
	case n == 0:
		add("spec.recovery", "say how the sandbox comes back: builtin: true, manual: <the step a person follows>, or run: <your runbook>")
	case n > 1:
		add("spec.recovery", "give one of builtin, manual and run")
	case r.Builtin && isChange && !builtinChange:
		add("spec.recovery.builtin", "only a built-in change has a built-in recovery; give run: or manual:, or leave recovery out")
	case r.Builtin && !isChange && f.Builtin == "":
		add("spec.recovery.builtin", "only a built-in fault has a built-in recovery; give run: or manual:")
	}
	if r.Timeout.Duration < 0 || r.Timeout.Duration > 0 && r.Run == "" {
		add("spec.recovery.timeout", "bounds recovery.run only, and must be positive")
	}

	rb := s.Rollback
	switch {
	case rb.Builtin && rb.Run != "":
		add("spec.rollback", "give one of builtin and run")
	case rb.Builtin && isChange && !builtinChange:
		add("spec.rollback.builtin", "only a built-in change has a built-in rollback; give run:")
	case rb.Builtin && !isChange && f.Builtin == "":
		add("spec.rollback.builtin", "only a built-in fault has a built-in rollback; give run:")
	case isChange && !builtinChange && rb.Run == "":
		add("spec.rollback", "a change that is a command needs rollback.run, so that a failed or interrupted change can be undone (`labsbx drill recover`)")
	case !isChange && f.Run != "" && rb.Run == "":
		add("spec.rollback", "a fault that is a command needs rollback.run, so that an interrupted drill can be undone (`labsbx drill recover`)")
	}

	if len(s.Verify) == 0 {
		add("spec.verify", "list at least one probe that must hold once the sandbox is back")
	}
	if len(s.Symptom) == 0 && !isChange {
		add("spec.symptom", "list at least one probe that shows the fault is in place")
	}
	for _, ps := range []struct {
		field   string
		list    []Probe
		timeout bool
	}{{"spec.steady", s.Steady, false}, {"spec.symptom", s.Symptom, false}, {"spec.verify", s.Verify, true}} {
		for i, p := range ps.list {
			validateProbe(fmt.Sprintf("%s[%d]", ps.field, i), p, ps.timeout, add)
		}
	}
	return errs
}

// validateChange checks spec.change, and that the file has no fault beside it.
func validateChange(s *Spec, add func(path, format string, args ...any)) {
	c, f := s.Change, s.Fault
	if f != (Fault{}) {
		add("spec.change", "a drill has a fault or a change, not both; remove spec.fault")
	}
	switch {
	case c.Builtin == "" && c.Run == "":
		add("spec.change", "name a built-in change (builtin: %s, with to:) or give a command (run:)", strings.Join(Changes(), ", "))
	case c.Builtin != "" && c.Run != "":
		add("spec.change", "has both builtin and run; give one")
	case c.Builtin != "":
		if !slices.Contains(Changes(), c.Builtin) {
			add("spec.change.builtin", "unknown change %q%s; built-in changes: %s", c.Builtin, config.Suggest(c.Builtin, Changes()), strings.Join(Changes(), ", "))
			break
		}
		if c.To == "" {
			add("spec.change.to", "change %s needs to: the Vault image to upgrade to (e.g. labsbx.local/vault:1.21.0)", c.Builtin)
		} else if err := config.CheckImageRef(c.To); err != nil {
			add("spec.change.to", "%v", err)
		}
		if c.Timeout.Duration != 0 {
			add("spec.change.timeout", "bounds change.run only")
		}
	default:
		if c.To != "" {
			add("spec.change.to", "belongs to a built-in change, not to a command")
		}
		if c.Timeout.Duration < 0 {
			add("spec.change.timeout", "must be positive")
		}
	}
}

func validateProbe(path string, p Probe, timeoutOK bool, add func(path, format string, args ...any)) {
	kinds := p.kinds()
	switch len(kinds) {
	case 0:
		add(path, "names no check: give one of vault, creds, connects, kv, http, sql, apps, command")
		return
	case 1:
	default:
		add(path, "names %d checks (%s); give one per probe", len(kinds), strings.Join(kinds, ", "))
		return
	}
	switch p.Expect {
	case "", ExpectPass, ExpectFail:
	default:
		add(path+".expect", "must be %q or %q (got %q)%s", ExpectPass, ExpectFail, p.Expect, config.Suggest(p.Expect, []string{ExpectPass, ExpectFail}))
	}
	if p.Timeout.Duration != 0 && !timeoutOK {
		add(path+".timeout", "only verify's probes have a timeout (steady runs once; symptom within the drill's timeout)")
	}
	if p.Timeout.Duration < 0 {
		add(path+".timeout", "must be positive")
	}
	appField := func(field, v string) {
		if !slugRE.MatchString(v) {
			add(path+"."+field, "%q is not an app slug", v)
		}
	}
	switch kinds[0] {
	case "vault":
		if p.Vault != VaultUnsealed && p.Vault != VaultSealed && p.Vault != VaultSameClusterID {
			add(path+".vault", "must be %q, %q or %q (got %q)%s", VaultUnsealed, VaultSealed, VaultSameClusterID, p.Vault,
				config.Suggest(p.Vault, []string{VaultUnsealed, VaultSealed, VaultSameClusterID}))
		}
	case "creds":
		appField("creds", p.Creds)
	case "connects":
		appField("connects", p.Connects)
	case "kv":
		if p.KV.Path == "" || strings.HasPrefix(p.KV.Path, "/") {
			add(path+".kv.path", "give the path as the Vault CLI does, e.g. kvv2/webapp/config")
		}
		if p.KV.Equals != "" && p.KV.Key == "" {
			add(path+".kv.equals", "needs kv.key")
		}
	case "http":
		u := p.HTTP.URL
		if !strings.HasPrefix(u, "$VAULT_ADDR/") && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			add(path+".http.url", "must start with $VAULT_ADDR/ or be an http(s) URL of the sandbox")
		}
		if p.HTTP.Status < 100 || p.HTTP.Status > 599 {
			add(path+".http.status", "must be an HTTP status (got %d)", p.HTTP.Status)
		}
	case "sql":
		if strings.TrimSpace(p.SQL.Query) == "" {
			add(path+".sql.query", "is empty")
		}
		if p.SQL.As != "" && p.SQL.As != AsSuperuser {
			appField("sql.as", p.SQL.As)
		}
		checkRegexp(path+".sql.output", p.SQL.Output, add)
	case "apps":
		if p.Apps != AppsHealthy {
			add(path+".apps", "must be %q (got %q)", AppsHealthy, p.Apps)
		}
	case "command":
		if strings.TrimSpace(p.Command.Run) == "" {
			add(path+".command.run", "is empty")
		}
		if p.Command.Exit != nil && (*p.Command.Exit < 0 || *p.Command.Exit > 255) {
			add(path+".command.exit", "must be 0-255")
		}
		checkRegexp(path+".command.output", p.Command.Output, add)
	}
}

func checkRegexp(path, re string, add func(path, format string, args ...any)) {
	if re == "" {
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		add(path, "is not a regular expression: %v", err)
	}
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// ErrNotADrill is returned by LoadAll for a directory without drill files.
var ErrNotADrill = errors.New("no drill file (*.yaml, *.yml)")

// LoadAll loads the drill files named: files, or directories whose *.yaml and *.yml
// files are drill files (sorted). Two drills of one name are an error.
func LoadAll(paths []string) ([]*Drill, error) {
	var out []*Drill
	seen := map[string]string{}
	for _, p := range paths {
		files := []string{p}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			files = nil
			for _, pat := range []string{"*.yaml", "*.yml"} {
				m, _ := filepath.Glob(filepath.Join(p, pat))
				files = append(files, m...)
			}
			slices.Sort(files)
			if len(files) == 0 {
				return nil, fmt.Errorf("%s: %w", p, ErrNotADrill)
			}
		}
		for _, f := range files {
			d, err := Load(f)
			if err != nil {
				return nil, err
			}
			if prev, dup := seen[d.Metadata.Name]; dup {
				return nil, fmt.Errorf("drill %q is in both %s and %s; names must differ", d.Metadata.Name, prev, f)
			}
			seen[d.Metadata.Name] = f
			out = append(out, d)
		}
	}
	return out, nil
}
