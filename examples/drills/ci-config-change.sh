#!/bin/sh
# The change webapp's CI job makes, as the lab's provisioning does it: run it under
# `labsbx ci exec <app> -- ./ci-config-change.sh <app> apply|rollback`, which hands it
# VAULT_ADDR and the job's token only (jwt/ role gitea_cicd_<app>, policy <app>-ops).
# That policy writes kvv2/<app>/* and nothing else: no policy, no other app's path.
#   apply     a new version of kvv2/<app>/config with feature_rollout=canary
#   rollback  a new version without feature_rollout (KV v2 keeps the history)
# Both are idempotent: run twice, they leave the same latest version's data.
set -eu
app=${1:?usage: ci-config-change.sh APP apply|rollback}
action=${2:?usage: ci-config-change.sh APP apply|rollback}
url="$VAULT_ADDR/v1/kvv2/data/$app/config"
current=$(curl -fsS -H "X-Vault-Token: $VAULT_TOKEN" "$url" | jq -c '.data.data')
case $action in
apply) next=$(printf '%s' "$current" | jq -c '{data: (. + {feature_rollout: "canary"})}') ;;
rollback) next=$(printf '%s' "$current" | jq -c '{data: del(.feature_rollout)}') ;;
*)
	echo "unknown action $action" >&2
	exit 2
	;;
esac
printf '%s' "$next" | curl -fsS -H "X-Vault-Token: $VAULT_TOKEN" -X POST --data-binary @- "$url" |
	jq -r '"kvv2/'"$app"'/config is now at version \(.data.version)"'
