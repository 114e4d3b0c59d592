//! The `audit.events` consumer: appends audit records that services published through their outbox.
//!
//! Batches are grouped by tenant (the topic is keyed by tenant, so each tenant's records arrive in publish order)
//! and appended with each record's own request id and trace id. The batch is committed only after every append
//! succeeded; a failure leaves it uncommitted and retries it, and appends are idempotent by event id, so a
//! redelivered record is not appended twice. A record that can never be appended (undecodable, or refused by
//! validation) is logged and skipped rather than blocking its tenant's log forever.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use switchboard_events::{Delivery, EventBus, EventsError, audit_recorded, topics};
use switchboard_mesh::context::TraceParent;
use switchboard_proto::audit::v1 as pb;
use switchboard_types::TenantId;
use tokio_util::sync::CancellationToken;

use crate::{AuditError, AuditService, Origin};

/// The consumer group of the audit service on `audit.events`.
pub const AUDIT_CONSUMER_GROUP: &str = "audit";

/// Records per batch, and per append call.
const BATCH: usize = 1000;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Consumes `audit.events` from `bus` into `service` until `shutdown`.
pub async fn consume_audit_events(service: AuditService, bus: Arc<dyn EventBus>, shutdown: CancellationToken) {
    let mut backoff = Backoff::default();
    'subscribe: loop {
        let subscribed = tokio::select! {
            () = shutdown.cancelled() => return,
            s = bus.subscribe(topics::AUDIT_EVENTS, AUDIT_CONSUMER_GROUP) => s,
        };
        let mut subscription = match subscribed {
            Ok(s) => s,
            Err(e) => {
                backoff.failed("subscribe to audit.events", &e);
                if backoff.wait(&shutdown).await {
                    return;
                }
                continue 'subscribe;
            }
        };
        loop {
            let batch = tokio::select! {
                () = shutdown.cancelled() => return,
                b = subscription.next_batch(BATCH) => b,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    backoff.failed("receive from audit.events", &e);
                    drop(subscription);
                    if backoff.wait(&shutdown).await {
                        return;
                    }
                    continue 'subscribe;
                }
            };
            tracing::debug!(
                messages = batch.len(),
                first = ?batch.first().map(|d| (d.partition, d.offset)),
                last = ?batch.last().map(|d| (d.partition, d.offset)),
                "audit consumer batch"
            );
            loop {
                match append_batch(&service, &batch).await {
                    Ok(()) => break,
                    Err(e) => {
                        backoff.failed("append audit events", &e);
                        if backoff.wait(&shutdown).await {
                            return;
                        }
                    }
                }
            }
            if let Err(e) = subscription.commit(&batch).await {
                // Not fatal: the group will receive the batch again and the appends deduplicate it.
                backoff.failed("commit audit.events offsets", &e);
                if backoff.wait(&shutdown).await {
                    return;
                }
                continue 'subscribe;
            }
            backoff.succeeded();
        }
    }
}

/// Appends every record of `batch`; errors only when the store fails (the batch is then retried whole).
async fn append_batch(service: &AuditService, batch: &[Delivery]) -> Result<(), AuditError> {
    let mut by_tenant: BTreeMap<TenantId, Vec<(pb::NewEvent, Origin)>> = BTreeMap::new();
    // One span per record, in the trace of the request that wrote it, open until its batch is appended: the edge,
    // the service that wrote the record, and this consumer appear in one trace.
    let mut spans = Vec::with_capacity(batch.len());
    for delivery in batch {
        match decode(delivery) {
            Ok((tenant, event, origin, traceparent)) => {
                spans.push(record_span(&event.event_id, &origin, traceparent));
                by_tenant.entry(tenant).or_default().push((event, origin));
            }
            Err(e) => tracing::error!(
                topic = %delivery.topic, partition = delivery.partition, offset = delivery.offset, error = %e,
                "skipping an audit.events message that is not an audit record"
            ),
        }
    }
    for (tenant, events) in by_tenant {
        for chunk in events.chunks(BATCH) {
            match service.append_from(tenant, chunk.to_vec()).await {
                Ok(_) => {}
                Err(AuditError::InvalidArgument(_)) => append_one_by_one(service, tenant, chunk).await?,
                Err(e) => return Err(e),
            }
        }
    }
    // The records' spans end once they are in the log.
    drop(spans);
    Ok(())
}

/// Finds the records of a refused chunk that are valid on their own and appends them; drops the others.
async fn append_one_by_one(
    service: &AuditService,
    tenant: TenantId,
    events: &[(pb::NewEvent, Origin)],
) -> Result<(), AuditError> {
    for event in events {
        match service.append_from(tenant, vec![event.clone()]).await {
            Ok(_) => {}
            Err(AuditError::InvalidArgument(reason)) => tracing::error!(
                %tenant, event_id = %event.0.event_id, %reason, "dropping an audit record the log refuses"
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The span of one consumed record, a child of the span that wrote it.
fn record_span(event_id: &str, origin: &Origin, traceparent: Option<TraceParent>) -> tracing::Span {
    let span = tracing::info_span!(
        "consume",
        otel.name = "audit.events consume",
        otel.kind = "consumer",
        service.name = "switchboard-audit",
        event_id,
        request_id = %origin.request_id,
    );
    if let Some(trace) = traceparent {
        let context = switchboard_mesh::context::RequestContext::new_root().with_trace(trace);
        switchboard_mesh::context::continue_trace(&span, &context);
    }
    span
}

fn decode(delivery: &Delivery) -> Result<(TenantId, pb::NewEvent, Origin, Option<TraceParent>), EventsError> {
    let envelope = delivery.envelope()?;
    let tenant: TenantId = envelope
        .tenant_id
        .parse()
        .map_err(|e| EventsError::Invalid(format!("event {}: tenant_id: {e}", envelope.event_id)))?;
    let mut event = audit_recorded(&envelope)?
        .event
        .ok_or_else(|| EventsError::Invalid(format!("event {}: AuditRecorded without an event", envelope.event_id)))?;
    if event.event_id.is_empty() {
        // Deduplication needs a stable id: the envelope's is one.
        event.event_id = envelope.event_id.clone();
    }
    let traceparent = TraceParent::parse(&envelope.traceparent);
    let trace_id = traceparent.map(|t| t.trace_id_hex().to_string()).unwrap_or_default();
    Ok((tenant, event, Origin { request_id: envelope.request_id, trace_id }, traceparent))
}

/// Exponential backoff with one warning per failure streak.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    failing: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Duration::from_millis(100), failing: false }
    }
}

impl Backoff {
    fn failed(&mut self, what: &str, error: &dyn std::fmt::Display) {
        if self.failing {
            tracing::debug!(%error, retry_in = ?self.next, "audit consumer: {what} still failing");
        } else {
            tracing::warn!(%error, retry_in = ?self.next, "audit consumer: {what} failed; retrying with backoff");
            self.failing = true;
        }
    }

    fn succeeded(&mut self) {
        if self.failing {
            tracing::info!("audit consumer recovered");
        }
        *self = Self::default();
    }

    /// Sleeps; true if `shutdown` came first.
    async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let wait = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        tokio::select! {
            () = shutdown.cancelled() => true,
            () = tokio::time::sleep(wait) => false,
        }
    }
}
