package guard

import (
	"fmt"
	"strings"
)

// A kubeconfig names files that the guard opens to judge it (the CA) or that the
// client would open (a token file, a client certificate and key, an exec plugin).
// None may be a key path: refused by name or by identity (keyFileRefusal), before
// anything opens it.

// caFile refuses a certificate-authority file that is a key path.
func (r *kubeRun) caFile() (string, error) {
	p := r.cluster.CertificateAuthority
	if p == "" {
		return "inline", nil
	}
	p = r.clDef.resolvePath(p)
	if err := keyFileRefusal(fmt.Sprintf("cluster %q certificate-authority", r.ctx.Cluster), p, r.homes); err != nil {
		return "", err
	}
	return p, nil
}

// keyFiles refuses a user entry that points its token file, client certificate or
// key, or its exec plugin's command or a path among its arguments, environment or
// auth-provider config, at a key path.
func (r *kubeRun) keyFiles() (string, error) {
	u, name := r.user, r.ctx.User
	var files []string
	check := func(field, p string) error {
		if p == "" {
			return nil
		}
		p = r.userDef.resolvePath(p)
		files = append(files, p)
		return keyFileRefusal(fmt.Sprintf("user %q %s", name, field), p, r.homes)
	}
	for _, f := range []struct{ field, path string }{
		{"tokenFile", u.TokenFile}, {"client-certificate", u.ClientCertificate}, {"client-key", u.ClientKey},
	} {
		if err := check(f.field, f.path); err != nil {
			return "", err
		}
	}
	if ex := r.creds.exec; ex != nil {
		if err := check("exec command", ex.Command); err != nil {
			return "", err
		}
		for _, a := range ex.Args {
			if err := checkPathWords("exec argument", a, check); err != nil {
				return "", err
			}
		}
		for _, e := range ex.Env {
			if err := checkPathWords("exec env "+e.Name, e.Value, check); err != nil {
				return "", err
			}
		}
	}
	if ap := r.creds.authProvider; ap != nil {
		for k, v := range ap.Config {
			if err := checkPathWords("auth-provider "+k, v, check); err != nil {
				return "", err
			}
		}
	}
	if len(files) == 0 {
		return "no credential files", nil
	}
	return strings.Join(files, ", "), nil
}

// checkPathWords checks every part of value that looks like a path ("--key=/p",
// "/p", "~/p"), and refuses one that names ~/.arcodange or a cluster-keys.json at all.
func checkPathWords(field, value string, check func(field, p string) error) error {
	if reArcodange.MatchString(value) || reClusterKeys.MatchString(value) {
		return refusef("%s %q names a key path (~/.arcodange or cluster-keys.json)", field, value)
	}
	for _, w := range strings.FieldsFunc(value, func(c rune) bool { return c == '=' || c == ',' || c == ' ' || c == ':' }) {
		if strings.HasPrefix(w, "/") {
			if err := check(field, w); err != nil {
				return err
			}
		}
	}
	return nil
}
