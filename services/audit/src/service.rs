//! The `switchboard.audit.v1.AuditService` handlers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::storage::{AuditFilter, AuditRecord, AuditScope, CheckpointRecord, Page};
use switchboard_mesh::Identity;
use switchboard_mesh::context::RequestContext;
use switchboard_mesh::inbound::ConnectionInfo;
use switchboard_proto::audit::v1 as pb;
use switchboard_store::{Store, StoreError, TenantId};
use switchboard_types::EventId;
use tonic::{Request, Response, Status};

use crate::chain::{self, ChainVerifier, EntryFields, GENESIS_HASH};
use crate::convert::{json_to_struct, now_us, struct_to_json, timestamp_to_us, us_to_timestamp};
use crate::{AuditError, CheckpointSigner, page_token};

/// Most events in one AppendEvents call.
const MAX_BATCH: usize = 1000;
/// Longest actor, action or resource.
const MAX_FIELD: usize = 512;
/// Largest details object, as canonical JSON.
const MAX_DETAILS: usize = 16 * 1024;
/// Largest AppendEvents payload (text fields and details, summed): keeps the response, which echoes every event
/// with its hashes, under the 4 MiB message limit.
const MAX_BATCH_BYTES: usize = 2 * 1024 * 1024;
/// A ListEvents page stops growing past this many encoded bytes, whatever its page_size.
const MAX_PAGE_BYTES: usize = 3 * 1024 * 1024;
/// ListEvents page size when the caller gives none, and the most it may ask for.
const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 1000;
/// Rows read per query while verifying.
const VERIFY_BATCH: u64 = 2000;
/// Attempts at an append that loses a race with another process.
const APPEND_ATTEMPTS: usize = 5;

/// The audit service.
#[derive(Clone)]
pub struct AuditService {
    inner: Arc<Inner>,
}

/// Lock stripes for appends. A tenant always maps to the same stripe, so its appends are serialized; different
/// tenants mostly land on different stripes and proceed in parallel. A fixed number keeps memory bounded however
/// many tenants a caller names.
const LOCK_STRIPES: usize = 64;

struct Inner {
    store: Store,
    signer: CheckpointSigner,
    chains: Box<[tokio::sync::Mutex<()>]>,
}

impl std::fmt::Debug for AuditService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditService").finish_non_exhaustive()
    }
}

/// An event after validation, before it has a place in the chain.
struct Validated {
    event_id: String,
    occurred_at_us: i64,
    actor: String,
    action: String,
    resource: String,
    outcome: i32,
    details: String,
    origin: Origin,
}

/// The request an event came from: stored with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// `x-request-id` of the request.
    pub request_id: String,
    /// The trace id (32 hex digits) of its `traceparent`.
    pub trace_id: String,
}

impl Origin {
    /// The origin of events appended within `context`.
    pub fn of(context: &RequestContext) -> Self {
        Self { request_id: context.request_id().to_string(), trace_id: context.trace().trace_id_hex().to_string() }
    }
}

impl AuditService {
    /// A service over `store`, signing checkpoints with `signer`.
    pub fn new(store: Store, signer: CheckpointSigner) -> Self {
        let chains = (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        Self { inner: Arc::new(Inner { store, signer, chains }) }
    }

    fn chain_lock(&self, tenant: TenantId) -> &tokio::sync::Mutex<()> {
        // v7 UUIDs end in random bits, so the low bits spread tenants evenly.
        &self.inner.chains[(tenant.as_uuid().as_u128() % LOCK_STRIPES as u128) as usize]
    }

    /// Appends `events` to `context`'s tenant chain. Public for in-process callers and benchmarks; the gRPC
    /// handler adds the caller check.
    pub async fn append(
        &self,
        context: &RequestContext,
        events: Vec<pb::NewEvent>,
    ) -> Result<pb::AppendEventsResponse, AuditError> {
        let tenant = context.require_tenant()?;
        let origin = Origin::of(context);
        let validated = validate(events.into_iter().map(|e| (e, origin.clone())).collect())?;
        self.append_validated(tenant, validated).await
    }

    /// Appends events that each carry their own origin to `tenant`'s chain, as the audit-events consumer does
    /// with events from many requests. Idempotent by event id like [`AuditService::append`].
    pub async fn append_from(
        &self,
        tenant: TenantId,
        events: Vec<(pb::NewEvent, Origin)>,
    ) -> Result<pb::AppendEventsResponse, AuditError> {
        let validated = validate(events)?;
        self.append_validated(tenant, validated).await
    }

    async fn append_validated(
        &self,
        tenant: TenantId,
        validated: Vec<Validated>,
    ) -> Result<pb::AppendEventsResponse, AuditError> {
        let _serialized = self.chain_lock(tenant).lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.append_once(tenant, &validated).await {
                Err(AuditError::Store(StoreError::Conflict(what))) if attempt < APPEND_ATTEMPTS => {
                    // Another process appended to this chain between our read and write; read the new head.
                    tracing::debug!(%tenant, %what, attempt, "append raced another writer; retrying");
                }
                Err(AuditError::Store(StoreError::Conflict(_))) => return Err(AuditError::Contended),
                other => return other,
            }
        }
    }

    async fn append_once(
        &self,
        tenant: TenantId,
        events: &[Validated],
    ) -> Result<pb::AppendEventsResponse, AuditError> {
        let scope = self.inner.store.tenant(tenant).await?;
        let repo = scope.audit();
        repo.lock_chain().await?;

        let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
        let existing: HashMap<String, AuditRecord> =
            repo.find_by_event_ids(&ids).await?.into_iter().map(|r| (r.event_id.clone(), r)).collect();
        let head = repo.head().await?;
        let (mut seq, mut prev_hash) = match head {
            Some(h) => (h.seq, h.hash),
            None => (0, GENESIS_HASH.to_vec()),
        };

        let tenant_text = tenant.to_string();
        let mut fresh = Vec::new();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            if let Some(stored) = existing.get(&event.event_id) {
                out.push(stored.clone());
                continue;
            }
            seq = seq.checked_add(1).ok_or_else(|| {
                AuditError::Store(StoreError::Config(format!("tenant {tenant}'s chain head seq is at its maximum")))
            })?;
            let mut record = AuditRecord {
                tenant_id: tenant_text.clone(),
                seq,
                event_id: event.event_id.clone(),
                occurred_at_us: event.occurred_at_us,
                actor: event.actor.clone(),
                action: event.action.clone(),
                resource: event.resource.clone(),
                outcome: event.outcome,
                details: event.details.clone(),
                request_id: event.origin.request_id.clone(),
                trace_id: event.origin.trace_id.clone(),
                prev_hash: prev_hash.clone(),
                hash: Vec::new(),
            };
            record.hash = chain::entry_hash(&prev_hash, &EntryFields::from(&record)).to_vec();
            prev_hash = record.hash.clone();
            out.push(record.clone());
            fresh.push(record);
        }

        let checkpoint = if fresh.is_empty() {
            repo.checkpoint().await?
        } else {
            repo.insert(fresh).await?;
            let checkpoint = self.sign(&tenant_text, seq, &prev_hash);
            repo.save_checkpoint(checkpoint.clone()).await?;
            Some(checkpoint)
        };
        scope.commit().await?;
        Ok(pb::AppendEventsResponse {
            events: out.iter().map(to_proto).collect(),
            checkpoint: checkpoint.map(|c| self.checkpoint_to_proto(c)),
        })
    }

    fn sign(&self, tenant: &str, seq: i64, head_hash: &[u8]) -> CheckpointRecord {
        let signature = self.inner.signer.sign(&chain::checkpoint_message(tenant, seq, head_hash));
        CheckpointRecord {
            tenant_id: tenant.to_owned(),
            seq,
            head_hash: head_hash.to_vec(),
            signature,
            key_id: self.inner.signer.key_id().to_owned(),
            created_at_us: now_us(),
        }
    }

    fn checkpoint_to_proto(&self, c: CheckpointRecord) -> pb::Checkpoint {
        pb::Checkpoint {
            tenant_id: c.tenant_id,
            seq: c.seq,
            head_hash: c.head_hash,
            signature: c.signature,
            key_id: c.key_id,
            public_key: self.inner.signer.public_key().to_vec(),
            create_time: Some(us_to_timestamp(c.created_at_us)),
        }
    }

    /// Lists `context`'s tenant events.
    pub async fn list(
        &self,
        context: &RequestContext,
        request: pb::ListEventsRequest,
    ) -> Result<pb::ListEventsResponse, AuditError> {
        let tenant = context.require_tenant()?;
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE,
            n if (1..=MAX_PAGE).contains(&n) => n,
            n => {
                return Err(AuditError::InvalidArgument(format!(
                    "page_size must be between 1 and {MAX_PAGE} (or 0 for the default of {DEFAULT_PAGE}), got {n}"
                )));
            }
        };
        let time = |t: Option<prost_types::Timestamp>, name: &str| {
            t.map(|t| {
                timestamp_to_us(&t).ok_or_else(|| AuditError::InvalidArgument(format!("{name} is not a valid time")))
            })
            .transpose()
        };
        for (name, value) in [("actor", &request.actor), ("action", &request.action)] {
            check_text(name, value)?;
        }
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let filter = AuditFilter {
            start_us: time(request.start_time, "start_time")?,
            end_us: time(request.end_time, "end_time")?,
            actor: non_empty(request.actor),
            action: non_empty(request.action),
        };
        let print = page_token::fingerprint(&filter, request.order_ascending);
        let after_seq = match request.page_token.as_str() {
            "" => None,
            token => Some(page_token::decode(token, &print)?),
        };
        let limit = page_size as u64;
        let scope = self.inner.store.tenant_read(tenant).await?;
        let mut rows = scope
            .audit()
            .list(&filter, Page { after_seq, ascending: request.order_ascending, limit: limit + 1 })
            .await?;
        drop(scope);
        let mut more = rows.len() as u64 > limit;
        rows.truncate(page_size as usize);
        let mut events = Vec::with_capacity(rows.len());
        let mut bytes = 0;
        for row in &rows {
            let event = to_proto(row);
            bytes += prost::Message::encoded_len(&event);
            if bytes > MAX_PAGE_BYTES && !events.is_empty() {
                more = true;
                break;
            }
            events.push(event);
        }
        let next_page_token = match events.last() {
            Some(last) if more => page_token::encode(last.seq, &print),
            _ => String::new(),
        };
        Ok(pb::ListEventsResponse { events, next_page_token })
    }

    /// Recomputes `tenant`'s chain against its latest signed checkpoint.
    pub async fn verify(&self, tenant: TenantId) -> Result<pb::VerifyChainResponse, AuditError> {
        let tenant_text = tenant.to_string();
        let store = &self.inner.store;
        // The checkpoint first: entries appended while we read are beyond it and are checked next time.
        let checkpoint = store.tenant_read(tenant).await?.audit().checkpoint().await?;
        let bound = checkpoint.as_ref().map_or(i64::MAX, |c| c.seq);
        let mut verifier = ChainVerifier::new(checkpoint.as_ref().map_or(0, |c| c.seq));
        // From the lowest possible seq: a row slipped in below 1 must be seen, not skipped.
        let mut after = i64::MIN;
        loop {
            let batch = store.tenant_read(tenant).await?.audit().chain_range(after, bound, VERIFY_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            verifier.feed(&batch);
            if verifier.failure().is_some() || (batch.len() as u64) < VERIFY_BATCH {
                break;
            }
        }

        match &checkpoint {
            None if verifier.head_seq() > 0 => {
                verifier.fail(1, "the log has entries but no signed checkpoint: the checkpoint was deleted".into())
            }
            None => {}
            Some(cp) => {
                let message = chain::checkpoint_message(&tenant_text, cp.seq, &cp.head_hash);
                if cp.key_id != self.inner.signer.key_id() || !self.inner.signer.verify(&message, &cp.signature) {
                    verifier.fail(cp.seq, format!("the checkpoint at entry {} has an invalid signature", cp.seq));
                } else if verifier.failure().is_none() && verifier.head_seq() < cp.seq {
                    let head = verifier.head_seq();
                    verifier.fail(
                        head + 1,
                        format!(
                            "the log ends at entry {head} but a checkpoint was signed at entry {}: entries after {head} \
                             were deleted",
                            cp.seq
                        ),
                    );
                } else if verifier.failure().is_none() && verifier.watched_hash() != Some(cp.head_hash.as_slice()) {
                    verifier.fail(cp.seq, format!("entry {} differs from the signed checkpoint", cp.seq));
                }
            }
        }
        if verifier.failure().is_none() {
            // Anything past the checkpoint must be covered by a newer one (appends sign in the same transaction).
            let scope = store.tenant_read(tenant).await?;
            let head = scope.audit().head().await?;
            let latest = scope.audit().checkpoint().await?;
            drop(scope);
            if let Some(head) = head {
                let covered = latest.as_ref().map_or(0, |c| c.seq);
                if head.seq > covered {
                    verifier.fail(
                        covered + 1,
                        format!("entries {}..={} are not covered by a signed checkpoint", covered + 1, head.seq),
                    );
                }
            }
        }

        let (first_invalid_seq, reason) = verifier.failure().cloned().unwrap_or_default();
        Ok(pb::VerifyChainResponse {
            valid: verifier.failure().is_none(),
            checked_events: verifier.checked(),
            head_seq: verifier.head_seq(),
            head_hash: if verifier.head_seq() == 0 { Vec::new() } else { verifier.head_hash().to_vec() },
            first_invalid_seq,
            reason,
            checkpoint: checkpoint.map(|c| self.checkpoint_to_proto(c)),
        })
    }
}

fn validate(events: Vec<(pb::NewEvent, Origin)>) -> Result<Vec<Validated>, AuditError> {
    let invalid = |m: String| AuditError::InvalidArgument(m);
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(invalid(format!("events must hold 1 to {MAX_BATCH} events, got {}", events.len())));
    }
    let now = now_us();
    let mut seen = HashSet::new();
    let mut batch_bytes = 0;
    let mut out = Vec::with_capacity(events.len());
    for (i, (e, origin)) in events.into_iter().enumerate() {
        let event_id = if e.event_id.is_empty() {
            EventId::generate().to_string()
        } else {
            e.event_id.parse::<EventId>().map_err(|err| invalid(format!("events[{i}].event_id: {err}")))?.to_string()
        };
        // The same id twice in one batch is one event, as it would be across batches.
        if !seen.insert(event_id.clone()) {
            continue;
        }
        for (name, value) in [("actor", &e.actor), ("action", &e.action)] {
            if value.trim().is_empty() {
                return Err(invalid(format!("events[{i}].{name} is required")));
            }
        }
        for (name, value) in [("actor", &e.actor), ("action", &e.action), ("resource", &e.resource)] {
            check_text(&format!("events[{i}].{name}"), value)?;
        }
        if pb::Outcome::try_from(e.outcome).is_err() {
            return Err(invalid(format!("events[{i}].outcome: {} is not a known Outcome", e.outcome)));
        }
        let occurred_at_us = match &e.occur_time {
            None => now,
            Some(t) => {
                timestamp_to_us(t).ok_or_else(|| invalid(format!("events[{i}].occur_time is not a valid time")))?
            }
        };
        let details = match &e.details {
            None => "{}".to_owned(),
            Some(d) => struct_to_json(d).map_err(|m| invalid(format!("events[{i}].details: {m}")))?,
        };
        if details.len() > MAX_DETAILS {
            return Err(invalid(format!("events[{i}].details is larger than {MAX_DETAILS} bytes")));
        }
        batch_bytes += e.actor.len() + e.action.len() + e.resource.len() + details.len();
        if batch_bytes > MAX_BATCH_BYTES {
            return Err(invalid(format!(
                "the events add up to more than {MAX_BATCH_BYTES} bytes: split them over several AppendEvents calls"
            )));
        }
        out.push(Validated {
            event_id,
            occurred_at_us,
            actor: e.actor,
            action: e.action,
            resource: e.resource,
            outcome: e.outcome,
            details,
            origin,
        });
    }
    Ok(out)
}

/// Text fields are at most [`MAX_FIELD`] bytes with no control characters (PostgreSQL refuses NUL outright; the
/// others have no business in an actor or action name, and would make logs ambiguous).
fn check_text(name: &str, value: &str) -> Result<(), AuditError> {
    if value.len() > MAX_FIELD {
        return Err(AuditError::InvalidArgument(format!("{name} is longer than {MAX_FIELD} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(AuditError::InvalidArgument(format!("{name} contains a control character")));
    }
    Ok(())
}

fn to_proto(r: &AuditRecord) -> pb::AuditEvent {
    pb::AuditEvent {
        seq: r.seq,
        event_id: r.event_id.clone(),
        tenant_id: r.tenant_id.clone(),
        actor: r.actor.clone(),
        action: r.action.clone(),
        resource: r.resource.clone(),
        outcome: r.outcome,
        occur_time: Some(us_to_timestamp(r.occurred_at_us)),
        details: Some(json_to_struct(&r.details)),
        request_id: r.request_id.clone(),
        trace_id: r.trace_id.clone(),
        prev_hash: r.prev_hash.clone(),
        hash: r.hash.clone(),
    }
}

/// Services that may append; operators only read and verify.
fn may_append(peer: Option<&Identity>) -> bool {
    peer.is_some_and(|p| [Identity::gateway(), Identity::orchestrator(), Identity::connectors()].contains(p))
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditService {
    async fn append_events(
        &self,
        request: Request<pb::AppendEventsRequest>,
    ) -> Result<Response<pb::AppendEventsResponse>, Status> {
        let peer = request.extensions().get::<ConnectionInfo>().and_then(|c| c.peer.clone());
        if !may_append(peer.as_ref()) {
            return Err(AuditError::PermissionDenied(
                "AppendEvents is for platform services (gateway, orchestrator, connectors); operators may list and \
                 verify"
                    .into(),
            )
            .into());
        }
        let context = RequestContext::of(&request)?.clone();
        Ok(Response::new(self.append(&context, request.into_inner().events).await?))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let context = RequestContext::of(&request)?.clone();
        Ok(Response::new(self.list(&context, request.into_inner()).await?))
    }

    async fn verify_chain(
        &self,
        request: Request<pb::VerifyChainRequest>,
    ) -> Result<Response<pb::VerifyChainResponse>, Status> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(AuditError::from)?;
        Ok(Response::new(self.verify(tenant).await?))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        let tenant = RequestContext::of(&request)?.require_tenant().map_err(AuditError::from)?;
        let scope = self.inner.store.tenant_read(tenant).await.map_err(AuditError::from)?;
        let checkpoint = scope.audit().checkpoint().await.map_err(AuditError::from)?;
        Ok(Response::new(pb::GetCheckpointResponse { checkpoint: checkpoint.map(|c| self.checkpoint_to_proto(c)) }))
    }
}
