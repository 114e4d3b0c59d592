//! Building `EventEnvelope`s from a request's context, and the topic and type names of `events.proto`.

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message;
use switchboard_mesh::context::RequestContext;
use switchboard_proto::audit::v1::NewEvent;
use switchboard_proto::events::v1::{AuditRecorded, EventEnvelope};
use switchboard_types::TenantId;

use crate::{EventsError, Outgoing, headers};

/// Topics (see the table in `proto/switchboard/events/v1/events.proto`).
pub mod topics {
    /// Audit records for the audit service to append.
    pub const AUDIT_EVENTS: &str = "audit.events";
    /// Finished connector syncs.
    pub const CONNECTOR_SYNCS: &str = "connectors.syncs";
    /// Verified provider webhooks.
    pub const CONNECTOR_WEBHOOKS: &str = "connectors.webhooks";
    /// Finished orchestrator runs.
    pub const ORCHESTRATOR_RUNS: &str = "orchestrator.runs";
    /// Every topic of the contract, to create at start-up.
    pub const ALL: [&str; 4] = [AUDIT_EVENTS, CONNECTOR_SYNCS, CONNECTOR_WEBHOOKS, ORCHESTRATOR_RUNS];
}

/// Envelope `type`s.
pub mod types {
    /// Payload `AuditRecorded`.
    pub const AUDIT_EVENT: &str = "audit.event.v1";
    /// Payload `SyncCompleted`.
    pub const SYNC_COMPLETED: &str = "connectors.sync.completed.v1";
    /// Payload `WebhookReceived`.
    pub const WEBHOOK_RECEIVED: &str = "connectors.webhook.received.v1";
    /// Payload `RunFinished`.
    pub const RUN_FINISHED: &str = "orchestrator.run.finished.v1";
}

const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// Builds envelopes that carry a request's tenant, user, request id and trace context.
#[derive(Debug, Clone)]
pub struct EnvelopeBuilder {
    source: &'static str,
}

impl EnvelopeBuilder {
    /// Envelopes produced by service `source` (`gateway`, `orchestrator`, `connectors`, `audit`).
    pub fn new(source: &'static str) -> Self {
        Self { source }
    }

    /// An envelope of `event_type` for `tenant` around `payload` (a message of `switchboard.events.v1` named
    /// `payload_name`), keyed by `key`, caused by the request in `context`.
    pub fn build(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        event_type: &str,
        key: String,
        payload_name: &str,
        payload: Vec<u8>,
    ) -> EventEnvelope {
        let event_id = uuid::Uuid::now_v7().to_string();
        EventEnvelope {
            event_id,
            tenant_id: tenant.to_string(),
            r#type: event_type.to_owned(),
            source: self.source.to_owned(),
            occur_time: Some(now_timestamp()),
            request_id: context.request_id().to_string(),
            // The span writing the event is the consumer's parent: edge, service and consumer share one trace.
            traceparent: context.outbound_trace().to_string(),
            key,
            payload: Some(prost_types::Any {
                type_url: format!("{TYPE_URL_PREFIX}switchboard.events.v1.{payload_name}"),
                value: payload,
            }),
            user_id: context.user().map(|u| u.to_string()).unwrap_or_default(),
        }
    }

    /// An `audit.event.v1` envelope for `tenant` (keyed by tenant, so each chain is appended in publish order).
    /// The event's `event_id` is set to the envelope's, so redelivery appends nothing twice.
    pub fn audit(&self, context: &RequestContext, tenant: TenantId, mut event: NewEvent) -> EventEnvelope {
        let mut envelope = self.build(context, tenant, types::AUDIT_EVENT, tenant.to_string(), "AuditRecorded", vec![]);
        event.event_id = envelope.event_id.clone();
        if let Some(any) = envelope.payload.as_mut() {
            any.value = AuditRecorded { event: Some(event) }.encode_to_vec();
        }
        envelope
    }
}

/// The `AuditRecorded` payload of an `audit.event.v1` envelope.
pub fn audit_recorded(envelope: &EventEnvelope) -> Result<AuditRecorded, EventsError> {
    let any = envelope
        .payload
        .as_ref()
        .ok_or_else(|| EventsError::Invalid(format!("event {}: no payload", envelope.event_id)))?;
    if any.type_url.strip_prefix(TYPE_URL_PREFIX) != Some("switchboard.events.v1.AuditRecorded") {
        return Err(EventsError::Invalid(format!(
            "event {}: payload is {:?}, not switchboard.events.v1.AuditRecorded",
            envelope.event_id, any.type_url
        )));
    }
    AuditRecorded::decode(any.value.as_slice())
        .map_err(|e| EventsError::Invalid(format!("event {}: bad AuditRecorded: {e}", envelope.event_id)))
}

impl Outgoing {
    /// The message for `envelope`: its key, its encoding, and its routing fields as headers.
    pub fn from_envelope(envelope: &EventEnvelope) -> Self {
        Self::from_encoded(envelope, Bytes::from(envelope.encode_to_vec()))
    }

    /// Like [`Outgoing::from_envelope`] when the encoding is at hand already (the relay reads it from the outbox).
    pub fn from_encoded(envelope: &EventEnvelope, payload: Bytes) -> Self {
        let mut map = BTreeMap::new();
        let mut put = |name: &str, value: &str| {
            if !value.is_empty() {
                map.insert(name.to_owned(), value.to_owned());
            }
        };
        put(headers::EVENT_ID, &envelope.event_id);
        put(headers::EVENT_TYPE, &envelope.r#type);
        put(headers::TENANT_ID, &envelope.tenant_id);
        put(headers::REQUEST_ID, &envelope.request_id);
        put(headers::TRACEPARENT, &envelope.traceparent);
        Self { key: envelope.key.clone(), payload, headers: map }
    }
}

/// Now, as a protobuf timestamp (microsecond precision, like everything the platform stores).
pub fn now_timestamp() -> prost_types::Timestamp {
    let us = switchboard_types::now_unix_micros();
    prost_types::Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}
