#!/usr/bin/env bash
# setup.sh makes this machine ready for the README's commands: the Debian packages the
# test tiers and the local image builds use, and a running Docker engine.
#
#   - As root with apt-get, it installs what is missing (and starts dockerd if no
#     engine answers, installing docker.io if there is none).
#   - Otherwise it prints the exact command to run. With CI=true that is an error, since
#     every tier must run in CI; elsewhere the tiers that need the missing pieces skip,
#     each with one line.
#
# Idempotent: on a ready machine it checks and prints nothing.
set -euo pipefail
log() { printf 'setup: %s\n' "$*" >&2; }
ci=false
case "${CI:-}" in 1 | true | TRUE | True) ci=true ;; esac

# What each piece is for: the Postgres test image (mmdebstrap, keyrings, CA bundle), the
# arm64 VM tier (qemu, binfmt, e2fsprogs, ssh, ansible), cloning (git), the example
# drill files' runbooks (curl, jq, psql from postgresql-client), and the full profile's
# tier (gcc for k3s's cgo build; iproute2 and util-linux for its private engine's
# network namespace).
pkgs=(mmdebstrap ca-certificates debian-archive-keyring git qemu-system-arm qemu-efi-aarch64
	qemu-user-static binfmt-support qemu-utils e2fsprogs openssh-client ansible-core
	curl jq postgresql-client gcc iproute2 util-linux)

missing=()
if command -v dpkg-query >/dev/null; then
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
fi
root=false
[[ $(id -u) == 0 ]] && command -v apt-get >/dev/null && root=true

fail=false
if ((${#missing[@]})); then
	if $root; then
		log "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		log "missing Debian packages; run: sudo apt-get install ${missing[*]}"
		$ci && fail=true
	fi
fi

if ! docker info >/dev/null 2>&1; then
	if $root; then
		if ! command -v dockerd >/dev/null; then
			log "installing docker.io"
			apt-get update -qq
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
		fi
		log "starting dockerd (log: /tmp/dockerd.log)"
		(dockerd >/tmp/dockerd.log 2>&1 &)
		for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
		docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/dockerd.log"; exit 1; }
	else
		log "no Docker engine answers; start one (sudo systemctl start docker), or run this as root to have it started"
		$ci && fail=true
	fi
fi

if $fail; then
	log "CI=true: every tier must run here, so the missing pieces are an error"
	exit 1
fi
