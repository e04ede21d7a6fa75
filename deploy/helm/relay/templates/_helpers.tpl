{{- define "relay.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "relay.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "relay.labels" -}}
{{ include "relay.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The container's securityContext: distroless nonroot, nothing to write, no privileges. */}}
{{- define "relay.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Env both roles share: NATS, PostgreSQL, metrics, shutdown, admin token. */}}
{{- define "relay.commonEnv" -}}
- name: RELAY_NATS_URL
{{- if .Values.nats.urlSecret.name }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.urlSecret.name }}
      key: {{ .Values.nats.urlSecret.key | default "RELAY_NATS_URL" }}
{{- else }}
  value: {{ required "nats.url: relay needs an existing NATS with JetStream" .Values.nats.url | quote }}
{{- end }}
- name: RELAY_STREAM_REPLICAS
  value: {{ .Values.streamReplicas | quote }}
- name: RELAY_METRICS_ADDR
  value: {{ printf "0.0.0.0:%v" .Values.ports.metrics | quote }}
- name: RELAY_SHUTDOWN_TIMEOUT
  value: {{ printf "%vs" .Values.shutdownTimeoutSeconds | quote }}
- name: RELAY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "existingSecret: the Secret with RELAY_DATABASE_URL and RELAY_API_KEYS" .Values.existingSecret }}
      key: {{ .Values.secretKeys.databaseUrl }}
- name: RELAY_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret }}
      key: {{ .Values.secretKeys.adminToken }}
      optional: true
{{- range $k, $v := .Values.env }}
{{- if regexMatch "SECRET|PASSWORD|TOKEN|API_KEY|DATABASE_URL|NATS_URL" $k }}
{{- fail (printf "env.%s looks like a credential: give it through secretEnv or vendorSecrets, not in the clear" $k) }}
{{- end }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- range .Values.secretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- end -}}

{{- define "relay.terminationGrace" -}}
{{ add (int .Values.shutdownTimeoutSeconds) (int .Values.terminationGraceExtraSeconds) }}
{{- end -}}
