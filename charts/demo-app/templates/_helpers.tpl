{{/* The app slug, checked: it must be a valid slug and the release's namespace,
because the Vault role <app> is bound to ServiceAccount <app> in namespace <app>. */}}
{{- define "demo-app.app" -}}
{{- $app := required "app: set the app slug" .Values.app -}}
{{- if not (regexMatch "^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$" $app) -}}
{{- fail (printf "app: %q is not a valid app slug" $app) -}}
{{- end -}}
{{- if ne .Release.Namespace $app -}}
{{- fail (printf "install app %q in namespace %q, not %q: Vault's role %s is bound to that namespace" $app $app .Release.Namespace $app) -}}
{{- end -}}
{{- $app -}}
{{- end -}}

{{- define "demo-app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "demo-app.app" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "demo-app.labels" -}}
{{ include "demo-app.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: labsbx
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* Names of the Secrets VSO writes. */}}
{{- define "demo-app.dbSecret" -}}{{ include "demo-app.app" . }}-db{{- end -}}
{{- define "demo-app.configSecret" -}}{{ include "demo-app.app" . }}-config{{- end -}}
