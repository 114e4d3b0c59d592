//! Read scopes on SQLite, on read-only connections of the store's own rather than through sqlx's pool.
//!
//! Each sqlx SQLite connection is a thread, and every command sent to it is a round trip between that thread and
//! the task: the dearest part of a small read (two futex wake-ups and two context switches each). Through sqlx's
//! pool and a sea-orm transaction a one-statement read scope made four: a `BEGIN` that parks the thread until the
//! task takes its answer, the statement, a queued `ROLLBACK`, and the ping the pool sends whenever a connection
//! comes back. Here it makes one: statements run without a transaction around them (each sees the latest commit,
//! as a read scope on PostgreSQL does), and a connection goes back to the idle list as it is.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{self, ConnectOptions, Connection, Executor};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::StoreError;
use crate::sqlite_direct::DirectReaders;

/// How long a read waits for a connection while all are taken (sqlx's pool waited as long).
const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Up to `max` read-only connections to one SQLite file, opened when first needed.
pub(crate) struct Readers {
    options: SqliteConnectOptions,
    idle: Mutex<Vec<SqliteConnection>>,
    permits: Arc<Semaphore>,
    /// The same file's readers for entity reads on the caller's thread.
    direct: DirectReaders,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("available", &self.permits.available_permits()).finish_non_exhaustive()
    }
}

impl Readers {
    /// Read-only connections to the database at `url` (`sqlite://...`); opens and checks one now.
    pub(crate) async fn open(url: &str, max: usize) -> Result<Arc<Self>, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
            // A write through a read scope fails in SQLite itself.
            .read_only(true)
            .create_if_missing(false)
            .disable_statement_logging();
        let first = options.connect().await.map_err(|e| StoreError::Config(format!("cannot open a reader: {e}")))?;
        let direct = DirectReaders::new(options.get_filename());
        Ok(Arc::new(Self { options, idle: Mutex::new(vec![first]), permits: Arc::new(Semaphore::new(max)), direct }))
    }

    /// An idle connection (waiting, up to [`WAIT`], for one while all are taken).
    pub(crate) async fn take(self: &Arc<Self>) -> Result<ReadConnection, StoreError> {
        let permit = tokio::time::timeout(WAIT, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| StoreError::Config(format!("no SQLite reader came free within {}s", WAIT.as_secs())))?
            .map_err(|_| StoreError::Config("the store is closed".into()))?;
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.options.connect().await.map_err(|e| StoreError::Database(conn_err(e)))?,
        };
        Ok(ReadConnection {
            conn: tokio::sync::Mutex::new(Some(conn)),
            broken: AtomicBool::new(false),
            readers: Arc::clone(self),
            _permit: permit,
        })
    }

    fn put_back(&self, conn: SqliteConnection) {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
    }

    /// Closes the idle connections and refuses new transactions.
    pub(crate) async fn close(&self) {
        self.permits.close();
        self.direct.close();
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

/// One reader connection, held for a read scope and handed back when the scope is dropped. Each statement runs on
/// its own, seeing what was committed when it started, as in PostgreSQL's default (read committed) transactions.
pub struct ReadConnection {
    conn: tokio::sync::Mutex<Option<SqliteConnection>>,
    /// Set when a statement found the connection's thread gone: the connection is closed, not handed back.
    broken: AtomicBool,
    readers: Arc<Readers>,
    /// Released after `drop` has put the connection back.
    _permit: OwnedSemaphorePermit,
}

impl ReadConnection {
    /// `e` as sea-orm reports it (`kind` is `DbErr::Query` or `DbErr::Exec`), noting a connection that is gone.
    fn failed(&self, e: sqlx::Error, kind: fn(RuntimeErr) -> DbErr) -> DbErr {
        if matches!(e, sqlx::Error::WorkerCrashed | sqlx::Error::Io(_)) {
            self.broken.store(true, Ordering::Relaxed);
        }
        kind(RuntimeErr::SqlxError(Arc::new(e)))
    }

    /// Readers of the same file that run an entity read on the caller's thread.
    pub(crate) fn direct(&self) -> &DirectReaders {
        &self.readers.direct
    }

    async fn conn(&self) -> Result<tokio::sync::MappedMutexGuard<'_, SqliteConnection>, DbErr> {
        tokio::sync::MutexGuard::try_map(self.conn.lock().await, Option::as_mut)
            .map_err(|_| DbErr::Custom("the read scope has ended".into()))
    }
}

impl Drop for ReadConnection {
    fn drop(&mut self) {
        // A statement cut short (its caller gone) still finishes on the connection's thread before the next starts.
        if let Some(conn) = self.conn.get_mut().take()
            && !self.broken.load(Ordering::Relaxed)
        {
            self.readers.put_back(conn);
        }
    }
}

fn conn_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e)))
}

fn values(stmt: Statement) -> (String, SqlxValues) {
    (stmt.sql, SqlxValues(stmt.values.unwrap_or_else(|| sea_orm::sea_query::Values(Vec::new()))))
}

#[async_trait::async_trait]
impl ConnectionTrait for ReadConnection {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let (sql, args) = values(stmt);
        let mut conn = self.conn().await?;
        let done = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .execute(&mut *conn)
            .await
            .map_err(|e| self.failed(e, DbErr::Exec))?;
        Ok(done.into())
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut conn = self.conn().await?;
        let done = conn.execute(sqlx::AssertSqlSafe(sql.to_owned())).await.map_err(|e| self.failed(e, DbErr::Exec))?;
        Ok(done.into())
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let (sql, args) = values(stmt);
        let mut conn = self.conn().await?;
        let row = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| self.failed(e, DbErr::Query))?;
        Ok(row.map(Into::into))
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let (sql, args) = values(stmt);
        let mut conn = self.conn().await?;
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.failed(e, DbErr::Query))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
