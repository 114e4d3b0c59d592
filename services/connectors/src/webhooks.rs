//! Provider webhooks: receiving (verify, route, store once, publish) and processing (from the bus).
//!
//! A delivery is verified with its provider's scheme before anything else is read; a bad or missing signature is
//! UNAUTHENTICATED and stores nothing. Each event in it is routed by the provider account it names to the
//! connections of that account (a lookup across tenants, the only one in this service), stored once per
//! (connection, provider event id) — a repeat only counts another delivery — and `WebhookReceived` is published to
//! `connectors.webhooks` through the outbox in the same transaction. A correctly signed event that matches no
//! connection is acknowledged and dropped (logged), so the provider stops retrying it.
//!
//! Processing happens later, off the provider's request: this service consumes `connectors.webhooks` (group
//! `connectors`) and applies what an event carries: a Stripe event's object is stored as it is (a `charge.refunded`
//! brings the synced charge up to date); a Shopify topic names a record that is fetched afresh through the same
//! GraphQL fields a sync stores (its REST-shaped payload is not the record's shape); `*.deleted` / `*/delete`
//! remove the record. The event becomes PROCESSED, FAILED (the provider refused the fetch), or IGNORED when it
//! concerns nothing the record store keeps.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use switchboard_events::{EventBus, outbox, topics};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::connectors::v1::{self as pb, WebhookEventStatus};
use switchboard_proto::events::v1::WebhookReceived;
use switchboard_store::StoreError;
use switchboard_types::{ConnectionId, TenantId, WebhookEventId, now_unix_micros};
use tokio_util::sync::CancellationToken;

use crate::error::{ConnectorError, ProviderError};
use crate::provider::{Delivery, WebhookTarget};
use crate::service::{ConnectorService, Inner, webhook_message_with};
use crate::storage::{Repo, WebhookEventRow};

/// The consumer group of this service on `connectors.webhooks`.
pub const WEBHOOK_CONSUMER_GROUP: &str = "connectors";

/// Receives one delivery.
pub(crate) async fn receive(
    inner: &Inner,
    context: &RequestContext,
    request: pb::ReceiveWebhookRequest,
) -> Result<pb::ReceiveWebhookResponse, ConnectorError> {
    let provider = inner
        .registry
        .get(&request.provider)
        .map_err(|_| ConnectorError::NotFound(format!("no provider {:?} sends webhooks here", request.provider)))?;
    let body = request.body.map(|b| b.data).unwrap_or_default();
    let headers: HashMap<String, String> =
        request.headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    if !provider.webhook_secret_configured(&inner.settings) {
        tracing::warn!(provider = provider.info().id, "webhook refused: no signing secret is configured");
        return Err(ConnectorError::Unauthenticated(format!(
            "webhooks from {} are not configured on this platform (its signing secret is not set)",
            provider.info().id
        )));
    }
    let delivery = Delivery { headers: &headers, body: &body, now_ms: now_unix_micros() / 1000 };
    if let Err(e) = provider.verify_webhook(&inner.settings, &delivery) {
        tracing::info!(provider = provider.info().id, reason = %e, "webhook signature refused");
        return Err(ConnectorError::Unauthenticated(format!("the webhook signature does not verify: {e}")));
    }
    let notices = provider.parse_webhook(&delivery)?;
    let mut response = pb::ReceiveWebhookResponse::default();
    let mut stored = 0;
    let mut duplicates = 0;
    for notice in notices {
        let targets = inner.routes(provider.info().id, &notice.account).await?;
        // Shared by the deliveries to each connection of the account (usually one).
        let notice = Arc::new(notice);
        if targets.is_empty() {
            tracing::info!(provider = provider.info().id, event = %notice.event_id, "signed webhook for no connection; dropped");
            continue;
        }
        for (tenant, connection) in targets {
            let (name, duplicate) =
                store_grouped(inner, context, tenant, connection, provider.info().id, notice.clone()).await?;
            if response.webhook_event.is_empty() {
                response.webhook_event = name;
            }
            stored += 1;
            duplicates += usize::from(duplicate);
        }
    }
    response.duplicate = stored > 0 && duplicates == stored;
    Ok(response)
}

/// A delivery waiting to be stored with others in one transaction.
pub(crate) struct Waiting {
    context: RequestContext,
    tenant: TenantId,
    connection: ConnectionId,
    provider: &'static str,
    notice: Arc<crate::provider::WebhookNotice>,
    reply: tokio::sync::oneshot::Sender<Result<(String, bool), ConnectorError>>,
}

/// Group commit of webhook deliveries: each caller queues its delivery, then whoever holds the writer's turn stores
/// everything queued so far, one transaction per tenant, and answers each caller. Under a burst one commit carries
/// many deliveries instead of one each; alone, a delivery waits for no one.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: std::sync::Mutex<Vec<Waiting>>,
    turn: tokio::sync::Mutex<()>,
}

async fn store_grouped(
    inner: &Inner,
    context: &RequestContext,
    tenant: TenantId,
    connection: ConnectionId,
    provider: &'static str,
    notice: Arc<crate::provider::WebhookNotice>,
) -> Result<(String, bool), ConnectorError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let waiting = Waiting { context: context.clone(), tenant, connection, provider, notice, reply };
    inner.group_commit.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(waiting);
    {
        let _turn = inner.group_commit.turn.lock().await;
        let batch =
            std::mem::take(&mut *inner.group_commit.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        // Empty when an earlier turn already took (and answered) this delivery.
        store_batch(inner, batch).await;
    }
    answer.await.map_err(|_| ConnectorError::Internal("a webhook batch ended without an answer".into()))?
}

/// Stores a batch: one transaction per tenant; if a tenant's transaction fails, its deliveries are stored one by one.
async fn store_batch(inner: &Inner, batch: Vec<Waiting>) {
    let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<Waiting>> = Default::default();
    for waiting in batch {
        by_tenant.entry(waiting.tenant).or_default().push(waiting);
    }
    for (tenant, items) in by_tenant {
        match store_tenant_batch(inner, tenant, &items).await {
            Ok(answers) => {
                for (item, answer) in items.into_iter().zip(answers) {
                    let _ = item.reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "webhook batch failed; storing its deliveries one by one");
                for item in items {
                    let stored =
                        store_once(inner, &item.context, tenant, item.connection, item.provider, &item.notice).await;
                    let _ = item.reply.send(stored);
                }
            }
        }
    }
}

/// Stores one tenant's share of a batch in one transaction, in a fixed number of statements whatever its size:
/// every event in one insert that skips those the tenant has already (its RETURNING names the rows that are new),
/// the announcements of the new ones in one outbox insert. Repeats (of a stored event, of one stored meanwhile by
/// another replica, or of an earlier delivery in this batch) only count another delivery.
async fn store_tenant_batch(
    inner: &Inner,
    tenant: TenantId,
    items: &[Waiting],
) -> Result<Vec<(String, bool)>, ConnectorError> {
    let scope = inner.store.tenant(tenant).await?;
    let repo = Repo::new(&scope);
    // A row for the first delivery of each event in the batch: (item, row id, its announcement).
    let mut seen: HashSet<(&str, ConnectionId, &str)> = HashSet::new();
    let mut candidates = Vec::new();
    let mut rows = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if !seen.insert((item.provider, item.connection, item.notice.event_id.as_str())) {
            continue;
        }
        let (row, message) = new_event_row(item.connection, item.provider, &item.notice);
        candidates.push((i, row.id.clone(), message));
        rows.push(row);
    }
    let inserted = repo.insert_new_webhook_events(rows).await?;
    let mut new_ids: Vec<Option<String>> = vec![None; items.len()];
    let mut envelopes = Vec::new();
    for (i, id, message) in candidates {
        if !inserted.contains(&id) {
            continue;
        }
        let item = &items[i];
        envelopes.push(inner.envelopes.build(
            &item.context,
            tenant,
            switchboard_events::types::WEBHOOK_RECEIVED,
            format!("connections/{}", item.connection),
            "WebhookReceived",
            message.encode_to_vec(),
        ));
        new_ids[i] = Some(id);
    }
    let mut answers = Vec::with_capacity(items.len());
    for (item, new_id) in items.iter().zip(new_ids) {
        match new_id {
            Some(id) => answers.push((format!("webhookEvents/{id}"), false)),
            None => {
                let existing = repo
                    .webhook_event_by_provider_id(item.provider, item.connection, &item.notice.event_id)
                    .await?
                    .ok_or_else(|| ConnectorError::Internal("a colliding webhook event vanished".into()))?;
                repo.count_delivery(&existing.id).await?;
                answers.push((format!("webhookEvents/{}", existing.id), true));
            }
        }
    }
    outbox::enqueue(&scope, topics::CONNECTOR_WEBHOOKS, &envelopes).await?;
    scope.commit().await?;
    Ok(answers)
}

/// A new event's row and the `WebhookReceived` message that announces it.
fn new_event_row(
    connection: ConnectionId,
    provider: &str,
    notice: &crate::provider::WebhookNotice,
) -> (WebhookEventRow, WebhookReceived) {
    let row = WebhookEventRow {
        tenant_id: String::new(),
        id: WebhookEventId::generate().to_string(),
        provider: provider.to_owned(),
        connection_id: connection.to_string(),
        provider_event_id: notice.event_id.clone(),
        event_type: notice.event_type.clone(),
        status: WebhookEventStatus::Received as i32,
        error_message: String::new(),
        payload: notice.payload.to_string(),
        delivery_count: 1,
        received_at_us: now_unix_micros(),
        processed_at_us: None,
    };
    let message = WebhookReceived { webhook_event: Some(webhook_message_with(&row, Some(&notice.payload))) };
    (row, message)
}

async fn store_once(
    inner: &Inner,
    context: &RequestContext,
    tenant: TenantId,
    connection: ConnectionId,
    provider: &str,
    notice: &crate::provider::WebhookNotice,
) -> Result<(String, bool), ConnectorError> {
    // Two deliveries of one event racing each other: the loser's insert hits the unique index and counts as a
    // repeat on the second pass.
    for _ in 0..3 {
        let scope = inner.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        let (row, message) = new_event_row(connection, provider, notice);
        let id = row.id.clone();
        // Insert first: the common case (a new event) costs one statement, a repeat finds the row it collided with.
        if !repo.insert_webhook_event_if_new(row).await? {
            let Some(existing) = repo.webhook_event_by_provider_id(provider, connection, &notice.event_id).await?
            else {
                continue;
            };
            repo.count_delivery(&existing.id).await?;
            scope.commit().await?;
            return Ok((format!("webhookEvents/{}", existing.id), true));
        }
        let envelope = inner.envelopes.build(
            context,
            tenant,
            switchboard_events::types::WEBHOOK_RECEIVED,
            format!("connections/{connection}"),
            "WebhookReceived",
            message.encode_to_vec(),
        );
        outbox::enqueue(&scope, topics::CONNECTOR_WEBHOOKS, &[envelope]).await?;
        match scope.commit().await {
            Ok(()) => return Ok((format!("webhookEvents/{id}"), false)),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ConnectorError::Internal("webhook event kept conflicting".into()))
}

/// Processes `connectors.webhooks` until `stop`.
pub(crate) async fn consume(service: ConnectorService, bus: Arc<dyn EventBus>, stop: CancellationToken) {
    let mut delay = Duration::from_millis(100);
    'subscribe: loop {
        let subscribed = tokio::select! {
            () = stop.cancelled() => return,
            s = bus.subscribe(topics::CONNECTOR_WEBHOOKS, WEBHOOK_CONSUMER_GROUP) => s,
        };
        let mut subscription = match subscribed {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to connectors.webhooks; retrying");
                if pause(&stop, &mut delay).await {
                    return;
                }
                continue 'subscribe;
            }
        };
        loop {
            let batch = tokio::select! {
                () = stop.cancelled() => return,
                b = subscription.next_batch(500) => b,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "receiving from connectors.webhooks failed; resubscribing");
                    if pause(&stop, &mut delay).await {
                        return;
                    }
                    continue 'subscribe;
                }
            };
            loop {
                match process_batch(&service.inner, &batch).await {
                    Ok(()) => break,
                    Err(e) => {
                        // Processing is idempotent (events already processed are skipped), so retrying the batch
                        // redoes only what did not commit.
                        tracing::warn!(error = %e, "processing webhook events failed; retrying");
                        if pause(&stop, &mut delay).await {
                            return;
                        }
                    }
                }
            }
            delay = Duration::from_millis(100);
            if let Err(e) = subscription.commit(&batch).await {
                tracing::warn!(error = %e, "committing connectors.webhooks failed; the batch will be seen again");
            }
        }
    }
}

/// Waits the current backoff (doubling it, up to 10 s); true when stopped meanwhile.
async fn pause(stop: &CancellationToken, delay: &mut Duration) -> bool {
    let wait = *delay;
    *delay = (*delay * 2).min(Duration::from_secs(10));
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(wait) => false,
    }
}

/// The tenant, connection and event id a `connectors.webhooks` message names; `None` (logged) for one that is not
/// ours to process.
fn decode(delivery: &switchboard_events::Delivery) -> Option<(TenantId, ConnectionId, String)> {
    let envelope = match delivery.envelope() {
        Ok(envelope) => envelope,
        Err(e) => {
            tracing::warn!(error = %e, "undecodable webhook envelope skipped");
            return None;
        }
    };
    let Some(event) = envelope
        .payload
        .as_ref()
        .and_then(|any| WebhookReceived::decode(any.value.as_slice()).ok())
        .and_then(|w| w.webhook_event)
    else {
        tracing::warn!(event = %envelope.event_id, "webhook envelope without a WebhookReceived payload skipped");
        return None;
    };
    let (Ok(tenant), Ok(connection)) = (
        envelope.tenant_id.parse::<TenantId>(),
        event.connection.trim_start_matches("connections/").parse::<ConnectionId>(),
    ) else {
        tracing::warn!(event = %envelope.event_id, "webhook envelope with a bad tenant or connection skipped");
        return None;
    };
    Some((tenant, connection, event.id))
}

/// Processes a batch. Each tenant's events whose change needs no provider call are applied in one transaction, in
/// a number of statements that does not grow with the batch (one read of the events, one upsert per record kind,
/// one status update per outcome); those that need a record fetched afresh are fetched outside it and applied one
/// by one.
async fn process_batch(inner: &Inner, batch: &[switchboard_events::Delivery]) -> Result<(), ConnectorError> {
    let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<(ConnectionId, String)>> = Default::default();
    for (tenant, connection, id) in batch.iter().filter_map(decode) {
        by_tenant.entry(tenant).or_default().push((connection, id));
    }
    for (tenant, events) in by_tenant {
        let now = now_unix_micros();
        let scope = inner.store.tenant(tenant).await?;
        let repo = Repo::new(&scope);
        // Unknown ids, and events processed already (a redelivery), are not returned.
        let mut rows: HashMap<String, WebhookEventRow> = repo
            .received_webhook_events(events.iter().map(|(_, id)| id.clone()).collect())
            .await?
            .into_iter()
            .map(|row| (row.id.clone(), row))
            .collect();
        let mut connected: HashMap<ConnectionId, bool> = HashMap::new();
        let mut to_fetch = Vec::new();
        let mut applied = Applied::default();
        // In delivery order, so that of two events about one record the later wins.
        for (connection, id) in events {
            let Some(row) = rows.remove(&id) else {
                continue;
            };
            let alive = match connected.get(&connection) {
                Some(alive) => *alive,
                None => {
                    let alive = repo.connection(connection).await?.is_some();
                    connected.insert(connection, alive);
                    alive
                }
            };
            let provider = inner.registry.get(&row.provider)?;
            let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
            let change = if !alive {
                Change::Nothing
            } else if let Some(update) = provider.webhook_update(&row.event_type, &payload) {
                Change::Upsert(update.kind, update.record)
            } else {
                match provider.webhook_target(&row.event_type, &payload) {
                    None => Change::Nothing,
                    Some(WebhookTarget::Delete { kind, id }) => Change::Delete(kind, id),
                    Some(WebhookTarget::Refresh { kind, id }) => {
                        to_fetch.push((connection, row.id, row.provider, kind, id));
                        continue;
                    }
                }
            };
            applied.add(connection, provider.info().id, row.id, change);
        }
        applied.write(&repo, now).await?;
        scope.commit().await?;
        for (connection, event, provider, kind, id) in to_fetch {
            let provider = inner.registry.get(&provider)?;
            let change = match fetch(inner, provider, tenant, connection, kind, &id).await {
                Ok(Some(record)) => Change::Upsert(kind, record),
                Ok(None) => Change::Delete(kind, id),
                // Transient: the batch is retried with backoff (what committed is skipped then).
                Err(ConnectorError::Provider(ProviderError::Unavailable(m))) => {
                    return Err(ConnectorError::Provider(ProviderError::Unavailable(m)));
                }
                Err(e) => Change::Failed(e.to_string()),
            };
            let scope = inner.store.tenant(tenant).await?;
            let mut applied = Applied::default();
            applied.add(connection, provider.info().id, event, change);
            applied.write(&Repo::new(&scope), now_unix_micros()).await?;
            scope.commit().await?;
        }
    }
    Ok(())
}

/// The records of one kind of one connection: (connection, provider, kind).
type RecordsOf = (ConnectionId, &'static str, &'static str);

/// The changes of a tenant's events, gathered to be written together: records by (connection, provider, kind) in
/// event order, deletions in event order, and the events by how their processing ended.
#[derive(Default)]
struct Applied {
    upserts: Vec<(RecordsOf, Vec<crate::provider::RecordIn>)>,
    deletes: Vec<(ConnectionId, &'static str, String)>,
    finished: Vec<((i32, String), Vec<String>)>,
}

impl Applied {
    fn add(&mut self, connection: ConnectionId, provider: &'static str, event: String, change: Change) {
        let (status, error) = match change {
            Change::Upsert(kind, record) => {
                let key = (connection, provider, kind);
                match self.upserts.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, records)) => records.push(record),
                    None => self.upserts.push((key, vec![record])),
                }
                (WebhookEventStatus::Processed, String::new())
            }
            Change::Delete(kind, id) => {
                // A deletion after an upsert of the same record in this batch wins: drop the pending upsert.
                for ((c, _, k), records) in &mut self.upserts {
                    if *c == connection && *k == kind {
                        records.retain(|r| r.external_id != id);
                    }
                }
                self.deletes.push((connection, kind, id));
                (WebhookEventStatus::Processed, String::new())
            }
            Change::Failed(message) => (WebhookEventStatus::Failed, message),
            Change::Nothing => (WebhookEventStatus::Ignored, String::new()),
        };
        let key = (status as i32, error);
        match self.finished.iter_mut().find(|(k, _)| *k == key) {
            Some((_, events)) => events.push(event),
            None => self.finished.push((key, vec![event])),
        }
    }

    async fn write(self, repo: &Repo<'_>, now: i64) -> Result<(), ConnectorError> {
        for (connection, kind, id) in &self.deletes {
            repo.delete_record(*connection, kind, id).await?;
        }
        for ((connection, provider, kind), records) in &self.upserts {
            repo.upsert_records(*connection, provider, kind, records, now).await?;
        }
        for ((status, error), events) in self.finished {
            repo.finish_webhook_events(events, status, &error, now).await?;
        }
        Ok(())
    }
}

/// What processing an event does to the record store.
enum Change {
    Upsert(&'static str, crate::provider::RecordIn),
    Delete(&'static str, String),
    Failed(String),
    Nothing,
}

async fn fetch(
    inner: &Inner,
    provider: &dyn crate::provider::Provider,
    tenant: TenantId,
    connection: ConnectionId,
    kind: &str,
    id: &str,
) -> Result<Option<crate::provider::RecordIn>, ConnectorError> {
    let (row, credentials) = inner.tokens.fresh(provider, tenant, connection).await?;
    let call = crate::provider::Call {
        http: &inner.http,
        settings: &inner.settings,
        account: &row.account,
        token: &credentials.access_token,
    };
    Ok(provider.fetch_record(&call, kind, id).await?)
}
