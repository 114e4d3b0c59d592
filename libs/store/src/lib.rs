//! Switchboard's persistence, on SQLite (the embedded default, one file in the data dir) or PostgreSQL
//! (`DATABASE_URL=postgres://...`): the connection, the tenant scope, and the platform's own tables (the outbox,
//! the embedded event log, leases; see [`events`]).
//!
//! Tenant data is reachable only through [`Store::tenant`] (or [`Store::tenant_read`] for reads), which takes a
//! [`TenantId`] and opens a transaction scoped to it; [`TenantScope::select`] and its siblings filter every query on that tenant and stamp it on every
//! row written. On PostgreSQL the same transaction also switches to the `switchboard_tenant` role and sets
//! `switchboard.tenant_id`, so row-level-security policies are a second wall: a query that forgot its filter still
//! sees only its own tenant's rows.
//!
//! Services own their tables: each declares its entities, migrations and repositories in its own crate on top of
//! [`schema`] and the scope, and the binary applies its migrations with [`Store::migrate`]. This crate does not
//! know them, and does not hash, sign or interpret what it stores; that is the services' job.

mod entity;
mod error;
pub mod events;
mod migration;
pub mod schema;
mod sqlite_direct;
mod sqlite_read;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::sea_query::IntoValueTuple;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, ExecResult, QueryFilter, QueryResult, QuerySelect, Select, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait, TryIntoModel,
};
use sea_orm_migration::MigratorTrait;
pub use switchboard_types::TenantId;
use tokio::sync::Notify;

pub use crate::error::StoreError;
pub use crate::schema::TenantOwned;
use crate::sqlite_direct::Direct;
pub use crate::sqlite_read::ReadConnection;
use crate::sqlite_read::Readers;

/// Where the store lives.
#[derive(Clone)]
pub struct StoreConfig {
    /// `sqlite://<path>?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    /// PostgreSQL schema to use instead of `public` (tests use one schema each).
    pub schema: Option<String>,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig").field("url", &redact(&self.url)).field("schema", &self.schema).finish()
    }
}

impl StoreConfig {
    /// The embedded default: a SQLite file in the data dir.
    pub fn sqlite_in(data_dir: &std::path::Path) -> Self {
        Self { url: format!("sqlite://{}?mode=rwc", data_dir.join("switchboard.db").display()), schema: None }
    }

    /// From a URL (`DATABASE_URL`).
    pub fn from_url(url: impl Into<String>) -> Self {
        Self { url: url.into(), schema: None }
    }
}

/// The database backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A migrated database. Cheap to clone (connection pools).
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// Where [`Store::tenant_read`] reads on SQLite: read-only connections beside the one writer (WAL lets readers
    /// run alongside it and each other). On PostgreSQL it reads from `db`.
    readers: Option<Arc<Readers>>,
    backend: Backend,
    /// Signalled when a scope that wrote outbox rows commits, so this process's relay publishes them at once
    /// instead of at its next poll (rows written by other processes still wait for the poll).
    outbox_committed: Arc<Notify>,
}

/// Read-only SQLite connections for [`Store::tenant_read`]. Each is a thread of sqlx's; at 64 concurrent reads, 8
/// cost 112 µs of CPU per audit read against 127 µs with 4 and 208 µs with 1 (waiting for a connection is the
/// expensive part), and 16 were no better (`SWITCHBOARD_BENCH_ROWS=9 make bench`, 2 cores; measured when they were
/// a sqlx pool, before [`sqlite_read`]). Their statements stay prepared from one call to the next only because
/// SQLite is built with its query-planner stability guarantee (`.cargo/config.toml`).
const SQLITE_READERS: usize = 8;

impl Store {
    /// Connects and applies pending migrations (idempotent: safe on every start).
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let backend = if config.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if config.url.starts_with("postgres://") || config.url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL {:?}: use sqlite://<file>?mode=rwc or postgres://user@host/db",
                redact(&config.url)
            )));
        };
        let mut options = ConnectOptions::new(config.url.clone());
        options.sqlx_logging(false).connect_timeout(Duration::from_secs(10)).acquire_timeout(Duration::from_secs(30));
        match backend {
            // One connection: SQLite serializes writers anyway, and a single connection never hits
            // SQLITE_BUSY upgrading a read transaction to a write. A file connection cannot go stale, so it is
            // not pinged before each transaction (the ping is one more hand-off to sqlx's SQLite thread).
            Backend::Sqlite => options.max_connections(1).min_connections(1).test_before_acquire(false),
            Backend::Postgres => options.max_connections(16).min_connections(1),
        };
        if let Some(schema) = &config.schema {
            options.set_schema_search_path(schema.clone());
        }
        let db = Database::connect(options)
            .await
            .map_err(|e| StoreError::Config(format!("cannot connect to {}: {e}", redact(&config.url))))?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed during writes and survives crashes; NORMAL sync is safe with WAL.
            db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
                .await?;
        }
        migration::Migrator::up(&db, None).await?;
        let readers = match backend {
            Backend::Sqlite => Some(Readers::open(&config.url, SQLITE_READERS).await?),
            Backend::Postgres => None,
        };
        Ok(Self { db, readers, backend, outbox_committed: Arc::default() })
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies a service's migrations (its own `MigratorTrait`, recorded in its own migrations table); idempotent.
    pub async fn migrate<M: MigratorTrait>(&self) -> Result<(), StoreError> {
        M::up(&self.db, None).await?;
        Ok(())
    }

    /// The connection itself, outside any tenant scope: for the few global tables that are not tenant data (the
    /// registry a login finds its tenant in by slug). Tenant rows are reached through [`Store::tenant`].
    pub fn global(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The outbox as the relay sees it: every tenant's pending events.
    pub fn outbox_relay(&self) -> events::OutboxRelayTable<'_> {
        events::OutboxRelayTable::new(&self.db)
    }

    /// Resolves once a scope of this store that wrote outbox rows has committed since the last call returned (a
    /// commit while nobody waits is remembered). For one relay per store: with several, one of them wakes.
    pub async fn outbox_committed(&self) {
        self.outbox_committed.notified().await;
    }

    /// The embedded event log (the bus when no broker is configured).
    pub fn event_log(&self) -> events::EventLogTable<'_> {
        events::EventLogTable::new(&self.db, self.backend)
    }

    /// Expiring named locks shared by every process on this database.
    pub fn leases(&self) -> events::LeaseTable<'_> {
        events::LeaseTable::new(&self.db)
    }

    /// Opens a transaction scoped to `tenant`: the only way to reach tenant data.
    pub async fn tenant(&self, tenant: TenantId) -> Result<TenantScope, StoreError> {
        let tx = begin_write(&self.db).await?;
        self.scope(ScopeConnection::Transaction(tx), tenant).await
    }

    /// Opens a read-only scope on `tenant`, for reads that need no write lock: on SQLite one of several read-only
    /// connections, which never wait for the writer; on PostgreSQL a `READ ONLY` transaction with the same role and
    /// row-level security as [`Store::tenant`]. On both, each statement sees what was committed when it started (read
    /// committed: two statements may see different commits). Any write through it fails.
    pub async fn tenant_read(&self, tenant: TenantId) -> Result<TenantScope, StoreError> {
        if let Some(readers) = &self.readers {
            return self.scope(ScopeConnection::SqliteRead(readers.take().await?), tenant).await;
        }
        let options = TransactionOptions { access_mode: Some(sea_orm::AccessMode::ReadOnly), ..Default::default() };
        let tx = self.db.begin_with_options(options).await?;
        self.scope(ScopeConnection::Transaction(tx), tenant).await
    }

    /// Binds `tx` to `tenant`: on PostgreSQL the tenant role and the row-level-security setting.
    async fn scope(&self, tx: ScopeConnection, tenant: TenantId) -> Result<TenantScope, StoreError> {
        if self.backend == Backend::Postgres {
            // The tenant id is a parsed UUID, so formatting it into SQL cannot inject; one round trip for both.
            let sql = format!(
                "SET LOCAL ROLE {role}; SELECT set_config('switchboard.tenant_id', '{tenant}', true)",
                role = schema::TENANT_ROLE
            );
            tx.execute_unprepared(&sql).await?;
        }
        Ok(TenantScope {
            tx,
            tenant,
            backend: self.backend,
            wrote_outbox: AtomicBool::new(false),
            outbox_committed: self.outbox_committed.clone(),
        })
    }

    /// The raw connection, bypassing tenant scoping: for tests that play an attacker with database access.
    #[cfg(feature = "testing")]
    pub fn raw_connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates (or, with `drop`, removes) a PostgreSQL schema: tests give each store a schema of its own.
    #[cfg(feature = "testing")]
    pub async fn admin_schema(url: &str, schema: &str, drop: bool) -> Result<(), StoreError> {
        if !schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(StoreError::Config(format!("invalid schema name {schema:?}")));
        }
        let db = Database::connect(url).await?;
        let sql = if drop {
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE")
        } else {
            format!("CREATE SCHEMA IF NOT EXISTS {schema}")
        };
        db.execute_unprepared(&sql).await?;
        db.close().await?;
        Ok(())
    }

    /// Closes the pools.
    pub async fn close(self) -> Result<(), StoreError> {
        if let Some(readers) = &self.readers {
            readers.close().await;
        }
        self.db.close().await.map_err(StoreError::from)
    }
}

/// Begins a transaction that may write. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`): a deferred
/// transaction that reads, then writes after another process committed fails with SQLITE_BUSY_SNAPSHOT, which no
/// busy timeout waits out, whereas an immediate one simply waits for the lock. PostgreSQL ignores the mode.
pub(crate) async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, StoreError> {
    let options =
        TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() };
    Ok(db.begin_with_options(options).await?)
}

/// A transaction bound to one tenant. Dropping it without [`TenantScope::commit`] rolls back.
pub struct TenantScope {
    tx: ScopeConnection,
    tenant: TenantId,
    backend: Backend,
    /// Set by [`events::OutboxRepository::enqueue`]: the commit then wakes the store's relay.
    wrote_outbox: AtomicBool,
    outbox_committed: Arc<Notify>,
}

impl std::fmt::Debug for TenantScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantScope").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl TenantScope {
    /// The tenant this scope is bound to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The tenant's outbox: events written here publish only if this transaction commits.
    pub fn outbox(&self) -> events::OutboxRepository<'_> {
        events::OutboxRepository::new(self)
    }

    /// Counts the rows of `table` with no tenant filter at all: on PostgreSQL row-level security still limits it
    /// to this tenant. Tests use it to show the second wall holds.
    #[cfg(feature = "testing")]
    pub async fn unfiltered_row_count(&self, table: &str) -> Result<i64, StoreError> {
        if !table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(StoreError::Config(format!("invalid table name {table:?}")));
        }
        let row = self
            .tx
            .query_one_raw(Statement::from_string(
                self.tx.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await?
            .ok_or_else(|| StoreError::Config("COUNT returned no row".into()))?;
        Ok(row.try_get::<i64>("", "n")?)
    }

    /// Commits (a read scope has nothing to commit: it just ends).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.tx {
            ScopeConnection::Transaction(tx) => {
                tx.commit().await?;
                if self.wrote_outbox.load(Ordering::Relaxed) {
                    self.outbox_committed.notify_one();
                }
                Ok(())
            }
            ScopeConnection::SqliteRead(_) => Ok(()),
        }
    }

    /// The tenant id as stored in tenant columns.
    pub fn tenant_key(&self) -> String {
        self.tenant.to_string()
    }

    /// Which backend the scope runs on (for the rare statement that differs).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The scope's transaction, for a service repository's own statements. Prefer [`TenantScope::select`] and its
    /// siblings, which cannot forget the tenant; a raw statement must filter on it itself (on PostgreSQL RLS still
    /// holds it to this tenant).
    pub fn connection(&self) -> &ScopeConnection {
        &self.tx
    }

    /// `E`'s rows of this tenant.
    pub fn select<E: TenantOwned>(&self) -> sea_orm::Select<E> {
        E::find().filter(E::tenant_column().eq(self.tenant_key()))
    }

    /// `select`'s rows, as `select.all(scope.connection())` reads them. In a read scope on SQLite a read of up to a
    /// page (100 rows) runs on the calling thread instead of a round trip to sqlx's connection thread
    /// ([`sqlite_direct`]), which is most of a small read's cost; a longer one still reads on sqlx's thread.
    pub async fn all<E>(&self, select: Select<E>) -> Result<Vec<E::Model>, StoreError>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        if let ScopeConnection::SqliteRead(read) = &self.tx
            && let Direct::Rows(models) = read.direct().all(&select)?
        {
            return Ok(models);
        }
        Ok(select.all(&self.tx).await?)
    }

    /// `select`'s first row, as `select.one(scope.connection())` reads it, the same way as [`TenantScope::all`].
    pub async fn one<E>(&self, select: Select<E>) -> Result<Option<E::Model>, StoreError>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        Ok(self.all(select.limit(1)).await?.into_iter().next())
    }

    /// An update of `E`'s rows of this tenant (add filters and values, then `exec(scope.connection())`).
    pub fn update_many<E: TenantOwned>(&self) -> sea_orm::UpdateMany<E> {
        E::update_many().filter(E::tenant_column().eq(self.tenant_key()))
    }

    /// A delete of `E`'s rows of this tenant.
    pub fn delete_many<E: TenantOwned>(&self) -> sea_orm::DeleteMany<E> {
        E::delete_many().filter(E::tenant_column().eq(self.tenant_key()))
    }

    /// Inserts rows into `E`, each stamped with this scope's tenant whatever it held: a repository cannot write
    /// another tenant's row by mistake. A taken key is a [`StoreError::Conflict`].
    pub async fn insert<E, A>(&self, rows: impl IntoIterator<Item = A>) -> Result<(), StoreError>
    where
        E: TenantOwned,
        A: ActiveModelTrait<Entity = E> + Send,
    {
        let tenant = self.tenant_key();
        let rows: Vec<A> = rows
            .into_iter()
            .map(|mut row| {
                row.set(E::tenant_column(), tenant.clone().into());
                row
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        E::insert_many(rows).exec_without_returning(&self.tx).await?;
        Ok(())
    }

    /// Serializes work on `name` within this tenant across every process sharing the database, until the
    /// transaction ends (a PostgreSQL advisory lock; on SQLite the single writer connection already serializes).
    pub async fn lock(&self, name: &str) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            let key = format!("{name}:{}", self.tenant_key());
            let stmt = Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                key.into_value_tuple(),
            );
            self.tx.execute_raw(stmt).await?;
        }
        Ok(())
    }
}

/// The transaction under a [`TenantScope`]: sea-orm's, or on SQLite a read scope's own ([`sqlite_read`]). Every
/// sea-orm query runs on it (`.all(scope.connection())`).
pub enum ScopeConnection {
    /// A sea-orm transaction: writes on either backend, reads on PostgreSQL.
    Transaction(DatabaseTransaction),
    /// A read on one of SQLite's read-only connections.
    SqliteRead(ReadConnection),
}

impl std::fmt::Debug for ScopeConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Transaction(_) => "ScopeConnection::Transaction",
            Self::SqliteRead(_) => "ScopeConnection::SqliteRead",
        })
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for ScopeConnection {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Self::Transaction(tx) => tx.get_database_backend(),
            Self::SqliteRead(tx) => tx.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::Transaction(tx) => tx.execute_raw(stmt).await,
            Self::SqliteRead(tx) => tx.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Self::Transaction(tx) => tx.execute_unprepared(sql).await,
            Self::SqliteRead(tx) => tx.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Self::Transaction(tx) => tx.query_one_raw(stmt).await,
            Self::SqliteRead(tx) => tx.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::Transaction(tx) => tx.query_all_raw(stmt).await,
            Self::SqliteRead(tx) => tx.query_all_raw(stmt).await,
        }
    }
}

/// Hides the password in a database URL (userinfo, and a `password=` query parameter).
fn redact(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|kv| if kv.to_ascii_lowercase().starts_with("password=") { "password=***" } else { kv })
            .collect::<Vec<_>>()
            .join("&")
    });
    let base = redact_userinfo(url);
    match query {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite:///x.db?mode=rwc"), "sqlite:///x.db?mode=rwc");
        assert_eq!(super::redact("postgres://h/db?user=u&password=s"), "postgres://h/db?user=u&password=***");
    }
}
