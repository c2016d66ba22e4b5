package bringup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/arcodange/labsbx/charts"
	"github.com/arcodange/labsbx/internal/fsutil"
	"github.com/arcodange/labsbx/internal/netx"
	"github.com/arcodange/labsbx/internal/wait"
	"github.com/arcodange/labsbx/sandbox/bundle"
	"github.com/arcodange/labsbx/sandbox/cluster"
	"github.com/arcodange/labsbx/sandbox/config"
	"github.com/arcodange/labsbx/sandbox/guard"
	"github.com/arcodange/labsbx/sandbox/helmx"
	"github.com/arcodange/labsbx/sandbox/postgres"
	"github.com/arcodange/labsbx/sandbox/state"
	"github.com/arcodange/labsbx/sandbox/vault"
	"github.com/arcodange/labsbx/sandbox/vso"
	"github.com/arcodange/labsbx/vmimages"
)

// Waiting limits of the full profile's bring-up, for pods to start.
const (
	podsTimeout  = 5 * time.Minute
	podsInterval = 2 * time.Second
)

func releaseStep(r FullRelease) string {
	src := r.Chart.Name
	if !r.Chart.Embedded {
		src = "hashicorp/" + r.Chart.Name
	}
	return fmt.Sprintf("Installing chart %s %s as release %s/%s", src, r.Chart.Version, r.Namespace, r.Name)
}

func fullDockerEngine(ctx context.Context, p *Context) error {
	if err := dockerEngine(ctx, p); err != nil {
		return err
	}
	var err error
	p.clusters, err = p.cfg.Clusters(p.dockerOK, p.st.Name, p.st.UUID, cluster.HelpersOf(p.st.Spec.Cluster))
	return err
}

func fullImagesStep(ctx context.Context, p *Context) error {
	wants := FullImages(p.st.Name, p.st.Spec)
	if p.bundle != nil {
		loaded, err := p.bundle.LoadImages(ctx, p.rt, wants)
		for _, l := range loaded {
			if l.Action == "loaded" {
				p.change("loaded image " + l.Ref + " from the bundle")
			}
		}
		return err
	}
	for _, w := range wants {
		state, err := p.rt.EnsureImage(ctx, w.Ref)
		if err != nil {
			return fmt.Errorf("%w; without network, use an offline bundle: labsbx up --bundle DIR (see labsbx bundle save --help)", err)
		}
		p.cfg.log().Info("image", "ref", w.Ref, "state", state)
	}
	return nil
}

// cluster chooses the host ports (recorded before the cluster exists, so that a
// resumed up reuses them) and creates the cluster unless it exists.
func clusterStep(ctx context.Context, p *Context) error {
	st := p.st
	if st.Cluster == nil {
		ports, err := netx.FreePorts(3) // API, Vault, Postgres
		if err != nil {
			return err
		}
		if st.Spec.Cluster.APIPort > 0 {
			ports[0] = st.Spec.Cluster.APIPort
		}
		st.Cluster = &state.ClusterState{Name: cluster.Name(st.Name), APIPort: ports[0]}
		st.Vault = &state.VaultState{Addr: "http://127.0.0.1:" + strconv.Itoa(ports[1])}
		st.Docker = &state.DockerState{PostgresPort: ports[2]}
		if err := p.cfg.Store.Save(st, p.cfg.now()); err != nil {
			return err
		}
	}
	exists, err := p.clusters.Exists(ctx)
	if err != nil {
		return err
	}
	if !exists {
		if st.Vault != nil && st.Vault.ClusterID != "" {
			// The cluster went (k3d cluster delete, a Docker reset) with the Vault that
			// the state's key belongs to. A new cluster would hold a new Vault: start
			// over rather than mix the two.
			return fmt.Errorf("k3d cluster %s is gone, but the state of sandbox %q records its initialised Vault; run `labsbx down --name %s`, then `labsbx up` again",
				st.Cluster.Name, st.Name, st.Name)
		}
		vport, err := addrPort(st.Vault.Addr)
		if err != nil {
			return err
		}
		err = p.clusters.Create(ctx, cluster.Options{
			Sandbox: st.Name, UUID: st.UUID, Servers: st.Spec.Cluster.Servers, Agents: st.Spec.Cluster.Agents,
			Image: st.Spec.Cluster.K3sImage, APIPort: st.Cluster.APIPort, VaultPort: vport, PostgresPort: st.Docker.PostgresPort,
			Helpers: cluster.HelpersOf(st.Spec.Cluster),
		})
		if err != nil {
			return err
		}
		p.change("created k3d cluster " + st.Cluster.Name)
		st.Cluster.Imported = nil
	} else if err := p.clusters.Start(ctx); err != nil {
		// Nodes a power cycle or an interrupted run left stopped start again; running
		// ones are left alone.
		return err
	}
	st.Cluster.ServerNode = p.clusters.ServerNode()
	p.res.VaultAddr = st.Vault.Addr
	return nil
}

// kubeconfig writes the cluster's kubeconfig into the state and records it for the
// guard. A cluster made again has a new CA: the record follows it, and the marker
// must be written again.
func kubeconfig(ctx context.Context, p *Context) error {
	kc, err := p.clusters.Kubeconfig(ctx)
	if err != nil {
		return err
	}
	rec, err := cluster.KubeRecord(kc, guard.ContextName(p.st.Name))
	if err != nil {
		return err
	}
	path := filepath.Join(p.st.Dir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(path, kc); err != nil {
		return err
	}
	old := p.st.Kube
	same := old != nil && old.Server == rec.Server && old.CAFingerprint == rec.CAFingerprint
	ks := &state.KubeState{Kubeconfig: path, Context: rec.Context, Cluster: rec.Cluster, User: rec.User, Server: rec.Server,
		CAFingerprint: rec.CAFingerprint, MarkerWritten: same && old.MarkerWritten}
	if old != nil {
		ks.Merged = old.Merged
	}
	if !same {
		p.change("wrote kubeconfig " + path)
	}
	p.st.Kube = ks
	return nil
}

// connect asks the guard for the cluster: the recorded kubeconfig, server and CA,
// then the marker (written on first use, checked afterwards).
func (p *Context) connect(ctx context.Context) error {
	if p.kube != nil {
		return nil
	}
	k, cs, err := p.conn.Kube(ctx)
	if err != nil {
		return err
	}
	p.kube, p.cs = k, cs
	return nil
}

func marker(ctx context.Context, p *Context) error {
	if err := p.connect(ctx); err != nil {
		return err
	}
	if !p.st.Kube.MarkerWritten {
		p.change("wrote marker " + guard.MarkerNamespace + "/" + guard.MarkerName)
	}
	p.st.Kube.MarkerWritten = true
	return nil
}

// importImages copies the workload images into the nodes, which cannot pull either;
// an image already imported with the same ID is not copied again.
func importImages(ctx context.Context, p *Context) error {
	spec := p.st.Spec
	want := append([]string{spec.Postgres.Image, spec.Vault.Image, spec.VSO.Image, spec.VSO.KubeRbacProxyImage}, spec.Cluster.SystemImages...)
	refs, err := importRefs(ctx, p, want, "run up again (it pulls or loads it first)")
	if len(refs) > 0 {
		p.change(fmt.Sprintf("imported %d images into the cluster", len(refs)))
	}
	return err
}

// importRefs imports into the cluster's nodes each image of want that the state does
// not record as imported at its current ID, records them, and returns them. An image
// missing from the Docker engine is an error that ends with hint.
func importRefs(ctx context.Context, p *Context, want []string, hint string) ([]string, error) {
	var refs []string
	ids := map[string]string{}
	for _, ref := range want {
		id, ok, err := p.rt.ImageID(ctx, ref)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("image %s is not in the Docker engine; %s", ref, hint)
		}
		ids[ref] = id
		if p.st.Cluster.Imported[ref] != id {
			refs = append(refs, ref)
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	if err := p.clusters.ImportImages(ctx, refs); err != nil {
		return nil, err
	}
	if p.st.Cluster.Imported == nil {
		p.st.Cluster.Imported = map[string]string{}
	}
	maps.Copy(p.st.Cluster.Imported, ids)
	return refs, nil
}

// postgresSecret creates the Secret the Postgres chart reads its passwords from, so
// that no password is in any Helm value or release.
func postgresSecret(ctx context.Context, p *Context) error {
	if err := p.connect(ctx); err != nil {
		return err
	}
	secrets := p.cs.CoreV1().Secrets(NamespacePostgres)
	sec, err := p.st.PostgresSecrets()
	if errors.Is(err, state.ErrNoPostgresSecrets) {
		// Passwords are made only before Postgres exists: before its Secret does.
		if _, gerr := secrets.Get(ctx, PostgresAuthSecret, metav1.GetOptions{}); apierrors.IsNotFound(gerr) {
			sec, err = p.st.CreatePostgresSecrets()
		}
	}
	if err != nil {
		return err
	}
	p.pgSec = sec
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: NamespacePostgres}}
	if _, err := p.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", NamespacePostgres, err)
	}
	want := map[string][]byte{"postgres-password": []byte(sec.SuperuserPassword), "vault-admin-password": []byte(sec.VaultAdminPassword)}
	cur, err := secrets.Get(ctx, PostgresAuthSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: PostgresAuthSecret, Namespace: NamespacePostgres,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "labsbx", guard.LabelUUID: p.st.UUID}},
			Type: corev1.SecretTypeOpaque, Data: want,
		}
		if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create Secret %s/%s: %w", NamespacePostgres, PostgresAuthSecret, err)
		}
		p.change("created Secret " + NamespacePostgres + "/" + PostgresAuthSecret)
	case err != nil:
		return fmt.Errorf("read Secret %s/%s: %w", NamespacePostgres, PostgresAuthSecret, err)
	case !maps.EqualFunc(cur.Data, want, func(a, b []byte) bool { return string(a) == string(b) }):
		cur.Data = want
		if _, err := secrets.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update Secret %s/%s: %w", NamespacePostgres, PostgresAuthSecret, err)
		}
		p.change("updated Secret " + NamespacePostgres + "/" + PostgresAuthSecret)
	}
	return nil
}

// release returns the step that installs or upgrades r.
func release(r FullRelease) func(context.Context, *Context) error {
	return func(ctx context.Context, p *Context) error { return p.apply(ctx, r) }
}

func (p *Context) apply(ctx context.Context, r FullRelease) error {
	if err := p.connect(ctx); err != nil {
		return err
	}
	if p.helm == nil {
		var err error
		if p.helm, err = helmx.New(p.kube, p.cfg.log()); err != nil {
			return err
		}
	}
	ch, err := p.chart(r.Chart)
	if err != nil {
		return err
	}
	res, err := p.helm.Apply(ctx, helmx.Release{Name: r.Name, Namespace: r.Namespace, Chart: ch, Values: r.Values})
	if err != nil {
		return err
	}
	if res.Changed() {
		msg := fmt.Sprintf("release %s/%s %s (chart %s %s)", r.Namespace, r.Name, res.Action, r.Chart.Name, r.Chart.Version)
		if res.Reason != "" {
			msg += ": " + res.Reason
		}
		p.change(msg)
	}
	return nil
}

// chart loads a chart: ours from the binary; an upstream one from the bundle, or from
// labsbx's chart cache, pulling it there first. A chart enters the cache through the
// write guard, once, under its name and version.
func (p *Context) chart(ref charts.Ref) (*chart.Chart, error) {
	if ref.Embedded {
		return charts.Load(ref.Name)
	}
	cached, cacheErr := p.chartCacheFile(ref)
	if p.bundle != nil {
		from, err := p.bundle.ChartFile(ref.Name, ref.Version)
		if err != nil {
			return nil, err
		}
		ch, err := loader.Load(from)
		if err == nil && cacheErr == nil {
			// Kept in the chart cache too, so that a later up without the bundle (a
			// new Vault image, say) finds it with no network. Best effort.
			if err := keepChart(from, cached); err != nil {
				p.cfg.log().Info("chart cache", "chart", ref.Name, "version", ref.Version, "not kept", err)
			}
		}
		return ch, err
	}
	if cacheErr != nil {
		return nil, cacheErr
	}
	if ok, err := cached.Exists(); err != nil {
		return nil, err
	} else if !ok {
		var fetchErr error
		err := cached.WriteFrom(0o644, func(w io.Writer) error {
			fetchErr = bundle.CopyChart(ref, "", w)
			return fetchErr
		})
		if fetchErr != nil {
			return nil, fmt.Errorf("%w; without network, use an offline bundle: labsbx up --bundle DIR", fetchErr)
		}
		if err != nil {
			return nil, err
		}
	}
	f, err := cached.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return loader.LoadArchive(f)
}

// chartFileFormat is the write guard's format of a cached chart archive: written once
// under its name and version, then kept.
var chartFileFormat = guard.Format{Name: "Helm chart archive", KeepExisting: true}

// chartCacheFile is the write guard's approval of ref's archive in labsbx's chart
// cache (<cache>/charts/<name>-<version>.tgz).
func (p *Context) chartCacheFile(ref charts.Ref) (guard.FileApproval, error) {
	root, err := vmimages.CacheRoot(p.cfg.Getenv)
	if err != nil {
		return guard.FileApproval{}, fmt.Errorf("no cache directory (%w); use an offline bundle: labsbx up --bundle DIR", err)
	}
	return guard.ApproveWrite(filepath.Join(root, "charts", ref.Name+"-"+ref.Version+".tgz"), chartFileFormat, p.cfg.WriteScope)
}

// keepChart copies the chart archive at from into the chart cache unless it is there.
func keepChart(from string, to guard.FileApproval) error {
	if ok, err := to.Exists(); err != nil || ok {
		return err
	}
	src, err := fsutil.OpenRegular(from)
	if err != nil {
		return err
	}
	defer src.Close()
	return to.WriteFrom(0o644, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
}

// waitPostgres waits for the StatefulSet and the roles Job, then for Postgres from the
// host through its published NodePort.
func waitPostgres(ctx context.Context, p *Context) error {
	if err := p.connect(ctx); err != nil {
		return err
	}
	if p.pgSec == nil { // a resumed up starts after the Secret step
		var err error
		if p.pgSec, err = p.st.PostgresSecrets(); err != nil {
			return err
		}
	}
	sec := p.pgSec
	err := wait.Poll(ctx, wait.Options{Timeout: podsTimeout, Interval: podsInterval}, func(ctx context.Context) error {
		ss, err := p.cs.AppsV1().StatefulSets(NamespacePostgres).Get(ctx, charts.Postgres, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ss.Status.ReadyReplicas < 1 {
			return fmt.Errorf("StatefulSet %s/%s: %d of 1 replicas ready", NamespacePostgres, charts.Postgres, ss.Status.ReadyReplicas)
		}
		jobs, err := p.cs.BatchV1().Jobs(NamespacePostgres).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=roles"})
		if err != nil {
			return err
		}
		if len(jobs.Items) == 0 {
			return errors.New("the roles Job does not exist yet")
		}
		for _, j := range jobs.Items {
			if j.Status.Succeeded < 1 {
				return fmt.Errorf("Job %s/%s has not succeeded yet (%d failed)", NamespacePostgres, j.Name, j.Status.Failed)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	admin, err := p.conn.PostgresAdmin(sec)
	if err != nil {
		return err
	}
	if err := postgres.WaitReady(wctx, admin, 500*time.Millisecond); err != nil {
		return err
	}
	p.res.Postgres = p.st.PostgresAdminEndpoint(sec).String()
	return nil
}

// waitVault waits until Vault's StatefulSet runs the release's latest spec, so that
// the unseal that follows goes to the pod that stays: after an image change the
// controller replaces the pod (RollingUpdate, see vaultChartValues), and the new one
// starts sealed. Its readiness probe passes while sealed.
func waitVault(ctx context.Context, p *Context) error {
	if err := p.connect(ctx); err != nil {
		return err
	}
	return wait.Poll(ctx, wait.Options{Timeout: podsTimeout, Interval: podsInterval}, func(ctx context.Context) error {
		ss, err := p.cs.AppsV1().StatefulSets(NamespaceVault).Get(ctx, charts.Vault, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ok, why := statefulSetRolledOut(ss)
		if ok {
			return nil
		}
		pods, err := p.cs.CoreV1().Pods(NamespaceVault).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(ss.Spec.Selector)})
		if err != nil {
			return err
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			if stuckOnOldRevision(ss, pod) {
				// A RollingUpdate waits for this pod to be Ready before it replaces it,
				// which it never will: the controller recreates it on the new spec.
				if err := p.cs.CoreV1().Pods(NamespaceVault).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return err
				}
				p.change(fmt.Sprintf("replaced pod %s/%s, which never became ready on the old spec", NamespaceVault, pod.Name))
				continue
			}
			if err := cannotStart(pod); err != nil {
				return wait.Permanent(fmt.Errorf("Vault's pod %s/%s %w; the image %s must run under the upstream Vault chart, which starts it with /bin/sh, cp, sed and /usr/local/bin/docker-entrypoint.sh (as hashicorp/vault does): fix spec.vault.image and run labsbx up again",
					NamespaceVault, pod.Name, err, p.st.Spec.Vault.Image))
			}
		}
		return fmt.Errorf("StatefulSet %s/%s: %s", NamespaceVault, charts.Vault, why)
	})
}

// stuckOnOldRevision: pod runs a revision older than the StatefulSet's and is not
// Ready, so a RollingUpdate will never replace it (Kubernetes documents the manual
// delete: "Forced rollback").
func stuckOnOldRevision(ss *appsv1.StatefulSet, pod *corev1.Pod) bool {
	rev := pod.Labels[appsv1.StatefulSetRevisionLabel]
	return ss.Status.UpdateRevision != "" && rev != "" && rev != ss.Status.UpdateRevision &&
		pod.DeletionTimestamp == nil && !podReady(pod)
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// cannotStart says why a pod's containers cannot start, or nil while they may still:
// an image the node does not have (nothing is pulled), or a container that exited at
// start more than twice.
func cannotStart(pod *corev1.Pod) error {
	for _, c := range pod.Status.ContainerStatuses {
		w := c.State.Waiting
		if w == nil {
			continue
		}
		switch w.Reason {
		case "ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName":
			return fmt.Errorf("cannot start: container %s: %s: %s", c.Name, w.Reason, w.Message)
		case "CrashLoopBackOff", "RunContainerError", "CreateContainerError":
			if c.RestartCount < 2 && w.Reason == "CrashLoopBackOff" {
				continue
			}
			last := ""
			if t := c.LastTerminationState.Terminated; t != nil {
				last = fmt.Sprintf(" (last exit %d: %s)", t.ExitCode, strings.TrimSpace(t.Reason+" "+t.Message))
			}
			return fmt.Errorf("cannot start: container %s: %s after %d restarts%s", c.Name, w.Reason, c.RestartCount, last)
		}
	}
	return nil
}

// statefulSetRolledOut is `kubectl rollout status` for a StatefulSet that rolls its
// pods (RollingUpdate): the controller saw the latest spec, every pod runs its
// revision and is ready.
func statefulSetRolledOut(ss *appsv1.StatefulSet) (bool, string) {
	want := int32(1)
	if ss.Spec.Replicas != nil {
		want = *ss.Spec.Replicas
	}
	st := ss.Status
	switch {
	case st.ObservedGeneration < ss.Generation:
		return false, "waiting for the StatefulSet controller to see the new spec"
	case st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision:
		return false, fmt.Sprintf("%d of %d pods run revision %s, the others %s", st.UpdatedReplicas, want, st.UpdateRevision, st.CurrentRevision)
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d pods updated", st.UpdatedReplicas, want)
	case st.ReadyReplicas < want:
		return false, fmt.Sprintf("%d of %d pods ready", st.ReadyReplicas, want)
	}
	return true, fmt.Sprintf("%d of %d pods updated and ready", st.ReadyReplicas, want)
}

// bootstrap lays Vault out as the vault profile does, with Vault reaching Postgres by
// its Service and reviewing ServiceAccount tokens as its own pod.
func fullBootstrap(ctx context.Context, p *Context) error {
	if p.pgSec == nil {
		var err error
		if p.pgSec, err = p.st.PostgresSecrets(); err != nil {
			return err
		}
	}
	ca, err := clusterCA(p.st.Kube.Kubeconfig, p.st.Kube.Cluster)
	if err != nil {
		return err
	}
	layout, err := VaultLayout(p.st, p.pgSec, &vault.KubernetesAuth{InCluster: true, CACertPEM: ca})
	if err != nil {
		return err
	}
	changes, err := vault.Bootstrap(ctx, p.vs.Root(), layout)
	for _, c := range changes {
		p.change("vault: " + c.String())
	}
	return err
}

// clusterCA is the CA of the cluster entry in the sandbox's kubeconfig.
func clusterCA(kubeconfig, name string) (string, error) {
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return "", fmt.Errorf("read %s: %s", kubeconfig, guard.KubeconfigErrReason(err))
	}
	c, ok := kc.Clusters[name]
	if !ok || len(c.CertificateAuthorityData) == 0 {
		return "", fmt.Errorf("%s has no inline CA for cluster %s", kubeconfig, name)
	}
	return string(c.CertificateAuthorityData), nil
}

// waitApps waits until every app's Deployment is rolled out and ready: its readiness
// probe connects to Postgres with the credentials VSO wrote.
func waitApps(ctx context.Context, p *Context) error {
	if err := p.connect(ctx); err != nil {
		return err
	}
	return wait.Poll(ctx, wait.Options{Timeout: podsTimeout, Interval: podsInterval}, func(ctx context.Context) error {
		var errs []error
		for _, app := range p.st.Spec.Apps {
			d, err := p.cs.AppsV1().Deployments(app).Get(ctx, vso.DeploymentName(app), metav1.GetOptions{})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ok, why := vso.RolloutComplete(d); !ok {
				errs = append(errs, fmt.Errorf("app %s: %s", app, why))
			}
		}
		return errors.Join(errs...)
	})
}

// FullImages are the full profile's images: k3s and k3d's helpers, then the
// workloads'.
func FullImages(name string, s config.Spec) []bundle.Want {
	o := cluster.Options{Sandbox: name, Servers: s.Cluster.Servers, Agents: s.Cluster.Agents}
	h := cluster.HelpersOf(s.Cluster)
	imgs := []bundle.Want{{Component: "k3s", Ref: s.Cluster.K3sImage}, {Component: "k3d-tools", Ref: h.ToolsImage()}}
	if o.WithLoadBalancer() {
		imgs = append(imgs, bundle.Want{Component: "k3d-proxy", Ref: h.LoadBalancerImage()})
	}
	for _, ref := range s.Cluster.SystemImages {
		imgs = append(imgs, bundle.Want{Component: "k3s-system", Ref: ref})
	}
	return append(imgs,
		bundle.Want{Component: "postgres", Ref: s.Postgres.Image},
		bundle.Want{Component: "vault", Ref: s.Vault.Image},
		bundle.Want{Component: "vault-secrets-operator", Ref: s.VSO.Image},
		bundle.Want{Component: "kube-rbac-proxy", Ref: s.VSO.KubeRbacProxyImage},
	)
}
