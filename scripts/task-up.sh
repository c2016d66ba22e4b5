#!/usr/bin/env bash
# `go tool task up`: labsbx up on the embedded default config.
#
# The default config names the upstream images hashicorp/vault and postgres. A machine
# that has them, or can pull them, uses them. On one that can do neither (no registry
# reachable), this uses the images the test toolchain builds from the Go module proxy
# and Debian's packages instead, labsbx.local/vault and labsbx.local/postgres, building
# them the first time: the Vault build takes several minutes once, then is cached by
# version. LABSBX_VAULT_IMAGE / LABSBX_POSTGRES_IMAGE, when set, always win.
#
# Usage: scripts/task-up.sh LABSBX_BINARY [labsbx up flags...]
set -euo pipefail
bin=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'task up: %s\n' "$*" >&2; }

# default_image KEY: the default image of `labsbx version -o json` (vaultImage, ...).
default_image() { "$bin" version -o json | sed -n "s/^ *\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p"; }

have_or_pull() {
	docker image inspect "$1" >/dev/null 2>&1 && return 0
	log "pulling $1 ..."
	docker pull --quiet "$1" >/dev/null 2>&1
}

if [[ -z ${LABSBX_VAULT_IMAGE:-} && -z ${LABSBX_POSTGRES_IMAGE:-} ]] && command -v docker >/dev/null; then
	vault=$(default_image vaultImage)
	pg=$(default_image postgresImage)
	if ! have_or_pull "$vault" || ! have_or_pull "$pg"; then
		log "$vault and $pg can be neither found nor pulled here: using locally built images"
		if ! command -v mmdebstrap >/dev/null; then
			if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
				log "installing mmdebstrap (Debian package) to build the postgres image"
				apt-get update -qq
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap ca-certificates debian-archive-keyring >/dev/null
			else
				log "the postgres image is built with mmdebstrap: sudo apt-get install mmdebstrap, then run this again"
				exit 1
			fi
		fi
		bash "$root/e2e/toolchain/toolchain.sh" images
		while IFS= read -r kv; do export "${kv?}"; done < <(bash "$root/e2e/toolchain/toolchain.sh" image-refs)
		log "using $LABSBX_VAULT_IMAGE and $LABSBX_POSTGRES_IMAGE"
	fi
fi
exec "$bin" up "$@"
