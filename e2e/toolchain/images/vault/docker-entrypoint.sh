#!/bin/sh
# The entrypoint the upstream Vault chart calls (/usr/local/bin/docker-entrypoint.sh
# vault server -config=…), as in HashiCorp's image, less what this image does not
# need: the chart runs it as the vault user already, and there is no mlock to grant
# (SKIP_SETCAP). An option or a Vault subcommand as the first argument runs vault.
set -e
case "${1:-}" in
-*) set -- vault "$@" ;;
server | status | operator | read | write | list | login | token | version) set -- vault "$@" ;;
esac
exec "$@"
