//! Live run events: a broadcast channel per run in memory, fed after each committed change, and the follower that
//! turns a run's event log plus its live events into one stream without gaps or duplicates.
//!
//! A follower subscribes first, then reads the log after the client's `after_sequence` from the database, then takes
//! live events: one it already sent is dropped, one that would leave a gap (events committed in one order may be
//! broadcast in another, or the follower lagged) sends it back to the log. It also re-reads the log every few
//! seconds, so a run driven by another replica is followed too. It ends after `run_finished`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_proto::orchestrator::v1::AskResponse;
use switchboard_proto::orchestrator::v1::ask_response::Event;
use switchboard_store::Store;
use switchboard_types::TenantId;
use tokio::sync::{Notify, broadcast, mpsc};

use crate::error::OrchestratorError;
use crate::storage::Repo;

/// Events a slow follower may fall behind by before it goes back to the log.
const CHANNEL_CAPACITY: usize = 256;
/// Log events read per query while replaying.
const REPLAY_BATCH: u64 = 500;
/// How often a follower re-reads the log when nothing arrives live.
const POLL: Duration = Duration::from_secs(3);

/// One run's live state in this process.
#[derive(Clone)]
struct Channel {
    events: broadcast::Sender<AskResponse>,
    /// Wakes the run's driver (an approval, a rejection, a cancellation).
    wake: Arc<Notify>,
}

/// Every run's live channel in this process.
#[derive(Default)]
pub(crate) struct Hub {
    runs: Mutex<HashMap<String, Channel>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    fn channel(&self, run_id: &str) -> Channel {
        let mut runs = self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        runs.entry(run_id.to_owned())
            .or_insert_with(|| Channel {
                events: broadcast::channel(CHANNEL_CAPACITY).0,
                wake: Arc::new(Notify::new()),
            })
            .clone()
    }

    /// Sends committed events to the run's followers; after `run_finished` the channel is dropped.
    pub(crate) fn publish(&self, run_id: &str, events: &[AskResponse]) {
        let channel = self.channel(run_id);
        for event in events {
            // No follower is fine: they read the log.
            let _ = channel.events.send(event.clone());
        }
        if events.iter().any(is_last) {
            self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(run_id);
        }
    }

    /// The handle that wakes the run's driver.
    pub(crate) fn waker(&self, run_id: &str) -> Arc<Notify> {
        self.channel(run_id).wake
    }

    /// Wakes the run's driver, if it runs here.
    pub(crate) fn wake(&self, run_id: &str) {
        self.channel(run_id).wake.notify_one();
    }

    fn subscribe(&self, run_id: &str) -> broadcast::Receiver<AskResponse> {
        self.channel(run_id).events.subscribe()
    }
}

/// Whether `event` is a run's last.
pub(crate) fn is_last(event: &AskResponse) -> bool {
    matches!(event.event, Some(Event::RunFinished(_)))
}

/// Streams run `run_id`'s events after `after` into `out` until `run_finished` or until the receiver is dropped.
pub(crate) async fn follow(
    hub: Arc<Hub>,
    store: Store,
    tenant: TenantId,
    run_id: String,
    after: i64,
    out: mpsc::Sender<Result<AskResponse, tonic::Status>>,
) {
    let mut live = hub.subscribe(&run_id);
    let mut last = after;
    loop {
        // The log first: everything committed before we subscribed, or that we missed live.
        loop {
            let (batch, ended) = match replay(&store, tenant, &run_id, last).await {
                Ok(read) => read,
                Err(e) => {
                    let _ = out.send(Err(e.into())).await;
                    return;
                }
            };
            let done = (batch.len() as u64) < REPLAY_BATCH;
            for event in batch {
                last = event.sequence;
                let finished = is_last(&event);
                if out.send(Ok(event)).await.is_err() || finished {
                    return;
                }
            }
            if done {
                // A client that re-attached after the last event of a finished run has nothing more to get.
                if ended.is_some_and(|end| last >= end) {
                    return;
                }
                break;
            }
        }
        // Then live, until a gap, a lag or a quiet spell sends us back to the log.
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(event) if event.sequence <= last => continue,
                    Ok(event) if event.sequence == last + 1 => {
                        last = event.sequence;
                        let finished = is_last(&event);
                        if out.send(Ok(event)).await.is_err() || finished {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => {
                        live = hub.subscribe(&run_id);
                        break;
                    }
                },
                _ = tokio::time::sleep(POLL) => break,
                _ = out.closed() => return,
            }
        }
    }
}

/// The run's events after `after` (a batch), and its last sequence if it has finished.
async fn replay(
    store: &Store,
    tenant: TenantId,
    run_id: &str,
    after: i64,
) -> Result<(Vec<AskResponse>, Option<i64>), OrchestratorError> {
    let scope = store.tenant(tenant).await?;
    let repo = Repo::new(&scope);
    let events = repo.events_after(run_id, after, REPLAY_BATCH).await?;
    let ended = repo.run(run_id).await?.and_then(|run| run.ended_at_us.map(|_| run.last_sequence));
    scope.commit().await?;
    Ok((events, ended))
}
