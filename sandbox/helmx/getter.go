package helmx

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/arcodange/labsbx/sandbox/guard"
)

// getter gives Helm its clients from one guard-verified connection, and from nothing
// else: no kubeconfig file, no $KUBECONFIG, no in-cluster config. The guard's client
// config pins the approved server and CA, ignores proxies, and refuses every request
// until the sandbox marker is verified.
type getter struct {
	cfg       *rest.Config
	namespace string

	once   sync.Once
	disc   discovery.CachedDiscoveryInterface
	mapper meta.RESTMapper
	err    error
}

var _ genericclioptions.RESTClientGetter = (*getter)(nil)

// newGetter refuses a connection whose marker is not verified (guard.Kube.RESTConfig
// does).
func newGetter(k *guard.Kube, namespace string) (*getter, error) {
	cfg, err := k.RESTConfig()
	if err != nil {
		return nil, err
	}
	return &getter{cfg: cfg, namespace: namespace}, nil
}

func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

// ToDiscoveryClient returns the same cached client every time, so that Helm's
// Invalidate after it installs CRDs reaches the mapper too.
func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.init()
	return g.disc, g.err
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) {
	g.init()
	return g.mapper, g.err
}

func (g *getter) init() {
	g.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.cfg))
		if err != nil {
			g.err = fmt.Errorf("discovery client: %w", err)
			return
		}
		g.disc = memory.NewMemCacheClient(dc)
		m := restmapper.NewDeferredDiscoveryRESTMapper(g.disc)
		g.mapper = restmapper.NewShortcutExpander(m, g.disc, nil)
	})
}

// ToRawKubeConfigLoader serves the namespace to Helm's kube client. It has no
// kubeconfig behind it.
func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return approvedConfig{g} }

type approvedConfig struct{ g *getter }

var _ clientcmd.ClientConfig = approvedConfig{}

// RawConfig is empty: nothing may read or rewrite a kubeconfig through Helm.
func (c approvedConfig) RawConfig() (clientcmdapi.Config, error) {
	return *clientcmdapi.NewConfig(), nil
}
func (c approvedConfig) ClientConfig() (*rest.Config, error) { return c.g.ToRESTConfig() }
func (c approvedConfig) Namespace() (string, bool, error)    { return c.g.namespace, true, nil }

// ConfigAccess is nil: loading rules would read $KUBECONFIG. Helm's install, upgrade,
// history and uninstall never call it.
func (c approvedConfig) ConfigAccess() clientcmd.ConfigAccess { return nil }
