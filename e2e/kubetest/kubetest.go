// Package kubetest gives integration tests a real kube-apiserver recorded the way up
// records a k3d cluster, and VSO's kinds as test scaffolding. Only tests import it.
package kubetest

import (
	"context"
	_ "embed"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/arcodange/labsbx/e2e/testenv"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// UUID is the sandbox UUID of every test cluster (the marker holds it).
const UUID = "8d0c4f0e-3a57-4d7e-9a43-2b1f0c6d9e21"

// Cluster is a real kube-apiserver as a sandbox cluster: a kubeconfig in a state dir
// with context k3d-labsbx-<name>, the guard's record of it, and a connection through
// the guard.
type Cluster struct {
	Server     *testenv.KubeServer
	Rec        guard.Record
	Kubeconfig string
	Kube       *guard.Kube
	// Admin is the test's own view, not through the guard.
	Admin *kubernetes.Clientset
}

// New starts the server and connects through the guard. The marker is not written
// yet: the connection is pending until WriteMarker.
func New(t *testing.T, name string) *Cluster {
	t.Helper()
	s := testenv.KubeAPIServer(t)
	dir := t.TempDir()
	ctxName := guard.ContextName(name)
	kc := filepath.Join(dir, "kubeconfig")
	if err := s.WriteKubeconfig(kc, ctxName); err != nil {
		t.Fatal(err)
	}
	fp, err := guard.CAFingerprint(s.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	rec := guard.Record{Name: name, UUID: UUID, StateDir: dir, Kube: &guard.KubeRecord{
		Context: ctxName, Cluster: ctxName, User: ctxName, Server: s.Host, CAFingerprint: fp,
	}}
	a, rep, err := guard.ApproveKube(rec, []string{kc}, ctxName)
	if err != nil {
		t.Fatalf("ApproveKube: %v\n%+v", err, rep)
	}
	k, err := a.Connect(t.Context(), rec)
	if err != nil {
		t.Fatalf("Connect before the marker: %v", err)
	}
	admin, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &Cluster{Server: s, Rec: rec, Kubeconfig: kc, Kube: k, Admin: admin}
}

// WriteMarker writes the marker through the guard, which verifies the connection.
func (c *Cluster) WriteMarker(t *testing.T) {
	t.Helper()
	if err := c.Kube.WriteMarker(t.Context()); err != nil {
		t.Fatalf("WriteMarker: %v", err)
	}
	c.Rec.Kube.MarkerWritten = true
}

//go:embed vso-crds-scaffold.yaml
var scaffoldCRDs string

// InstallScaffoldCRDs registers the minimal secrets.hashicorp.com kinds of
// vso-crds-scaffold.yaml (test scaffolding: the real CRDs come with VSO's chart)
// through the guarded connection, and waits until they are served.
func InstallScaffoldCRDs(t *testing.T, k *guard.Kube) {
	t.Helper()
	ctx := t.Context()
	cfg, err := k.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := apiext.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(scaffoldCRDs, "\n---\n") {
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict([]byte(doc), &crd); err != nil {
			t.Fatalf("scaffold CRD: %v", err)
		}
		if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create CRD %s: %v", crd.Name, err)
		}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established: %v", crd.Name, err)
		}
	}
}

// K3dKubeconfig is shaped like the kubeconfig k3d writes for sandbox name: context and
// cluster k3d-labsbx-<name>, user admin@k3d-labsbx-<name> with a client certificate,
// and the given server and CA.
func K3dKubeconfig(name, server string, ca []byte) *clientcmdapi.Config {
	ctxName := guard.ContextName(name)
	kc := clientcmdapi.NewConfig()
	cl := clientcmdapi.NewCluster()
	cl.Server, cl.CertificateAuthorityData = server, ca
	u := clientcmdapi.NewAuthInfo()
	u.ClientCertificateData, u.ClientKeyData = []byte("cert"), []byte("key")
	x := clientcmdapi.NewContext()
	x.Cluster, x.AuthInfo = ctxName, "admin@"+ctxName
	kc.Clusters[ctxName], kc.AuthInfos[x.AuthInfo], kc.Contexts[ctxName] = cl, u, x
	return kc
}
