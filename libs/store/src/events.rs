//! The tables behind events: the transactional outbox, the embedded event log with its consumer offsets, and
//! leases.
//!
//! - [`OutboxRepository`] (through a [`TenantScope`]) adds an event in the same transaction as the change it
//!   reports, so the change and its event commit or roll back together.
//! - [`OutboxRelayTable`] is the relay's view: pending rows of every tenant in id order, marked sent once published.
//! - [`EventLogTable`] is the embedded bus: an append-only log per topic whose offsets are row ids, and the
//!   committed offset of each consumer group. On PostgreSQL appends to one topic are serialized so that ids commit
//!   in order and a reader never skips a row that commits late.
//! - [`LeaseTable`]: expiring named locks, so that one relay at a time publishes a database's outbox.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use crate::entity::{event_log, event_offset, lease, outbox};
use crate::{Backend, StoreError, TenantScope};

/// An outbox row as stored.
pub type OutboxRecord = outbox::Model;
/// An entry of the embedded log as stored.
pub type LogRecord = event_log::Model;

/// An event to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxEvent {
    /// Unique id (the envelope's `event_id`).
    pub event_id: String,
    /// Topic to publish to.
    pub topic: String,
    /// Partition key: events with one key are published in the order they were written.
    pub key: String,
    /// The encoded envelope.
    pub envelope: Vec<u8>,
    /// When the change happened (µs since epoch).
    pub created_at_us: i64,
}

/// The outbox of one tenant, inside that tenant's transaction.
#[derive(Debug)]
pub struct OutboxRepository<'a> {
    scope: &'a TenantScope,
}

impl<'a> OutboxRepository<'a> {
    pub(crate) fn new(scope: &'a TenantScope) -> Self {
        Self { scope }
    }

    /// Adds events; they are published once the transaction commits (and never if it rolls back).
    pub async fn enqueue(&self, events: Vec<NewOutboxEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let tenant = self.scope.tenant_key();
        let models = events.into_iter().map(|e| outbox::ActiveModel {
            tenant_id: Set(tenant.clone()),
            event_id: Set(e.event_id),
            topic: Set(e.topic),
            event_key: Set(e.key),
            envelope: Set(e.envelope),
            created_at_us: Set(e.created_at_us),
            sent_at_us: Set(None),
            ..Default::default()
        });
        outbox::Entity::insert_many(models).exec_without_returning(&self.scope.tx).await?;
        self.scope.wrote_outbox.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// The relay's view of the outbox: every tenant's pending rows.
#[derive(Debug)]
pub struct OutboxRelayTable<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> OutboxRelayTable<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Up to `limit` unsent rows, oldest first.
    pub async fn pending(&self, limit: u64) -> Result<Vec<OutboxRecord>, StoreError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::SentAtUs.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(self.db)
            .await?)
    }

    /// When the oldest row still waiting was written (µs since epoch), if any waits.
    pub async fn oldest_pending_us(&self) -> Result<Option<i64>, StoreError> {
        Ok(outbox::Entity::find()
            .select_only()
            .column(outbox::Column::CreatedAtUs)
            .filter(outbox::Column::SentAtUs.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(1)
            .into_tuple::<i64>()
            .one(self.db)
            .await?)
    }

    /// How many rows wait to be published.
    pub async fn pending_count(&self) -> Result<u64, StoreError> {
        Ok(outbox::Entity::find().filter(outbox::Column::SentAtUs.is_null()).count(self.db).await?)
    }

    /// Marks rows published.
    pub async fn mark_sent(&self, ids: &[i64], now_us: i64) -> Result<(), StoreError> {
        for chunk in ids.chunks(1000) {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::SentAtUs, Expr::value(now_us))
                .filter(outbox::Column::Id.is_in(chunk.iter().copied()))
                .exec(self.db)
                .await?;
        }
        Ok(())
    }

    /// Deletes rows sent before `before_us`; returns how many.
    pub async fn prune_sent(&self, before_us: i64) -> Result<u64, StoreError> {
        let result = outbox::Entity::delete_many().filter(outbox::Column::SentAtUs.lt(before_us)).exec(self.db).await?;
        Ok(result.rows_affected)
    }
}

/// An entry to append to the embedded log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogEntry {
    /// Partition key.
    pub key: String,
    /// The message.
    pub payload: Vec<u8>,
    /// Header name → value.
    pub headers: BTreeMap<String, String>,
}

/// The embedded event log and its consumer offsets.
#[derive(Debug)]
pub struct EventLogTable<'a> {
    db: &'a DatabaseConnection,
    backend: Backend,
}

impl<'a> EventLogTable<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection, backend: Backend) -> Self {
        Self { db, backend }
    }

    /// Appends entries to `topic`, in order, atomically; they are visible to readers once this returns.
    pub async fn append(&self, topic: &str, entries: Vec<NewLogEntry>, now_us: i64) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let tx = crate::begin_write(self.db).await?;
        if self.backend == Backend::Postgres {
            // Identity values are handed out before commit; serializing appenders makes them commit in id order,
            // so a reader that has seen id N will never later find a committed id below N.
            let stmt = Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                [format!("event_log:{topic}").into()],
            );
            tx.execute_raw(stmt).await?;
        }
        for chunk in entries.chunks(500) {
            let models = chunk.iter().map(|e| event_log::ActiveModel {
                topic: Set(topic.to_owned()),
                event_key: Set(e.key.clone()),
                payload: Set(e.payload.clone()),
                headers: Set(serde_json::to_string(&e.headers).unwrap_or_else(|_| "{}".to_owned())),
                appended_at_us: Set(now_us),
                ..Default::default()
            });
            event_log::Entity::insert_many(models).exec_without_returning(&tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` entries of `topic` after offset `after`, in order. Each entry's headers are a JSON object.
    pub async fn read(&self, topic: &str, after: i64, limit: u64) -> Result<Vec<LogRecord>, StoreError> {
        Ok(event_log::Entity::find()
            .filter(event_log::Column::Topic.eq(topic))
            .filter(event_log::Column::Id.gt(after))
            .order_by_asc(event_log::Column::Id)
            .limit(limit)
            .all(self.db)
            .await?)
    }

    /// The newest offset of `topic` (0 while it is empty).
    pub async fn end_offset(&self, topic: &str) -> Result<i64, StoreError> {
        let newest = event_log::Entity::find()
            .select_only()
            .column(event_log::Column::Id)
            .filter(event_log::Column::Topic.eq(topic))
            .order_by_desc(event_log::Column::Id)
            .limit(1)
            .into_tuple::<i64>()
            .one(self.db)
            .await?;
        Ok(newest.unwrap_or(0))
    }

    /// The last offset `group` committed in `topic` (0 before its first commit: it starts at the beginning).
    pub async fn committed(&self, group: &str, topic: &str) -> Result<i64, StoreError> {
        Ok(event_offset::Entity::find_by_id((group.to_owned(), topic.to_owned()))
            .one(self.db)
            .await?
            .map_or(0, |row| row.committed))
    }

    /// How many entries of `topic` come after `offset` (a group's lag behind the log).
    pub async fn count_after(&self, topic: &str, offset: i64) -> Result<u64, StoreError> {
        Ok(event_log::Entity::find()
            .filter(event_log::Column::Topic.eq(topic))
            .filter(event_log::Column::Id.gt(offset))
            .count(self.db)
            .await?)
    }

    /// Records that `group` has processed `topic` up to and including `offset`. Never moves backwards.
    pub async fn commit(&self, group: &str, topic: &str, offset: i64) -> Result<(), StoreError> {
        use event_offset::Column as C;
        let row = event_offset::Model { consumer_group: group.to_owned(), topic: topic.to_owned(), committed: offset };
        event_offset::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::columns([C::ConsumerGroup, C::Topic])
                    .update_column(C::Committed)
                    .action_and_where(Expr::col((event_offset::Entity, C::Committed)).lt(offset))
                    .to_owned(),
            )
            .exec_without_returning(self.db)
            .await?;
        Ok(())
    }

    /// Deletes entries appended before `before_us` (retention); returns how many.
    pub async fn prune(&self, before_us: i64) -> Result<u64, StoreError> {
        let result = event_log::Entity::delete_many()
            .filter(event_log::Column::AppendedAtUs.lt(before_us))
            .exec(self.db)
            .await?;
        Ok(result.rows_affected)
    }
}

/// Expiring named locks shared by every process on the database.
#[derive(Debug)]
pub struct LeaseTable<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> LeaseTable<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Takes or renews lease `name` for `holder` until `expires_at_us`. False while someone else holds an
    /// unexpired lease.
    pub async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        now_us: i64,
        expires_at_us: i64,
    ) -> Result<bool, StoreError> {
        use lease::Column as C;
        let row = lease::Model { name: name.to_owned(), holder: holder.to_owned(), expires_at_us };
        let result = lease::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::column(C::Name)
                    .update_columns([C::Holder, C::ExpiresAtUs])
                    .action_and_where(
                        Expr::col((lease::Entity, C::Holder))
                            .eq(holder)
                            .or(Expr::col((lease::Entity, C::ExpiresAtUs)).lt(now_us)),
                    )
                    .to_owned(),
            )
            .exec_without_returning(self.db)
            .await?;
        Ok(result == 1)
    }

    /// Gives up lease `name` if `holder` has it.
    pub async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        lease::Entity::delete_many()
            .filter(lease::Column::Name.eq(name))
            .filter(lease::Column::Holder.eq(holder))
            .exec(self.db)
            .await?;
        Ok(())
    }
}
