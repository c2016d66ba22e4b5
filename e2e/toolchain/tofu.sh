#!/usr/bin/env bash
# tofu.sh builds the OpenTofu CI path's client side: the tofu CLI from the Go module
# proxy and the Vault provider from its upstream source archive (../shared/upstream,
# LABSBX_UPSTREAM_DIR), laid out as a provider filesystem mirror so that `tofu init`
# asks no registry. Everything is cached under
#   ${LABSBX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/labsbx}/toolchain
# by version (tofu) and by input hash (the provider), so a warm run only checks files.
#
# Usage: tofu.sh all|tofu|provider|path|mirror
#   tofu      bin/tofu-<v>                               (OpenTofu CLI, static)
#   provider  bin/terraform-provider-vault-<v>-<hash>, copied into the mirror at
#             tofu-mirror/registry.opentofu.org/hashicorp/vault/<v>/<os>_<arch>/
#   all       both
#   path      print the bin dir
#   mirror    print the mirror dir (what a CLI configuration's filesystem_mirror names)
#
# Host needs: go, tar, coreutils. Versions are also pinned in e2e/testenv (a unit test
# there checks both agree).
set -euo pipefail

TOFU_VERSION=1.12.6
VAULT_PROVIDER_VERSION=5.11.0

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_PREFIX=tofu
# shellcheck source=lib.sh
. "$HERE/lib.sh"
TC=$CACHE/toolchain
BIN=$TC/bin
SRC=$TC/src
MIRROR=$TC/tofu-mirror

# OpenTofu's go.mod carries a replace (hcl/v2 => OpenTofu's fork) that only applies when
# building inside the module, so the build runs in a writable copy of it. version.dev=no
# makes it report 1.12.6, not 1.12.6-dev.
build_tofu() {
	local out=$BIN/tofu-$TOFU_VERSION
	if [[ -x $out ]]; then
		log "tofu $TOFU_VERSION: cached ($out)"
		return 0
	fi
	command -v go >/dev/null || die "go not found in PATH"
	local dir=$SRC/opentofu-$TOFU_VERSION tmp t0
	mod_src github.com/opentofu/opentofu "v$TOFU_VERSION" "$dir"
	mkdir -p "$BIN"
	tmp=$(mktemp "$BIN/.tofu-$TOFU_VERSION.XXXXXX")
	CLEANUP+=("$tmp")
	log "tofu $TOFU_VERSION: building ./cmd/tofu (takes minutes on a cold cache) ..."
	t0=$(now)
	(cd "$dir" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
		go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$tmp" ./cmd/tofu)
	chmod 0755 "$tmp"
	mv -f "$tmp" "$out"
	log "tofu $TOFU_VERSION: built in $(($(now) - t0))s ($(du -h "$out" | cut -f1)) -> $out"
}

# The proxy serves the provider's module only at v1.9.0 (its later tags lack a /vN
# suffix), so it is built from the upstream source archive; its dependencies come from
# the proxy. The binary is keyed by the archive's hash, the Go version and this recipe.
build_provider() {
	local tarball hash out platform
	tarball=$(upstream_file "terraform-provider-vault-$VAULT_PROVIDER_VERSION.tar.gz" "the Vault provider's source")
	hash=$(recipe_hash "$(sha256sum <"$tarball")" "$(go env GOVERSION)" "$(declare -f build_provider)")
	out=$BIN/terraform-provider-vault-$VAULT_PROVIDER_VERSION-$hash
	if [[ -x $out ]]; then
		log "vault provider $VAULT_PROVIDER_VERSION: cached ($out)"
	else
		local dir=$SRC/terraform-provider-vault-$VAULT_PROVIDER_VERSION tmp t0
		rm -rf -- "$dir" && mkdir -p "$dir"
		tar -C "$dir" --strip-components=1 -xzf "$tarball"
		# The proxy refuses vault-plugin-auth-oci v0.21.3 ("not available"); v0.21.1, the
		# nearest it serves, builds the provider's OCI login the same way.
		(cd "$dir" && go mod edit -replace github.com/hashicorp/vault-plugin-auth-oci=github.com/hashicorp/vault-plugin-auth-oci@v0.21.1)
		mkdir -p "$BIN"
		tmp=$(mktemp "$BIN/.terraform-provider-vault.XXXXXX")
		CLEANUP+=("$tmp" "$dir")
		log "vault provider $VAULT_PROVIDER_VERSION: building (takes minutes on a cold cache) ..."
		t0=$(now)
		(cd "$dir" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
			go build -trimpath -ldflags "-s -w" -o "$tmp" .)
		chmod 0755 "$tmp"
		mv -f "$tmp" "$out"
		local f
		for f in "$BIN/terraform-provider-vault-$VAULT_PROVIDER_VERSION-"*; do
			[[ $f == "$out" ]] || rm -f -- "$f" # an older recipe's build
		done
		log "vault provider $VAULT_PROVIDER_VERSION: built in $(($(now) - t0))s ($(du -h "$out" | cut -f1)) -> $out"
	fi
	# The mirror's unpacked layout: HOSTNAME/NAMESPACE/TYPE/VERSION/OS_ARCH/ holding the
	# executable. The file is replaced through a rename, so tofu never sees half of it.
	platform=$(go env GOOS)_$(go env GOARCH)
	local pdir=$MIRROR/registry.opentofu.org/hashicorp/vault/$VAULT_PROVIDER_VERSION/$platform
	local exe=$pdir/terraform-provider-vault_v$VAULT_PROVIDER_VERSION
	if ! cmp -s "$out" "$exe"; then
		mkdir -p "$pdir"
		cp "$out" "$exe.tmp"
		mv -f "$exe.tmp" "$exe"
	fi
	log "vault provider $VAULT_PROVIDER_VERSION: mirror $MIRROR"
}

main() {
	local cmd=${1:-} t0
	t0=$(now)
	case $cmd in
	tofu) build_tofu ;;
	provider) build_provider ;;
	all)
		build_tofu
		build_provider
		;;
	path)
		printf '%s\n' "$BIN"
		return 0
		;;
	mirror)
		printf '%s\n' "$MIRROR"
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
