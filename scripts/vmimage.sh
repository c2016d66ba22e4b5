#!/usr/bin/env bash
# vmimage.sh builds the default arm64 VM image into the cache when it is missing, for the
# VM test tier. Where the host cannot build it (no qemu-user binfmt handler, not root),
# it says so in one line and, outside CI, lets the tier skip.
#
# Usage: scripts/vmimage.sh LABSBX_BINARY
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/.." && pwd)
case "${CI:-}" in 1 | true | TRUE | True) ci=true ;; *) ci=false ;; esac
if ! bash "$root/vmimages/host-setup.sh"; then
	$ci && exit 1
	printf 'vmimage: this host cannot build the arm64 VM image (see above); the VM tier skips\n' >&2
	exit 0
fi
exec "$bin" vm image build debian-12-arm64
