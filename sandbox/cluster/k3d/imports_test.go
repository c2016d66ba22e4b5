package k3d

import (
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/system"
)

// TestPlanImport: the import mode follows the engine's image store, as `docker info`
// reports it.
func TestPlanImport(t *testing.T) {
	classic := [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}, {"Using metacopy", "false"}, {"Native Overlay Diff", "true"}, {"userxattr", "false"}}
	snapshotter := [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}
	for _, tc := range []struct {
		name     string
		info     system.Info
		ver      types.Version
		mode     ImportMode
		platform string // "os/arch", "" for none
		why      string
	}{
		{"Docker Engine 27 on overlay2",
			system.Info{Driver: "overlay2", DriverStatus: classic, OSType: "linux", Architecture: "x86_64"},
			types.Version{APIVersion: "1.47", Os: "linux", Arch: "amd64"}, ImportK3dDirect, "", "classic image store (storage driver overlay2)"},
		{"this build machine: Debian's Docker 20.10 on fuse-overlayfs",
			system.Info{Driver: "fuse-overlayfs", OSType: "linux", Architecture: "x86_64"},
			types.Version{APIVersion: "1.41", Os: "linux", Arch: "amd64"}, ImportK3dDirect, "", "fuse-overlayfs"},
		{"Docker Engine 29, containerd store by default",
			system.Info{Driver: "overlayfs", DriverStatus: snapshotter, OSType: "linux", Architecture: "x86_64"},
			types.Version{APIVersion: "1.52", Os: "linux", Arch: "amd64"}, ImportNodePlatform, "linux/amd64", "saving linux/amd64 only"},
		{"Docker Desktop 27.3 on Apple silicon (k3d-io/k3d#1538)",
			system.Info{Driver: "overlayfs", DriverStatus: snapshotter, OSType: "linux", Architecture: "aarch64"},
			types.Version{APIVersion: "1.47", Os: "linux", Arch: "arm64"}, ImportNodePlatform, "", "engine API 1.47"},
		{"containerd store, version without os and arch",
			system.Info{Driver: "overlayfs", DriverStatus: snapshotter, OSType: "linux", Architecture: "aarch64"},
			types.Version{APIVersion: "1.48"}, ImportNodePlatform, "linux/arm64", "saving linux/arm64 only"},
		{"a snapshotter that does not say driver-type",
			system.Info{Driver: "stargz", OSType: "linux", Architecture: "x86_64"},
			types.Version{APIVersion: "1.50", Os: "linux", Arch: "amd64"}, ImportNodePlatform, "linux/amd64", "snapshotter stargz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanImport(tc.info, tc.ver)
			platform := ""
			if p.Platform != nil {
				platform = p.Platform.OS + "/" + p.Platform.Architecture
			}
			if p.Mode != tc.mode || platform != tc.platform || !strings.Contains(p.Why, tc.why) {
				t.Errorf("PlanImport = %s, %q, %q; want %s, %q, %q", p.Mode, platform, p.Why, tc.mode, tc.platform, tc.why)
			}
		})
	}
}

// TestCtrImportIsSinglePlatform: labsbx's import asks ctr for the node's platform only
// (no --all-platforms, which fails on the containerd store's archives), into the
// namespace the kubelet reads.
func TestCtrImportIsSinglePlatform(t *testing.T) {
	if slices.Contains(ctrImport, "--all-platforms") || !slices.Equal(ctrImport[:3], []string{"ctr", "-n", "k8s.io"}) || ctrImport[len(ctrImport)-1] != "-" {
		t.Errorf("ctr command %v", ctrImport)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 5}
	for _, s := range []string{"abc", "defg", "h"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatal(n, err)
		}
	}
	if b.String() != "defgh" {
		t.Errorf("tail %q", b.String())
	}
}
