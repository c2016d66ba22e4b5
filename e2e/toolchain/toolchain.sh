#!/usr/bin/env bash
# toolchain.sh builds the offline test toolchain: real binaries compiled from the
# Go module proxy and local Docker images built from Debian packages. No container
# registry is used. Everything is cached by version under
#   ${LABSBX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/labsbx}/toolchain
# so a warm run only checks that the files and images exist.
#
# Usage: toolchain.sh vault|kube|images|vault-to|all|tofu|path|image-refs
#   vault   bin/vault-<v>                       (static HashiCorp Vault server)
#   vault-to  bin/vault-<to>, labsbx.local/vault:<to>: the newer Vault the
#           vault-upgrade drill's end-to-end test upgrades to (a ~25 min cold build)
#   kube    bin/kube-apiserver-<v>, bin/etcd-<v> (envtest-style control plane)
#   images  labsbx.local/vault:<v>, labsbx.local/postgres:15 (docker import)
#   all     vault, kube and images
#   tofu    bin/tofu-<v> and the Vault provider's filesystem mirror (tofu.sh all)
#   path    print the bin dir
#   image-refs  print LABSBX_VAULT_IMAGE=… and LABSBX_POSTGRES_IMAGE=… for the images
#
# Host needs: go, docker (engine running), bash, tar, coreutils, and for the
# postgres image the Debian packages mmdebstrap and ca-certificates.
# Versions below are also pinned in e2e/testenv (a unit test there checks both agree).
set -euo pipefail

VAULT_VERSION=1.21.0
# The Vault the vault-upgrade drill's end-to-end test upgrades to from VAULT_VERSION.
# Each Vault version has a builder module of its own: vault/ for VAULT_VERSION,
# vault-<version>/ for this one (a pinned dependency graph each).
VAULT_TO_VERSION=1.21.1
KUBE_VERSION=1.34.2
ETCD_VERSION=3.6.16
PG_MAJOR=15
DEBIAN_SUITE=bookworm
# Bump IMAGE_RECIPE when an image recipe changes in a way the hashed inputs below
# (this script's image functions and the files under images/) do not capture.
IMAGE_RECIPE=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
TC=$CACHE/toolchain
BIN=$TC/bin
ROOTFS=$TC/rootfs

VAULT_IMAGE=labsbx.local/vault:$VAULT_VERSION
VAULT_VERSION_MAIN=$VAULT_VERSION
PG_IMAGE=labsbx.local/postgres:$PG_MAJOR

# go_build NAME VERSION MODULE_DIR PACKAGE LDFLAGS: build a static binary into
# $BIN/NAME-VERSION unless it is already there. The build goes to a temp name in
# the same dir and is renamed into place, so a present file is always complete.
go_build() {
	local name=$1 version=$2 moddir=$3 pkg=$4 ldflags=$5
	local out=$BIN/$name-$version
	if [[ -x $out ]]; then
		log "$name $version: cached ($out)"
		return 0
	fi
	command -v go >/dev/null || die "go not found in PATH"
	mkdir -p "$BIN"
	local tmp
	tmp=$(mktemp "$BIN/.$name-$version.XXXXXX")
	CLEANUP+=("$tmp")
	log "$name $version: building $pkg (takes minutes on a cold cache) ..."
	local t0
	t0=$(now)
	local dir=$moddir
	[[ $dir == /* ]] || dir=$HERE/$moddir
	(
		cd "$dir"
		GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
			go build -trimpath -ldflags="$ldflags" -o "$tmp" "$pkg"
	)
	chmod 0755 "$tmp"
	mv -f "$tmp" "$out"
	log "$name $version: built in $(($(now) - t0))s ($(du -h "$out" | cut -f1)) -> $out"
}

# vault_module VERSION: the builder module of that Vault version.
vault_module() {
	local dir=vault
	[[ $1 == "$VAULT_VERSION_MAIN" ]] || dir=vault-$1
	[[ -f $HERE/$dir/go.mod ]] || die "no builder module $dir/ for Vault $1"
	printf '%s\n' "$dir"
}

build_vault() {
	go_build vault "$VAULT_VERSION" "$(vault_module "$VAULT_VERSION")" github.com/hashicorp/vault '-s -w'
}

# build_vault_to: the binary and image of VAULT_TO_VERSION, made by the same
# functions (and so the same recipe) as VAULT_VERSION's, cached by version likewise.
build_vault_to() {
	need_docker
	(
		VAULT_VERSION=$VAULT_TO_VERSION
		VAULT_IMAGE=labsbx.local/vault:$VAULT_TO_VERSION
		build_vault_image
	)
}

build_kube() {
	go_build etcd "$ETCD_VERSION" etcd github.com/arcodange/labsbx/e2e/toolchain/etcd '-s -w'
	go_build kube-apiserver "$KUBE_VERSION" kube k8s.io/kubernetes/cmd/kube-apiserver \
		"-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=${KUBE_VERSION%%.*} -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION") -X k8s.io/component-base/version.gitTreeState=clean"
}

# The Vault image runs both ways labsbx starts Vault: as a container of the vault
# profile (entrypoint /bin/vault) and under the upstream Vault chart of the full
# profile, which starts `/bin/sh -ec "cp …; sed …; /usr/local/bin/docker-entrypoint.sh
# vault server …"` as uid 100. So it holds Debian's static busybox (sh, cp, sed, …),
# the entrypoint script of images/vault and a vault user.
build_vault_image() {
	local entry=$HERE/images/vault/docker-entrypoint.sh hash
	busybox_bin
	hash=$(recipe_hash "$IMAGE_RECIPE" "$VAULT_VERSION" "$(cat "$entry")" "$(declare -f build_vault_image with_busybox)" "$(sha256sum <"$BUSYBOX")")
	if image_current "$VAULT_IMAGE" "$hash"; then
		log "image $VAULT_IMAGE: cached (recipe $hash)"
		return 0
	fi
	build_vault
	local ca=/etc/ssl/certs/ca-certificates.crt
	[[ -r $ca ]] || die "$ca missing: apt-get install ca-certificates"
	local t0 root
	t0=$(now)
	root=$(mktemp -d "$TC/.vault-rootfs.XXXXXX")
	CLEANUP+=("$root")
	chmod 0755 "$root"
	mkdir -p "$root"/{bin,tmp,etc/ssl/certs,usr/local/bin,home/vault,vault/file,vault/config,vault/logs}
	chmod 1777 "$root/tmp"
	with_busybox "$root"
	cp "$BIN/vault-$VAULT_VERSION" "$root/bin/vault"
	install -m 0755 "$entry" "$root/usr/local/bin/docker-entrypoint.sh"
	cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
	printf 'root:x:0:0:root:/:/bin/sh\nvault:x:100:1000:vault:/home/vault:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nvault:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
	local old
	old=$(docker image inspect --format '{{.Id}}' "$VAULT_IMAGE" 2>/dev/null || true)
	log "image $VAULT_IMAGE: importing ..."
	tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
		docker import \
			--change 'ENTRYPOINT ["/bin/vault"]' \
			--change 'CMD ["version"]' \
			--change 'ENV PATH=/usr/local/bin:/bin' \
			--change 'ENV SKIP_SETCAP=true' \
			--change 'EXPOSE 8200' \
			--change "LABEL $RECIPE_LABEL=$hash" \
			--change "LABEL org.opencontainers.image.version=$VAULT_VERSION" \
			--message "labsbx test image: vault $VAULT_VERSION (static build from the Go module proxy, Debian's static busybox)" \
			- "$VAULT_IMAGE" >/dev/null
	replace_old_image "$VAULT_IMAGE" "$old"
	log "image $VAULT_IMAGE: built in $(($(now) - t0))s"
}

# The Debian root file system of the postgres image, as a tarball cached by the
# hash of its recipe (suite, packages, excludes). mmdebstrap is a debootstrap
# that runs without a chroot dance and writes a tarball directly.
PG_PACKAGES=("postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR" ca-certificates)
PG_DPKG_EXCLUDES=(
	'path-exclude=/usr/share/man/*'
	'path-exclude=/usr/share/doc/*'
	'path-exclude=/usr/share/info/*'
	'path-exclude=/usr/share/locale/*'
	'path-exclude=/usr/share/lintian/*'
	'path-exclude=/usr/share/i18n/*'
	# JIT: LLVM (and z3, which only LLVM uses) is 130 MB of the image. Without
	# llvmjit.so postgres silently runs without JIT, as documented.
	'path-exclude=/usr/lib/x86_64-linux-gnu/libLLVM-*'
	'path-exclude=/usr/lib/aarch64-linux-gnu/libLLVM-*'
	'path-exclude=/usr/lib/x86_64-linux-gnu/libz3.so*'
	'path-exclude=/usr/lib/aarch64-linux-gnu/libz3.so*'
	'path-exclude=/usr/lib/postgresql/*/lib/llvmjit*'
	'path-exclude=/usr/lib/postgresql/*/lib/bitcode/*'
)

# pg_rootfs sets PG_ROOTFS_TAR to the cached tarball, building it when missing.
pg_rootfs() {
	local hash out
	hash=$(recipe_hash "$DEBIAN_SUITE" "${PG_PACKAGES[*]}" "${PG_DPKG_EXCLUDES[*]}" "$(declare -f pg_rootfs)")
	out=$ROOTFS/$DEBIAN_SUITE-postgres$PG_MAJOR-$hash.tar
	if [[ -s $out ]]; then
		log "rootfs $(basename "$out"): cached"
		PG_ROOTFS_TAR=$out
		return 0
	fi
	command -v mmdebstrap >/dev/null || die "mmdebstrap not found: apt-get install mmdebstrap"
	mkdir -p "$ROOTFS"
	local tmp t0 opt
	tmp=$(mktemp "$ROOTFS/.rootfs.XXXXXX.tar")
	CLEANUP+=("$tmp")
	# The hooks are single-quoted on purpose: mmdebstrap runs them with $1 = the rootfs.
	# shellcheck disable=SC2016
	local args=(--variant=minbase --mode=root --format=tar
		--include="$(
			IFS=,
			echo "${PG_PACKAGES[*]}"
		)"
		# Snapshot mirrors serve Release files past their Valid-Until date.
		--aptopt='Acquire::Check-Valid-Until "false"'
		--aptopt='Acquire::Check-Date "false"'
		--aptopt='APT::Install-Recommends "false"'
		# postgresql-common must not create a cluster: the entrypoint runs initdb.
		--essential-hook='mkdir -p "$1/etc/postgresql-common" && echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.conf"'
		# update-alternatives links psql.1.gz & co. into /usr/share/man/man*, whose
		# dirs the man exclude keeps dpkg from creating; the links target
		# /usr/share/postgresql/15/man, which is kept.
		--essential-hook='for s in 1 3 7; do mkdir -p "$1/usr/share/man/man$s"; done'
		--dpkgopt='force-confold'
		--customize-hook='rm -rf "$1"/var/lib/postgresql/* "$1"/etc/postgresql/*/ "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log'
	)
	for opt in "${PG_DPKG_EXCLUDES[@]}"; do args+=(--dpkgopt="$opt"); done
	local mirror=()
	mapfile -t mirror < <(debian_mirror)
	log "rootfs: mmdebstrap $DEBIAN_SUITE + ${PG_PACKAGES[*]} ..."
	t0=$(now)
	local logf=$TC/rootfs-build.log
	if ! mmdebstrap --verbose "${args[@]}" "$DEBIAN_SUITE" "$tmp" "${mirror[@]+"${mirror[@]}"}" </dev/null >"$logf" 2>&1; then
		tail -n 40 "$logf" >&2
		die "mmdebstrap failed (full log: $logf)"
	fi
	mv -f "$tmp" "$out"
	local f
	for f in "$ROOTFS/$DEBIAN_SUITE-postgres$PG_MAJOR-"*.tar; do
		[[ $f == "$out" ]] || rm -f -- "$f" # an older recipe's tarball
	done
	log "rootfs $(basename "$out"): built in $(($(now) - t0))s ($(du -h "$out" | cut -f1))"
	PG_ROOTFS_TAR=$out
}

build_postgres_image() {
	local entry=$HERE/images/postgres/docker-entrypoint.sh
	local hash
	hash=$(recipe_hash "$IMAGE_RECIPE" "$(cat "$entry")" "$(declare -f build_postgres_image pg_rootfs)" \
		"${PG_PACKAGES[*]}" "${PG_DPKG_EXCLUDES[*]}")
	if image_current "$PG_IMAGE" "$hash"; then
		log "image $PG_IMAGE: cached (recipe $hash)"
		return 0
	fi
	local t0 tar overlay old base
	pg_rootfs
	t0=$(now)
	tar=$(mktemp "$TC/.postgres-image.XXXXXX.tar")
	overlay=$(mktemp -d "$TC/.postgres-overlay.XXXXXX")
	CLEANUP+=("$tar" "$overlay")
	mkdir -p "$overlay/usr/local/bin" "$overlay/docker-entrypoint-initdb.d"
	install -m 0755 "$entry" "$overlay/usr/local/bin/docker-entrypoint.sh"
	cp "$PG_ROOTFS_TAR" "$tar"
	tar -C "$overlay" --numeric-owner --owner=0 --group=0 -rf "$tar" ./usr/local/bin/docker-entrypoint.sh ./docker-entrypoint-initdb.d
	old=$(docker image inspect --format '{{.Id}}' "$PG_IMAGE" 2>/dev/null || true)
	log "image $PG_IMAGE: importing ..."
	base=$(docker import --message "labsbx test image: postgres $PG_MAJOR rootfs (Debian $DEBIAN_SUITE packages)" "$tar")
	# docker import --change cannot set STOPSIGNAL, so the metadata comes from a
	# Dockerfile on top of the imported rootfs (FROM a local image: nothing is pulled).
	DOCKER_BUILDKIT=0 docker build --quiet --tag "$PG_IMAGE" - >/dev/null 2>"$TC/postgres-image-build.log" <<-EOF || {
		FROM $base
		ENV PG_MAJOR=$PG_MAJOR PGDATA=/var/lib/postgresql/data LANG=C.UTF-8 \\
		    PATH=/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
		CMD ["postgres"]
		EXPOSE 5432
		STOPSIGNAL SIGINT
		LABEL $RECIPE_LABEL=$hash org.opencontainers.image.version=$PG_MAJOR
	EOF
		cat "$TC/postgres-image-build.log" >&2
		die "docker build of $PG_IMAGE failed"
	}
	replace_old_image "$PG_IMAGE" "$old"
	log "image $PG_IMAGE: built in $(($(now) - t0))s ($(docker image inspect --format '{{.Size}}' "$PG_IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
}

build_images() {
	need_docker
	build_vault_image
	build_postgres_image
}

main() {
	local cmd=${1:-}
	local t0
	t0=$(now)
	case $cmd in
	vault) build_vault ;;
	kube) build_kube ;;
	images) build_images ;;
	tofu) bash "$HERE/tofu.sh" all ;;
	vault-to) build_vault_to ;;
	all)
		build_vault
		build_kube
		build_images
		;;
	path)
		printf '%s\n' "$BIN"
		return 0
		;;
	image-refs)
		printf 'LABSBX_VAULT_IMAGE=%s\nLABSBX_POSTGRES_IMAGE=%s\n' "$VAULT_IMAGE" "$PG_IMAGE"
		return 0
		;;
	*)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
	log "$cmd: done in $(($(now) - t0))s (bin dir $BIN)"
}

main "$@"
