#!/bin/sh
# Ping every VM of the sandbox with Ansible, up to $1 tries a second apart, over the
# inventory `labsbx vm inventory` writes. Exit 0 once every host answers (and there is
# at least one: Ansible itself exits 0 on an empty inventory).
set -eu
tries=${1:-1}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$LABSBX" vm inventory --name "$LABSBX_NAME" >"$dir/inventory.yaml"
i=0
while :; do
	if out=$(ansible all -i "$dir/inventory.yaml" -m ansible.builtin.ping -o -T 5 2>&1) &&
		printf '%s\n' "$out" | grep -q ' | SUCCESS ' &&
		! printf '%s\n' "$out" | grep -qE ' \| (UNREACHABLE|FAILED)'; then
		printf '%s\n' "$out"
		exit 0
	fi
	i=$((i + 1))
	if [ "$i" -ge "$tries" ]; then
		printf '%s\n' "$out" >&2
		exit 1
	fi
	sleep 1
done
