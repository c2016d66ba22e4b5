{{/* The name of every object of the release. */}}
{{- define "postgres.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "postgres.selectorLabels" -}}
app.kubernetes.io/name: postgres
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "postgres.labels" -}}
{{ include "postgres.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: labsbx
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* The Secret that holds both passwords. */}}
{{- define "postgres.secretName" -}}
{{- default (include "postgres.fullname" .) .Values.auth.existingSecret -}}
{{- end -}}

{{/* Refuse app slugs that are not safe as identifiers (labsbx validates them too). */}}
{{- define "postgres.validate" -}}
{{- if not .Values.apps -}}
{{- fail "apps: list at least one app slug" -}}
{{- end -}}
{{- range .Values.apps -}}
{{- if not (regexMatch "^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$" .) -}}
{{- fail (printf "apps: %q is not a valid app slug" .) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.auth.existingSecret -}}
{{- if or (not .Values.auth.superuserPassword) (not .Values.auth.vaultAdminPassword) -}}
{{- fail "auth: set existingSecret, or both superuserPassword and vaultAdminPassword" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The roles script: run by initdb on an empty data directory and by the roles Job. */}}
{{- define "postgres.rolesScript" -}}
#!/bin/sh
# labsbx: vault_admin (LOGIN CREATEROLE NOSUPERUSER) for Vault's database engine,
# and per app a NOLOGIN group role <app>_role owning schema <app>, granted to
# vault_admin WITH ADMIN OPTION (mirrors sandbox/postgres). Idempotent.
set -eu
: "${VAULT_ADMIN_PASSWORD:?VAULT_ADMIN_PASSWORD is not set}"
i=0
until pg_isready -q; do
  i=$((i + 1))
  if [ "$i" -ge 120 ]; then echo "postgres is not ready after 120s" >&2; exit 1; fi
  sleep 1
done
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
  --username "${PGUSER:-${POSTGRES_USER:-postgres}}" --dbname postgres \
  --set=vault_admin_password="$VAULT_ADMIN_PASSWORD" <<'SQL'
SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vault_admin')
  THEN format('ALTER ROLE %I WITH LOGIN CREATEROLE NOSUPERUSER PASSWORD %L', 'vault_admin', :'vault_admin_password')
  ELSE format('CREATE ROLE %I WITH LOGIN CREATEROLE NOSUPERUSER PASSWORD %L', 'vault_admin', :'vault_admin_password')
END \gexec
{{- range .Values.apps }}
{{- $role := printf "%s_role" . }}
-- app {{ . }}
SELECT format('CREATE ROLE %I NOLOGIN', '{{ $role }}')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{{ $role }}') \gexec
SELECT format('CREATE SCHEMA %I AUTHORIZATION %I', '{{ . }}', '{{ $role }}')
WHERE NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{{ . }}') \gexec
SELECT format('ALTER SCHEMA %I OWNER TO %I', '{{ . }}', '{{ $role }}')
WHERE EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{{ . }}' AND pg_get_userbyid(nspowner) <> '{{ $role }}') \gexec
SELECT format('GRANT %I TO %I WITH ADMIN OPTION', '{{ $role }}', 'vault_admin')
WHERE NOT EXISTS (SELECT 1 FROM pg_auth_members m
  JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
  WHERE r.rolname = '{{ $role }}' AND u.rolname = 'vault_admin' AND m.admin_option) \gexec
{{- end }}
SQL
{{- end -}}
