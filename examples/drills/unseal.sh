#!/bin/sh
# Unseal Vault with the first key of a cluster-keys file (unseal_keys_b64), then wait
# until it is active. The lab runs this against production with KEYS pointing at the
# control node's key file; in a drill, labsbx sets LABSBX_UNSEAL_KEY_FILE to the
# sandbox's copy, in the same shape, and VAULT_ADDR to the sandbox's Vault.
set -eu
KEYS=${LABSBX_UNSEAL_KEY_FILE:?set it to the cluster keys file}

key=$(jq -r '.unseal_keys_b64[0]' "$KEYS")
jq -n --arg key "$key" '{key: $key}' |
	curl -fsS -X PUT --data @- "$VAULT_ADDR/v1/sys/unseal" | jq -c '{sealed, progress}'

i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$VAULT_ADDR/v1/sys/health")" = 200 ]; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "Vault did not become active" >&2; exit 1; }
	sleep 0.1
done
echo "Vault is unsealed and active"
