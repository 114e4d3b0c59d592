//! The transactional outbox: a change and the event reporting it commit together, and a relay publishes the
//! event afterwards, however long the bus is away.
//!
//! - [`enqueue`] writes envelopes into the outbox inside the caller's tenant transaction.
//! - [`OutboxRelay`] reads pending rows of every tenant in id order (so in write order per key), publishes them,
//!   waits for the bus to accept them, then marks them sent. While the bus is down it retries the same batch with
//!   exponential backoff. A relay that dies between publishing and marking publishes those rows again when it
//!   comes back: consumers drop them by event id. A commit that wrote outbox rows wakes the relay of its own
//!   process at once ([`Store::outbox_committed`]); rows other processes write are found by polling.
//! - One relay per database publishes at a time: they take turns through a lease in the store, so two processes
//!   sharing PostgreSQL never interleave and reorder one key's events.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use switchboard_proto::events::v1::EventEnvelope;
use switchboard_store::events::NewOutboxEvent;
use switchboard_store::{Store, TenantScope};
use tokio_util::sync::CancellationToken;

use crate::{EventBus, EventsError, Outgoing};

/// Writes `envelopes` for `topic` into `scope`'s outbox: they are published once the transaction commits.
pub async fn enqueue(scope: &TenantScope, topic: &str, envelopes: &[EventEnvelope]) -> Result<(), EventsError> {
    let tenant = scope.tenant().to_string();
    if let Some(other) = envelopes.iter().find(|e| e.tenant_id != tenant) {
        return Err(EventsError::Invalid(format!(
            "event {} belongs to tenant {:?}, not to this transaction's tenant {tenant}",
            other.event_id, other.tenant_id
        )));
    }
    let now = switchboard_types::now_unix_micros();
    let rows = envelopes
        .iter()
        .map(|e| NewOutboxEvent {
            event_id: e.event_id.clone(),
            topic: topic.to_owned(),
            key: e.key.clone(),
            envelope: e.encode_to_vec(),
            created_at_us: now,
        })
        .collect();
    scope.outbox().enqueue(rows).await?;
    Ok(())
}

/// Knobs of an [`OutboxRelay`].
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Rows read and published per round.
    pub batch: u64,
    /// How often to look for new rows when nothing wakes the relay (rows written by other processes).
    pub poll_interval: Duration,
    /// First and longest wait between attempts while the bus or the store fails.
    pub backoff: (Duration, Duration),
    /// Sent rows are deleted after this long.
    pub keep_sent: Duration,
    /// How long the relay's lease lasts without renewal (another process takes over after it expires).
    pub lease: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            batch: 500,
            poll_interval: Duration::from_millis(200),
            backoff: (Duration::from_millis(100), Duration::from_secs(10)),
            keep_sent: Duration::from_secs(3600),
            lease: Duration::from_secs(15),
        }
    }
}

/// Name of the lease relays take turns on.
const LEASE: &str = "outbox-relay";

/// Publishes the outbox of one store to a bus.
pub struct OutboxRelay {
    store: Store,
    bus: std::sync::Arc<dyn EventBus>,
    options: RelayOptions,
    holder: String,
    /// When this relay last took or renewed the lease.
    renewed: std::sync::Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for OutboxRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRelay").field("bus", &self.bus.name()).field("holder", &self.holder).finish()
    }
}

/// What one relay round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Published and marked this many rows (0: the outbox is empty).
    Published(usize),
    /// Another process holds the lease.
    NotLeader,
}

impl OutboxRelay {
    /// A relay from `store`'s outbox to `bus`.
    pub fn new(store: Store, bus: std::sync::Arc<dyn EventBus>, options: RelayOptions) -> Self {
        let holder = uuid::Uuid::now_v7().to_string();
        Self { store, bus, options, holder, renewed: Default::default() }
    }

    /// One round: take the lease, publish up to a batch of pending rows, mark them sent.
    pub async fn run_once(&self) -> Result<Round, EventsError> {
        if !self.hold_lease().await? {
            return Ok(Round::NotLeader);
        }
        let rows = self.store.outbox_relay().pending(self.options.batch).await?;
        if rows.is_empty() {
            return Ok(Round::Published(0));
        }
        // Rows are in id order; publishing each topic's rows in that order keeps every key's order.
        let mut by_topic: Vec<(String, Vec<Outgoing>)> = Vec::new();
        for row in &rows {
            let payload = Bytes::from(row.envelope.clone());
            let message = match EventEnvelope::decode(payload.clone()) {
                // The row's tenant is what row-level security checked; an envelope naming another tenant would
                // reach that tenant's consumers. Never publish it (it is marked sent with the batch).
                Ok(envelope) if envelope.tenant_id != row.tenant_id => {
                    tracing::error!(
                        id = row.id, event_id = %row.event_id, row_tenant = %row.tenant_id,
                        envelope_tenant = %envelope.tenant_id, "dropping an outbox row whose envelope names another tenant"
                    );
                    continue;
                }
                Ok(envelope) => Outgoing::from_encoded(&envelope, payload),
                // Written by this crate, so this means a corrupted row: publish it as is rather than block the
                // outbox; consumers reject what they cannot decode.
                Err(e) => {
                    tracing::error!(id = row.id, event_id = %row.event_id, error = %e, "outbox row is not an envelope");
                    Outgoing { key: row.event_key.clone(), payload, headers: Default::default() }
                }
            };
            match by_topic.iter_mut().find(|(t, _)| *t == row.topic) {
                Some((_, messages)) => messages.push(message),
                None => by_topic.push((row.topic.clone(), vec![message])),
            }
        }
        for (topic, messages) in &by_topic {
            self.bus.publish(topic, messages).await?;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        self.store.outbox_relay().mark_sent(&ids, switchboard_types::now_unix_micros()).await?;
        Ok(Round::Published(rows.len()))
    }

    /// Takes or renews the lease; true while this relay holds it. An idle relay polls often, so the lease is
    /// written only once a third of its term has passed, not on every round.
    async fn hold_lease(&self) -> Result<bool, EventsError> {
        let fresh =
            |renewed: &Option<std::time::Instant>| renewed.is_some_and(|at| at.elapsed() < self.options.lease / 3);
        if fresh(&self.renewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)) {
            return Ok(true);
        }
        let now = switchboard_types::now_unix_micros();
        let expires = now.saturating_add(i64::try_from(self.options.lease.as_micros()).unwrap_or(i64::MAX));
        let started = std::time::Instant::now();
        let held = self.store.leases().try_acquire(LEASE, &self.holder, now, expires).await?;
        *self.renewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = held.then_some(started);
        Ok(held)
    }

    /// Relays until `shutdown`, then gives up the lease.
    pub async fn run(self, shutdown: CancellationToken) {
        let (first_backoff, max_backoff) = self.options.backoff;
        let mut backoff = first_backoff;
        let mut failing = false;
        let mut last_prune = tokio::time::Instant::now();
        loop {
            let round = tokio::select! {
                // Dropping a round mid-publish is safe: its rows stay pending and are published again.
                () = shutdown.cancelled() => break,
                round = self.run_once() => round,
            };
            let wait = match round {
                Ok(Round::Published(n)) => {
                    if failing {
                        tracing::info!(bus = self.bus.name(), "outbox relay recovered");
                        failing = false;
                    }
                    backoff = first_backoff;
                    if n as u64 == self.options.batch {
                        // A backlog: go on at once.
                        Duration::ZERO
                    } else {
                        self.options.poll_interval
                    }
                }
                Ok(Round::NotLeader) => self.options.lease / 3,
                Err(e) => {
                    if failing {
                        tracing::debug!(bus = self.bus.name(), error = %e, retry_in = ?backoff, "outbox relay still failing");
                    } else {
                        tracing::warn!(bus = self.bus.name(), error = %e, retry_in = ?backoff, "outbox relay cannot publish; retrying with backoff");
                        failing = true;
                    }
                    let wait = backoff;
                    backoff = (backoff * 2).min(max_backoff);
                    wait
                }
            };
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = tokio::time::Instant::now();
                self.prune().await;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                // A commit in this process that wrote outbox rows wakes the relay at once.
                () = self.store.outbox_committed(), if !failing => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        if let Err(e) = self.store.leases().release(LEASE, &self.holder).await {
            tracing::debug!(error = %e, "could not release the outbox relay lease; it will expire");
        }
    }

    async fn prune(&self) {
        let keep = i64::try_from(self.options.keep_sent.as_micros()).unwrap_or(i64::MAX);
        let cutoff = switchboard_types::now_unix_micros().saturating_sub(keep);
        if let Err(e) = self.store.outbox_relay().prune_sent(cutoff).await {
            tracing::warn!(error = %e, "pruning sent outbox rows failed");
        }
    }
}
