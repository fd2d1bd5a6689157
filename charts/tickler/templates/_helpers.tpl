{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "tickler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "tickler.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tickler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tickler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tickler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The migration Job's pods: not the app's selector, so neither the Service nor the PDB
picks them up; the Job's NetworkPolicy selects them by these. */}}
{{- define "tickler.migrationSelectorLabels" -}}
app.kubernetes.io/name: {{ include "tickler.name" . }}-migrate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: migrations
{{- end }}

{{- define "tickler.labels" -}}
helm.sh/chart: {{ include "tickler.chart" . }}
{{ include "tickler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tickler
{{- end }}

{{- define "tickler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tickler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tickler.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secrets holding the sidecar-app channel's tokens (key `token`): named in values,
or created by the chart (templates/api-tokens.yaml). */}}
{{- define "tickler.appTokenSecret" -}}
{{- .Values.appToken.secretName | default (printf "%s-app-token" (include "tickler.fullname" .)) }}
{{- end }}

{{- define "tickler.daprApiTokenSecret" -}}
{{- .Values.daprApiToken.secretName | default (printf "%s-dapr-api-token" (include "tickler.fullname" .)) }}
{{- end }}

{{/* Env of the app and the migration Job: production mode, secrets by reference. Production
settings refuse to load without APP_API_TOKEN, so the Job gets it too. */}}
{{- define "tickler.env" -}}
- name: TICKLER_ENV
  value: production
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgres.secretName }}
      key: {{ .Values.postgres.urlKey }}
{{- if and (not .Values.jwt.secretName) (not .Values.oidc.jwksUrl) }}
{{- fail "set oidc.jwksUrl (with issuer and audience) or jwt.secretName: tokens need a verifier" }}
{{- end }}
{{- if .Values.jwt.secretName }}
- name: TICKLER_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.jwt.secretName }}
      key: {{ .Values.jwt.secretKey }}
{{- end }}
{{- with .Values.oidc }}
{{- if .jwksUrl }}
- name: TICKLER_OIDC_JWKS_URL
  value: {{ .jwksUrl | quote }}
- name: TICKLER_OIDC_ISSUER
  value: {{ required "oidc.issuer is required with oidc.jwksUrl" .issuer | quote }}
- name: TICKLER_OIDC_AUDIENCE
  value: {{ required "oidc.audience is required with oidc.jwksUrl" .audience | quote }}
- name: TICKLER_OIDC_USER_CLAIM
  value: {{ .userClaim | quote }}
{{- end }}
{{- end }}
{{- if .Values.publicUrl }}
- name: TICKLER_PUBLIC_URL
  value: {{ .Values.publicUrl | quote }}
{{- end }}
- name: TICKLER_RATE_LIMIT_PER_S
  value: {{ .Values.rateLimit.perSecond | quote }}
- name: TICKLER_RATE_LIMIT_BURST
  value: {{ .Values.rateLimit.burst | quote }}
- name: APP_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "tickler.appTokenSecret" . }}
      key: token
# The root filesystem is read-only: no bytecode caches.
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: PYTHONUNBUFFERED
  value: "1"
- name: TICKLER_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- include "tickler.postgresTLSEnv" . }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* Dapr resources load only into the sidecars of this app id. */}}
{{- define "tickler.daprScopes" -}}
scopes:
  - {{ .Values.dapr.appId }}
{{- end }}

{{/* The app's OpenTelemetry SDK settings: each variable only when its value is set, the
service name with the endpoint (the release's full name unless named). */}}
{{- define "tickler.otelEnv" -}}
{{- with .Values.otel }}
{{- with .endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ $.Values.otel.serviceName | default (include "tickler.fullname" $) | quote }}
{{- end }}
{{- with .protocol }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- with .sampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- with .samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | toString | quote }}
{{- end }}
{{- with .resourceAttributes }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ include "tickler.keyValues" . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* A map as k=v pairs joined by commas, in key order (OTEL_RESOURCE_ATTRIBUTES' form). */}}
{{- define "tickler.keyValues" -}}
{{- $pairs := list }}
{{- range $key := keys . | sortAlpha }}
{{- $pairs = append $pairs (printf "%s=%s" $key (index $ $key | toString)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* PostgreSQL TLS as libpq's variables, which asyncpg, psycopg and pgx all read. */}}
{{- define "tickler.postgresCAPath" -}}/mnt/postgres-ca{{- end }}

{{- define "tickler.postgresTLSEnv" -}}
{{- with .Values.postgres.sslMode }}
- name: PGSSLMODE
  value: {{ . | quote }}
{{- end }}
{{- if .Values.postgres.caCert.secretName }}
- name: PGSSLROOTCERT
  value: {{ include "tickler.postgresCAPath" . }}/ca.crt
{{- end }}
{{- end }}

{{/* The CA bundle's volume and its mount, the same in every container that connects. */}}
{{- define "tickler.postgresCAVolume" -}}
{{- with .Values.postgres.caCert }}
{{- if .secretName }}
- name: postgres-ca
  secret:
    secretName: {{ .secretName }}
    items:
      - key: {{ .key }}
        path: ca.crt
{{- end }}
{{- end }}
{{- end }}

{{- define "tickler.postgresCAMount" -}}
{{- if .Values.postgres.caCert.secretName }}
- name: postgres-ca
  mountPath: {{ include "tickler.postgresCAPath" . }}
  readOnly: true
{{- end }}
{{- end }}
