#!/bin/bash
# Entrypoint of labsbx.local/postgres: the subset of the official postgres image's
# behaviour that labsbx and its tests rely on.
#   POSTGRES_USER      superuser created by initdb (default postgres)
#   POSTGRES_PASSWORD  its password (required unless POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_DB        database created on first start (default: POSTGRES_USER)
#   POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256)
#   PGDATA             data dir (default /var/lib/postgresql/data)
# First start with an empty PGDATA: initdb, listen on '*', host connections from
# anywhere with POSTGRES_HOST_AUTH_METHOD, create the database, run
# /docker-entrypoint-initdb.d/*.sh|*.sql, then exec postgres in the foreground as
# user postgres. Later starts (restart, named volume) just exec postgres.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2; }

# "docker run IMAGE -c foo=bar" means "postgres -c foo=bar".
if [[ ${1:-} == -* ]]; then
	set -- postgres "$@"
fi

if [[ ${1:-} != postgres ]]; then
	exec "$@"
fi

# As root: make the data and socket dirs ours, then re-exec as postgres.
if [[ $(id -u) == 0 ]]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 00700 "$PGDATA" || :
	chmod 03775 /var/run/postgresql
	chown -R postgres:postgres /var/run/postgresql
	# Only chown a data dir that is not already postgres' (a big restored volume stays untouched).
	if [[ $(stat -c %u "$PGDATA") != $(id -u postgres) ]]; then
		chown -R postgres:postgres "$PGDATA"
	fi
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
	: "${POSTGRES_INITDB_ARGS:=}"
	if [[ -z ${POSTGRES_PASSWORD:-} && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
		log 'error: database is uninitialized and POSTGRES_PASSWORD is not set (set it, or POSTGRES_HOST_AUTH_METHOD=trust)'
		exit 1
	fi

	log "initializing database in $PGDATA"
	pwfile=$(mktemp)
	trap 'rm -f "$pwfile"' EXIT
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	pwarg=()
	[[ -n ${POSTGRES_PASSWORD:-} ]] && pwarg=(--pwfile="$pwfile")
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list by contract
	initdb --username="$POSTGRES_USER" "${pwarg[@]+"${pwarg[@]}"}" \
		--auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" \
		--encoding=UTF8 --locale=C.UTF-8 $POSTGRES_INITDB_ARGS >/dev/null
	rm -f "$pwfile"
	trap - EXIT

	{
		echo
		echo "# added by the labsbx entrypoint"
		echo "listen_addresses = '*'"
		if [[ $POSTGRES_HOST_AUTH_METHOD == scram-sha-256 ]]; then
			echo "password_encryption = 'scram-sha-256'"
		fi
	} >>"$PGDATA/postgresql.conf"
	printf '\n# added by the labsbx entrypoint\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

	# A temporary server on the unix socket only, so nothing outside sees it before it is ready.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >&2
	psql_setup=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --no-password --dbname postgres)
	if [[ $POSTGRES_DB != postgres ]]; then
		exists=$("${psql_setup[@]}" -tA --set db="$POSTGRES_DB" <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
		if [[ -z $exists ]]; then
			"${psql_setup[@]}" --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
		fi
	fi
	shopt -s nullglob
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sh)
			log "running $f"
			# shellcheck disable=SC1090 # init scripts are the user's
			. "$f"
			;;
		*.sql) log "running $f"; "${psql_setup[@]}" --dbname "$POSTGRES_DB" -f "$f" >/dev/null ;;
		*) log "ignoring $f" ;;
		esac
	done
	shopt -u nullglob
	pg_ctl -D "$PGDATA" -m fast -w stop >&2
	log 'database initialized; starting postgres'
else
	log "database in $PGDATA already initialized; starting postgres"
fi

unset POSTGRES_PASSWORD
exec "$@"
