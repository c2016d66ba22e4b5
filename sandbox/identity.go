package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/connect"
	"github.com/arcodange/labsbx/sandbox/vault"
)

// The two parties that consume an app's secrets, as the sandbox lets a person be them:
// the app's CI job (a JWT login at role gitea_cicd_<app>, policy <app>-ops) and the
// app's pods (role <app>, policy <app>). Each identity is obtained from the sandbox's
// own Vault, opened through the guard; its token goes only to that Vault and to the
// command the user names.

// Identity kinds.
const (
	IdentityCI      = "ci"      // the app's Gitea Actions job: jwt/ role gitea_cicd_<app>
	IdentityRuntime = "runtime" // the app's pods: kubernetes/ role <app>
)

// Login is a Vault token of one of an app's identities.
type Login struct {
	App  string `json:"app"`
	Kind string `json:"identity"`
	// Method is how the token was obtained: "jwt/login role gitea_cicd_<app>",
	// "kubernetes/login role <app>", or on the vault profile "token/create policy <app>".
	Method    string   `json:"method"`
	VaultAddr string   `json:"vault_addr"`
	Token     string   `json:"token"`
	Accessor  string   `json:"accessor"`
	Policies  []string `json:"policies"`
	TTL       int      `json:"ttl_seconds"`
}

// loginFrom reads the token of a login answer.
func loginFrom(s *api.Secret, app, kind, method, addr string) (*Login, error) {
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%s for app %s: Vault returned no token", method, app)
	}
	return &Login{App: app, Kind: kind, Method: method, VaultAddr: addr, Token: s.Auth.ClientToken,
		Accessor: s.Auth.Accessor, Policies: s.Auth.Policies, TTL: s.Auth.LeaseDuration}, nil
}

// requireApp checks that app is one of the sandbox's apps.
func requireApp(s *connect.VaultSession, app string) error {
	if !slices.Contains(s.State.Spec.Apps, app) {
		return fmt.Errorf("%w: app %q is not in sandbox %q (apps: %v)", ErrUnknownApp, app, s.State.Name, s.State.Spec.Apps)
	}
	return nil
}

// mintCIToken signs the JWT app's CI job presents, with the sandbox's CI key.
func mintCIToken(s *connect.VaultSession, app string, ttl time.Duration) (string, error) {
	kp, err := s.State.CISigningKeyPath()
	if err != nil {
		return "", err
	}
	key, _, err := vault.LoadOrCreateSigningKey(kp)
	if err != nil {
		return "", err
	}
	return vault.MintCIToken(key, app, vault.CITokenOptions{TTL: ttl})
}

// ciLogin logs in as app's CI job: the JWT it would present, at auth/jwt/login role
// gitea_cicd_<app>, with no token of ours on the request.
func ciLogin(ctx context.Context, s *connect.VaultSession, app string) (*Login, error) {
	jwt, err := mintCIToken(s, app, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	c, err := s.NewClient("")
	if err != nil {
		return nil, err
	}
	method := "jwt/login role " + vault.CIRole(app)
	sec, err := vault.CILogin(ctx, c, app, jwt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return loginFrom(sec, app, IdentityCI, method, c.Address())
}

// runtimeLogin gets app's runtime token the way its pods do where the sandbox allows
// it. On the full profile: a token of ServiceAccount <app> in namespace <app>, from the
// cluster's TokenRequest API, presented at auth/kubernetes/login role <app>. On the
// vault profile, which has no cluster, the closest equivalent: a token with policy
// <app> only, created with the root token (what role <app> grants, minus the login).
func runtimeLogin(ctx context.Context, conn *connect.Conn, s *connect.VaultSession, app string) (*Login, error) {
	if s.State.Profile == config.ProfileFull {
		_, cs, err := conn.Kube(ctx)
		if err != nil {
			return nil, err
		}
		tr, err := cs.CoreV1().ServiceAccounts(app).CreateToken(ctx, app, &authv1.TokenRequest{
			Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("a token of ServiceAccount %s/%s: %w", app, app, err)
		}
		c, err := s.NewClient("")
		if err != nil {
			return nil, err
		}
		method := "kubernetes/login role " + app
		sec, err := c.Logical().WriteWithContext(ctx, "auth/"+vault.AuthK8s+"/login", map[string]any{"role": app, "jwt": tr.Status.Token})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		return loginFrom(sec, app, IdentityRuntime, method, c.Address())
	}
	sec, err := vault.IssueAppToken(ctx, s.Root(), app)
	if err != nil {
		return nil, err
	}
	return loginFrom(sec, app, IdentityRuntime, "token/create policy "+vault.RuntimePolicy(app), s.Client.Address())
}

// CILogin logs in to the sandbox's Vault exactly as a Gitea Actions job of App does
// (`labsbx ci login <app>`): it presents the job's JWT at auth/jwt/login role
// gitea_cicd_<app> and returns the token, whose policy is <app>-ops.
type CILogin struct {
	cfg  *Configuration
	Name string
	App  string
}

// NewCILogin prepares a login.
func NewCILogin(cfg *Configuration) *CILogin { return &CILogin{cfg: cfg} }

// Run logs in.
func (o *CILogin) Run(ctx context.Context) (*Login, error) {
	s, err := o.cfg.OpenVault(ctx, o.Name)
	if err != nil {
		return nil, err
	}
	if err := requireApp(s, o.App); err != nil {
		return nil, err
	}
	return ciLogin(ctx, s, o.App)
}

// CIJob describes the Gitea Actions run a `labsbx ci exec` command believes it is in:
// the variables the lab's workflows read. Zero fields take the defaults of a push to
// main of the app's repository.
type CIJob struct {
	Repository string // default arcodange/<app>
	Ref        string // default refs/heads/main
	SHA        string // default 40 zeros
	Workflow   string // default deploy
	RunID      string // default 1
}

// vars are the GITHUB_* and GITEA_* variables of the job (Gitea Actions sets the GitHub
// names; GITEA_ACTIONS marks the runner).
func (j CIJob) vars(app string) []string {
	if j.Repository == "" {
		j.Repository = vault.CIRepository(app)
	}
	if j.Ref == "" {
		j.Ref = "refs/heads/main"
	}
	if j.SHA == "" {
		j.SHA = "0000000000000000000000000000000000000000"
	}
	if j.Workflow == "" {
		j.Workflow = "deploy"
	}
	if j.RunID == "" {
		j.RunID = "1"
	}
	owner, name, ok := strings.Cut(j.Repository, "/")
	if !ok {
		owner, name = vault.CIOwner, j.Repository
	}
	refName := strings.TrimPrefix(strings.TrimPrefix(j.Ref, "refs/heads/"), "refs/tags/")
	return []string{
		"CI=true", "GITHUB_ACTIONS=true", "GITEA_ACTIONS=true",
		"GITHUB_SERVER_URL=" + vault.CIIssuer, "GITEA_SERVER_URL=" + vault.CIIssuer,
		"GITHUB_REPOSITORY=" + j.Repository, "GITHUB_REPOSITORY_OWNER=" + owner,
		"GITEA_REPOSITORY=" + j.Repository, "GITEA_REPOSITORY_NAME=" + name,
		"GITHUB_REF=" + j.Ref, "GITHUB_REF_NAME=" + refName, "GITHUB_SHA=" + j.SHA,
		"GITHUB_WORKFLOW=" + j.Workflow, "GITHUB_RUN_ID=" + j.RunID, "GITHUB_EVENT_NAME=push",
	}
}

// AppEnv is an app's identity as environment variables (`labsbx env --as <app>`,
// `labsbx exec --as <app>`, `labsbx ci exec <app>`).
type AppEnv struct {
	cfg  *Configuration
	Name string
	App  string
	// Kind is IdentityRuntime (the token of policy <app> and a fresh
	// postgres/creds/<app> user) or IdentityCI (the token of policy <app>-ops).
	Kind string
	Job  CIJob
}

// NewAppEnv prepares it.
func NewAppEnv(cfg *Configuration, kind string) *AppEnv { return &AppEnv{cfg: cfg, Kind: kind} }

// AppEnvResult is the environment and the login behind it.
type AppEnvResult struct {
	EnvResult
	Login *Login `json:"-"`
	// Lease is the dynamic Postgres user's lease (runtime identity).
	Lease string `json:"-"`
}

// Run logs in as the identity and builds its environment.
func (o *AppEnv) Run(ctx context.Context) (*AppEnvResult, error) {
	st, err := o.cfg.Store.Load(o.Name)
	if err != nil {
		return nil, err
	}
	conn := connect.New(st, o.cfg.Getenv)
	defer conn.Close()
	s, err := conn.Vault(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireApp(s, o.App); err != nil {
		return nil, err
	}
	res := &AppEnvResult{}
	switch o.Kind {
	case IdentityCI:
		if res.Login, err = ciLogin(ctx, s, o.App); err != nil {
			return nil, err
		}
		res.Vars = []EnvVar{{"VAULT_ADDR", res.Login.VaultAddr}, {"VAULT_TOKEN", res.Login.Token}}
		for _, kv := range o.Job.vars(o.App) {
			k, v, _ := strings.Cut(kv, "=")
			res.Vars = append(res.Vars, EnvVar{k, v})
		}
	case IdentityRuntime:
		if res.Login, err = runtimeLogin(ctx, conn, s, o.App); err != nil {
			return nil, err
		}
		c, err := s.NewClient(res.Login.Token)
		if err != nil {
			return nil, err
		}
		creds, err := vault.AppCredentials(ctx, c, o.App)
		if err != nil {
			return nil, err
		}
		res.Lease = creds.Lease
		sec, err := st.PostgresSecrets()
		if err != nil {
			return nil, err
		}
		pg := st.PostgresAdminEndpoint(sec)
		res.Vars = []EnvVar{
			{"VAULT_ADDR", res.Login.VaultAddr}, {"VAULT_TOKEN", res.Login.Token},
			{"PGHOST", pg.Host}, {"PGPORT", strconv.Itoa(pg.Port)}, {"PGDATABASE", pg.Database},
			{"PGUSER", creds.User}, {"PGPASSWORD", creds.Password},
		}
	default:
		return nil, fmt.Errorf("unknown identity %q: use %q or %q", o.Kind, IdentityRuntime, IdentityCI)
	}
	if err := proveHandout(ctx, conn, s.Client.Address(), res.Vars); err != nil {
		return nil, err
	}
	return res, nil
}
