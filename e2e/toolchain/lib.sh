# lib.sh: what the recipe scripts (toolchain.sh, full.sh) share. Source it; it defines
# functions and the cache paths, and runs nothing.
#
# The cache is ${LABSBX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/labsbx}, outside the
# clone, so a fresh clone on the same machine is warm.

CACHE=${LABSBX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/labsbx}
RECIPE_LABEL=dev.labsbx.recipe

log() { printf '%s: %s\n' "${LOG_PREFIX:-toolchain}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
now() { date +%s; }

# Temp files/dirs to remove on exit (a failed or interrupted build leaves no half file).
CLEANUP=()
cleanup() {
	local p
	for p in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do rm -rf -- "$p"; done
}
trap cleanup EXIT

need_docker() {
	command -v docker >/dev/null || die "docker CLI not found"
	docker info >/dev/null 2>&1 || die "docker engine not reachable (is dockerd running?)"
}

# recipe_hash TEXT...: a short hash of a recipe, stored as an image label or in a file name.
recipe_hash() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# image_current IMAGE HASH: true when IMAGE exists with the recipe label HASH.
image_current() {
	local got
	got=$(docker image inspect --format "{{ index .Config.Labels \"$RECIPE_LABEL\" }}" "$1" 2>/dev/null) || return 1
	[[ $got == "$2" ]]
}

# replace_old_image IMAGE OLD_ID: removes the image IMAGE pointed at before a rebuild,
# unless a container still uses it.
replace_old_image() {
	if [[ -n $2 && $2 != "$(docker image inspect --format '{{.Id}}' "$1")" ]]; then
		docker rmi "$2" >/dev/null 2>&1 || true
	fi
}

# mod_dir MODULE VERSION: the module cache's copy of MODULE@VERSION, downloaded from the
# Go module proxy when missing (read-only; see mod_src for a copy to build in).
mod_dir() {
	local dir
	dir=$(cd / && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir && -d $dir ]] || die "go mod download $1@$2 gave no directory"
	printf '%s\n' "$dir"
}

# mod_src MODULE VERSION DIR: a writable copy of the module's source in DIR, so that a
# build inside it applies the module's own go.mod and replace directives (which a
# dependent module or `go install mod@version` would ignore). Made once.
mod_src() {
	local mod=$1 version=$2 dir=$3
	[[ -f $dir/.labsbx-complete ]] && return 0
	local src
	src=$(mod_dir "$mod" "$version")
	rm -rf -- "$dir" "$dir.tmp"
	mkdir -p "$(dirname "$dir")"
	cp -a "$src" "$dir.tmp"
	chmod -R u+w "$dir.tmp"
	touch "$dir.tmp/.labsbx-complete"
	mv "$dir.tmp" "$dir"
}

# debian_mirror: the mirror argument of mmdebstrap (LABSBX_DEBIAN_MIRROR overrides
# the default deb.debian.org + updates + security).
debian_mirror() {
	[[ -n ${LABSBX_DEBIAN_MIRROR:-} ]] && printf '%s\n' "$LABSBX_DEBIAN_MIRROR"
	return 0
}

# busybox_bin sets BUSYBOX to Debian's static busybox, extracted from its package once.
busybox_bin() {
	BUSYBOX=$CACHE/debian/busybox-static
	[[ -x $BUSYBOX ]] && return 0
	local tmp
	mkdir -p "$CACHE/debian"
	tmp=$(mktemp -d "$CACHE/debian/.busybox.XXXXXX")
	CLEANUP+=("$tmp")
	(cd "$tmp" && apt-get download busybox-static >/dev/null 2>&1) || {
		[[ $(id -u) == 0 ]] && apt-get update -qq && (cd "$tmp" && apt-get download busybox-static >/dev/null)
	} || die "apt-get download busybox-static failed"
	dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/x"
	install -m 0755 "$tmp/x/bin/busybox" "$BUSYBOX"
	log "busybox: $("$BUSYBOX" | head -n 1)"
}

# with_busybox ROOT: busybox and a link per applet in ROOT/bin (a shell, cp, sed, rm, ...).
with_busybox() {
	local root=$1 a
	mkdir -p "$root/bin"
	cp "$BUSYBOX" "$root/bin/busybox"
	for a in $("$BUSYBOX" --list); do
		[[ -e $root/bin/$a ]] || ln -s busybox "$root/bin/$a"
	done
}

# UPSTREAM holds the upstream archives that are neither Go modules the proxy serves nor
# Debian packages: ../shared/upstream beside the clone, or LABSBX_UPSTREAM_DIR.
UPSTREAM=${LABSBX_UPSTREAM_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/shared/upstream}

# upstream_file NAME WHAT: the path of the upstream archive NAME, from UPSTREAM, kept in
# the cache as well (outside the clone), so that a clone elsewhere, where
# ../shared/upstream does not resolve, still finds what an earlier build used.
upstream_file() {
	local name=$1 what=$2 kept=$CACHE/upstream/$1
	if [[ -r $UPSTREAM/$name ]]; then
		if ! cmp -s "$UPSTREAM/$name" "$kept"; then
			mkdir -p "$CACHE/upstream"
			cp "$UPSTREAM/$name" "$kept.tmp" && mv -f "$kept.tmp" "$kept"
		fi
		printf '%s\n' "$UPSTREAM/$name"
	elif [[ -r $kept ]]; then
		printf '%s\n' "$kept"
	else
		die "$UPSTREAM/$name missing: $what (see ../shared/upstream/README.md; LABSBX_UPSTREAM_DIR names another dir)"
	fi
}
