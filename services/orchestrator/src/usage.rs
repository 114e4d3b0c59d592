//! Model tokens per tenant: the provider chain reports every attempt's usage (failed and fallen-back attempts
//! included) to [`UsageRecorder`], its [`UsageSink`], which adds it to the tenant's month in the usage table; and
//! [`budget_refusal`], the check of the tenant's monthly token budget before a run starts; and [`reserve`], which
//! every model call passes before it is made.
//!
//! The sink is called on the model call's task and must not block, so it queues the record for a writer task;
//! [`UsageRecorder::flush`] waits until what was queued before it is written, so a budget check after a call sees
//! that call's tokens.
//!
//! ## Calls in flight
//! A call's tokens are known only when it ends, so checking "used < budget" before each call would let every call
//! in flight at that moment spend past the budget. Instead a call first reserves its estimate
//! ([`switchboard_models::ProviderChain::token_estimate`]: the output limit plus the prompt's size), under a
//! per-tenant lock, and is refused when used + reserved + its estimate exceeds the budget; the reservation ends
//! once the call's real usage is recorded. So concurrent calls (several runs of a tenant, on any replica) never
//! together pass the budget; a single call can pass it only by using more input tokens than its estimate. A
//! reservation whose replica died during the call is ignored after [`RESERVATION_TTL_US`].

use std::sync::Arc;

use switchboard_models::{UsageRecord, UsageSink};
use switchboard_store::Store;
use switchboard_types::TenantId;
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
        return Ok(Some(spent(budget)));
    }
    Ok(None)
}

/// How long a reservation counts when its call never ends it (the replica died): longer than any call's total
/// timeout, short enough that a crash does not hold a tenant's budget for long.
pub(crate) const RESERVATION_TTL_US: i64 = 15 * 60 * 1_000_000;

/// The per-tenant lock under which budgets are checked and reserved.
const BUDGET_LOCK: &str = "orchestrator-token-budget";

/// Tokens held for one model call. [`Reservation::release`] ends it once the call is over; dropping it unreleased
/// (a cancelled run) releases it in the background.
#[derive(Debug)]
pub(crate) struct Reservation {
    held: Option<Held>,
}

#[derive(Debug)]
struct Held {
    store: Store,
    usage: Arc<UsageRecorder>,
    tenant: TenantId,
    id: String,
}

impl Held {
    /// Waits until the call's usage is in the table (so the budget never looks larger than it is), then ends the
    /// reservation. A failure leaves it to expire.
    async fn release(self) {
        self.usage.flush().await;
        let released = async {
            let scope = self.store.tenant(self.tenant).await?;
            crate::storage::Repo::new(&scope).remove_reservation(&self.id).await?;
            scope.commit().await
        };
        if let Err(error) = released.await {
            tracing::warn!(tenant = %self.tenant, %error, "a token reservation could not be released; it expires");
        }
    }
}

impl Reservation {
    /// Ends the reservation after the call's usage is recorded.
    pub(crate) async fn release(mut self) {
        if let Some(held) = self.held.take() {
            held.release().await;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(held) = self.held.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(held.release());
        }
    }
}

/// Reserves `tokens` of `tenant`'s monthly budget for one model call, or says why the call is refused. Nothing is
/// reserved for a tenant without a budget.
pub(crate) async fn reserve(
    store: &Store,
    usage: &Arc<UsageRecorder>,
    tenant: TenantId,
    tokens: u64,
) -> Result<Result<Reservation, String>, OrchestratorError> {
    // The calls that finished before this one count with their real usage.
    usage.flush().await;
    let now = switchboard_types::now_unix_micros();
    let scope = store.tenant(tenant).await?;
    scope.lock(BUDGET_LOCK).await?;
    let repo = Repo::new(&scope);
    let settings = settings::read(&repo, tenant).await?;
    let Some(budget) = settings.monthly_token_budget else {
        scope.commit().await?;
        return Ok(Ok(Reservation { held: None }));
    };
    let month = settings::month_of(now);
    repo.remove_expired_reservations(now).await?;
    let (input, output) = repo.usage(&month).await?;
    let used = input.saturating_add(output).max(0) as u64;
    let reserved = repo.reserved_tokens(&month, now).await?.max(0) as u64;
    if used >= budget {
        scope.commit().await?;
        return Ok(Err(spent(budget)));
    }
    if used.saturating_add(reserved).saturating_add(tokens) > budget {
        scope.commit().await?;
        let left = budget - used;
        let in_flight =
            if reserved > 0 { format!(", {reserved} of them held by model calls in flight") } else { String::new() };
        return Ok(Err(format!(
            "this model call could use up to {tokens} tokens and {left} of this month's model token budget \
             ({budget} tokens) are left{in_flight}; an owner or admin can raise the budget in the assistant settings"
        )));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
    repo.add_reservation(&id, &month, tokens, now.saturating_add(RESERVATION_TTL_US)).await?;
    scope.commit().await?;
    Ok(Ok(Reservation { held: Some(Held { store: store.clone(), usage: Arc::clone(usage), tenant, id }) }))
}

fn spent(budget: u64) -> String {
    format!(
        "this month's model token budget ({budget} tokens) is spent; an owner or admin can raise it in the assistant \
         settings"
    )
}
