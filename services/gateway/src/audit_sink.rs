//! Security and administration events (logins, failed logins, refresh-token reuse, logouts; tenant and user
//! changes) for the tenant's audit log, written to the
//! transactional outbox in the same transaction as the change they report. The outbox relay publishes them to
//! `audit.events` and the audit service appends them, so an audit service or broker that is down delays the
//! record but neither loses it nor fails the user's request.

use prost_types::{Struct, Value, value::Kind};
use switchboard_events::{EnvelopeBuilder, now_timestamp, outbox, topics};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::audit::v1 as pb;
use switchboard_store::TenantScope;

use crate::GatewayError;

/// Records security events for the gateway.
#[derive(Clone, Debug)]
pub(crate) struct AuditSink {
    envelopes: EnvelopeBuilder,
}

impl Default for AuditSink {
    fn default() -> Self {
        Self { envelopes: EnvelopeBuilder::new("gateway") }
    }
}

impl AuditSink {
    /// Records `action` by `actor` in the log of `scope`'s tenant; it commits with `scope`. `details` must hold no
    /// secrets.
    pub(crate) async fn record(
        &self,
        scope: &TenantScope,
        context: &RequestContext,
        actor: String,
        action: &str,
        outcome: pb::Outcome,
        details: &[(&str, String)],
    ) -> Result<(), GatewayError> {
        self.record_on(scope, context, actor, action, String::new(), outcome, details).await
    }

    /// Like [`AuditSink::record`], naming the `resource` acted on (`tenants/{id}/users/{id}`).
    #[allow(clippy::too_many_arguments)] // each is one field of the record
    pub(crate) async fn record_on(
        &self,
        scope: &TenantScope,
        context: &RequestContext,
        actor: String,
        action: &str,
        resource: String,
        outcome: pb::Outcome,
        details: &[(&str, String)],
    ) -> Result<(), GatewayError> {
        let details = Struct {
            fields: details
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value { kind: Some(Kind::StringValue(v.clone())) }))
                .collect(),
        };
        let event = pb::NewEvent {
            actor,
            action: action.to_owned(),
            resource,
            outcome: outcome as i32,
            details: Some(details),
            occur_time: Some(now_timestamp()),
            ..Default::default()
        };
        let envelope = self.envelopes.audit(context, scope.tenant(), event);
        outbox::enqueue(scope, topics::AUDIT_EVENTS, &[envelope])
            .await
            .map_err(|e| GatewayError::Internal(format!("audit outbox: {e}")))
    }
}
