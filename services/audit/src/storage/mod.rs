//! The audit service's tables, which it owns: `audit_events` (one row per entry of a tenant's hash chain) and
//! `audit_checkpoints` (the latest signed checkpoint of each chain), their migrations, and the repository over a
//! [`TenantScope`], so every query here is filtered on that scope's tenant (and, on PostgreSQL, held to it by
//! row-level security, append-only for the tenant role).

mod audit_checkpoint;
mod audit_event;
mod migration;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use switchboard_store::{Store, StoreError, TenantScope};

/// Creates (or brings up to date) the audit service's tables.
pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate::<migration::Migrator>().await
}

/// The audit log of a tenant scope: `scope.audit()`.
pub trait AuditScope {
    /// The audit log of this scope's tenant.
    fn audit(&self) -> AuditRepository<'_>;
}

impl AuditScope for TenantScope {
    fn audit(&self) -> AuditRepository<'_> {
        AuditRepository { scope: self }
    }
}

/// One stored chain entry. `tenant_id` is always the scope's tenant.
pub type AuditRecord = audit_event::Model;
/// The stored checkpoint of one tenant.
pub type CheckpointRecord = audit_checkpoint::Model;

/// The newest entry of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Its sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: Vec<u8>,
}

/// Filters for listing entries. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries at or after this time (µs since epoch).
    pub start_us: Option<i64>,
    /// Entries before this time (µs since epoch).
    pub end_us: Option<i64>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
}

/// Which slice of the filtered entries to return, in seq order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Continue after (ascending) or before (descending) this seq.
    pub after_seq: Option<i64>,
    /// Oldest first.
    pub ascending: bool,
    /// At most this many.
    pub limit: u64,
}

/// The audit log of one tenant, inside that tenant's transaction.
#[derive(Debug)]
pub struct AuditRepository<'a> {
    scope: &'a TenantScope,
}

impl AuditRepository<'_> {
    /// Serializes appends to this tenant's chain across every process sharing the database, until the
    /// transaction ends. On SQLite the single writer connection already serializes them.
    pub async fn lock_chain(&self) -> Result<(), StoreError> {
        self.scope.lock("audit").await
    }

    /// The newest entry, or `None` for an empty chain.
    pub async fn head(&self) -> Result<Option<ChainHead>, StoreError> {
        let row = self
            .scope
            .select::<audit_event::Entity>()
            .select_only()
            .column(audit_event::Column::Seq)
            .column(audit_event::Column::Hash)
            .order_by_desc(audit_event::Column::Seq)
            .limit(1)
            .into_tuple::<(i64, Vec<u8>)>()
            .one(self.scope.connection())
            .await?;
        Ok(row.map(|(seq, hash)| ChainHead { seq, hash }))
    }

    /// Entries whose event ids are among `event_ids` (for idempotent appends).
    pub async fn find_by_event_ids(&self, event_ids: &[String]) -> Result<Vec<AuditRecord>, StoreError> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .scope
            .select::<audit_event::Entity>()
            .filter(audit_event::Column::EventId.is_in(event_ids.iter().cloned()))
            .all(self.scope.connection())
            .await?)
    }

    /// Inserts entries; they must carry this scope's tenant. A taken seq or event id is a
    /// [`StoreError::Conflict`].
    pub async fn insert(&self, records: Vec<AuditRecord>) -> Result<(), StoreError> {
        let tenant = self.scope.tenant_key();
        if let Some(other) = records.iter().find(|r| r.tenant_id != tenant) {
            return Err(StoreError::Config(format!(
                "refusing to write tenant {} rows in tenant {tenant}'s scope",
                other.tenant_id
            )));
        }
        if records.is_empty() {
            return Ok(());
        }
        self.scope.insert(records.into_iter().map(sea_orm::IntoActiveModel::into_active_model)).await
    }

    /// A page of entries matching `filter`, in seq order.
    pub async fn list(&self, filter: &AuditFilter, page: Page) -> Result<Vec<AuditRecord>, StoreError> {
        use audit_event::Column as C;
        let mut query = self.scope.select::<audit_event::Entity>();
        if let Some(start) = filter.start_us {
            query = query.filter(C::OccurredAtUs.gte(start));
        }
        if let Some(end) = filter.end_us {
            query = query.filter(C::OccurredAtUs.lt(end));
        }
        if let Some(actor) = &filter.actor {
            query = query.filter(C::Actor.eq(actor.clone()));
        }
        if let Some(action) = &filter.action {
            query = query.filter(C::Action.eq(action.clone()));
        }
        query = match (page.ascending, page.after_seq) {
            (true, Some(after)) => query.filter(C::Seq.gt(after)),
            (false, Some(before)) => query.filter(C::Seq.lt(before)),
            (_, None) => query,
        };
        query = if page.ascending { query.order_by_asc(C::Seq) } else { query.order_by_desc(C::Seq) };
        self.scope.all(query.limit(page.limit)).await
    }

    /// Up to `limit` entries with `after_seq < seq <= up_to`, oldest first: the chain in verification order.
    pub async fn chain_range(&self, after_seq: i64, up_to: i64, limit: u64) -> Result<Vec<AuditRecord>, StoreError> {
        use audit_event::Column as C;
        let query = self
            .scope
            .select::<audit_event::Entity>()
            .filter(C::Seq.gt(after_seq))
            .filter(C::Seq.lte(up_to))
            .order_by_asc(C::Seq)
            .limit(limit);
        self.scope.all(query).await
    }

    /// Replaces the tenant's checkpoint.
    pub async fn save_checkpoint(&self, checkpoint: CheckpointRecord) -> Result<(), StoreError> {
        if checkpoint.tenant_id != self.scope.tenant_key() {
            return Err(StoreError::Config("checkpoint for another tenant".into()));
        }
        use audit_checkpoint::Column as C;
        audit_checkpoint::Entity::insert(sea_orm::IntoActiveModel::into_active_model(checkpoint))
            .on_conflict(
                OnConflict::column(C::TenantId)
                    .update_columns([C::Seq, C::HeadHash, C::Signature, C::KeyId, C::CreatedAtUs])
                    .to_owned(),
            )
            .exec_without_returning(self.scope.connection())
            .await?;
        Ok(())
    }

    /// The tenant's latest checkpoint.
    pub async fn checkpoint(&self) -> Result<Option<CheckpointRecord>, StoreError> {
        self.scope.one(self.scope.select::<audit_checkpoint::Entity>()).await
    }
}
