//! The sync engine: copies a connection's records from its provider into the record store, page by page.
//!
//! Each page is written in one transaction with the (connection, kind) cursor that follows it and the sync's
//! counters, so a sync killed halfway (crash, shutdown) loses nothing and the next sync of the connection resumes
//! from the stored cursor instead of starting over; records are upserted by (connection, kind, external id), so a
//! page fetched twice creates no duplicates. A pass that reaches the last page moves the kind's watermark (the
//! newest provider change seen) forward: the next incremental sync asks for changes since then, less an overlap
//! for clock skew. When the sync ends, `SyncCompleted` goes to `connectors.syncs` through the outbox, in the
//! transaction that records the end.

use std::time::Duration;

use prost::Message;
use switchboard_events::{outbox, topics};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::connectors::v1::{ConnectionStatus, SyncStatus};
use switchboard_proto::events::v1::SyncCompleted;
use switchboard_types::{ConnectionId, SyncId, TenantId, now_unix_micros};
use tokio_util::sync::CancellationToken;

use crate::error::{ConnectorError, ProviderError};
use crate::provider::Call;
use crate::service::Inner;
use crate::storage::{CursorRow, Progress, Repo};

/// Incremental passes ask for changes since the watermark less this, for providers' clock skew and late writes.
const OVERLAP: Duration = Duration::from_secs(60);

/// One sync to run.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) tenant: TenantId,
    pub(crate) connection: ConnectionId,
    pub(crate) sync: SyncId,
    pub(crate) kinds: Vec<String>,
    pub(crate) full: bool,
    pub(crate) context: RequestContext,
}

enum Ended {
    Done,
    Cancelled,
}

/// Runs `job` to its end and records how it ended.
pub(crate) async fn run(inner: &Inner, job: Job, stop: CancellationToken) {
    let outcome = match start(inner, &job).await {
        Ok(true) => run_kinds(inner, &job, &stop).await,
        Ok(false) => {
            tracing::info!(sync = %job.sync, "sync no longer pending (taken over); not running it");
            return;
        }
        Err(e) => Err(e),
    };
    let (status, error) = match &outcome {
        Ok(Ended::Done) => (SyncStatus::Succeeded, None),
        Ok(Ended::Cancelled) => (
            SyncStatus::Cancelled,
            Some((tonic::Code::Cancelled, "the service shut down mid-sync; the next sync resumes".to_owned())),
        ),
        Err(e) => {
            let status: tonic::Status = match e {
                ConnectorError::Provider(p) => tonic::Status::from(ConnectorError::Provider(clone_provider_error(p))),
                other => tonic::Status::internal(other.to_string()),
            };
            (SyncStatus::Failed, Some((status.code(), status.message().to_owned())))
        }
    };
    if let Err(e) = &outcome {
        tracing::warn!(sync = %job.sync, connection = %job.connection, error = %e, "sync failed");
    }
    if let Err(e) = finish(inner, &job, status, error).await {
        tracing::error!(sync = %job.sync, error = %e, "could not record the end of a sync");
    }
}

fn clone_provider_error(e: &ProviderError) -> ProviderError {
    match e {
        ProviderError::Rejected { provider, message } => ProviderError::Rejected { provider, message: message.clone() },
        ProviderError::Unauthorized { provider, message } => {
            ProviderError::Unauthorized { provider, message: message.clone() }
        }
        ProviderError::RateLimited { retry_after, message } => {
            ProviderError::RateLimited { retry_after: *retry_after, message: message.clone() }
        }
        ProviderError::Unavailable(m) => ProviderError::Unavailable(m.clone()),
        ProviderError::Invalid(m) => ProviderError::Invalid(m.clone()),
    }
}

async fn start(inner: &Inner, job: &Job) -> Result<bool, ConnectorError> {
    let scope = inner.store.tenant(job.tenant).await?;
    let started = Repo::new(&scope).start_sync(job.sync, now_unix_micros()).await?;
    scope.commit().await?;
    Ok(started)
}

/// Record kinds of one sync fetched at once, each with its own cursor.
const KINDS_AT_ONCE: usize = 3;

/// Runs the sync's record kinds, [`KINDS_AT_ONCE`] at a time. The first kind goes alone until the provider has
/// answered it with a page: started together, the kinds' first requests would all reach a provider that is
/// throttling the account before any of them could learn its `Retry-After` (after that, the client holds every call
/// with these credentials back).
async fn run_kinds(inner: &Inner, job: &Job, stop: &CancellationToken) -> Result<Ended, ConnectorError> {
    use futures::StreamExt;
    let Some((first, rest)) = job.kinds.split_first() else { return Ok(Ended::Done) };
    let (answered, probe) = tokio::sync::watch::channel(false);
    let mut passes: Vec<futures::future::BoxFuture<'_, Result<Ended, ConnectorError>>> = Vec::new();
    passes.push(Box::pin(async {
        let pass = run_kind(inner, job, first, stop, Some(&answered)).await;
        let _ = answered.send(true);
        pass
    }));
    for kind in rest {
        let mut probe = probe.clone();
        passes.push(Box::pin(async move {
            let _ = probe.wait_for(|answered| *answered).await;
            run_kind(inner, job, kind, stop, None).await
        }));
    }
    let mut passes = futures::stream::iter(passes).buffer_unordered(KINDS_AT_ONCE);
    let mut ended = Ended::Done;
    while let Some(pass) = passes.next().await {
        if let Ended::Cancelled = pass? {
            ended = Ended::Cancelled;
        }
    }
    Ok(ended)
}

async fn run_kind(
    inner: &Inner,
    job: &Job,
    kind: &str,
    stop: &CancellationToken,
    answered: Option<&tokio::sync::watch::Sender<bool>>,
) -> Result<Ended, ConnectorError> {
    let scope = inner.store.tenant(job.tenant).await?;
    let stored = Repo::new(&scope).cursor(job.connection, kind).await?;
    scope.commit().await?;
    let mut cursor = stored.unwrap_or(CursorRow {
        tenant_id: String::new(),
        connection_id: job.connection.to_string(),
        kind: kind.to_owned(),
        page_cursor: String::new(),
        page_sync_id: String::new(),
        page_since_us: 0,
        watermark_us: 0,
        pending_watermark_us: 0,
    });
    // An interrupted pass resumes where it stopped, unless it was incremental and this sync wants everything.
    let resume = !cursor.page_cursor.is_empty() && (!job.full || cursor.page_since_us == 0);
    if !resume {
        cursor.page_cursor.clear();
        cursor.page_since_us = if job.full || cursor.watermark_us == 0 {
            0
        } else {
            (cursor.watermark_us - OVERLAP.as_micros() as i64).max(1)
        };
        cursor.pending_watermark_us = cursor.watermark_us;
    }
    cursor.page_sync_id = job.sync.to_string();
    let since = (cursor.page_since_us > 0).then_some(cursor.page_since_us);
    let provider = inner.registry.get(&job_provider(inner, job).await?)?;
    let mut credentials = inner.tokens.fresh(provider, job.tenant, job.connection).await?;
    let first = (!cursor.page_cursor.is_empty()).then(|| cursor.page_cursor.clone());
    let mut fetched = fetch(inner, provider, &credentials, kind, since, first, stop).await;
    loop {
        let page = match fetched {
            None => return Ok(Ended::Cancelled),
            Some(Ok(page)) => {
                if let Some(answered) = answered {
                    let _ = answered.send(true);
                }
                page
            }
            Some(Err(ProviderError::Unauthorized { provider: p, message })) => {
                let scope = inner.store.tenant(job.tenant).await?;
                Repo::new(&scope)
                    .set_status(
                        job.connection,
                        ConnectionStatus::NeedsReauth as i32,
                        tonic::Code::FailedPrecondition as i32,
                        &format!("{p} refused the credentials: {message}"),
                        now_unix_micros(),
                    )
                    .await?;
                scope.commit().await?;
                return Err(ProviderError::Unauthorized { provider: p, message }.into());
            }
            Some(Err(e)) => return Err(e.into()),
        };
        let newest = page.records.iter().map(|r| r.updated_at_us).max().unwrap_or(0);
        cursor.pending_watermark_us = cursor.pending_watermark_us.max(newest);
        cursor.page_cursor = page.next.clone().unwrap_or_default();
        let Some(next) = page.next.clone() else {
            cursor.watermark_us = cursor.pending_watermark_us;
            write_page(inner, job, provider.info().id, kind, &page, &cursor).await?;
            return Ok(Ended::Done);
        };
        if credentials.1.needs_refresh(now_unix_micros()) {
            credentials = inner.tokens.fresh(provider, job.tenant, job.connection).await?;
        }
        // The next page is fetched while this one is written: a page's write never waits for the provider.
        let (written, next_page) = futures::join!(
            write_page(inner, job, provider.info().id, kind, &page, &cursor),
            fetch(inner, provider, &credentials, kind, since, Some(next), stop),
        );
        written?;
        fetched = next_page;
    }
}

/// One page from the provider; `None` when `stop` came first.
async fn fetch(
    inner: &Inner,
    provider: &dyn crate::provider::Provider,
    credentials: &(crate::storage::ConnectionRow, crate::credentials::Stored),
    kind: &str,
    since: Option<i64>,
    cursor: Option<String>,
    stop: &CancellationToken,
) -> Option<Result<crate::provider::Page, ProviderError>> {
    let (row, stored) = credentials;
    let call =
        Call { http: &inner.http, settings: &inner.settings, account: &row.account, token: &stored.access_token };
    tokio::select! {
        page = provider.fetch_page(&call, kind, since, cursor.as_deref()) => Some(page),
        () = stop.cancelled() => None,
    }
}

/// Writes a page, the cursor that follows it and the sync's counters in one transaction.
async fn write_page(
    inner: &Inner,
    job: &Job,
    provider: &str,
    kind: &str,
    page: &crate::provider::Page,
    cursor: &CursorRow,
) -> Result<(), ConnectorError> {
    let now = now_unix_micros();
    let scope = inner.store.tenant(job.tenant).await?;
    let repo = Repo::new(&scope);
    let counts = repo.upsert_records(job.connection, provider, kind, &page.records, now).await?;
    repo.delete_records(job.connection, kind, page.deleted.clone()).await?;
    repo.save_cursor(cursor.clone()).await?;
    let progress =
        Progress { pages: 1, fetched: page.records.len() as i64, created: counts.created, updated: counts.updated };
    repo.add_progress(job.sync, progress).await?;
    scope.commit().await?;
    Ok(())
}

async fn job_provider(inner: &Inner, job: &Job) -> Result<String, ConnectorError> {
    let scope = inner.store.tenant(job.tenant).await?;
    let row = Repo::new(&scope)
        .connection(job.connection)
        .await?
        .ok_or_else(|| ConnectorError::NotFound(format!("connections/{} was deleted", job.connection)))?;
    scope.commit().await?;
    Ok(row.provider)
}

async fn finish(
    inner: &Inner,
    job: &Job,
    status: SyncStatus,
    error: Option<(tonic::Code, String)>,
) -> Result<(), ConnectorError> {
    let now = now_unix_micros();
    let scope = inner.store.tenant(job.tenant).await?;
    let repo = Repo::new(&scope);
    let (code, message) = error.map(|(c, m)| (c as i32, m)).unwrap_or_default();
    repo.finish_sync(job.sync, status as i32, code, &message, now).await?;
    if status == SyncStatus::Succeeded {
        repo.set_last_sync(job.connection, now).await?;
    }
    if let Some(row) = repo.sync(job.sync).await? {
        let sync = crate::service::sync_message(&row);
        let changed = if sync.records_created + sync.records_updated + sync.records_deleted > 0 {
            job.kinds.clone()
        } else {
            Vec::new()
        };
        let payload = SyncCompleted { sync: Some(sync), changed_record_kinds: changed };
        let envelope = inner.envelopes.build(
            &job.context,
            job.tenant,
            switchboard_events::types::SYNC_COMPLETED,
            format!("connections/{}", job.connection),
            "SyncCompleted",
            payload.encode_to_vec(),
        );
        outbox::enqueue(&scope, topics::CONNECTOR_SYNCS, &[envelope]).await?;
    }
    scope.commit().await?;
    Ok(())
}
