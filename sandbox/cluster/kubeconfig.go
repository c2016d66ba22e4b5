package cluster

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// WriteKubeconfig writes a kubeconfig to path (in the sandbox state dir), 0600,
// atomically. It is the only kubeconfig labsbx writes unless --merge-kubeconfig.
func WriteKubeconfig(path string, kc *clientcmdapi.Config) error {
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return fsutil.WriteFileAtomic(path, b, fsutil.SecretMode)
}

// KubeRecord is what the guard must record about the sandbox's context in kc: its
// name, cluster and user entries, server, and the sha256 of its CA certificate's DER.
// MarkerWritten is false: up sets it once WriteMarker succeeded.
func KubeRecord(kc *clientcmdapi.Config, context string) (*guard.KubeRecord, error) {
	kctx, ok := kc.Contexts[context]
	if !ok || kctx == nil {
		return nil, fmt.Errorf("kubeconfig has no context %q", context)
	}
	cl, ok := kc.Clusters[kctx.Cluster]
	if !ok || cl == nil {
		return nil, fmt.Errorf("context %q names cluster %q, which the kubeconfig lacks", context, kctx.Cluster)
	}
	if _, ok := kc.AuthInfos[kctx.AuthInfo]; !ok {
		return nil, fmt.Errorf("context %q names user %q, which the kubeconfig lacks", context, kctx.AuthInfo)
	}
	fp, err := guard.CAFingerprint(cl.CertificateAuthorityData)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", kctx.Cluster, err)
	}
	return &guard.KubeRecord{
		Context:       context,
		Cluster:       kctx.Cluster,
		User:          kctx.AuthInfo,
		Server:        cl.Server,
		CAFingerprint: fp,
	}, nil
}
