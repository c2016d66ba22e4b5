package config

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// APIVersion and Kind identify the only config version labsbx reads today.
const (
	APIVersion = "labsbx.dev/v1alpha1"
	Kind       = "Sandbox"
)

// Profiles.
const (
	ProfileFull  = "full"
	ProfileVault = "vault"
)

// Namespaces of the full profile: no app may be named after one, since each demo app is
// release <app> in namespace <app>.
const (
	NamespacePostgres = "postgres"
	NamespaceVault    = "vault"
	NamespaceVSO      = "vault-secrets-operator"
)

// Environment variables that override the images, for mirrors and offline machines.
const (
	EnvVaultImage    = "LABSBX_VAULT_IMAGE"
	EnvPostgresImage = "LABSBX_POSTGRES_IMAGE"
)

//go:embed default.yaml
var defaultConfig []byte

// Default returns the embedded default config document.
func Default() []byte { return append([]byte(nil), defaultConfig...) }

// Config is the versioned document, as a user writes it.
type Config struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata,omitempty" json:"metadata,omitzero"`
	Spec       Spec     `yaml:"spec" json:"spec"`
}

// Metadata names the sandbox, as k3d's config does; --name wins over it.
type Metadata struct {
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
}

// Spec describes one sandbox.
type Spec struct {
	// Profile is "full" (k3d, charts, VMs) or "vault" (Docker containers only).
	Profile  string       `yaml:"profile" json:"profile"`
	Apps     []string     `yaml:"apps" json:"apps"`
	Vault    VaultSpec    `yaml:"vault" json:"vault"`
	Postgres PostgresSpec `yaml:"postgres" json:"postgres"`
	Cluster  ClusterSpec  `yaml:"cluster" json:"cluster"`
	VSO      VSOSpec      `yaml:"vso" json:"vso"`
	VMs      VMSpec       `yaml:"vms" json:"vms"`
	Drills   DrillSpec    `yaml:"drills" json:"drills"`
}

type VaultSpec struct {
	Image string `yaml:"image" json:"image"`
}

type PostgresSpec struct {
	Image string `yaml:"image" json:"image"`
}

type ClusterSpec struct {
	Servers  int    `yaml:"servers" json:"servers"`
	Agents   int    `yaml:"agents" json:"agents"`
	K3sImage string `yaml:"k3sImage" json:"k3sImage"`
	// APIPort is the host port of the Kubernetes API on 127.0.0.1; 0 picks a free one.
	APIPort int `yaml:"apiPort" json:"apiPort"`
	// SystemImages are images that k3s pulls itself on its first start (pause,
	// coredns, local-path-provisioner and its busybox helper), as the k3s release's
	// k3s-images.txt lists them. Listed here, they go into offline bundles and are
	// imported into the nodes, so that a cluster without network starts its pods.
	SystemImages []string `yaml:"systemImages,omitempty" json:"systemImages,omitempty"`
	// ToolsImage and LoadBalancerImage are k3d's helpers (its tools container, and its
	// proxy in front of several servers), pinned to the k3d library's version.
	ToolsImage        string `yaml:"toolsImage" json:"toolsImage"`
	LoadBalancerImage string `yaml:"loadBalancerImage" json:"loadBalancerImage"`
}

// VSOSpec names the Vault Secrets Operator's images (full profile): the operator and
// the kube-rbac-proxy sidecar its chart puts beside it.
type VSOSpec struct {
	Image              string `yaml:"image" json:"image"`
	KubeRbacProxyImage string `yaml:"kubeRbacProxyImage" json:"kubeRbacProxyImage"`
}

type VMSpec struct {
	Count     int    `yaml:"count" json:"count"`
	CPUs      int    `yaml:"cpus" json:"cpus"`
	MemoryMiB int    `yaml:"memoryMiB" json:"memoryMiB"`
	Image     string `yaml:"image" json:"image"`
}

// DrillSpec holds the lease TTLs that the postgres role uses, short enough that drills
// see renewals and expiries within minutes.
type DrillSpec struct {
	DefaultTTL Duration `yaml:"defaultTTL" json:"defaultTTL"`
	MaxTTL     Duration `yaml:"maxTTL" json:"maxTTL"`
	// Timeout bounds each phase of a drill unless --timeout is given.
	Timeout Duration `yaml:"timeout" json:"timeout"`
}

// Duration is a time.Duration written as "90s" in YAML and JSON.
type Duration struct{ time.Duration }

func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + d.String() + `"`), nil
}

// FieldError is a validation or decoding error at a field path ("spec.vault.image").
type FieldError struct {
	Path string
	Line int // 0 when unknown
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// ConfigError gathers every problem found in one config document.
type ConfigError struct {
	Source string
	Errs   []*FieldError
	// What the document is ("drill file"); "config" when empty.
	What string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	what := e.What
	if what == "" {
		what = "config"
	}
	fmt.Fprintf(&b, "invalid %s %s:", what, e.Source)
	for _, fe := range e.Errs {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// maxConfigSize bounds the read of a config file: a real one is a few KiB.
const maxConfigSize = 1 << 20

// Load reads the config at path, or the embedded default when path is empty,
// applies the environment overrides and validates the result.
func Load(path string, getenv func(string) string) (*Config, error) {
	src, data := "(embedded default)", defaultConfig
	if path != "" {
		b, err := fsutil.ReadRegular(path, maxConfigSize)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		src, data = path, b
	}
	return Parse(src, data, getenv)
}

// Parse decodes data strictly, fills defaults, applies the environment
// overrides (getenv may be nil) and validates.
func Parse(source string, data []byte, getenv func(string) string) (*Config, error) {
	cfg, err := decodeStrict(source, data)
	if err != nil {
		return nil, err
	}
	cfg.Spec.applyDefaults()
	if getenv != nil {
		if v := getenv(EnvVaultImage); v != "" {
			cfg.Spec.Vault.Image = v
		}
		if v := getenv(EnvPostgresImage); v != "" {
			cfg.Spec.Postgres.Image = v
		}
	}
	if errs := cfg.validate(); len(errs) > 0 {
		return nil, &ConfigError{Source: source, Errs: errs}
	}
	return cfg, nil
}

// defaults come from the embedded document, so there is one place that states them.
var defaults = func() Spec {
	cfg, err := decodeStrict("(embedded default)", defaultConfig)
	if err != nil {
		panic(err) // the embedded default is tested; this cannot happen in a released binary
	}
	return cfg.Spec
}()

func (s *Spec) applyDefaults() {
	d := defaults
	if s.Profile == "" {
		s.Profile = d.Profile
	}
	if s.Apps == nil {
		s.Apps = append([]string(nil), d.Apps...)
	}
	setStr(&s.Vault.Image, d.Vault.Image)
	setStr(&s.Postgres.Image, d.Postgres.Image)
	setStr(&s.Cluster.K3sImage, d.Cluster.K3sImage)
	setStr(&s.Cluster.ToolsImage, d.Cluster.ToolsImage)
	setStr(&s.Cluster.LoadBalancerImage, d.Cluster.LoadBalancerImage)
	setStr(&s.VSO.Image, d.VSO.Image)
	setStr(&s.VSO.KubeRbacProxyImage, d.VSO.KubeRbacProxyImage)
	if s.Cluster.Servers == 0 {
		s.Cluster.Servers = d.Cluster.Servers
	}
	if s.VMs.CPUs == 0 {
		s.VMs.CPUs = d.VMs.CPUs
	}
	if s.VMs.MemoryMiB == 0 {
		s.VMs.MemoryMiB = d.VMs.MemoryMiB
	}
	setStr(&s.VMs.Image, d.VMs.Image)
	setDur(&s.Drills.DefaultTTL, d.Drills.DefaultTTL)
	setDur(&s.Drills.MaxTTL, d.Drills.MaxTTL)
	setDur(&s.Drills.Timeout, d.Drills.Timeout)
}

func setStr(dst *string, def string) {
	if *dst == "" {
		*dst = def
	}
}

func setDur(dst *Duration, def Duration) {
	if dst.Duration == 0 {
		*dst = def
	}
}

// slugRE is the shape of an app slug: it must be valid as a Kubernetes namespace,
// a Vault path segment and (quoted) a Postgres role name.
var slugRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$`)

// reservedSlugs are names an app slug cannot take, because each app's policy, Vault
// role, namespace and schema are named after it, with why.
var reservedSlugs = map[string]string{
	"default":                       "Vault's built-in policy default (every token's) and the Kubernetes namespace default have that name",
	"root":                          "Vault's built-in policy root has that name",
	"response-wrapping":             "Vault's built-in policy response-wrapping has that name",
	"control-group":                 "Vault reserves the policy name control-group",
	"public":                        "Postgres's schema public has that name",
	NamespacePostgres:               "the full profile runs Postgres in the namespace of that name",
	NamespaceVault:                  "the full profile runs Vault in the namespace of that name",
	NamespaceVSO:                    "the full profile runs the Vault Secrets Operator in the namespace of that name",
	"vault-secrets-operator-system": "the Vault Secrets Operator's own default namespace has that name",
}

// imageRE is a loose check for a Docker image reference; the engine has the last word.
var imageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:@-]*$`)

// ValidateName checks a sandbox name given with --name.
func ValidateName(name string) error {
	if err := guard.ValidName(name); err != nil {
		return fmt.Errorf("invalid sandbox name %q: use 1-32 lower-case letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

func (c *Config) validate() []*FieldError {
	var errs []*FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if c.APIVersion != APIVersion {
		add("apiVersion", "must be %q (got %q)", APIVersion, c.APIVersion)
	}
	if c.Kind != Kind {
		add("kind", "must be %q (got %q)", Kind, c.Kind)
	}
	if n := c.Metadata.Name; n != "" && guard.ValidName(n) != nil {
		add("metadata.name", "%q is not a sandbox name (1-32 lower-case letters, digits and '-', starting and ending with a letter or digit)", n)
	}
	s := &c.Spec
	if s.Profile != ProfileFull && s.Profile != ProfileVault {
		add("spec.profile", "must be %q or %q (got %q)", ProfileFull, ProfileVault, s.Profile)
	}
	if len(s.Apps) == 0 {
		add("spec.apps", "must list at least one app slug")
	}
	seen := map[string]bool{}
	for _, a := range s.Apps {
		seen[a] = true
	}
	listed := map[string]bool{}
	for i, a := range s.Apps {
		p := fmt.Sprintf("spec.apps[%d]", i)
		switch {
		case !slugRE.MatchString(a):
			add(p, "%q is not a valid app slug (lower-case letters, digits and '-', at most 40, starting with a letter)", a)
		case listed[a]:
			add(p, "%q is listed twice", a)
		case reservedSlugs[a] != "":
			add(p, "%q cannot be an app slug: %s; rename the app", a, reservedSlugs[a])
		case strings.HasPrefix(a, "kube-"):
			add(p, "%q cannot be an app slug: Kubernetes reserves namespaces that start with kube-; rename the app", a)
		case strings.HasSuffix(a, "-ops") && seen[strings.TrimSuffix(a, "-ops")]:
			add(p, "%q cannot be an app slug beside app %q: its runtime policy %q would be %q's CI policy; rename one of them", a, strings.TrimSuffix(a, "-ops"), a, strings.TrimSuffix(a, "-ops"))
		}
		listed[a] = true
	}
	checkImage := func(path, v string) {
		if !imageRE.MatchString(v) {
			add(path, "%q is not a valid image reference", v)
		}
	}
	checkImage("spec.vault.image", s.Vault.Image)
	checkImage("spec.postgres.image", s.Postgres.Image)
	checkImage("spec.cluster.k3sImage", s.Cluster.K3sImage)
	checkImage("spec.cluster.toolsImage", s.Cluster.ToolsImage)
	checkImage("spec.cluster.loadBalancerImage", s.Cluster.LoadBalancerImage)
	checkImage("spec.vso.image", s.VSO.Image)
	checkImage("spec.vso.kubeRbacProxyImage", s.VSO.KubeRbacProxyImage)
	for i, img := range s.Cluster.SystemImages {
		checkImage(fmt.Sprintf("spec.cluster.systemImages[%d]", i), img)
	}
	if s.Cluster.Servers < 1 || s.Cluster.Servers > 3 {
		add("spec.cluster.servers", "must be between 1 and 3 (got %d)", s.Cluster.Servers)
	}
	if s.Cluster.Agents < 0 || s.Cluster.Agents > 5 {
		add("spec.cluster.agents", "must be between 0 and 5 (got %d)", s.Cluster.Agents)
	}
	if p := s.Cluster.APIPort; p != 0 && (p < 1024 || p > 65535) {
		add("spec.cluster.apiPort", "must be 0 (pick a free port) or between 1024 and 65535 (got %d)", p)
	}
	if s.VMs.Count < 0 || s.VMs.Count > 8 {
		add("spec.vms.count", "must be between 0 and 8 (got %d)", s.VMs.Count)
	}
	if s.VMs.CPUs < 1 || s.VMs.CPUs > 8 {
		add("spec.vms.cpus", "must be between 1 and 8 (got %d)", s.VMs.CPUs)
	}
	if s.VMs.MemoryMiB < 256 || s.VMs.MemoryMiB > 16384 {
		add("spec.vms.memoryMiB", "must be between 256 and 16384 (got %d)", s.VMs.MemoryMiB)
	}
	if !slugRE.MatchString(s.VMs.Image) {
		add("spec.vms.image", "%q is not a recipe name", s.VMs.Image)
	}
	if s.Drills.DefaultTTL.Duration < time.Second {
		add("spec.drills.defaultTTL", "must be at least 1s (got %s)", s.Drills.DefaultTTL)
	}
	if s.Drills.MaxTTL.Duration < s.Drills.DefaultTTL.Duration {
		add("spec.drills.maxTTL", "must be at least spec.drills.defaultTTL (%s), got %s", s.Drills.DefaultTTL, s.Drills.MaxTTL)
	}
	if s.Drills.Timeout.Duration < time.Second {
		add("spec.drills.timeout", "must be at least 1s (got %s)", s.Drills.Timeout)
	}
	return errs
}

// ErrNoConfig is returned by helpers that need a config document and got none.
var ErrNoConfig = errors.New("no config")

// DefaultSpec returns the embedded default spec, with its defaults filled in.
func DefaultSpec() Spec {
	s := defaults
	s.Apps = append([]string(nil), defaults.Apps...)
	return s
}

// CheckImageRef says whether ref is an image reference, as spec.vault.image must be.
func CheckImageRef(ref string) error {
	if !imageRE.MatchString(ref) {
		return fmt.Errorf("%q is not a valid image reference", ref)
	}
	return nil
}
