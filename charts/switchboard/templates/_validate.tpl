{{/*
Combinations the schema cannot refuse: each fails the render with what to change.
*/}}
{{- define "switchboard.validate" -}}
{{- $v := .Values -}}
{{- $drain := 20 -}}
{{- if le (int $v.terminationGracePeriodSeconds) (add (int $v.preStopSleepSeconds) $drain) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds (%v) plus the %d s drain deadline" $v.terminationGracePeriodSeconds $v.preStopSleepSeconds $drain) -}}
{{- end -}}
{{- if and (not (include "switchboard.hasRedis" .)) (or $v.gateway.autoscaling.enabled (gt (int $v.gateway.replicas) 1)) -}}
{{- fail "more than one gateway replica needs Redis (redis.url or redis.existingSecret): revoked sessions, login lockouts and rate limits are per process without it" -}}
{{- end -}}
{{- if and (not (include "switchboard.hasQdrant" .)) (or $v.orchestrator.autoscaling.enabled (gt (int $v.orchestrator.replicas) 1)) -}}
{{- fail "more than one orchestrator replica needs Qdrant (qdrant.url or qdrant.existingSecret): the embedded vector index is per pod" -}}
{{- end -}}
{{- if not $v.mtls.certManager.enabled -}}
{{- range $role := include "switchboard.roles" . | fromJsonArray -}}
{{- if not (get $v.mtls.existingSecrets $role) -}}
{{- fail (printf "mtls.existingSecrets.%s is required when mtls.certManager.enabled is false" $role) -}}
{{- end -}}
{{- end -}}
{{- else if and (not $v.mtls.certManager.selfSignedCA) (not $v.mtls.certManager.issuerRef.name) -}}
{{- fail "mtls.certManager.issuerRef.name is required when mtls.certManager.selfSignedCA is false" -}}
{{- end -}}
{{- if not $v.keys.generate -}}
{{- range $name := list "jwt" "auditCheckpoint" "events" "kek" -}}
{{- if not (get $v.keys $name).existingSecret -}}
{{- fail (printf "keys.%s.existingSecret is required when keys.generate is false" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not (or $v.database.url $v.database.existingSecret) -}}
{{- fail "database.url or database.existingSecret is required: every service keeps its tables in PostgreSQL (SQLite is per pod)" -}}
{{- end -}}
{{- with $v.kafka.sasl.mechanism -}}
{{- if not $v.kafka.brokers -}}
{{- fail "kafka.sasl.mechanism is set but kafka.brokers is empty" -}}
{{- end -}}
{{- if not $v.kafka.sasl.username -}}
{{- fail "kafka.sasl.username is required with kafka.sasl.mechanism" -}}
{{- end -}}
{{- if not (or $v.kafka.sasl.password $v.kafka.sasl.existingSecret) -}}
{{- fail "kafka.sasl.password or kafka.sasl.existingSecret is required with kafka.sasl.mechanism" -}}
{{- end -}}
{{- if and (eq . "PLAIN") (not $v.kafka.tls.enabled) -}}
{{- fail "kafka.sasl.mechanism PLAIN sends the password in the clear: it needs kafka.tls.enabled" -}}
{{- end -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.ingress.hosts) -}}
{{- fail "ingress.hosts must name at least one host when ingress.enabled" -}}
{{- end -}}
{{- end -}}
