//! The embedded bus: an append-only log in the store (SQLite by default), one partition per topic, with each
//! consumer group's committed offset stored beside it. Messages and offsets survive a restart.
//!
//! Within one process a group has one active consumer per topic (like a one-partition Kafka topic: a second
//! consumer of the group waits in `subscribe` until the first is dropped). Publishers wake this process's
//! consumers at once; consumers in other processes sharing a PostgreSQL store find new messages by polling.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use switchboard_store::Store;
use switchboard_store::events::NewLogEntry;
use tokio::sync::{OwnedMutexGuard, watch};
use tokio_util::sync::CancellationToken;

use crate::{BusFuture, Delivery, EventBus, EventsError, Outgoing, Subscription, last_offsets};

/// How often a consumer looks for messages published by other processes.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The embedded bus over a store. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

/// Held by a group's active consumer of a topic.
type MemberLock = Arc<tokio::sync::Mutex<()>>;

struct Inner {
    store: Store,
    /// Bumped after every append, so waiting consumers in this process wake without polling.
    appended: watch::Sender<u64>,
    /// One lock per (group, topic): the group's single active consumer holds it.
    members: Mutex<HashMap<(String, String), MemberLock>>,
}

impl std::fmt::Debug for EmbeddedBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBus").finish_non_exhaustive()
    }
}

impl EmbeddedBus {
    /// A bus whose log lives in `store`.
    pub fn new(store: Store) -> Self {
        let (appended, _) = watch::channel(0);
        Self { inner: Arc::new(Inner { store, appended, members: Mutex::new(HashMap::new()) }) }
    }

    /// Deletes messages older than `retention` once an hour until `shutdown`. (Kafka's `retention.ms` plays this
    /// part on a broker.) A consumer group that falls further behind than `retention` loses what was pruned.
    pub async fn run_retention(self, retention: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let cutoff = switchboard_types::now_unix_micros()
                .saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX));
            match self.inner.store.event_log().prune(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "event log retention"),
                Err(e) => tracing::warn!(error = %e, "event log retention failed; retrying in an hour"),
            }
        }
    }

    fn member_lock(&self, group: &str, topic: &str) -> MemberLock {
        let mut members = self.inner.members.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        members.entry((group.to_owned(), topic.to_owned())).or_default().clone()
    }
}

impl EventBus for EmbeddedBus {
    fn ensure_topics<'a>(&'a self, _topics: &'a [&'a str]) -> BusFuture<'a, ()> {
        // Topics of the embedded log are just a column: nothing to create.
        Box::pin(async { Ok(()) })
    }

    fn publish<'a>(&'a self, topic: &'a str, messages: &'a [Outgoing]) -> BusFuture<'a, ()> {
        Box::pin(async move {
            validate_topic(topic)?;
            let entries = messages
                .iter()
                .map(|m| NewLogEntry { key: m.key.clone(), payload: m.payload.to_vec(), headers: m.headers.clone() })
                .collect();
            self.inner
                .store
                .event_log()
                .append(topic, entries, switchboard_types::now_unix_micros())
                .await
                .map_err(|e| EventsError::Unavailable(format!("embedded log: {e}")))?;
            self.inner.appended.send_modify(|n| *n = n.wrapping_add(1));
            Ok(())
        })
    }

    fn subscribe<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Box<dyn Subscription>> {
        Box::pin(async move {
            validate_topic(topic)?;
            if group.is_empty() {
                return Err(EventsError::Invalid("consumer group must not be empty".into()));
            }
            let membership = self.member_lock(group, topic).lock_owned().await;
            let position = self
                .inner
                .store
                .event_log()
                .committed(group, topic)
                .await
                .map_err(|e| EventsError::Unavailable(format!("embedded log: {e}")))?;
            let subscription: Box<dyn Subscription> = Box::new(EmbeddedSubscription {
                bus: self.clone(),
                topic: topic.to_owned(),
                group: group.to_owned(),
                position,
                appended: self.inner.appended.subscribe(),
                _membership: membership,
            });
            Ok(subscription)
        })
    }

    fn name(&self) -> &'static str {
        "embedded"
    }

    fn consumer_lag<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Option<u64>> {
        Box::pin(async move {
            let log = self.inner.store.event_log();
            let committed = log.committed(group, topic).await?;
            Ok(Some(log.count_after(topic, committed).await?))
        })
    }
}

struct EmbeddedSubscription {
    bus: EmbeddedBus,
    topic: String,
    group: String,
    /// The last offset handed out.
    position: i64,
    appended: watch::Receiver<u64>,
    _membership: OwnedMutexGuard<()>,
}

impl Subscription for EmbeddedSubscription {
    fn next_batch(&mut self, max: usize) -> BusFuture<'_, Vec<Delivery>> {
        Box::pin(async move {
            let limit = max.clamp(1, 10_000) as u64;
            loop {
                // Mark the current version seen before reading, so an append after the read wakes us.
                self.appended.borrow_and_update();
                let rows = self
                    .bus
                    .inner
                    .store
                    .event_log()
                    .read(&self.topic, self.position, limit)
                    .await
                    .map_err(|e| EventsError::Unavailable(format!("embedded log: {e}")))?;
                if let Some(last) = rows.last() {
                    self.position = last.id;
                    return Ok(rows
                        .into_iter()
                        .map(|row| Delivery {
                            topic: row.topic,
                            partition: 0,
                            offset: row.id,
                            key: row.event_key,
                            payload: Bytes::from(row.payload),
                            headers: serde_json::from_str::<BTreeMap<String, String>>(&row.headers).unwrap_or_default(),
                        })
                        .collect());
                }
                // Either this process appends (woken at once) or another one does (found by the next poll).
                let _ = tokio::time::timeout(POLL_INTERVAL, self.appended.changed()).await;
            }
        })
    }

    fn commit<'a>(&'a mut self, deliveries: &'a [Delivery]) -> BusFuture<'a, ()> {
        Box::pin(async move {
            for ((topic, _), offset) in last_offsets(deliveries) {
                if topic != self.topic {
                    return Err(EventsError::Invalid(format!("delivery of {topic} committed on {}", self.topic)));
                }
                self.bus
                    .inner
                    .store
                    .event_log()
                    .commit(&self.group, &self.topic, offset)
                    .await
                    .map_err(|e| EventsError::Unavailable(format!("embedded log: {e}")))?;
            }
            Ok(())
        })
    }
}

/// Kafka's topic-name rules, so a name that works on one bus works on the other.
pub(crate) fn validate_topic(topic: &str) -> Result<(), EventsError> {
    let ok = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(EventsError::Invalid(format!(
            "invalid topic name {topic:?}: use 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-'"
        )))
    }
}
