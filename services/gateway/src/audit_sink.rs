//! Security events (logins, failed logins, refresh-token reuse, logouts) appended to the audit service over the
//! mesh. A failed append is logged and does not fail the user's request: the gateway must not lock people out
//! because the audit service is down. (The transactional outbox of the data-layer work will make these durable.)

use std::time::Duration;

use prost_types::{Struct, Value, value::Kind};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::audit::v1 as pb;
use switchboard_proto::audit::v1::audit_service_client::AuditServiceClient;
use switchboard_types::TenantId;
use tonic::transport::Channel;

/// Appends security events for the gateway.
#[derive(Clone, Debug)]
pub(crate) struct AuditSink {
    client: AuditServiceClient<Channel>,
}

impl AuditSink {
    pub(crate) fn new(channel: Channel) -> Self {
        Self { client: AuditServiceClient::new(channel) }
    }

    /// Records `action` by `actor` in `tenant`'s log. `details` must hold no secrets.
    pub(crate) async fn record(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        actor: String,
        action: &str,
        outcome: pb::Outcome,
        details: &[(&str, String)],
    ) {
        let details = Struct {
            fields: details
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value { kind: Some(Kind::StringValue(v.clone())) }))
                .collect(),
        };
        let event = pb::NewEvent {
            actor,
            action: action.to_owned(),
            outcome: outcome as i32,
            details: Some(details),
            ..Default::default()
        };
        let mut request = context.clone().with_tenant(tenant).request(pb::AppendEventsRequest { events: vec![event] });
        request.set_timeout(Duration::from_secs(3));
        if let Err(status) = self.client.clone().append_events(request).await {
            tracing::error!(%tenant, action, code = ?status.code(), message = status.message(), "audit append failed");
        }
    }
}
