#!/usr/bin/env bash
# full.sh builds everything the full profile's test tier needs, without a container
# registry: every image from the Go module proxy, Debian's packages and the upstream
# archives in ../shared/upstream (LABSBX_UPSTREAM_DIR), then a labsbx offline bundle of
# them. Everything is cached by its inputs under
#   ${LABSBX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/labsbx}/full
# so a warm run only checks that the files and images exist.
#
# Usage: full.sh k3s|images|image NAME|bundle|config|path
#   k3s     build the k3s binary and containerd's runc shim (cached)
#   image NAME  build one image (node, pause, busybox, coredns, local_path, k3d_tools, vso, rbac_proxy)
#   images  build the images into the local Docker engine (labsbx.local/… names only)
#   bundle  images, then `labsbx bundle save` of them into the cache; prints its dir
#   config  print the path of the sandbox config that names these images
#   path    print the cache dir
#
# Host needs: go, gcc (k3s links sqlite with cgo), docker (engine running), mmdebstrap,
# and for `bundle` the labsbx binary in LABSBX_BIN.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_PREFIX=full
# shellcheck source=lib.sh
. "$HERE/lib.sh"

FULL=$CACHE/full
BIN=$FULL/bin
SRC=$FULL/src
DEBIAN_SUITE=bookworm

# k3s: the proxy serves only this pseudo-version (k3s master of 2026-02-11, Kubernetes
# v1.35.1-k3s1, containerd v2.1.5-k3s1); every tag is refused.
K3S_MODULE=github.com/k3s-io/k3s
K3S_MODVERSION=v1.35.1-0.20260211145931-c5b158798933
K3S_VERSION=v1.35.1+k3s-c5b15879
K3S_IMAGE=labsbx.local/k3s:v1.35.1-k3s-c5b15879

# The node's system images, under the registry the node image's k3s config names
# (system-default-registry: labsbx.local), with the tags k3s asks for. Two are built
# from another version than their tag says, because the proxy or Debian serves no
# other: local-path-provisioner v0.0.30 (k3s asks for v0.0.34) and Debian's busybox
# 1.35 (k3s asks for 1.37.0); the README's "What has run where" says so.
PAUSE_IMAGE=labsbx.local/rancher/mirrored-pause:3.6
COREDNS_VERSION=1.14.1
COREDNS_IMAGE=labsbx.local/rancher/mirrored-coredns-coredns:$COREDNS_VERSION
LOCAL_PATH_VERSION=v0.0.30
LOCAL_PATH_IMAGE=labsbx.local/rancher/local-path-provisioner:v0.0.34
BUSYBOX_IMAGE=labsbx.local/rancher/mirrored-library-busybox:1.37.0
# k3d's helper, VSO and its sidecar, at the versions labsbx pins.
K3D_VERSION=5.8.3
K3D_TOOLS_IMAGE=labsbx.local/k3d-tools:$K3D_VERSION
VSO_VERSION=0.10.0
VSO_IMAGE=labsbx.local/vault-secrets-operator:$VSO_VERSION
RBAC_PROXY_VERSION=0.18.1
RBAC_PROXY_IMAGE=labsbx.local/kube-rbac-proxy:v$RBAC_PROXY_VERSION

# build_k3s builds the k3s multi-call binary and containerd's runc shim inside a copy of
# the k3s module, as k3s's scripts/build does, with the version variables that k3s
# (UpstreamGolang: it exits without it) and Helm's kubeVersion check read.
build_k3s() {
	local hash
	hash=$(recipe_hash "$K3S_MODVERSION" "$K3S_VERSION" "$(go env GOVERSION)" "$(declare -f build_k3s)")
	K3S_BIN=$BIN/k3s-$hash
	SHIM_BIN=$BIN/containerd-shim-runc-v2-$hash
	if [[ -x $K3S_BIN && -x $SHIM_BIN ]]; then
		log "k3s $K3S_VERSION: cached ($K3S_BIN)"
		return 0
	fi
	local dir=$SRC/k3s-$K3S_MODVERSION t0
	t0=$(now)
	log "k3s $K3S_VERSION: copying the module source ..."
	mod_src "$K3S_MODULE" "$K3S_MODVERSION" "$dir"
	# What scripts/build stages before compiling: the packaged manifests, and the static
	# charts (traefik's only; labsbx disables traefik, so a placeholder).
	cp -a "$dir/manifests/." "$dir/pkg/deploy/embed/"
	[[ -e $dir/pkg/static/embed/.placeholder ]] || echo "traefik is disabled" >"$dir/pkg/static/embed/.placeholder"
	local gover ctrd ldflags k=github.com/k3s-io/k3s
	gover=$(go env GOVERSION)
	ctrd=$(cd "$dir" && GOWORK=off go list -mod=mod -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' github.com/containerd/containerd/v2)
	ldflags="-w -s
		-X $k/pkg/version.Version=$K3S_VERSION -X $k/pkg/version.GitCommit=c5b15879 -X $k/pkg/version.UpstreamGolang=$gover
		-X k8s.io/client-go/pkg/version.gitVersion=$K3S_VERSION -X k8s.io/client-go/pkg/version.gitTreeState=clean
		-X k8s.io/component-base/version.gitVersion=$K3S_VERSION -X k8s.io/component-base/version.gitTreeState=clean
		-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35
		-X github.com/containerd/containerd/v2/version.Version=$ctrd
		-X github.com/containerd/containerd/v2/version.Package=github.com/k3s-io/containerd/v2"
	local tags="ctrd netcgo osusergo providerless urfave_cli_no_docs sqlite_omit_load_extension apparmor seccomp"
	mkdir -p "$BIN"
	local tmp shim
	tmp=$(mktemp "$BIN/.k3s.XXXXXX")
	shim=$(mktemp "$BIN/.shim.XXXXXX")
	CLEANUP+=("$tmp" "$shim")
	log "k3s $K3S_VERSION: building (about 25 minutes on 2 cores with a cold cache) ..."
	(
		cd "$dir"
		GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=1 \
			CGO_CFLAGS="-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1" \
			go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$tmp" ./cmd/server
		GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
			go build -trimpath -tags "${tags/netcgo/netgo}" -ldflags "-w -s" -o "$shim" github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
	)
	chmod 0755 "$tmp" "$shim"
	mv -f "$shim" "$SHIM_BIN"
	mv -f "$tmp" "$K3S_BIN"
	log "k3s $K3S_VERSION: built in $(($(now) - t0))s ($(du -h "$K3S_BIN" | cut -f1))"
}

# build_in_module NAME MODULE VERSION PKG LDFLAGS: a static binary of PKG built inside a
# copy of MODULE@VERSION (its replaces apply), cached as $BIN/NAME-<hash>; sets BUILT.
build_in_module() {
	local name=$1 mod=$2 version=$3 pkg=$4 ldflags=$5 hash out
	hash=$(recipe_hash "$mod" "$version" "$pkg" "$ldflags" "$(go env GOVERSION)")
	out=$BIN/$name-$hash
	BUILT=$out
	if [[ -x $out ]]; then
		log "$name $version: cached ($out)"
		return 0
	fi
	local dir=$SRC/$name-$version t0 tmp
	t0=$(now)
	mod_src "$mod" "$version" "$dir"
	mkdir -p "$BIN"
	tmp=$(mktemp "$BIN/.$name.XXXXXX")
	CLEANUP+=("$tmp")
	log "$name $version: building $pkg ..."
	(cd "$dir" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg")
	chmod 0755 "$tmp"
	mv -f "$tmp" "$out"
	log "$name $version: built in $(($(now) - t0))s ($(du -h "$out" | cut -f1))"
}

# build_tools_module NAME DIR: a static binary of the Go module in this repository's DIR
# (e2e/toolchain/full), cached by the hash of its sources; sets BUILT.
build_local() {
	local name=$1 pkg=$2 hash out
	hash=$(recipe_hash "$(cd "$HERE/full" && cat go.mod go.sum "$pkg"/*.go)" "$(go env GOVERSION)")
	out=$BIN/$name-$hash
	BUILT=$out
	[[ -x $out ]] && return 0
	mkdir -p "$BIN"
	local tmp
	tmp=$(mktemp "$BIN/.$name.XXXXXX")
	CLEANUP+=("$tmp")
	(cd "$HERE/full" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp" "./$pkg")
	chmod 0755 "$tmp"
	mv -f "$tmp" "$out"
	log "$name: built ($out)"
}

# import_image IMAGE HASH ROOT CHANGE...: the directory ROOT as image IMAGE (docker
# import, nothing pulled), labelled with its recipe HASH; the image it replaces goes.
import_image() {
	local image=$1 hash=$2 root=$3 old
	shift 3
	local args=(--change "LABEL $RECIPE_LABEL=$hash")
	local c
	for c in "$@"; do args+=(--change "$c"); done
	old=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
	tar -C "$root" --numeric-owner -c . | docker import "${args[@]}" --message "labsbx test image $image" - "$image" >/dev/null
	replace_old_image "$image" "$old"
	log "image $image: built ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'))"
}

# new_root: a fresh temp dir to assemble an image's files in.
new_root() {
	local d
	d=$(mktemp -d "$FULL/.root.XXXXXX")
	CLEANUP+=("$d")
	chmod 0755 "$d"
	printf '%s\n' "$d"
}

# passwd ROOT USER UID: an /etc/passwd and /etc/group with root and one more user.
passwd() {
	mkdir -p "$1/etc"
	printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s:%s:/home/%s:/bin/false\n' "$2" "$3" "$3" "$2" "$2" >"$1/etc/passwd"
	printf 'root:x:0:\n%s:x:%s:\n' "$2" "$3" >"$1/etc/group"
}

ca_bundle() {
	local ca=/etc/ssl/certs/ca-certificates.crt
	[[ -r $ca ]] || die "$ca missing: apt-get install ca-certificates"
	mkdir -p "$1/etc/ssl/certs"
	cp "$ca" "$1/etc/ssl/certs/"
}

# Each image function below is cached by the image's recipe label; its hash covers the
# function's own text and the binaries it packs.

image_pause() {
	local src=$HERE/full/pause/pause.c hash root
	hash=$(recipe_hash "$(cat "$src")" "$(declare -f image_pause)")
	image_current "$PAUSE_IMAGE" "$hash" && return 0
	command -v gcc >/dev/null || die "gcc not found: apt-get install gcc libc6-dev"
	root=$(new_root)
	gcc -static -O2 -o "$root/pause" "$src"
	import_image "$PAUSE_IMAGE" "$hash" "$root" 'ENTRYPOINT ["/pause"]' 'USER 65535:65535'
}

image_busybox() {
	local hash root
	busybox_bin
	hash=$(recipe_hash "$(sha256sum <"$BUSYBOX")" "$(declare -f image_busybox with_busybox)")
	image_current "$BUSYBOX_IMAGE" "$hash" && return 0
	root=$(new_root)
	with_busybox "$root"
	mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"
	passwd "$root" nobody 65534
	import_image "$BUSYBOX_IMAGE" "$hash" "$root" 'CMD ["sh"]' 'ENV PATH=/bin'
}

image_coredns() {
	local hash root
	build_in_module coredns github.com/coredns/coredns "v$COREDNS_VERSION" . \
		"-X github.com/coredns/coredns/coremain.GitCommit=v$COREDNS_VERSION"
	hash=$(recipe_hash "$(sha256sum <"$BUILT")" "$(declare -f image_coredns)")
	image_current "$COREDNS_IMAGE" "$hash" && return 0
	root=$(new_root)
	cp "$BUILT" "$root/coredns"
	ca_bundle "$root"
	import_image "$COREDNS_IMAGE" "$hash" "$root" 'ENTRYPOINT ["/coredns"]' 'EXPOSE 53 53/udp'
}

image_local_path() {
	local hash root
	build_in_module local-path-provisioner github.com/rancher/local-path-provisioner "$LOCAL_PATH_VERSION" . \
		"-X main.VERSION=$LOCAL_PATH_VERSION"
	hash=$(recipe_hash "$(sha256sum <"$BUILT")" "$(declare -f image_local_path)")
	image_current "$LOCAL_PATH_IMAGE" "$hash" && return 0
	root=$(new_root)
	mkdir -p "$root/usr/bin"
	cp "$BUILT" "$root/usr/bin/local-path-provisioner"
	import_image "$LOCAL_PATH_IMAGE" "$hash" "$root" 'ENV PATH=/usr/bin:/bin' 'CMD ["local-path-provisioner"]' \
		"LABEL org.opencontainers.image.version=$LOCAL_PATH_VERSION"
}

image_vso() {
	local hash root
	build_in_module vault-secrets-operator github.com/hashicorp/vault-secrets-operator "v$VSO_VERSION" . \
		"-X github.com/hashicorp/vault-secrets-operator/internal/version.Version=$VSO_VERSION"
	hash=$(recipe_hash "$(sha256sum <"$BUILT")" "$(declare -f image_vso passwd ca_bundle)")
	image_current "$VSO_IMAGE" "$hash" && return 0
	root=$(new_root)
	cp "$BUILT" "$root/vault-secrets-operator"
	# What the upstream image adds for its CRD-upgrade hook.
	mkdir -p "$root/scripts"
	cp -r "$SRC/vault-secrets-operator-v$VSO_VERSION/chart/crds" "$root/scripts/crds"
	ln -s ../vault-secrets-operator "$root/scripts/upgrade-crds"
	passwd "$root" nonroot 65532
	ca_bundle "$root"
	import_image "$VSO_IMAGE" "$hash" "$root" 'ENTRYPOINT ["/vault-secrets-operator"]' 'USER 65532:65532'
}

image_rbac_proxy() {
	local hash root
	build_in_module kube-rbac-proxy github.com/brancz/kube-rbac-proxy "v$RBAC_PROXY_VERSION" ./cmd/kube-rbac-proxy \
		"-X k8s.io/component-base/version.gitVersion=v$RBAC_PROXY_VERSION"
	hash=$(recipe_hash "$(sha256sum <"$BUILT")" "$(declare -f image_rbac_proxy passwd ca_bundle)")
	image_current "$RBAC_PROXY_IMAGE" "$hash" && return 0
	root=$(new_root)
	mkdir -p "$root/usr/local/bin"
	cp "$BUILT" "$root/usr/local/bin/kube-rbac-proxy"
	passwd "$root" nonroot 65532
	ca_bundle "$root"
	import_image "$RBAC_PROXY_IMAGE" "$hash" "$root" 'ENTRYPOINT ["/usr/local/bin/kube-rbac-proxy"]' 'USER 65532:65532' 'EXPOSE 8080'
}

# image_k3d_tools: k3d's tools image from its upstream source (the proxy does not serve
# that module; ../shared/upstream has it, vendor dir included, which is inconsistent,
# hence -mod=mod), with busybox for the shell commands k3d runs in it.
image_k3d_tools() {
	local tarball hash root out
	tarball=$(upstream_file "k3d-tools-$K3D_VERSION.tar.gz" "the k3d-tools source")
	busybox_bin
	hash=$(recipe_hash "$(sha256sum <"$tarball")" "$(go env GOVERSION)" "$(declare -f image_k3d_tools)")
	out=$BIN/k3d-tools-$hash
	if [[ ! -x $out ]]; then
		local dir=$SRC/k3d-tools-$K3D_VERSION tmp
		rm -rf "$dir" && mkdir -p "$dir"
		tar -C "$dir" --strip-components=1 -xzf "$tarball"
		tmp=$(mktemp "$BIN/.k3d-tools.XXXXXX")
		CLEANUP+=("$tmp")
		log "k3d-tools $K3D_VERSION: building ..."
		(cd "$dir/tools" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 go build -trimpath \
			-ldflags "-s -w -X github.com/k3d-io/k3d/tools/version.Version=v$K3D_VERSION" -o "$tmp" .)
		chmod 0755 "$tmp"
		mv -f "$tmp" "$out"
	fi
	hash=$(recipe_hash "$hash" "$(sha256sum <"$BUSYBOX")")
	image_current "$K3D_TOOLS_IMAGE" "$hash" && return 0
	root=$(new_root)
	with_busybox "$root"
	mkdir -p "$root/app"
	cp "$out" "$root/app/k3d-tools"
	import_image "$K3D_TOOLS_IMAGE" "$hash" "$root" 'WORKDIR /app' 'ENV PATH=/bin' 'ENTRYPOINT ["/app/k3d-tools"]'
}

# The node's Debian userland: what k3s's own image takes from k3s-root and upstream
# (iptables, ipset, conntrack, runc, the CNI plugins, mount), cached as a tarball.
NODE_PACKAGES=(iptables ipset conntrack iproute2 runc containernetworking-plugins ca-certificates kmod procps mount)

node_rootfs() {
	local hash out
	hash=$(recipe_hash "$DEBIAN_SUITE" "${NODE_PACKAGES[*]}" "$(declare -f node_rootfs)")
	out=$FULL/rootfs/$DEBIAN_SUITE-node-$hash.tar
	NODE_ROOTFS=$out
	[[ -s $out ]] && return 0
	command -v mmdebstrap >/dev/null || die "mmdebstrap not found: apt-get install mmdebstrap"
	mkdir -p "$FULL/rootfs"
	local tmp t0 logf=$FULL/rootfs-build.log mirror
	tmp=$(mktemp "$FULL/rootfs/.node.XXXXXX.tar")
	CLEANUP+=("$tmp")
	mapfile -t mirror < <(debian_mirror)
	log "node rootfs: mmdebstrap $DEBIAN_SUITE + ${NODE_PACKAGES[*]} ..."
	t0=$(now)
	# shellcheck disable=SC2016 # mmdebstrap runs the hooks with $1 = the rootfs
	if ! mmdebstrap --verbose --variant=minbase --mode=root --format=tar \
		--include="$(IFS=,; echo "${NODE_PACKAGES[*]}")" \
		--aptopt='Acquire::Check-Valid-Until "false"' --aptopt='APT::Install-Recommends "false"' \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
		--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
		"$DEBIAN_SUITE" "$tmp" "${mirror[@]+"${mirror[@]}"}" </dev/null >"$logf" 2>&1; then
		tail -n 40 "$logf" >&2
		die "mmdebstrap failed (full log: $logf)"
	fi
	mv -f "$tmp" "$out"
	log "node rootfs: built in $(($(now) - t0))s ($(du -h "$out" | cut -f1))"
}

# image_node: the k3s node image, as rancher/k3s is laid out (k3s at /bin/k3s with its
# multi-call links, the runc shim, CNI plugins on PATH, the same volumes, entrypoint and
# command), plus what this machine needs (node/README.md): bash as /bin/sh, k3s's
# containerd template with restrict_oom_score_adj, and node/config.yaml.
image_node() {
	build_k3s
	build_local flannel flannel
	local flannel=$BUILT
	node_rootfs
	local hash
	hash=$(recipe_hash "$(sha256sum "$K3S_BIN" "$SHIM_BIN" "$flannel" "$NODE_ROOTFS" | cut -d' ' -f1)" \
		"$(cat "$HERE/full/node/config.yaml")" "$(declare -f image_node)")
	image_current "$K3S_IMAGE" "$hash" && return 0
	local root overlay old t0 l
	t0=$(now)
	overlay=$(new_root)
	mkdir -p "$overlay/usr/bin" "$overlay/usr/local/bin" "$overlay/usr/lib/cni" "$overlay/etc/rancher/k3s" \
		"$overlay/var/lib/rancher/k3s/agent/etc/containerd"
	cp "$K3S_BIN" "$overlay/usr/bin/k3s"
	for l in containerd ctr crictl kubectl k3s-server k3s-agent k3s-token k3s-etcd-snapshot k3s-secrets-encrypt k3s-certificate k3s-completion; do
		ln -s /usr/bin/k3s "$overlay/usr/local/bin/$l"
	done
	cp "$SHIM_BIN" "$overlay/usr/local/bin/containerd-shim-runc-v2"
	cp "$flannel" "$overlay/usr/lib/cni/flannel"
	cp "$HERE/full/node/config.yaml" "$overlay/etc/rancher/k3s/config.yaml"
	# k3d's entrypoint traps SIGTERM by name, which dash rejects.
	ln -sf bash "$overlay/usr/bin/sh"
	awk '/^const ContainerdConfigTemplateV3 = `/{on=1; sub(/^const ContainerdConfigTemplateV3 = `/, ""); print; next} on && /^`/{exit} on{print}' \
		"$SRC/k3s-$K3S_MODVERSION/pkg/agent/templates/templates.go" |
		sed '/IsRunningInUserNS/,/end/{/restrict_oom_score_adj/d}; /^  device_ownership_from_security_context/a\  restrict_oom_score_adj = true' \
			>"$overlay/var/lib/rancher/k3s/agent/etc/containerd/config-v3.toml.tmpl"
	grep -q 'restrict_oom_score_adj = true' "$overlay/var/lib/rancher/k3s/agent/etc/containerd/config-v3.toml.tmpl" ||
		die "k3s's containerd template changed shape: no restrict_oom_score_adj could be set"
	# The Debian userland and the overlay in one tree (as root: owners, modes and device
	# nodes are kept); Debian's /bin/sh, a link to dash, gives way to the overlay's.
	root=$(new_root)
	tar -C "$root" --numeric-owner -xpf "$NODE_ROOTFS"
	rm -f "$root/usr/bin/sh"
	cp -a "$overlay/." "$root/"
	old=$(docker image inspect --format '{{.Id}}' "$K3S_IMAGE" 2>/dev/null || true)
	docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/cni' \
		--change 'ENV CRI_CONFIG_FILE=/var/lib/rancher/k3s/agent/etc/crictl.yaml' \
		--change 'VOLUME ["/var/lib/kubelet", "/var/lib/rancher/k3s", "/var/lib/cni", "/var/log"]' \
		--change 'ENTRYPOINT ["/bin/k3s"]' --change 'CMD ["agent"]' \
		--change "LABEL $RECIPE_LABEL=$hash" --change "LABEL org.opencontainers.image.version=$K3S_VERSION" \
		--message "labsbx test image: k3s $K3S_VERSION built from the Go module proxy, Debian $DEBIAN_SUITE userland" \
		- "$K3S_IMAGE" >/dev/null < <(tar -C "$root" --numeric-owner -c .)
	replace_old_image "$K3S_IMAGE" "$old"
	log "image $K3S_IMAGE: built in $(($(now) - t0))s"
}

# The upstream charts, as a directory of <name>-<version>.tgz that `labsbx bundle save
# --chart-repo DIR` takes: vault-helm as ../shared/upstream has it, and VSO's chart/
# from its module, packed as `helm package` would (top dir named after the chart).
VAULT_CHART_VERSION=0.32.0
charts_dir() {
	CHARTS=$FULL/charts
	mkdir -p "$CHARTS"
	local vault
	vault=$(upstream_file "vault-helm-$VAULT_CHART_VERSION.tgz" "the Vault chart")
	cmp -s "$vault" "$CHARTS/vault-$VAULT_CHART_VERSION.tgz" || cp "$vault" "$CHARTS/vault-$VAULT_CHART_VERSION.tgz"
	local vso=$CHARTS/vault-secrets-operator-$VSO_VERSION.tgz
	if [[ ! -s $vso ]]; then
		local dir tmp
		dir=$(mod_dir github.com/hashicorp/vault-secrets-operator "v$VSO_VERSION")
		tmp=$(mktemp "$CHARTS/.vso.XXXXXX")
		CLEANUP+=("$tmp")
		tar -C "$dir" --transform 's,^chart,vault-secrets-operator,' --owner=0 --group=0 --mode=u+w \
			--sort=name --mtime=@0 -czf "$tmp" chart
		mv -f "$tmp" "$vso"
	fi
}

# full_config writes the sandbox config of the full profile that names the images
# built here (two apps, so that policy isolation has another app to refuse) and sets
# CONFIG to its path.
full_config() {
	CONFIG=$FULL/sandbox-full.yaml
	local tmp
	tmp=$(mktemp "$FULL/.config.XXXXXX")
	CLEANUP+=("$tmp")
	cat >"$tmp" <<-EOF
		# Written by e2e/toolchain/full.sh: the full profile on the images it builds.
		apiVersion: labsbx.dev/v1alpha1
		kind: Sandbox
		spec:
		  profile: full
		  apps: [webapp, billing]
		  vault:
		    image: labsbx.local/vault:1.21.0
		  postgres:
		    image: labsbx.local/postgres:15
		  cluster:
		    servers: 1
		    agents: 0
		    k3sImage: $K3S_IMAGE
		    apiPort: 0
		    systemImages: [$PAUSE_IMAGE, $COREDNS_IMAGE, $LOCAL_PATH_IMAGE, $BUSYBOX_IMAGE]
		    toolsImage: $K3D_TOOLS_IMAGE
		    loadBalancerImage: ghcr.io/k3d-io/k3d-proxy:$K3D_VERSION
		  vso:
		    image: $VSO_IMAGE
		    kubeRbacProxyImage: $RBAC_PROXY_IMAGE
		  vms:
		    count: 0
		    cpus: 2
		    memoryMiB: 1024
		    image: debian-12-arm64
		  drills:
		    defaultTTL: 1m
		    maxTTL: 10m
		    timeout: 3m
	EOF
	mv -f "$tmp" "$CONFIG"
}

# build_bundle: the images, charts and config above as a labsbx offline bundle
# ($FULL/bundle), saved again only when an image, a chart, the config or the labsbx
# binary ($LABSBX_BIN) changed. Prints the bundle's directory.
build_bundle() {
	local bin=${LABSBX_BIN:-}
	[[ -x $bin ]] || die "LABSBX_BIN must name the labsbx binary (go tool task build)"
	build_images
	charts_dir
	full_config
	local ids="" img key out=$FULL/bundle
	for img in labsbx.local/vault:1.21.0 labsbx.local/postgres:15 "$K3S_IMAGE" "$PAUSE_IMAGE" "$COREDNS_IMAGE" \
		"$LOCAL_PATH_IMAGE" "$BUSYBOX_IMAGE" "$K3D_TOOLS_IMAGE" "$VSO_IMAGE" "$RBAC_PROXY_IMAGE"; do
		ids+="$img $(docker image inspect --format '{{.Id}}' "$img") "
	done
	key=$(recipe_hash "$ids" "$(cat "$CONFIG")" "$(sha256sum "$FULL"/charts/*.tgz)" "$(sha256sum <"$bin")")
	if [[ -f $out/.labsbx-key && $(cat "$out/.labsbx-key") == "$key" ]]; then
		log "bundle: cached ($out)"
		printf '%s\n' "$out"
		return 0
	fi
	local t0
	t0=$(now)
	rm -rf -- "$out"
	log "bundle: labsbx bundle save (about 1.4 GB) ..."
	"$bin" bundle save "$out" --profile full --config "$CONFIG" --chart-repo "$FULL/charts" >&2
	printf '%s\n' "$key" >"$out/.labsbx-key"
	log "bundle: saved in $(($(now) - t0))s ($(du -sh "$out" | cut -f1))"
	printf '%s\n' "$out"
}

build_images() {
	need_docker
	image_node
	image_pause
	image_busybox
	image_coredns
	image_local_path
	image_k3d_tools
	image_vso
	image_rbac_proxy
	bash "$HERE/toolchain.sh" images # the Vault (chart-ready) and Postgres images
}

main() {
	local cmd=${1:-} t0
	t0=$(now)
	case $cmd in
	k3s) build_k3s ;;
	images) build_images ;;
	bundle) build_bundle ;;
	config)
		full_config
		printf '%s\n' "$CONFIG"
		return 0
		;;
	image)
		need_docker
		"image_$2"
		;;
	path)
		printf '%s\n' "$FULL"
		return 0
		;;
	*)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
	log "$cmd: done in $(($(now) - t0))s"
}

main "$@"
