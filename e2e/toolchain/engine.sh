#!/usr/bin/env bash
# engine.sh runs a command against a private Docker engine that it starts for that
# command only, and stops afterwards, whatever the command's outcome.
#
# Usage: engine.sh run -- COMMAND [ARGS...]
#
# Why: k3d makes every node a privileged container, and this machine's own engine
# refuses privileged containers (its capability bounding set lacks CAP_SYS_RESOURCE:
# "unable to apply caps"). The private engine is Debian's dockerd, started a second time:
#   - in a network namespace of its own (ip netns add; entered with nsenter --net, since
#     `ip netns exec` remounts /sys and runc then finds no cgroup mount), so that
#     nothing it publishes is reachable from outside, and it reaches nothing outside;
#   - with its own data root, exec root (and so its own containerd), pid file and
#     socket, in a fresh temp dir: the host's engine is never touched;
#   - with overlay2, cgroupfs, and as default runtime full/runcwrap, which takes
#     CAP_SYS_RESOURCE out of each spec that runc applies (see its doc comment).
#
# COMMAND runs inside that namespace with DOCKER_HOST=unix://<dir>/docker.sock and
# LABSBX_PRIVATE_ENGINE=<dir>; its exit status is engine.sh's. The engine reports the
# host engine's ID (the trust key is shared), so the engine's identity is its socket and
# data root, not its ID: a test checks DOCKER_HOST and `docker info`'s DockerRootDir.
#
# Needs root, dockerd, containerd, runc (Debian's docker.io), iproute2 and util-linux.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_PREFIX=engine
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[[ ${1:-} == run && ${2:-} == -- && $# -ge 3 ]] || {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}
shift 2

[[ $(id -u) == 0 ]] || die "the private engine needs root (a network namespace and a dockerd of its own)"
for c in dockerd containerd runc ip nsenter mountpoint; do
	command -v "$c" >/dev/null || die "$c not found: apt-get install docker.io iproute2 util-linux"
done

DIR=$(mktemp -d /tmp/labsbx-engine.XXXXXX) # short: a unix socket path has 108 bytes
NS=labsbx-engine-$$
PIDFILE=$DIR/docker.pid
SOCK=$DIR/docker.sock
CGROUP=/labsbx-engine-$$

# stop_engine stops dockerd by its PID (its containerd and the containers go with it),
# then removes every mount left under DIR, the namespace and DIR.
stop_engine() {
	local pid i
	pid=$(cat "$PIDFILE" 2>/dev/null || true)
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		log "stopping the private engine (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# A killed dockerd can leave its containerd and shims: they run under DIR.
	pkill -KILL -f "$DIR/" 2>/dev/null || true
	sleep 0.2
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
	ip netns del "$NS" 2>/dev/null || true
	rm -rf -- "$DIR"
	# Empty cgroups the engine made (cgroup v1: one tree per controller).
	local cg
	for cg in /sys/fs/cgroup/*"$CGROUP"; do
		[[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	return 0
}
trap 'stop_engine; cleanup' EXIT
trap 'exit 130' INT TERM

log "building the runtime wrapper ..."
(cd "$HERE/full" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 go build -o "$DIR/runcwrap" ./runcwrap)

nofile=$(ulimit -Hn)
cat >"$DIR/daemon.json" <<EOF
{
  "data-root": "$DIR/data",
  "exec-root": "$DIR/exec",
  "pidfile": "$PIDFILE",
  "hosts": ["unix://$SOCK"],
  "storage-driver": "overlay2",
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "cgroup-parent": "$CGROUP",
  "runtimes": {"labsbx-runc": {"path": "$DIR/runcwrap"}},
  "default-runtime": "labsbx-runc",
  "default-ulimits": {"nofile": {"Name": "nofile", "Hard": $nofile, "Soft": $nofile}},
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "2"}
}
EOF

ip netns add "$NS"
nsenter --net="/run/netns/$NS" ip link set lo up
log "starting dockerd in network namespace $NS (dir $DIR)"
nsenter --net="/run/netns/$NS" dockerd --config-file "$DIR/daemon.json" >"$DIR/dockerd.log" 2>&1 &
for i in $(seq 1 120); do
	DOCKER_HOST=unix://$SOCK docker version >/dev/null 2>&1 && break
	if ! kill -0 $! 2>/dev/null; then
		tail -n 30 "$DIR/dockerd.log" >&2
		die "dockerd exited at start (log above)"
	fi
	sleep 0.25
done
DOCKER_HOST=unix://$SOCK docker version >/dev/null 2>&1 || {
	tail -n 30 "$DIR/dockerd.log" >&2
	die "dockerd did not answer within 30 s"
}
root=$(DOCKER_HOST=unix://$SOCK docker info --format '{{.DockerRootDir}}')
[[ $root == "$DIR/data" ]] || die "the engine on $SOCK reports data root $root, not $DIR/data"
log "private engine ready in $(($(now) - ${START:-$(now)}))s: DOCKER_HOST=unix://$SOCK"

set +e
nsenter --net="/run/netns/$NS" env DOCKER_HOST="unix://$SOCK" LABSBX_PRIVATE_ENGINE="$DIR" "$@"
rc=$?
set -e
if ((rc != 0)); then
	log "the command exited $rc; the engine's log ends with:"
	tail -n 20 "$DIR/dockerd.log" >&2 || true
fi
exit "$rc"
