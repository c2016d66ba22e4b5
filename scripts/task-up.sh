#!/usr/bin/env bash
# `go tool task up`: labsbx up on the embedded default config.
#
# The default config names the upstream images hashicorp/vault and postgres. A machine
# that has them uses them. Else, if the images the test toolchain builds from the Go
# module proxy and Debian's packages (labsbx.local/vault, labsbx.local/postgres) are
# here, those are used with no registry attempt. Else the upstream ones are pulled, and
# where no registry answers the local ones are built: the Vault build takes several
# minutes once, then is cached by version. LABSBX_VAULT_IMAGE / LABSBX_POSTGRES_IMAGE,
# when set, always win. `up` says which images it used.
#
# Usage: scripts/task-up.sh LABSBX_BINARY [labsbx up flags...]
set -euo pipefail
bin=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'task up: %s\n' "$*" >&2; }

# default_image KEY: the default image of `labsbx version -o json` (vaultImage, ...).
default_image() { "$bin" version -o json | sed -n "s/^ *\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p"; }

have() { docker image inspect "$1" >/dev/null 2>&1; }

use_local() {
	while IFS= read -r kv; do export "${kv?}"; done < <(bash "$root/e2e/toolchain/toolchain.sh" image-refs)
}

if [[ -z ${LABSBX_VAULT_IMAGE:-} && -z ${LABSBX_POSTGRES_IMAGE:-} ]] && command -v docker >/dev/null; then
	vault=$(default_image vaultImage)
	pg=$(default_image postgresImage)
	use_local
	local_vault=$LABSBX_VAULT_IMAGE local_pg=$LABSBX_POSTGRES_IMAGE
	unset LABSBX_VAULT_IMAGE LABSBX_POSTGRES_IMAGE
	if have "$vault" && have "$pg"; then
		: # the default images are here: nothing to decide
	elif have "$local_vault" && have "$local_pg"; then
		# Built here before: no registry attempt.
		export LABSBX_VAULT_IMAGE=$local_vault LABSBX_POSTGRES_IMAGE=$local_pg
	elif ! { log "pulling $vault and $pg ..." && docker pull --quiet "$vault" >/dev/null 2>&1 && docker pull --quiet "$pg" >/dev/null 2>&1; }; then
		log "$vault and $pg can be neither found nor pulled here: building local images"
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
		export LABSBX_VAULT_IMAGE=$local_vault LABSBX_POSTGRES_IMAGE=$local_pg
	fi
fi
exec "$bin" up "$@"
