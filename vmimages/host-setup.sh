#!/usr/bin/env bash
# host-setup.sh makes sure this Linux host can run arm64 binaries under qemu-user,
# which a local VM image build needs (mmdebstrap runs the arm64 packages' scripts):
# the binfmt_misc file system is mounted and the qemu-aarch64 handler is enabled.
# Containers and minimal hosts often have neither, even with qemu-user-static and
# binfmt-support installed. Idempotent; it changes nothing on arm64 or macOS.
set -euo pipefail
log() { printf 'vmimages/host-setup: %s\n' "$*" >&2; }

[[ $(uname -s) == Linux ]] || exit 0
case $(uname -m) in aarch64 | arm64) exit 0 ;; esac

handler=/proc/sys/fs/binfmt_misc/qemu-aarch64
if [[ -r $handler ]] && head -n1 "$handler" | grep -qx enabled; then
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	log "no qemu-aarch64 binfmt handler; as root run: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-aarch64"
	exit 1
fi
if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
	log "mounting binfmt_misc"
	mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
command -v update-binfmts >/dev/null || { log "update-binfmts missing: apt-get install binfmt-support qemu-user-static"; exit 1; }
log "enabling the qemu-aarch64 binfmt handler"
update-binfmts --enable qemu-aarch64 2>/dev/null || update-binfmts --import qemu-aarch64
head -n1 "$handler" | grep -qx enabled || { log "qemu-aarch64 handler still not enabled"; exit 1; }
