{{/*
What each role's container is given: plain settings (its ConfigMap), secret settings (secretKeyRef only, never a
literal), and the files it mounts. A role gets only what it uses (switchboard.uses), so no pod holds another role's
secrets. Every `SWITCHBOARD_*` name here is one `switchboard serve <role> --help` lists; the chart tests check both
ways.
*/}}

{{/* Plain settings of a role, as a map of environment variable to string value (its ConfigMap's data). */}}
{{- define "switchboard.plainEnv" -}}
{{- $root := .root -}}
{{- $role := .component -}}
{{- $v := $root.Values -}}
{{- $paths := include "switchboard.paths" $root | fromJson -}}
{{- $uses := get (include "switchboard.uses" $root | fromJson) $role -}}
{{- $env := dict -}}
{{- $_ := set $env "SWITCHBOARD_DATA_DIR" $paths.dataDir -}}
{{- $_ := set $env "SWITCHBOARD_LISTEN" (printf "0.0.0.0:%s" (include "switchboard.port" .)) -}}
{{- $_ := set $env "SWITCHBOARD_HEALTH_ADDR" (printf "0.0.0.0:%v" $v.ports.health) -}}
{{- $_ := set $env "SWITCHBOARD_METRICS_ADDR" (ternary (printf "0.0.0.0:%v" $v.ports.metrics) "" (gt (int $v.ports.metrics) 0)) -}}
{{- $_ := set $env "RUST_LOG" $v.logLevel -}}
{{- with $v.tracing.otlpEndpoint }}{{ $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" . }}{{ end -}}
{{- with $v.database.schema }}{{ $_ := set $env "SWITCHBOARD_DATABASE_SCHEMA" . }}{{ end -}}
{{- /* The migration Job migrates; the services then only use the tables (no DDL at every pod start). */ -}}
{{- $_ := set $env "SWITCHBOARD_MIGRATE_ON_START" (ternary "false" "true" $v.migrations.enabled) -}}
{{- /* Mesh certificate files. */ -}}
{{- $_ := set $env "SWITCHBOARD_TLS_CA" (ternary (printf "%s/%s" $paths.trust $v.mtls.trustBundleKey) (printf "%s/ca.crt" $paths.tls) (not (empty $v.mtls.trustBundleConfigMap))) -}}
{{- $_ := set $env "SWITCHBOARD_TLS_CERT" (printf "%s/tls.crt" $paths.tls) -}}
{{- $_ := set $env "SWITCHBOARD_TLS_KEY" (printf "%s/tls.key" $paths.tls) -}}
{{- /* Its own address, and those of the services it calls (cluster DNS names). */ -}}
{{- $callers := include "switchboard.callers" $root | fromJson -}}
{{- $_ := set $env (printf "SWITCHBOARD_%s_ADDR" (upper $role)) (include "switchboard.address" .) -}}
{{- range $callee, $who := $callers -}}
{{- if has $role $who -}}
{{- $_ := set $env (printf "SWITCHBOARD_%s_ADDR" (upper $callee)) (include "switchboard.address" (dict "root" $root "component" $callee)) -}}
{{- end -}}
{{- end -}}
{{- /* The event bus (gateway, connectors, audit). */ -}}
{{- if $uses.bus -}}
{{- $_ := set $env "SWITCHBOARD_EVENT_KEYS_FILE" (printf "%s/events.keys" $paths.events) -}}
{{- $_ := set $env "SWITCHBOARD_EVENT_RETENTION_HOURS" (printf "%d" (int64 $v.events.retentionHours)) -}}
{{- if $v.kafka.brokers -}}
{{- $_ := set $env "KAFKA_BROKERS" $v.kafka.brokers -}}
{{- $_ := set $env "KAFKA_BATCH_MESSAGES" (printf "%d" (int64 $v.kafka.batchMessages)) -}}
{{- if $v.kafka.tls.enabled }}{{ $_ := set $env "KAFKA_TLS" "true" }}{{ end -}}
{{- if $v.kafka.tls.caSecret }}{{ $_ := set $env "KAFKA_TLS_CA_FILE" (printf "%s/ca.crt" $paths.kafkaCa) }}{{ end -}}
{{- if $v.kafka.tls.clientCertSecret -}}
{{- $_ := set $env "KAFKA_TLS_CERT_FILE" (printf "%s/tls.crt" $paths.kafkaClient) -}}
{{- $_ := set $env "KAFKA_TLS_KEY_FILE" (printf "%s/tls.key" $paths.kafkaClient) -}}
{{- end -}}
{{- with $v.kafka.sasl.mechanism }}{{ $_ := set $env "KAFKA_SASL_MECHANISM" . }}{{ end -}}
{{- with $v.kafka.sasl.username }}{{ $_ := set $env "KAFKA_SASL_USERNAME" . }}{{ end -}}
{{- end -}}
{{- end -}}
{{- if and $uses.redis $v.redis.caSecret -}}
{{- $_ := set $env "REDIS_TLS_CA_FILE" (printf "%s/ca.crt" $paths.redisCa) -}}
{{- end -}}
{{- if eq $role "gateway" -}}
{{- $g := $v.gateway -}}
{{- $_ := set $env "SWITCHBOARD_GATEWAY_ADMIN_ADDR" (printf "0.0.0.0:%v" $v.ports.admin) -}}
{{- $_ := set $env "SWITCHBOARD_JWT_KEYS_DIR" $paths.jwt -}}
{{- with $v.keys.jwt.activeKid }}{{ $_ := set $env "SWITCHBOARD_JWT_ACTIVE_KID" . }}{{ end -}}
{{- if $g.console }}{{ $_ := set $env "SWITCHBOARD_CONSOLE_DIR" "/usr/share/switchboard/console" }}{{ end -}}
{{- if $g.publicTlsSecret -}}
{{- $_ := set $env "SWITCHBOARD_PUBLIC_TLS_CERT" (printf "%s/tls.crt" $paths.publicTls) -}}
{{- $_ := set $env "SWITCHBOARD_PUBLIC_TLS_KEY" (printf "%s/tls.key" $paths.publicTls) -}}
{{- end -}}
{{- $_ := set $env "SWITCHBOARD_RATE_LIMIT_PER_MINUTE" (printf "%d" (int64 $g.rateLimitPerMinute)) -}}
{{- $_ := set $env "SWITCHBOARD_WEBHOOK_RATE_LIMIT_PER_MINUTE" (printf "%d" (int64 $g.webhookRateLimitPerMinute)) -}}
{{- $_ := set $env "SWITCHBOARD_RATE_LIMIT_ON_STORE_ERROR" $g.rateLimitOnStoreError -}}
{{- $_ := set $env "SWITCHBOARD_REVOCATION_ON_CACHE_ERROR" $g.revocationOnCacheError -}}
{{- with $g.trustedProxies }}{{ $_ := set $env "SWITCHBOARD_TRUSTED_PROXIES" (join "," .) }}{{ end -}}
{{- with $g.corsOrigins }}{{ $_ := set $env "SWITCHBOARD_CORS_ORIGINS" (join "," .) }}{{ end -}}
{{- $_ := set $env "SWITCHBOARD_MAX_CONNECTIONS" (printf "%d" (int64 $g.maxConnections)) -}}
{{- $_ := set $env "SWITCHBOARD_MAX_CONNECTIONS_PER_CLIENT" (printf "%d" (int64 $g.maxConnectionsPerClient)) -}}
{{- $_ := set $env "SWITCHBOARD_ANONYMOUS_STREAM_LIFETIME" (printf "%d" (int64 $g.anonymousStreamLifetime)) -}}
{{- $_ := set $env "SWITCHBOARD_ACCESS_TOKEN_TTL" (printf "%d" (int64 $g.accessTokenTtl)) -}}
{{- $_ := set $env "SWITCHBOARD_REFRESH_TOKEN_TTL" (printf "%d" (int64 $g.refreshTokenTtl)) -}}
{{- $_ := set $env "SWITCHBOARD_SESSION_LIFETIME" (printf "%d" (int64 $g.sessionLifetime)) -}}
{{- $_ := set $env "SWITCHBOARD_OUTBOX_POLL_MS" (printf "%d" (int64 $v.events.outboxPollMs)) -}}
{{- end -}}
{{- if eq $role "audit" -}}
{{- $_ := set $env "SWITCHBOARD_AUDIT_SIGNING_KEY" (printf "%s/audit-checkpoint.p8" $paths.auditKey) -}}
{{- end -}}
{{- if eq $role "connectors" -}}
{{- $p := $v.connectors.providers -}}
{{- $_ := set $env "SWITCHBOARD_KEK_FILE" (printf "%s/kek" $paths.kek) -}}
{{- with include "switchboard.publicUrl" $root }}{{ $_ := set $env "SWITCHBOARD_PUBLIC_URL" . }}{{ end -}}
{{- with $v.connectors.oauthRedirectUris }}{{ $_ := set $env "SWITCHBOARD_OAUTH_REDIRECT_URIS" (join "," .) }}{{ end -}}
{{- with $p.stripe.apiBase }}{{ $_ := set $env "SWITCHBOARD_STRIPE_API_BASE" . }}{{ end -}}
{{- with $p.stripe.connectBase }}{{ $_ := set $env "SWITCHBOARD_STRIPE_CONNECT_BASE" . }}{{ end -}}
{{- with $p.stripe.clientId }}{{ $_ := set $env "SWITCHBOARD_STRIPE_CLIENT_ID" . }}{{ end -}}
{{- with $p.shopify.base }}{{ $_ := set $env "SWITCHBOARD_SHOPIFY_BASE" . }}{{ end -}}
{{- $_ := set $env "SWITCHBOARD_SHOPIFY_API_VERSION" $p.shopify.apiVersion -}}
{{- with $p.shopify.apiKey }}{{ $_ := set $env "SWITCHBOARD_SHOPIFY_API_KEY" . }}{{ end -}}
{{- with $p.quickbooks.apiBase }}{{ $_ := set $env "SWITCHBOARD_QUICKBOOKS_API_BASE" . }}{{ end -}}
{{- $_ := set $env "SWITCHBOARD_QUICKBOOKS_MINOR_VERSION" (printf "%d" (int64 $p.quickbooks.minorVersion)) -}}
{{- with $p.quickbooks.clientId }}{{ $_ := set $env "SWITCHBOARD_QUICKBOOKS_CLIENT_ID" . }}{{ end -}}
{{- with $p.hubspot.clientId }}{{ $_ := set $env "SWITCHBOARD_HUBSPOT_CLIENT_ID" . }}{{ end -}}
{{- with $p.hubspot.scopes }}{{ $_ := set $env "SWITCHBOARD_HUBSPOT_SCOPES" (join "," .) }}{{ end -}}
{{- end -}}
{{- if eq $role "orchestrator" -}}
{{- $m := $v.orchestrator.models -}}
{{- $_ := set $env "SWITCHBOARD_EMBEDDING_MODEL_DIR" (default "/usr/share/switchboard/models/all-minilm-l6-v2" $v.orchestrator.embeddingModelDir) -}}
{{- with $m.order }}{{ $_ := set $env "SWITCHBOARD_MODEL_ORDER" (join "," .) }}{{ end -}}
{{- $_ := set $env "SWITCHBOARD_MODEL_FIRST_BYTE_TIMEOUT_SECS" (printf "%d" (int64 $m.firstByteTimeoutSecs)) -}}
{{- $_ := set $env "SWITCHBOARD_MODEL_TOTAL_TIMEOUT_SECS" (printf "%d" (int64 $m.totalTimeoutSecs)) -}}
{{- $_ := set $env "SWITCHBOARD_MODEL_MAX_TOKENS" (printf "%d" (int64 $m.maxTokens)) -}}
{{- with $m.openai.baseUrl }}{{ $_ := set $env "OPENAI_BASE_URL" . }}{{ end -}}
{{- with $m.openai.model }}{{ $_ := set $env "OPENAI_MODEL" . }}{{ end -}}
{{- if gt (int $m.openai.contextWindow) 0 }}{{ $_ := set $env "OPENAI_CONTEXT_WINDOW" (printf "%d" (int64 $m.openai.contextWindow)) }}{{ end -}}
{{- with $m.anthropic.baseUrl }}{{ $_ := set $env "ANTHROPIC_BASE_URL" . }}{{ end -}}
{{- with $m.anthropic.model }}{{ $_ := set $env "ANTHROPIC_MODEL" . }}{{ end -}}
{{- if gt (int $m.anthropic.contextWindow) 0 }}{{ $_ := set $env "ANTHROPIC_CONTEXT_WINDOW" (printf "%d" (int64 $m.anthropic.contextWindow)) }}{{ end -}}
{{- end -}}
{{- $env | toJson -}}
{{- end -}}

{{/*
Secret settings the chart renders into its own Secret (`<fullname>-secrets`), by variable name: only what values
give. DATABASE_URL has a Secret of its own (the migration hook needs it before the release's resources exist).
*/}}
{{- define "switchboard.secretSettings" -}}
{{- $v := .Values -}}
{{- $s := dict -}}
{{- if and $v.redis.url (not $v.redis.existingSecret) }}{{ $_ := set $s "REDIS_URL" $v.redis.url }}{{ end -}}
{{- if and $v.qdrant.url (not $v.qdrant.existingSecret) }}{{ $_ := set $s "QDRANT_URL" $v.qdrant.url }}{{ end -}}
{{- if and $v.qdrant.apiKey (not $v.qdrant.existingSecret) }}{{ $_ := set $s "QDRANT_API_KEY" $v.qdrant.apiKey }}{{ end -}}
{{- if and $v.kafka.sasl.password (not $v.kafka.sasl.existingSecret) }}{{ $_ := set $s "KAFKA_SASL_PASSWORD" $v.kafka.sasl.password }}{{ end -}}
{{- with $v.orchestrator.models.openai.apiKey }}{{ $_ := set $s "OPENAI_API_KEY" . }}{{ end -}}
{{- with $v.orchestrator.models.anthropic.apiKey }}{{ $_ := set $s "ANTHROPIC_API_KEY" . }}{{ end -}}
{{- $p := $v.connectors.providers -}}
{{- with $p.stripe.secretKey }}{{ $_ := set $s "SWITCHBOARD_STRIPE_SECRET_KEY" . }}{{ end -}}
{{- with $p.stripe.webhookSecret }}{{ $_ := set $s "SWITCHBOARD_STRIPE_WEBHOOK_SECRET" . }}{{ end -}}
{{- with $p.shopify.apiSecret }}{{ $_ := set $s "SWITCHBOARD_SHOPIFY_API_SECRET" . }}{{ end -}}
{{- with $p.quickbooks.clientSecret }}{{ $_ := set $s "SWITCHBOARD_QUICKBOOKS_CLIENT_SECRET" . }}{{ end -}}
{{- with $p.quickbooks.webhookVerifier }}{{ $_ := set $s "SWITCHBOARD_QUICKBOOKS_WEBHOOK_VERIFIER" . }}{{ end -}}
{{- with $p.hubspot.clientSecret }}{{ $_ := set $s "SWITCHBOARD_HUBSPOT_CLIENT_SECRET" . }}{{ end -}}
{{- $s | toJson -}}
{{- end -}}

{{/* One env entry from a Secret. */}}
{{- define "switchboard.secretEnvEntry" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/*
A role's secret settings as `env` entries, each a secretKeyRef: to the chart's Secret when the value was given in
values, else to the existing Secret named for it.
*/}}
{{- define "switchboard.secretEnv" -}}
{{- $root := .root -}}
{{- $role := .component -}}
{{- $v := $root.Values -}}
{{- $uses := get (include "switchboard.uses" $root | fromJson) $role -}}
{{- $ours := include "switchboard.secretSettings" $root | fromJson -}}
{{- $settings := include "switchboard.settingsSecret" $root -}}
{{- $entries := list (dict "name" "DATABASE_URL" "secret" (include "switchboard.databaseSecret" $root) "key" (include "switchboard.databaseSecretKey" $root)) -}}
{{- if $uses.redis -}}
{{- if $v.redis.existingSecret -}}
{{- $entries = append $entries (dict "name" "REDIS_URL" "secret" $v.redis.existingSecret "key" $v.redis.existingSecretKey) -}}
{{- else if $v.redis.url -}}
{{- $entries = append $entries (dict "name" "REDIS_URL" "secret" $settings "key" "REDIS_URL") -}}
{{- end -}}
{{- end -}}
{{- if $uses.qdrant -}}
{{- if $v.qdrant.existingSecret -}}
{{- $entries = append $entries (dict "name" "QDRANT_URL" "secret" $v.qdrant.existingSecret "key" $v.qdrant.existingSecretKey) -}}
{{- $entries = append $entries (dict "name" "QDRANT_API_KEY" "secret" $v.qdrant.existingSecret "key" $v.qdrant.existingSecretApiKeyKey "optional" true) -}}
{{- else if $v.qdrant.url -}}
{{- $entries = append $entries (dict "name" "QDRANT_URL" "secret" $settings "key" "QDRANT_URL") -}}
{{- if $v.qdrant.apiKey -}}
{{- $entries = append $entries (dict "name" "QDRANT_API_KEY" "secret" $settings "key" "QDRANT_API_KEY") -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $uses.bus $v.kafka.brokers $v.kafka.sasl.mechanism -}}
{{- if $v.kafka.sasl.existingSecret -}}
{{- $entries = append $entries (dict "name" "KAFKA_SASL_PASSWORD" "secret" $v.kafka.sasl.existingSecret "key" $v.kafka.sasl.existingSecretKey) -}}
{{- else -}}
{{- $entries = append $entries (dict "name" "KAFKA_SASL_PASSWORD" "secret" $settings "key" "KAFKA_SASL_PASSWORD") -}}
{{- end -}}
{{- end -}}
{{- $optional := list -}}
{{- $existing := "" -}}
{{- if eq $role "orchestrator" -}}
{{- $optional = list "OPENAI_API_KEY" "ANTHROPIC_API_KEY" -}}
{{- $existing = $v.orchestrator.models.existingSecret -}}
{{- else if eq $role "connectors" -}}
{{- $optional = list "SWITCHBOARD_STRIPE_SECRET_KEY" "SWITCHBOARD_STRIPE_WEBHOOK_SECRET" "SWITCHBOARD_SHOPIFY_API_SECRET" "SWITCHBOARD_QUICKBOOKS_CLIENT_SECRET" "SWITCHBOARD_QUICKBOOKS_WEBHOOK_VERIFIER" "SWITCHBOARD_HUBSPOT_CLIENT_SECRET" -}}
{{- $existing = $v.connectors.providers.existingSecret -}}
{{- end -}}
{{- range $optional -}}
{{- if hasKey $ours . -}}
{{- $entries = append $entries (dict "name" . "secret" $settings "key" .) -}}
{{- else if $existing -}}
{{- $entries = append $entries (dict "name" . "secret" $existing "key" . "optional" true) -}}
{{- end -}}
{{- end -}}
{{- range $entries }}
{{ include "switchboard.secretEnvEntry" . }}
{{- end -}}
{{- end -}}

{{/* The volumes of a role's pod. */}}
{{- define "switchboard.volumes" -}}
{{- $root := .root -}}
{{- $role := .component -}}
{{- $v := $root.Values -}}
{{- $uses := get (include "switchboard.uses" $root | fromJson) $role -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if and (eq $role "orchestrator") $v.orchestrator.dataVolume }}
- name: data
  {{- toYaml $v.orchestrator.dataVolume | nindent 2 }}
{{- else }}
- name: data
  emptyDir:
    sizeLimit: {{ ternary "2Gi" "64Mi" (eq $role "orchestrator") }}
{{- end }}
- name: mesh-tls
  secret:
    secretName: {{ include "switchboard.tlsSecret" . }}
    defaultMode: 0440
    items:
      - {key: ca.crt, path: ca.crt}
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- with $v.mtls.trustBundleConfigMap }}
- name: mesh-trust
  configMap:
    name: {{ . }}
    defaultMode: 0444
    items:
      - {key: {{ $v.mtls.trustBundleKey }}, path: {{ $v.mtls.trustBundleKey }}}
{{- end }}
{{- if $uses.bus }}
- name: event-keys
  secret:
    secretName: {{ default (include "switchboard.keysSecret" $root) $v.keys.events.existingSecret }}
    defaultMode: 0440
    items:
      - {key: {{ ternary $v.keys.events.existingSecretKey "events.keys" (not (empty $v.keys.events.existingSecret)) }}, path: events.keys}
{{- if and $v.kafka.brokers $v.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $v.kafka.tls.caSecret }}
    defaultMode: 0440
    items:
      - {key: {{ $v.kafka.tls.caSecretKey }}, path: ca.crt}
{{- end }}
{{- if and $v.kafka.brokers $v.kafka.tls.clientCertSecret }}
- name: kafka-client
  secret:
    secretName: {{ $v.kafka.tls.clientCertSecret }}
    defaultMode: 0440
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- end }}
{{- end }}
{{- if and $uses.redis $v.redis.caSecret }}
- name: redis-ca
  secret:
    secretName: {{ $v.redis.caSecret }}
    defaultMode: 0440
    items:
      - {key: {{ $v.redis.caSecretKey }}, path: ca.crt}
{{- end }}
{{- if eq $role "gateway" }}
- name: jwt-keys
  secret:
    secretName: {{ include "switchboard.jwtSecret" $root }}
    defaultMode: 0440
{{- with $v.gateway.publicTlsSecret }}
- name: public-tls
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- end }}
{{- end }}
{{- if eq $role "audit" }}
- name: audit-key
  secret:
    secretName: {{ default (include "switchboard.keysSecret" $root) $v.keys.auditCheckpoint.existingSecret }}
    defaultMode: 0440
    items:
      - {key: {{ ternary $v.keys.auditCheckpoint.existingSecretKey "audit-checkpoint.p8" (not (empty $v.keys.auditCheckpoint.existingSecret)) }}, path: audit-checkpoint.p8}
{{- end }}
{{- if eq $role "connectors" }}
- name: kek
  secret:
    secretName: {{ default (include "switchboard.keysSecret" $root) $v.keys.kek.existingSecret }}
    defaultMode: 0440
    items:
      - {key: {{ ternary $v.keys.kek.existingSecretKey "kek" (not (empty $v.keys.kek.existingSecret)) }}, path: kek}
{{- end }}
{{- end -}}

{{/* Where a role's container mounts its volumes. */}}
{{- define "switchboard.volumeMounts" -}}
{{- $root := .root -}}
{{- $role := .component -}}
{{- $v := $root.Values -}}
{{- $uses := get (include "switchboard.uses" $root | fromJson) $role -}}
{{- $paths := include "switchboard.paths" $root | fromJson -}}
- {name: tmp, mountPath: /tmp}
- {name: data, mountPath: {{ $paths.data }}}
- {name: mesh-tls, mountPath: {{ $paths.tls }}, readOnly: true}
{{- if $v.mtls.trustBundleConfigMap }}
- {name: mesh-trust, mountPath: {{ $paths.trust }}, readOnly: true}
{{- end }}
{{- if $uses.bus }}
- {name: event-keys, mountPath: {{ $paths.events }}, readOnly: true}
{{- if and $v.kafka.brokers $v.kafka.tls.caSecret }}
- {name: kafka-ca, mountPath: {{ $paths.kafkaCa }}, readOnly: true}
{{- end }}
{{- if and $v.kafka.brokers $v.kafka.tls.clientCertSecret }}
- {name: kafka-client, mountPath: {{ $paths.kafkaClient }}, readOnly: true}
{{- end }}
{{- end }}
{{- if and $uses.redis $v.redis.caSecret }}
- {name: redis-ca, mountPath: {{ $paths.redisCa }}, readOnly: true}
{{- end }}
{{- if eq $role "gateway" }}
- {name: jwt-keys, mountPath: {{ $paths.jwt }}, readOnly: true}
{{- if $v.gateway.publicTlsSecret }}
- {name: public-tls, mountPath: {{ $paths.publicTls }}, readOnly: true}
{{- end }}
{{- end }}
{{- if eq $role "audit" }}
- {name: audit-key, mountPath: {{ $paths.auditKey }}, readOnly: true}
{{- end }}
{{- if eq $role "connectors" }}
- {name: kek, mountPath: {{ $paths.kek }}, readOnly: true}
{{- end }}
{{- end -}}
