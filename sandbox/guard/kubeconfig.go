package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/arcodange/labsbx/internal/fsutil"
)

// maxKubeconfigSize bounds what the guard reads from one kubeconfig, CA or
// credential file. Real ones are a few KiB; 50 contexts are well under 1 MiB.
const maxKubeconfigSize = 4 << 20

// kubeFile is one parsed kubeconfig file. Entries are kept as canonical JSON
// (sorted keys, compact) so that the same entry in two files compares equal.
type kubeFile struct {
	path           string // as given
	dir            string // directory that relative paths in this file resolve against
	currentContext string
	contexts       map[string]json.RawMessage
	clusters       map[string]json.RawMessage
	users          map[string]json.RawMessage
}

// rawKubeconfig is the top level of a kubeconfig, with the entries left raw.
// Only our own entries are decoded strictly; others' unknown fields are theirs.
type rawKubeconfig struct {
	Kind           string     `json:"kind"`
	APIVersion     string     `json:"apiVersion"`
	CurrentContext string     `json:"current-context"`
	Clusters       []rawNamed `json:"clusters"`
	Contexts       []rawNamed `json:"contexts"`
	Users          []rawNamed `json:"users"`
}

type rawNamed struct {
	Name    string          `json:"name"`
	Cluster json.RawMessage `json:"cluster"`
	Context json.RawMessage `json:"context"`
	User    json.RawMessage `json:"user"`
}

// readRegularFile reads a regular file (following symlinks, so a link is
// judged on what it points to), refusing devices, FIFOs, directories, loops,
// dangling links and oversized files. A FIFO never blocks it.
func readRegularFile(path string, limit int64) ([]byte, error) {
	data, err := fsutil.ReadRegular(path, limit)
	switch {
	case errors.Is(err, fsutil.ErrNotRegular):
		return nil, fmt.Errorf("%q is not a regular file (%s)", path, typeOf(path))
	case errors.Is(err, fsutil.ErrTooLarge):
		return nil, fmt.Errorf("%q is larger than %d bytes", path, limit)
	case err != nil:
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	return data, nil
}

// typeOf names what is at path, following symlinks ("FIFO", "directory", …).
func typeOf(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "unreadable"
	}
	return fsutil.TypeName(fi.Mode())
}

// loadKubeFile reads and parses one kubeconfig file.
func loadKubeFile(path string) (*kubeFile, error) {
	data, err := readRegularFile(path, maxKubeconfigSize)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cannot make %q absolute: %w", path, err)
	}
	// Like kubectl, relative paths resolve against the directory of the file
	// as named (a symlink's own directory, not its target's).
	return parseKubeconfig(path, filepath.Dir(abs), data)
}

// backquoted matches the `value` snippets YAML errors quote, which could be a
// secret from the file; they are dropped from every reason.
var backquoted = regexp.MustCompile("`[^`]*`")

// parseKubeconfig parses one kubeconfig. It refuses what kubectl would not
// load (duplicate names, wrong apiVersion) and what kubectl would read
// differently from a strict parser (duplicate keys).
func parseKubeconfig(path, dir string, data []byte) (*kubeFile, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("kubeconfig %q is empty", path)
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %q is malformed: %s", path, oneLine(backquoted.ReplaceAllString(err.Error(), "`…`")))
	}
	if t := bytes.TrimSpace(j); bytes.Equal(t, []byte("null")) || len(t) == 0 {
		return nil, fmt.Errorf("kubeconfig %q is empty", path)
	}
	if j[0] != '{' {
		return nil, fmt.Errorf("kubeconfig %q is malformed: not a mapping", path)
	}
	var raw rawKubeconfig
	// Case-sensitive, like kubectl's decoder: "Server" is not "server".
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &raw); err != nil {
		return nil, fmt.Errorf("kubeconfig %q is malformed: %s", path, jsonErrReason(err))
	}
	if raw.Kind != "" && raw.Kind != "Config" || raw.APIVersion != "" && raw.APIVersion != "v1" {
		return nil, fmt.Errorf("kubeconfig %q has kind %q apiVersion %q; want Config v1", path, raw.Kind, raw.APIVersion)
	}
	kf := &kubeFile{path: path, dir: dir, currentContext: raw.CurrentContext}
	if kf.clusters, err = indexNamed(path, "cluster", raw.Clusters, func(n rawNamed) json.RawMessage { return n.Cluster }); err != nil {
		return nil, err
	}
	if kf.contexts, err = indexNamed(path, "context", raw.Contexts, func(n rawNamed) json.RawMessage { return n.Context }); err != nil {
		return nil, err
	}
	if kf.users, err = indexNamed(path, "user", raw.Users, func(n rawNamed) json.RawMessage { return n.User }); err != nil {
		return nil, err
	}
	// What kubectl cannot load is malformed, even if our entries are fine.
	if _, err := clientcmd.Load(data); err != nil {
		return nil, fmt.Errorf("kubeconfig %q is malformed: kubectl cannot load it (%s)", path, clientcmdErrReason(err))
	}
	return kf, nil
}

func indexNamed(path, kind string, list []rawNamed, body func(rawNamed) json.RawMessage) (map[string]json.RawMessage, error) {
	m := make(map[string]json.RawMessage, len(list))
	for _, n := range list {
		if _, dup := m[n.Name]; dup {
			return nil, fmt.Errorf("kubeconfig %q defines %s %+q twice", path, kind, n.Name)
		}
		m[n.Name] = body(n)
	}
	return m, nil
}

// oneLine folds a multi-line message into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// fieldName matches the quoted field names in strict decoding errors.
var fieldName = regexp.MustCompile(`"[^"]*"`)

// safeFieldName keeps a quoted field name only if it looks like one: a key
// that is really a pasted token must not reach a reason.
func safeFieldName(q string) string {
	name := strings.Trim(q, `"`)
	if len(name) == 0 || len(name) > 40 {
		return `"<redacted>"`
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return `"<redacted>"`
		}
	}
	return q
}

// jsonErrReason keeps a JSON decoding error free of values.
func jsonErrReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type (%s, want %s)", te.Field, te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	return oneLine(backquoted.ReplaceAllString(err.Error(), "`…`"))
}

// clientcmdErrReason keeps a clientcmd error free of content: some of its
// messages print whole entry lists, credentials included.
// KubeconfigErrReason says why clientcmd could not load a kubeconfig without quoting
// the file: client-go's decoding errors can print whole entries, tokens and keys
// included.
func KubeconfigErrReason(err error) string { return clientcmdErrReason(err) }

func clientcmdErrReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return jsonErrReason(err)
	}
	return "its decoder rejects the file"
}

// definition is the entry kubectl would use for one name: the first file that
// defines it wins.
type definition struct {
	file *kubeFile
	raw  json.RawMessage
}

// lookup finds name among files with kubectl's merge rule (first file wins).
// Unlike kubectl it refuses when another file defines the same name
// differently: tools that order or merge the files differently would reach
// another server, and a shadowed sandbox entry is a mistake worth showing.
func lookup(files []*kubeFile, kind, name string, pick func(*kubeFile) map[string]json.RawMessage) (definition, error) {
	var def definition
	for _, f := range files {
		raw, ok := pick(f)[name]
		if !ok {
			continue
		}
		if def.file == nil {
			def = definition{file: f, raw: raw}
			continue
		}
		if !bytes.Equal(def.raw, raw) {
			return definition{}, fmt.Errorf("%s %+q is defined in %q and differently in %q (kubectl uses the first; remove the stale one)", kind, name, def.file.path, f.path)
		}
	}
	if def.file == nil {
		return definition{}, fmt.Errorf("%s %+q is not defined in %s", kind, name, describeFiles(files))
	}
	if len(bytes.TrimSpace(def.raw)) == 0 || bytes.Equal(bytes.TrimSpace(def.raw), []byte("null")) {
		return definition{}, fmt.Errorf("%s %+q in %q has no body", kind, name, def.file.path)
	}
	return def, nil
}

func describeFiles(files []*kubeFile) string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = fmt.Sprintf("%q", f.path)
	}
	return strings.Join(names, ", ")
}

// decodeStrict decodes one of our entries, refusing unknown fields (a field
// the guard does not understand could change where or how we connect).
func decodeStrict(def definition, kind, name string, v any) error {
	strictErrs, err := kjson.UnmarshalStrict(def.raw, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return fmt.Errorf("%s %+q in %q is malformed: %s", kind, name, def.file.path, jsonErrReason(err))
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = fieldName.ReplaceAllStringFunc(backquoted.ReplaceAllString(e.Error(), "`…`"), safeFieldName)
		}
		return fmt.Errorf("%s %+q in %q has fields the guard does not accept: %s", kind, name, def.file.path, strings.Join(msgs, "; "))
	}
	return nil
}

// resolvePath makes a path from a kubeconfig absolute against its file's dir.
func (d definition) resolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.file.dir, p)
}

// kubeContext, kubeCluster and kubeUser mirror clientcmd's v1 entries. Every
// field kubectl knows is listed so that a strict decode refuses only the
// unknown ones; the checks then refuse the known-dangerous ones by name.
type kubeContext struct {
	Cluster    string          `json:"cluster"`
	User       string          `json:"user"`
	Namespace  string          `json:"namespace,omitempty"`
	Extensions json.RawMessage `json:"extensions,omitempty"`
}

type kubeCluster struct {
	Server                   string          `json:"server"`
	TLSServerName            string          `json:"tls-server-name,omitempty"`
	InsecureSkipTLSVerify    bool            `json:"insecure-skip-tls-verify,omitempty"`
	CertificateAuthority     string          `json:"certificate-authority,omitempty"`
	CertificateAuthorityData []byte          `json:"certificate-authority-data,omitempty"`
	ProxyURL                 string          `json:"proxy-url,omitempty"`
	DisableCompression       bool            `json:"disable-compression,omitempty"`
	Extensions               json.RawMessage `json:"extensions,omitempty"`
}

type kubeUser struct {
	ClientCertificate     string              `json:"client-certificate,omitempty"`
	ClientCertificateData []byte              `json:"client-certificate-data,omitempty"`
	ClientKey             string              `json:"client-key,omitempty"`
	ClientKeyData         []byte              `json:"client-key-data,omitempty"`
	Token                 string              `json:"token,omitempty"`
	TokenFile             string              `json:"tokenFile,omitempty"`
	Impersonate           string              `json:"as,omitempty"`
	ImpersonateUID        string              `json:"as-uid,omitempty"`
	ImpersonateGroups     []string            `json:"as-groups,omitempty"`
	ImpersonateUserExtra  map[string][]string `json:"as-user-extra,omitempty"`
	Username              string              `json:"username,omitempty"`
	Password              string              `json:"password,omitempty"`
	AuthProvider          *kubeAuthProvider   `json:"auth-provider,omitempty"`
	Exec                  json.RawMessage     `json:"exec,omitempty"`
	Extensions            json.RawMessage     `json:"extensions,omitempty"`
}

type kubeAuthProvider struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config,omitempty"`
}

// KubeconfigFormat is a kubeconfig as kubectl writes one: an empty file, or a mapping
// of kubeconfig keys only (kind Config, apiVersion v1) that client-go loads. A merge
// replaces nothing else: not a key file, not some other YAML.
var KubeconfigFormat = Format{Name: "kubeconfig", MaxSize: maxKubeconfigSize, Recognise: recogniseKubeconfig}

// kubeconfigKeys are the top-level keys of a kubeconfig (client-go's api/v1 Config).
var kubeconfigKeys = map[string]bool{
	"apiVersion": true, "kind": true, "preferences": true, "clusters": true,
	"users": true, "contexts": true, "current-context": true, "extensions": true,
}

// plainKey is a key that can be named in a refusal: a short identifier, never a value.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,40}$`)

func recogniseKubeconfig(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return errors.New("not well-formed YAML")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(j, &top); err != nil || top == nil {
		return errors.New("not a YAML mapping")
	}
	for k := range top {
		if !kubeconfigKeys[k] {
			if plainKey.MatchString(k) {
				return fmt.Errorf("it has a top-level field %q, which no kubeconfig has", k)
			}
			return errors.New("it has top-level fields no kubeconfig has")
		}
	}
	for k, want := range map[string]string{"kind": "Config", "apiVersion": "v1"} {
		if raw, ok := top[k]; ok {
			var got string
			if json.Unmarshal(raw, &got) != nil || got != want {
				return fmt.Errorf("its %s is not %q", k, want)
			}
		}
	}
	if _, err := clientcmd.Load(data); err != nil {
		return errors.New(clientcmdErrReason(err))
	}
	return nil
}
