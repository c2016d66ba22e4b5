// Package docker is the substrate of the vault profile: the sandbox's network, volumes
// and containers on the local Docker engine, through the Engine API. Every object it
// makes carries the labels dev.labsbx.sandbox=<name> and dev.labsbx.component=<c>, and it
// only ever changes objects that carry them.
package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/arcodange/labsbx/internal/failpoint"
	"github.com/arcodange/labsbx/sandbox/guard"
)

// Engine is the part of the Docker Engine API that labsbx uses.
type Engine interface {
	Ping(ctx context.Context) (types.Ping, error)
	Info(ctx context.Context) (system.Info, error)
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkRemove(ctx context.Context, networkID string) error
	VolumeInspect(ctx context.Context, volumeID string) (volume.Volume, error)
	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeRemove(ctx context.Context, volumeID string, force bool) error
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	CopyFromContainer(ctx context.Context, containerID, srcPath string) (io.ReadCloser, container.PathStat, error)
	ContainerExecCreate(ctx context.Context, container string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, options container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
	ImageInspect(ctx context.Context, imageID string, inspectOpts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, refStr string, options image.PullOptions) (io.ReadCloser, error)
	ImageSave(ctx context.Context, imageIDs []string, saveOpts ...client.ImageSaveOption) (io.ReadCloser, error)
	ImageLoad(ctx context.Context, input io.Reader, loadOpts ...client.ImageLoadOption) (image.LoadResponse, error)
	Close() error
}

var _ Engine = (*client.Client)(nil)

// Runtime manages one sandbox's Docker objects.
type Runtime struct {
	eng     Engine
	sandbox string
	uuid    string
}

// New builds the runtime from the guard's approval of the local engine. uuid is the
// sandbox's identity; empty when no state exists (down then finds objects by name).
func New(a guard.DockerApproval, sandbox, uuid string) (*Runtime, error) {
	c, err := a.Client()
	if err != nil {
		return nil, err
	}
	return &Runtime{eng: c, sandbox: sandbox, uuid: uuid}, nil
}

// NewWithEngine is for tests at the Engine boundary.
func NewWithEngine(eng Engine, sandbox, uuid string) *Runtime {
	return &Runtime{eng: eng, sandbox: sandbox, uuid: uuid}
}

// Close releases the engine connection.
func (r *Runtime) Close() error { return r.eng.Close() }

// Ping checks that the engine answers, with an error that says what to do.
func (r *Runtime) Ping(ctx context.Context) error {
	if _, err := r.eng.Ping(ctx); err != nil {
		return fmt.Errorf("the Docker engine does not answer (is dockerd running?): %w", err)
	}
	return nil
}

// EngineID asks the engine who it is (guard.EngineIdentity: its ID and data root): the
// identity the sandbox records at creation, so that the guard can refuse another engine
// behind the same socket later.
func (r *Runtime) EngineID(ctx context.Context) (string, error) {
	info, err := r.eng.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("ask the Docker engine for its ID: %w", err)
	}
	if info.ID == "" {
		return "", errors.New("the Docker engine reports no ID")
	}
	return guard.EngineIdentityOf(info), nil
}

// EngineSummary is what `labsbx doctor` shows of the engine.
type EngineSummary struct {
	ID, Version, APIVersion string
	// Driver is the storage driver; DriverType, when the engine says, is containerd's
	// snapshotter type on the containerd image store.
	Driver, DriverType string
	RootDir            string
}

// Summary asks the engine who and what it is.
func (r *Runtime) Summary(ctx context.Context) (EngineSummary, error) {
	info, err := r.eng.Info(ctx)
	if err != nil {
		return EngineSummary{}, fmt.Errorf("ask the Docker engine about itself: %w", err)
	}
	s := EngineSummary{ID: info.ID, Version: info.ServerVersion, Driver: info.Driver, RootDir: info.DockerRootDir}
	for _, kv := range info.DriverStatus {
		if kv[0] == "driver-type" {
			s.DriverType = kv[1]
		}
	}
	if p, err := r.eng.Ping(ctx); err == nil {
		s.APIVersion = p.APIVersion
	}
	return s, nil
}

// NetworkName is the sandbox's network: labsbx-<name>.
func (r *Runtime) NetworkName() string { return "labsbx-" + r.sandbox }

// ObjectName is the name of a component's container or volume: labsbx-<name>-<component>.
func (r *Runtime) ObjectName(component string) string { return ObjectName(r.sandbox, component) }

// ObjectName is the name of sandbox's component's container or volume.
func ObjectName(sandbox, component string) string { return "labsbx-" + sandbox + "-" + component }

func (r *Runtime) labels(component string) map[string]string {
	return map[string]string{guard.LabelSandbox: r.sandbox, guard.LabelUUID: r.uuid, guard.LabelComponent: component}
}

// ours is the guard's ownership rule: the object carries this sandbox's UUID.
func (r *Runtime) ours(labels map[string]string) bool {
	return guard.Owner(labels, r.sandbox, r.uuid) == guard.Ours
}

// filter finds every object that carries the sandbox's name label, whatever its UUID:
// what is not ours among them is reported, never touched.
func (r *Runtime) filter() filters.Args {
	return filters.NewArgs(filters.Arg("label", guard.LabelSandbox+"="+r.sandbox))
}

// errNotOurs is returned when an object of our name exists that is not ours: it
// belongs to someone else and labsbx leaves it alone.
func (r *Runtime) errNotOurs(kind, name string, labels map[string]string) error {
	if guard.Owner(labels, r.sandbox, r.uuid) == guard.OtherUUID {
		return fmt.Errorf("a Docker %s named %q belongs to another sandbox named %q (UUID %s), of another state root or a lost state; run `labsbx down --name %s` where it was made (LABSBX_HOME), or pick another --name",
			kind, name, r.sandbox, labels[guard.LabelUUID], r.sandbox)
	}
	return fmt.Errorf("a Docker %s named %q exists but was not created by labsbx for this sandbox (no %s label of it); remove or rename it, or pick another --name", kind, name, guard.LabelUUID)
}

// EnsureNetwork creates the sandbox network unless it exists.
func (r *Runtime) EnsureNetwork(ctx context.Context) (created bool, err error) {
	name := r.NetworkName()
	n, err := r.eng.NetworkInspect(ctx, name, network.InspectOptions{})
	if err == nil {
		if !r.ours(n.Labels) {
			return false, r.errNotOurs("network", name, n.Labels)
		}
		return false, nil
	}
	if !isNotFound(err) {
		return false, fmt.Errorf("inspect network %s: %w", name, err)
	}
	if _, err := r.eng.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: r.labels("network")}); err != nil {
		return false, fmt.Errorf("create network %s: %w", name, err)
	}
	return true, nil
}

// VolumeExists reports whether the component's volume exists (and is ours).
func (r *Runtime) VolumeExists(ctx context.Context, component string) (bool, error) {
	name := r.ObjectName(component)
	v, err := r.eng.VolumeInspect(ctx, name)
	switch {
	case isNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("inspect volume %s: %w", name, err)
	case !r.ours(v.Labels):
		return false, r.errNotOurs("volume", name, v.Labels)
	}
	return true, nil
}

// EnsureVolume creates the component's named volume unless it exists.
func (r *Runtime) EnsureVolume(ctx context.Context, component string) (name string, created bool, err error) {
	name = r.ObjectName(component)
	v, err := r.eng.VolumeInspect(ctx, name)
	if err == nil {
		if !r.ours(v.Labels) {
			return name, false, r.errNotOurs("volume", name, v.Labels)
		}
		return name, false, nil
	}
	if !isNotFound(err) {
		return name, false, fmt.Errorf("inspect volume %s: %w", name, err)
	}
	if _, err := r.eng.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: r.labels(component)}); err != nil {
		return name, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	return name, true, nil
}

// ImageState says where an image came from.
type ImageState string

const (
	ImagePresent ImageState = "present"
	ImagePulled  ImageState = "pulled"
)

// EnsureImage pulls ref unless the engine has it.
func (r *Runtime) EnsureImage(ctx context.Context, ref string) (ImageState, error) {
	if _, err := r.eng.ImageInspect(ctx, ref); err == nil {
		return ImagePresent, nil
	} else if !isNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	rc, err := r.eng.ImagePull(ctx, ref, image.PullOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		_ = rc.Close()
	}
	if err == nil {
		_, err = r.eng.ImageInspect(ctx, ref)
	}
	if err != nil {
		return "", fmt.Errorf("image %s is not on this machine and could not be pulled: %w; pull it, or point LABSBX_VAULT_IMAGE / LABSBX_POSTGRES_IMAGE at a local image",
			ref, err)
	}
	return ImagePulled, nil
}

// ContainerSpec describes one component's container.
type ContainerSpec struct {
	Component  string
	Image      string
	Entrypoint []string
	Cmd        []string
	Env        []string
	// Ports publishes container TCP ports on 127.0.0.1 only: container port -> host port.
	Ports map[int]int
	// Volumes mounts named volumes: volume name -> path in the container.
	Volumes map[string]string
	// Files are copied into the container before its first start: path -> content (0644).
	Files map[string][]byte
	// Restore, when set, is a tar stream (as Archive gives it) unpacked into Dir before
	// the first start, with the modes it records (and its owners with KeepOwners): a
	// component's data put back from a backup, or Postgres's data template.
	Restore *Archive
}

// Archive is a tar stream of a directory in a container: what Archive returns, and
// what ContainerSpec.Restore unpacks into Dir.
type Archive struct {
	Dir string
	Tar io.Reader
	// KeepOwners unpacks with the owners the tar records (a data template made by the
	// image's own user); otherwise the container's root owns what is unpacked.
	KeepOwners bool
}

// Container actions of EnsureContainer.
const (
	ContainerCreated   = "created"
	ContainerRecreated = "recreated"
)

// EnsureContainer creates the component's container unless it exists, and starts it
// unless it runs. A container of an image other than the one s names now (the config
// or a bundle changed the image under that name) is removed and created again; its
// named volumes, and so its data, stay. It returns the container ID and what it did
// ("" when the container was there already).
func (r *Runtime) EnsureContainer(ctx context.Context, s ContainerSpec) (id, action string, err error) {
	name := r.ObjectName(s.Component)
	c, err := r.eng.ContainerInspect(ctx, name)
	switch {
	case err == nil:
		if c.Config == nil || !r.ours(c.Config.Labels) {
			return "", "", r.errNotOurs("container", name, labelsOf(c.Config))
		}
		id = c.ID
		want, ierr := r.eng.ImageInspect(ctx, s.Image)
		if ierr != nil {
			return "", "", fmt.Errorf("inspect image %s: %w", s.Image, ierr)
		}
		if c.Image != want.ID {
			// A clean stop first: Vault and Postgres flush their storage on SIGTERM.
			timeout := 30
			if err := r.eng.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &timeout}); err != nil {
				return "", "", fmt.Errorf("stop container %s to recreate it on image %s: %w", name, s.Image, err)
			}
			if err := r.eng.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
				return "", "", fmt.Errorf("remove container %s to recreate it on image %s: %w", name, s.Image, err)
			}
			if id, err = r.create(ctx, name, s); err != nil {
				return "", "", err
			}
			action = ContainerRecreated
		}
	case isNotFound(err):
		id, err = r.create(ctx, name, s)
		if err != nil {
			return "", "", err
		}
		action = ContainerCreated
	default:
		return "", "", fmt.Errorf("inspect container %s: %w", name, err)
	}
	if action != "" || c.State == nil || !c.State.Running {
		if err := r.eng.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			return id, action, fmt.Errorf("start container %s: %w", name, err)
		}
	}
	return id, action, nil
}

func (r *Runtime) create(ctx context.Context, name string, s ContainerSpec) (string, error) {
	cfg := &container.Config{
		Image: s.Image, Entrypoint: s.Entrypoint, Cmd: s.Cmd, Env: s.Env,
		Labels: r.labels(s.Component), ExposedPorts: nat.PortSet{},
	}
	hc := &container.HostConfig{PortBindings: nat.PortMap{}}
	for cport, hport := range s.Ports {
		p := nat.Port(strconv.Itoa(cport) + "/tcp")
		cfg.ExposedPorts[p] = struct{}{}
		hc.PortBindings[p] = []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: strconv.Itoa(hport)}}
	}
	vols := make([]string, 0, len(s.Volumes))
	for v := range s.Volumes {
		vols = append(vols, v)
	}
	sort.Strings(vols)
	for _, v := range vols {
		hc.Binds = append(hc.Binds, v+":"+s.Volumes[v])
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		r.NetworkName(): {Aliases: []string{s.Component}},
	}}
	resp, err := r.eng.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	if len(s.Files) > 0 {
		tarball, err := tarFiles(s.Files)
		if err != nil {
			return "", err
		}
		if err := r.eng.CopyToContainer(ctx, resp.ID, "/", tarball, container.CopyToContainerOptions{}); err != nil {
			return "", fmt.Errorf("copy files into %s: %w", name, err)
		}
	}
	if s.Restore != nil {
		failpoint.Hit("restore-container-created") // created, nothing restored yet
		if err := r.eng.CopyToContainer(ctx, resp.ID, s.Restore.Dir, s.Restore.Tar, container.CopyToContainerOptions{CopyUIDGID: s.Restore.KeepOwners}); err != nil {
			return "", fmt.Errorf("restore %s into %s: %w", s.Restore.Dir, name, err)
		}
	}
	return resp.ID, nil
}

// Archive streams path of a component's container (ours: the guard's ownership rule;
// running or stopped) as a tar whose entries start with path's base name, to be
// restored into path's parent directory.
func (r *Runtime) Archive(ctx context.Context, component, path string) (io.ReadCloser, error) {
	info, ok, err := r.Inspect(ctx, component)
	if err != nil || !ok {
		return nil, errors.Join(err, notExist(ok, r.ObjectName(component)))
	}
	rc, _, err := r.eng.CopyFromContainer(ctx, info.ID, path)
	if err != nil {
		return nil, fmt.Errorf("copy %s out of %s: %w", path, r.ObjectName(component), err)
	}
	return rc, nil
}

func tarFiles(files map[string][]byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		hdr := &tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[p]); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}

// ContainerInfo is what drills and status need to know about a component.
type ContainerInfo struct {
	ID        string
	Image     string // the image ID it runs
	Running   bool
	StartedAt time.Time
}

// Inspect reports a component's container; ok is false when it does not exist.
func (r *Runtime) Inspect(ctx context.Context, component string) (info ContainerInfo, ok bool, err error) {
	name := r.ObjectName(component)
	c, err := r.eng.ContainerInspect(ctx, name)
	if isNotFound(err) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("inspect container %s: %w", name, err)
	}
	if c.Config == nil || !r.ours(c.Config.Labels) {
		return info, false, r.errNotOurs("container", name, labelsOf(c.Config))
	}
	info.ID, info.Image = c.ID, c.Image
	if c.State != nil {
		info.Running = c.State.Running
		info.StartedAt, _ = time.Parse(time.RFC3339Nano, c.State.StartedAt)
	}
	return info, true, nil
}

// ExecIO is where an exec's streams go. With TTY, the container's output is one
// stream (Stdout) and the terminal's input is passed through as typed.
type ExecIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
}

// Exec runs cmd in a component's container (ours: the guard's ownership rule) with the
// extra environment env, and returns its exit status. The caller proves the container
// is the sandbox's receiver first when env carries a secret.
func (r *Runtime) Exec(ctx context.Context, component string, cmd, env []string, sio ExecIO) (int, error) {
	info, ok, err := r.Inspect(ctx, component)
	if err != nil || !ok {
		return -1, errors.Join(err, notExist(ok, r.ObjectName(component)))
	}
	if !info.Running {
		return -1, fmt.Errorf("container %s is not running; start it with `labsbx up --name %s`", r.ObjectName(component), r.sandbox)
	}
	ex, err := r.eng.ContainerExecCreate(ctx, info.ID, container.ExecOptions{
		Cmd: cmd, Env: env, Tty: sio.TTY, AttachStdin: sio.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", r.ObjectName(component), err)
	}
	att, err := r.eng.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{Tty: sio.TTY})
	if err != nil {
		return -1, fmt.Errorf("attach to exec in %s: %w", r.ObjectName(component), err)
	}
	defer att.Close()
	if sio.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, sio.Stdin)
			_ = att.CloseWrite()
		}()
	}
	if sio.TTY {
		_, err = io.Copy(sio.Stdout, att.Reader)
	} else {
		_, err = stdcopy.StdCopy(sio.Stdout, sio.Stderr, att.Reader)
	}
	if err != nil && ctx.Err() == nil {
		return -1, fmt.Errorf("exec in %s: %w", r.ObjectName(component), err)
	}
	insp, err := r.eng.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", r.ObjectName(component), err)
	}
	return insp.ExitCode, nil
}

// StartIsolated starts, for Exec, a container of component (a name of one run, such as
// vault-cli-<random>) from the image of the sandbox's container of from, with no
// network at all (network mode none) and only the host directory dir mounted, at
// mountAt: a client run there reaches nothing but the sockets labsbx serves in dir.
// It sleeps until remove (or an hour), and carries the sandbox's labels, so that
// down removes it if labsbx could not.
func (r *Runtime) StartIsolated(ctx context.Context, from, component, dir, mountAt string) (remove func(), err error) {
	info, ok, err := r.Inspect(ctx, from)
	if err != nil || !ok {
		return nil, errors.Join(err, notExist(ok, r.ObjectName(from)))
	}
	name := r.ObjectName(component)
	cfg := &container.Config{Image: info.Image, User: "0", Entrypoint: []string{"sleep"}, Cmd: []string{"3600"}, Labels: r.labels(component)}
	hc := &container.HostConfig{NetworkMode: "none", Binds: []string{dir + ":" + mountAt}}
	resp, err := r.eng.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", name, err)
	}
	remove = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = r.eng.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
	}
	if err := r.eng.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		remove()
		return nil, fmt.Errorf("start container %s: %w", name, err)
	}
	return remove, nil
}

// Stop stops a component's container (SIGTERM, then SIGKILL after timeout).
func (r *Runtime) Stop(ctx context.Context, component string, timeout time.Duration) error {
	info, ok, err := r.Inspect(ctx, component)
	if err != nil || !ok {
		return errors.Join(err, notExist(ok, r.ObjectName(component)))
	}
	secs := int(timeout.Seconds())
	if err := r.eng.ContainerStop(ctx, info.ID, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop %s: %w", r.ObjectName(component), err)
	}
	return nil
}

// Start starts a component's stopped container.
func (r *Runtime) Start(ctx context.Context, component string) error {
	info, ok, err := r.Inspect(ctx, component)
	if err != nil || !ok {
		return errors.Join(err, notExist(ok, r.ObjectName(component)))
	}
	if err := r.eng.ContainerStart(ctx, info.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", r.ObjectName(component), err)
	}
	return nil
}

func notExist(ok bool, name string) error {
	if ok {
		return nil
	}
	return fmt.Errorf("container %s does not exist; run `labsbx up`", name)
}

// Removed lists what RemoveAll deleted, and what it found and left alone.
type Removed struct {
	Containers []string `json:"containers"`
	Volumes    []string `json:"volumes"`
	Networks   []string `json:"networks"`
	// LeftAlone are objects of the sandbox's name that the guard did not let it remove
	// (another UUID), with why.
	LeftAlone []string `json:"leftAlone,omitempty"`
}

// RemoveContainer removes a component's container (this sandbox's, by the guard's
// removal rule) and keeps its volume: a container an interrupted step made but never
// finished (its files not copied in) is made again on the same data.
func (r *Runtime) RemoveContainer(ctx context.Context, component string) error {
	name := r.ObjectName(component)
	c, err := r.eng.ContainerInspect(ctx, name)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("inspect container %s: %w", name, err)
	}
	if err := guard.ApproveRemoval("container", name, labelsOf(c.Config), r.sandbox, r.uuid); err != nil {
		return err
	}
	if err := r.eng.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	return nil
}

// RemoveComponent removes a component's container and volume, each only when the
// guard lets this sandbox remove it.
func (r *Runtime) RemoveComponent(ctx context.Context, component string) error {
	return whileInUse(ctx, func() error { return r.removeComponent(ctx, component) })
}

// inUseWait bounds how long a removal waits for a volume or network held by a
// container that the engine is still creating.
var inUseWait = 15 * time.Second

// whileInUse runs remove again while it fails on an object in use, within inUseWait.
// A container create that a cancelled labsbx left in flight (Ctrl-C during up) goes
// on in the engine after the client gave up: its container holds the volume before
// its name resolves, so that the removal that follows finds no container and a
// volume in use. Once the create ends, the container is found, and removed.
func whileInUse(ctx context.Context, remove func() error) error {
	deadline := time.Now().Add(inUseWait)
	for {
		err := remove()
		if err == nil || !cerrdefs.IsConflict(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *Runtime) removeComponent(ctx context.Context, component string) error {
	name := r.ObjectName(component)
	c, err := r.eng.ContainerInspect(ctx, name)
	switch {
	case isNotFound(err):
	case err != nil:
		return fmt.Errorf("inspect container %s: %w", name, err)
	default:
		if err := guard.ApproveRemoval("container", name, labelsOf(c.Config), r.sandbox, r.uuid); err != nil {
			return err
		}
		if err := r.eng.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove container %s: %w", name, err)
		}
	}
	v, err := r.eng.VolumeInspect(ctx, name)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("inspect volume %s: %w", name, err)
	}
	if err := guard.ApproveRemoval("volume", name, v.Labels, r.sandbox, r.uuid); err != nil {
		return err
	}
	if err := r.eng.VolumeRemove(ctx, name, true); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// object is one Docker object that carries the sandbox's name label.
type object struct {
	kind, name, id string
	labels         map[string]string
}

// RemoveAll deletes every container, volume and network that the guard lets this
// sandbox remove (guard.ApproveRemoval: its UUID; without state, no UUID at all), and
// lists the rest of what carries its name. Running it again finds nothing and succeeds.
func (r *Runtime) RemoveAll(ctx context.Context) (Removed, error) {
	var out Removed
	err := whileInUse(ctx, func() error { return r.removeAll(ctx, &out) })
	return out, err
}

// removeAll is one pass of RemoveAll. Names add to out once, whatever the pass.
func (r *Runtime) removeAll(ctx context.Context, out *Removed) error {
	objs, err := r.Judge(ctx)
	if err != nil {
		return err
	}
	out.LeftAlone = nil // this pass's judgement
	// Containers, then volumes, then networks (a volume or network in use cannot go);
	// the objects of one kind go side by side.
	for _, kind := range []string{"container", "volume", "network"} {
		var g errgroup.Group
		for _, o := range objs {
			if o.Kind != kind {
				continue
			}
			if !o.Remove {
				out.LeftAlone = append(out.LeftAlone, o.Why)
				continue
			}
			var names *[]string
			switch o.Kind {
			case "container":
				names = &out.Containers
			case "volume":
				names = &out.Volumes
			case "network":
				names = &out.Networks
			}
			if !slices.Contains(*names, o.Name) {
				*names = append(*names, o.Name)
			}
			g.Go(func() error {
				var err error
				switch o.Kind {
				case "container":
					err = r.eng.ContainerRemove(ctx, o.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
				case "volume":
					err = r.eng.VolumeRemove(ctx, o.Name, true)
				case "network":
					err = r.eng.NetworkRemove(ctx, o.id)
				}
				if err != nil && !isNotFound(err) {
					return fmt.Errorf("remove %s %s: %w", o.Kind, o.Name, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// Judged is one Docker object of the sandbox's name, as the guard judged it: removed
// by down (Why says what makes it the sandbox's) or left alone (Why is the refusal).
type Judged struct {
	Kind   string `json:"kind"` // container, volume or network
	Name   string `json:"name"`
	Remove bool   `json:"remove"`
	Why    string `json:"why"`
	id     string
}

// Judge lists every object of the sandbox's name, in the order down removes them,
// each with the guard's judgement; it removes nothing.
func (r *Runtime) Judge(ctx context.Context) ([]Judged, error) {
	objs, err := r.objects(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Judged, 0, len(objs))
	for _, o := range objs {
		why, err := guard.JudgeRemoval(o.kind, o.name, o.labels, r.sandbox, r.uuid)
		j := Judged{Kind: o.kind, Name: o.name, Remove: err == nil, Why: why, id: o.id}
		var ref *guard.Refusal
		if errors.As(err, &ref) {
			j.Why = ref.Reason
		} else if err != nil {
			j.Why = err.Error()
		}
		out = append(out, j)
	}
	return out, nil
}

// objects lists every container, then volume, then network that carries the sandbox's
// name label, in the order they can be removed.
func (r *Runtime) objects(ctx context.Context) ([]object, error) {
	var out []object
	cs, err := r.eng.ContainerList(ctx, container.ListOptions{All: true, Filters: r.filter()})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		out = append(out, object{"container", firstName(c.Names, c.ID), c.ID, c.Labels})
	}
	vs, err := r.eng.VolumeList(ctx, volume.ListOptions{Filters: r.filter()})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vs.Volumes {
		if v != nil {
			out = append(out, object{"volume", v.Name, v.Name, v.Labels})
		}
	}
	ns, err := r.eng.NetworkList(ctx, network.ListOptions{Filters: r.filter()})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns {
		out = append(out, object{"network", n.Name, n.ID, n.Labels})
	}
	return out, nil
}

// Leftovers lists every object of this sandbox that is still there.
func (r *Runtime) Leftovers(ctx context.Context) ([]string, error) {
	objs, err := r.objects(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range objs {
		if r.ours(o.labels) {
			out = append(out, o.kind+" "+o.name)
		}
	}
	return out, nil
}

func labelsOf(c *container.Config) map[string]string {
	if c == nil {
		return nil
	}
	return c.Labels
}

func firstName(names []string, id string) string {
	if len(names) > 0 {
		n := names[0]
		if len(n) > 0 && n[0] == '/' {
			n = n[1:]
		}
		return n
	}
	return id
}

func isNotFound(err error) bool {
	return err != nil && cerrdefs.IsNotFound(err)
}

// OtherOwned lists, by UUID, the objects ("volume labsbx-demo-vault") that carry the
// sandbox's name and a UUID that is not its own: another sandbox's, which down leaves
// alone and whose owner it looks for.
func (r *Runtime) OtherOwned(ctx context.Context) (map[string][]string, error) {
	objs, err := r.objects(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, o := range objs {
		if guard.Owner(o.labels, r.sandbox, r.uuid) == guard.OtherUUID {
			u := o.labels[guard.LabelUUID]
			out[u] = append(out[u], o.kind+" "+o.name)
		}
	}
	return out, nil
}
