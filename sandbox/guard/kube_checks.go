package guard

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeRun carries one kube decision through the steps listed in checks.go.
type kubeRun struct {
	rec     Record
	paths   []string
	context string
	loader  func(path string) (*kubeFile, error)
	homes   []string // whose ~/.arcodange no file may be in (nil: the user's)

	recorded endpoint // rec.Kube.Server, parsed
	fp       string   // rec.Kube.CAFingerprint, normalised

	files   []*kubeFile
	ctxDef  definition
	ctx     kubeContext
	clDef   definition
	cluster kubeCluster
	server  endpoint
	caPEM   []byte
	userDef definition
	user    kubeUser
	creds   kubeCreds
}

// kubeCreds is what the approved user entry authenticates with.
type kubeCreds struct {
	certPEM, keyPEM []byte
	token           string
	exec            *clientcmdapi.ExecConfig
	authProvider    *clientcmdapi.AuthProviderConfig
}

func (r *kubeRun) record() (string, error) {
	rec := r.rec
	if rec.Kube == nil {
		return "", refusef("no sandbox named %+q has a cluster; run `labsbx up --name %s`", rec.Name, rec.Name)
	}
	if !validName(rec.Name) {
		return "", refusef("sandbox record has an invalid name %+q", rec.Name)
	}
	if rec.UUID == "" {
		return "", refusef("sandbox %q has no UUID in its state; run `labsbx up --name %s`", rec.Name, rec.Name)
	}
	if want := ContextName(rec.Name); rec.Kube.Context != want {
		return "", refusef("sandbox %q recorded context %+q, want %q", rec.Name, rec.Kube.Context, want)
	}
	if rec.Kube.Cluster == "" || rec.Kube.User == "" {
		return "", refusef("sandbox %q recorded no cluster or user entry name", rec.Name)
	}
	e, err := parseEndpoint(rec.Kube.Server, "https")
	if err != nil {
		return "", refusef("sandbox %q recorded a server that is not ours: %w", rec.Name, err)
	}
	r.recorded = e
	if r.fp = normFingerprint(rec.Kube.CAFingerprint); r.fp == "" {
		return "", refusef("sandbox %q recorded no valid CA fingerprint", rec.Name)
	}
	return fmt.Sprintf("sandbox %q (%s) recorded %s at %s", rec.Name, rec.UUID, rec.Kube.Context, rec.Kube.Server), nil
}

func (r *kubeRun) contextName() (string, error) {
	if r.context == "" {
		return "", refusef("no kube context given")
	}
	if r.context != r.rec.Kube.Context {
		if !isASCIIPrintable(r.context) {
			return "", refusef("context %+q is not %q (it contains non-ASCII or control characters)", r.context, r.rec.Kube.Context)
		}
		if !strings.HasPrefix(r.context, contextPrefix) {
			return "", refusef("context %q is not a labsbx sandbox context (%s<name>)", r.context, contextPrefix)
		}
		return "", refusef("context %q is not the context of sandbox %q (%s)", r.context, r.rec.Name, r.rec.Kube.Context)
	}
	return r.context, nil
}

func (r *kubeRun) loadFiles() (string, error) {
	var paths []string
	for _, p := range r.paths {
		if p != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return "", refusef("no kubeconfig file given")
	}
	for _, p := range paths {
		f, err := r.loader(p)
		if err != nil {
			return "", refusef("%w", err)
		}
		r.files = append(r.files, f)
	}
	return fmt.Sprintf("%d file(s): %s", len(r.files), describeFiles(r.files)), nil
}

func (r *kubeRun) contextEntry() (string, error) {
	def, err := lookup(r.files, "context", r.context, func(f *kubeFile) map[string]json.RawMessage { return f.contexts })
	if err != nil {
		return "", refusef("%w", err)
	}
	if err := decodeStrict(def, "context", r.context, &r.ctx); err != nil {
		return "", refusef("%w", err)
	}
	r.ctxDef = def
	if r.ctx.User != r.rec.Kube.User {
		return "", refusef("context %q uses user entry %+q; the sandbox recorded %+q", r.context, r.ctx.User, r.rec.Kube.User)
	}
	return fmt.Sprintf("from %q", def.file.path), nil
}

func (r *kubeRun) clusterEntry() (string, error) {
	name := r.ctx.Cluster
	if name != r.rec.Kube.Cluster {
		return "", refusef("context %q points at cluster entry %+q; the sandbox recorded %+q", r.context, name, r.rec.Kube.Cluster)
	}
	def, err := lookup(r.files, "cluster", name, func(f *kubeFile) map[string]json.RawMessage { return f.clusters })
	if err != nil {
		return "", refusef("%w", err)
	}
	if err := decodeStrict(def, "cluster", name, &r.cluster); err != nil {
		return "", refusef("%w", err)
	}
	r.clDef = def
	return fmt.Sprintf("%q from %q", name, def.file.path), nil
}

func (r *kubeRun) serverLoopback() (string, error) {
	e, err := parseEndpoint(r.cluster.Server, "https")
	if err != nil {
		return "", refusef("cluster %q: %w", r.ctx.Cluster, err)
	}
	r.server = e
	return r.cluster.Server, nil
}

func (r *kubeRun) serverPort() (string, error) {
	if r.server.port != r.recorded.port {
		return "", refusef("cluster %q server port %d is not the recorded port %d", r.ctx.Cluster, r.server.port, r.recorded.port)
	}
	return fmt.Sprint(r.server.port), nil
}

func (r *kubeRun) serverRecorded() (string, error) {
	if r.server != r.recorded {
		return "", refusef("cluster %q server %q is not the recorded server %q", r.ctx.Cluster, r.cluster.Server, r.rec.Kube.Server)
	}
	return "", nil
}

func (r *kubeRun) tlsOverrides() (string, error) {
	c := r.cluster
	switch {
	case c.ProxyURL != "":
		return "", refusef("cluster %q sets proxy-url; a sandbox cluster is reached directly", r.ctx.Cluster)
	case c.InsecureSkipTLSVerify:
		return "", refusef("cluster %q sets insecure-skip-tls-verify; the CA must be verified", r.ctx.Cluster)
	case c.TLSServerName != "":
		return "", refusef("cluster %q sets tls-server-name %q; a sandbox cluster does not override it", r.ctx.Cluster, c.TLSServerName)
	}
	return "", nil
}

func (r *kubeRun) caFingerprint() (string, error) {
	c := r.cluster
	data := c.CertificateAuthorityData
	switch {
	case len(data) > 0 && c.CertificateAuthority != "":
		return "", refusef("cluster %q sets both certificate-authority and certificate-authority-data", r.ctx.Cluster)
	case len(data) == 0 && c.CertificateAuthority == "":
		return "", refusef("cluster %q has no CA; a sandbox cluster is verified against its recorded CA", r.ctx.Cluster)
	case len(data) == 0:
		p := r.clDef.resolvePath(c.CertificateAuthority)
		b, err := readRegularFile(p, maxKubeconfigSize)
		if err != nil {
			return "", refusef("cluster %q certificate-authority: %w", r.ctx.Cluster, err)
		}
		data = b
	}
	fp, err := singleCertFingerprint(data)
	if err != nil {
		return "", refusef("cluster %q CA: %w", r.ctx.Cluster, err)
	}
	if fp != r.fp {
		return "", refusef("cluster %q CA fingerprint sha256:%s is not the recorded sha256:%s", r.ctx.Cluster, fp, r.fp)
	}
	r.caPEM = data
	return "sha256:" + fp, nil
}

// CAFingerprint is the hex sha256 of the DER of the only certificate in pemData, as
// the guard records and checks it. A bundle is refused: every certificate in it
// would be trusted, and only one is recorded.
func CAFingerprint(pemData []byte) (string, error) { return singleCertFingerprint(pemData) }

func singleCertFingerprint(pemData []byte) (string, error) {
	block, rest := pem.Decode(pemData)
	if block == nil {
		return "", fmt.Errorf("no PEM certificate found")
	}
	if block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("PEM block is %q, want CERTIFICATE", block.Type)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return "", fmt.Errorf("more than one PEM block (a CA bundle); want exactly the sandbox CA")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return "", fmt.Errorf("certificate does not parse: %w", err)
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

func (r *kubeRun) userEntry() (string, error) {
	name := r.ctx.User
	def, err := lookup(r.files, "user", name, func(f *kubeFile) map[string]json.RawMessage { return f.users })
	if err != nil {
		return "", refusef("%w", err)
	}
	if err := decodeStrict(def, "user", name, &r.user); err != nil {
		return "", refusef("%w", err)
	}
	r.userDef = def
	u := r.user
	if u.Impersonate != "" || u.ImpersonateUID != "" || len(u.ImpersonateGroups) > 0 || len(u.ImpersonateUserExtra) > 0 {
		return "", refusef("user %+q impersonates; a sandbox user does not", name)
	}
	if u.Username != "" || u.Password != "" {
		return "", refusef("user %+q uses basic auth; a sandbox user does not", name)
	}
	return fmt.Sprintf("%q from %q", name, def.file.path), nil
}

func (r *kubeRun) authPlugin() (string, error) {
	u, name, want := r.user, r.ctx.User, r.rec.Kube.AuthPlugin
	if len(u.Exec) > 0 && string(u.Exec) != "null" {
		var ex clientcmdapi.ExecConfig
		if err := decodeStrict(definition{file: r.userDef.file, raw: u.Exec}, "exec plugin of user", name, &ex); err != nil {
			return "", refusef("%w", err)
		}
		if want == "" || ex.Command != want {
			return "", refusef("user %+q runs exec plugin %+q; the sandbox recorded %s", name, ex.Command, describePlugin(want))
		}
		r.creds.exec = &ex
		return "exec " + ex.Command, nil
	}
	if u.AuthProvider != nil {
		if want == "" || u.AuthProvider.Name != want {
			return "", refusef("user %+q uses auth-provider %+q; the sandbox recorded %s", name, u.AuthProvider.Name, describePlugin(want))
		}
		r.creds.authProvider = &clientcmdapi.AuthProviderConfig{Name: u.AuthProvider.Name, Config: u.AuthProvider.Config}
		return "auth-provider " + u.AuthProvider.Name, nil
	}
	if want != "" {
		return "", refusef("user %+q has no auth plugin; the sandbox recorded %q", name, want)
	}
	return "none", nil
}

func describePlugin(p string) string {
	if p == "" {
		return "none"
	}
	return fmt.Sprintf("%q", p)
}

func (r *kubeRun) credentials() (string, error) {
	u, name := r.user, r.ctx.User
	read := func(field, p string) ([]byte, error) {
		b, err := readRegularFile(r.userDef.resolvePath(p), maxKubeconfigSize)
		if err != nil {
			return nil, refusef("user %+q %s: %w", name, field, err)
		}
		return b, nil
	}
	var err error
	switch {
	case len(u.ClientCertificateData) > 0 && u.ClientCertificate != "", len(u.ClientKeyData) > 0 && u.ClientKey != "":
		return "", refusef("user %+q sets a client certificate or key both inline and as a file", name)
	}
	r.creds.certPEM, r.creds.keyPEM = u.ClientCertificateData, u.ClientKeyData
	if u.ClientCertificate != "" {
		if r.creds.certPEM, err = read("client-certificate", u.ClientCertificate); err != nil {
			return "", err
		}
	}
	if u.ClientKey != "" {
		if r.creds.keyPEM, err = read("client-key", u.ClientKey); err != nil {
			return "", err
		}
	}
	if (len(r.creds.certPEM) > 0) != (len(r.creds.keyPEM) > 0) {
		return "", refusef("user %+q has a client certificate without a key, or a key without a certificate", name)
	}
	r.creds.token = u.Token
	if u.TokenFile != "" {
		if u.Token != "" {
			return "", refusef("user %+q sets both token and tokenFile", name)
		}
		b, err := read("tokenFile", u.TokenFile)
		if err != nil {
			return "", err
		}
		r.creds.token = strings.TrimSpace(string(b))
	}
	var kinds []string
	if len(r.creds.certPEM) > 0 {
		kinds = append(kinds, "client certificate")
	}
	if r.creds.token != "" {
		kinds = append(kinds, "token")
	}
	if r.creds.exec != nil || r.creds.authProvider != nil {
		kinds = append(kinds, "plugin")
	}
	if len(kinds) == 0 {
		return "", refusef("user %+q has no credentials", name)
	}
	return strings.Join(kinds, ", "), nil
}
