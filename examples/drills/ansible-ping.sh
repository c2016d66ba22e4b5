#!/bin/sh
# Ping every VM of the sandbox with Ansible, up to $1 tries a second apart, over the
# inventory `labsbx vm inventory` writes. Exit 0 once all answer.
set -eu
tries=${1:-1}
inv=$(mktemp)
trap 'rm -f "$inv"' EXIT
"$LABSBX" vm inventory --name "$LABSBX_NAME" >"$inv"
i=0
while :; do
	if ANSIBLE_HOST_KEY_CHECKING=True ansible all -i "$inv" -m ansible.builtin.ping -o -T 5 2>&1; then
		exit 0
	fi
	i=$((i + 1))
	[ "$i" -lt "$tries" ] || exit 1
	sleep 1
done
