{{/*
Names, labels and the facts every template shares: which roles exist, who may call whom (the contracts'
`mesh_callers`), which backends each role opens (services/switchboard/src/platform.rs), and where files are mounted.
*/}}

{{/* The four roles, in the order the platform starts them. */}}
{{- define "switchboard.roles" -}}
{{- list "audit" "connectors" "orchestrator" "gateway" | toJson -}}
{{- end -}}

{{/*
Who may call each role's mesh port, from the `mesh_callers` of its methods in proto/ (the operator aside, which is
networkPolicy.operatorFrom): audit takes AppendEvents from the gateway, the orchestrator and connectors; connectors
take the orchestrator's tool calls and the gateway's; the orchestrator only the gateway's.
*/}}
{{- define "switchboard.callers" -}}
{{- dict "audit" (list "gateway" "orchestrator" "connectors") "connectors" (list "gateway" "orchestrator") "orchestrator" (list "gateway") "gateway" (list) | toJson -}}
{{- end -}}

{{/*
What each role opens besides the database, from Platform::start: the gateway keeps sessions and limits in Redis,
relays the outbox to the bus and signs tokens; connectors cache in Redis, publish events and hold the vault's KEK;
audit consumes the bus and signs checkpoints; the orchestrator holds vectors (Qdrant) and calls model providers.
*/}}
{{- define "switchboard.uses" -}}
{{- $uses := dict
  "gateway" (dict "redis" true "bus" true "providers" false "qdrant" false)
  "connectors" (dict "redis" true "bus" true "providers" true "qdrant" false)
  "audit" (dict "redis" false "bus" true "providers" false "qdrant" false)
  "orchestrator" (dict "redis" false "bus" false "providers" true "qdrant" true) -}}
{{- $uses | toJson -}}
{{- end -}}

{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchboard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every resource; `component` names the role (or "migrate", "mesh-ca"...). */}}
{{- define "switchboard.labels" -}}
{{- $root := .root -}}
helm.sh/chart: {{ include "switchboard.chart" $root }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: switchboard
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* `<fullname>-<role>`: the Deployment, Service, ConfigMap and Certificate of a role. */}}
{{- define "switchboard.componentName" -}}
{{- printf "%s-%s" (include "switchboard.fullname" .root) .component -}}
{{- end -}}

{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The mesh port of a role. */}}
{{- define "switchboard.port" -}}
{{- if eq .component "gateway" -}}{{ .root.Values.ports.public }}{{- else -}}{{ get .root.Values.ports .component }}{{- end -}}
{{- end -}}

{{/* Where the other services dial a role: its Service's cluster DNS name and port. */}}
{{- define "switchboard.address" -}}
{{- printf "%s.%s.svc.%s:%s" (include "switchboard.componentName" .) .root.Release.Namespace .root.Values.clusterDomain (include "switchboard.port" .) -}}
{{- end -}}

{{/* Secret names. */}}
{{- define "switchboard.databaseSecret" -}}
{{- default (printf "%s-database" (include "switchboard.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}
{{- define "switchboard.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}DATABASE_URL{{ end -}}
{{- end -}}
{{- define "switchboard.settingsSecret" -}}
{{- printf "%s-secrets" (include "switchboard.fullname" .) -}}
{{- end -}}
{{- define "switchboard.keysSecret" -}}
{{- printf "%s-keys" (include "switchboard.fullname" .) -}}
{{- end -}}
{{- define "switchboard.jwtSecret" -}}
{{- default (printf "%s-jwt" (include "switchboard.fullname" .)) .Values.keys.jwt.existingSecret -}}
{{- end -}}
{{- define "switchboard.tlsSecret" -}}
{{- if .root.Values.mtls.certManager.enabled -}}
{{- printf "%s-tls" (include "switchboard.componentName" .) -}}
{{- else -}}
{{- get .root.Values.mtls.existingSecrets .component -}}
{{- end -}}
{{- end -}}

{{/* Whether a backend is configured. */}}
{{- define "switchboard.hasRedis" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret }}true{{ end -}}
{{- end -}}
{{- define "switchboard.hasQdrant" -}}
{{- if or .Values.qdrant.url .Values.qdrant.existingSecret }}true{{ end -}}
{{- end -}}
{{- define "switchboard.hasKafka" -}}
{{- if .Values.kafka.brokers }}true{{ end -}}
{{- end -}}

{{/* Whether any key must be generated by the chart (no existingSecret for it). */}}
{{- define "switchboard.generatesKeys" -}}
{{- $k := .Values.keys -}}
{{- if and $k.generate (or (not $k.auditCheckpoint.existingSecret) (not $k.events.existingSecret) (not $k.kek.existingSecret)) }}true{{ end -}}
{{- end -}}

{{/* The public URL providers call: the value, else https://<first ingress host>. */}}
{{- define "switchboard.publicUrl" -}}
{{- if .Values.connectors.publicUrl -}}
{{- .Values.connectors.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- printf "https://%s" (first .Values.ingress.hosts) -}}
{{- end -}}
{{- end -}}

{{/* Mount points inside the containers. */}}
{{- define "switchboard.paths" -}}
{{- dict
  "data" "/var/lib/switchboard"
  "dataDir" "/var/lib/switchboard/data"
  "tls" "/etc/switchboard/tls"
  "trust" "/etc/switchboard/trust"
  "jwt" "/etc/switchboard/jwt"
  "publicTls" "/etc/switchboard/public-tls"
  "events" "/etc/switchboard/events"
  "kek" "/etc/switchboard/kek"
  "auditKey" "/etc/switchboard/audit-key"
  "redisCa" "/etc/switchboard/redis-ca"
  "kafkaCa" "/etc/switchboard/kafka-ca"
  "kafkaClient" "/etc/switchboard/kafka-client"
  | toJson -}}
{{- end -}}

{{/* The hardened container securityContext every container gets. */}}
{{- define "switchboard.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "switchboard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* One egress rule from a networkPolicy.egress entry ({to, ports}); an empty `to` allows any address. */}}
{{- define "switchboard.egressRule" -}}
- ports:
    {{- toYaml .ports | nindent 4 }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
