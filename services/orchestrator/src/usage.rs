//! Model tokens per tenant: the provider chain reports every attempt's usage (failed and fallen-back attempts
//! included) to [`UsageRecorder`], its [`UsageSink`], which adds it to the tenant's month in the usage table; and
//! [`budget_refusal`], the check of the tenant's monthly token budget that runs before a run starts and before
//! every model call.
//!
//! The sink is called on the model call's task and must not block, so it queues the record for a writer task;
//! [`UsageRecorder::flush`] waits until what was queued before it is written, so a budget check after a call sees
//! that call's tokens. A budget can be overshot by the calls in flight when it runs out (other runs of the tenant,
//! and the call that spends it), never by a call started after it was seen spent.

use std::sync::Arc;

use switchboard_models::{UsageRecord, UsageSink};
use switchboard_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::error::OrchestratorError;
use crate::settings::{self, AssistantSettings};
use crate::storage::Repo;

/// Usage records queued before the sink starts dropping them (and logging that it does).
const QUEUE: usize = 4096;

/// What the writer task is asked to do.
#[derive(Debug)]
enum Work {
    Record(UsageRecord),
    /// Answer once everything queued before is written.
    Flush(oneshot::Sender<()>),
}

/// Writes the chain's usage reports to the usage table, per tenant and month.
#[derive(Debug)]
pub(crate) struct UsageRecorder {
    queue: mpsc::Sender<Work>,
}

impl UsageRecorder {
    /// A recorder writing to `store`; its writer task ends when the recorder is dropped, after writing what is
    /// queued.
    pub(crate) fn start(store: Store) -> Arc<Self> {
        let (queue, mut work) = mpsc::channel::<Work>(QUEUE);
        tokio::spawn(async move {
            while let Some(next) = work.recv().await {
                match next {
                    Work::Record(record) => {
                        if let Err(error) = write(&store, &record).await {
                            tracing::error!(tenant = %record.tenant, provider = %record.provider, %error,
                                "model token usage could not be recorded");
                        }
                    }
                    // The asker may have stopped waiting; nothing to undo.
                    Work::Flush(done) => drop(done.send(())),
                }
            }
        });
        Arc::new(Self { queue })
    }

    /// Waits until the usage reported before this call is in the table.
    pub(crate) async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Work::Flush(done)).await.is_ok() {
            // An error means the writer stopped: there is nothing left to wait for.
            drop(written.await);
        }
    }
}

impl UsageSink for UsageRecorder {
    fn record(&self, record: UsageRecord) {
        if let Err(error) = self.queue.try_send(Work::Record(record)) {
            tracing::error!(%error, "model token usage dropped: the usage writer is behind or stopped");
        }
    }
}

async fn write(store: &Store, record: &UsageRecord) -> Result<(), OrchestratorError> {
    let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let (input, output) = (tokens(record.usage.input_tokens), tokens(record.usage.output_tokens));
    if input == 0 && output == 0 {
        return Ok(());
    }
    let month = settings::month_of(switchboard_types::now_unix_micros());
    let scope = store.tenant(record.tenant).await?;
    Repo::new(&scope).add_usage(&month, input, output).await?;
    scope.commit().await?;
    Ok(())
}

/// Why a new run is refused when the tenant's monthly token budget is spent, read in the caller's transaction.
pub(crate) async fn budget_refusal(
    repo: &crate::storage::Repo<'_>,
    settings: &AssistantSettings,
    now_us: i64,
) -> Result<Option<String>, OrchestratorError> {
    let Some(budget) = settings.monthly_token_budget else { return Ok(None) };
    let (input, output) = repo.usage(&crate::settings::month_of(now_us)).await?;
    if (input.saturating_add(output)).max(0) as u64 >= budget {
        return Ok(Some(format!(
            "this month's model token budget ({budget} tokens) is spent; an owner or admin can raise it in the \
             assistant settings"
        )));
    }
    Ok(None)
}
