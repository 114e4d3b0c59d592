//! Entity reads on SQLite that run on the calling thread.
//!
//! sqlx gives every SQLite connection a thread of its own, and every statement is a round trip between the task and
//! that thread: two wake-ups and two context switches, the dearest part of reading one page of rows. Here a
//! `Select<E>` runs on a read-only rusqlite connection on the caller's own thread instead, and each row becomes a
//! model through `E`'s active model (`try_set` per column, then `try_into_model`), which takes each field's exact
//! [`Value`] variant (an `i32` field only `Value::Int`). SQLite's storage classes do not say which (an `INTEGER`
//! column holds an `i32` or an `i64`), so each column is decoded by the type `E` declares for it.
//!
//! Whatever this module cannot do exactly like the sqlx path it declines ([`Direct::Declined`]) and the caller takes
//! the sqlx path: an entity with a column type not mapped here, a bound value of such a type, result columns that
//! are not exactly `E`'s, a database locked at that moment (this thread never waits for a lock: the sqlx reader, on
//! its own thread, waits out the busy timeout), and a read of more than [`MOST_ROWS`] rows (a long read would hold
//! the runtime's thread, and every task queued behind it, for milliseconds).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rusqlite::types::{Value as SqliteValue, ValueRef};
use rusqlite::{ErrorCode, OpenFlags};
use sea_orm::sea_query::{ColumnType, Value};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable, QueryTrait, RuntimeErr, Select,
    TryIntoModel,
};

/// Idle connections kept for reuse; more are opened when more threads read at once (each read holds one only
/// while it runs, so at most one per thread reading), and closed again beyond this.
const IDLE: usize = 8;

/// The most rows a read returns here: a page of the default size (50, and one more to tell whether another page
/// follows) fits. A read that yields more stops there and declines, and the sqlx path reads it all on its own
/// thread: at most this many rows' work is spent twice.
pub(crate) const MOST_ROWS: usize = 100;

/// Statements kept prepared per connection (rusqlite's cache, keyed by SQL text).
const PREPARED: usize = 64;

/// What a direct read did.
pub(crate) enum Direct<M> {
    /// The statement ran here: its rows as models.
    Rows(Vec<M>),
    /// Not run here; the sqlx path runs it.
    Declined,
}

/// Read-only rusqlite connections to one SQLite file, opened when first needed.
pub(crate) struct DirectReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl std::fmt::Debug for DirectReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectReaders").field("path", &self.path).finish_non_exhaustive()
    }
}

impl DirectReaders {
    pub(crate) fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), idle: Mutex::new(Vec::new()) }
    }

    /// Runs `select` here and returns its models, or declines (see the module docs).
    pub(crate) fn all<E>(&self, select: &Select<E>) -> Result<Direct<E::Model>, DbErr>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        let Some(columns) = column_types::<E>() else {
            return Ok(Direct::Declined);
        };
        let statement = select.build(DbBackend::Sqlite);
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        let Some(params) = values.into_iter().map(bind_value).collect::<Result<Option<Vec<_>>, _>>()? else {
            return Ok(Direct::Declined);
        };
        let conn = self.take()?;
        let models = query::<E>(&conn, &statement.sql, &params, &columns);
        self.put_back(conn);
        match models {
            Ok(Some(models)) => Ok(Direct::Rows(models)),
            Ok(None) => Ok(Direct::Declined),
            Err(Failure::Sqlite(e))
                if matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)) =>
            {
                Ok(Direct::Declined)
            }
            Err(Failure::Sqlite(e)) => Err(query_err(e)),
            Err(Failure::Model(e)) => Err(e),
        }
    }

    fn take(&self) -> Result<rusqlite::Connection, DbErr> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop() {
            return Ok(conn);
        }
        // Read-only: a write through a read scope fails in SQLite itself. No mutex: one thread uses it at a time.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(&self.path, flags)
            .map_err(|e| DbErr::Conn(RuntimeErr::Internal(format!("cannot open a SQLite reader: {e}"))))?;
        // Never wait for a lock on the caller's thread: a busy database declines to the sqlx path instead.
        conn.busy_timeout(std::time::Duration::ZERO).map_err(query_err)?;
        conn.set_prepared_statement_cache_capacity(PREPARED);
        Ok(conn)
    }

    fn put_back(&self, conn: rusqlite::Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE {
            idle.push(conn);
        }
    }

    /// Closes the idle connections.
    pub(crate) fn close(&self) {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

fn query_err(e: rusqlite::Error) -> DbErr {
    DbErr::Query(RuntimeErr::Internal(e.to_string()))
}

/// Which [`Value`] variant a column's field reads, for the column types mapped here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    String,
    Bytes,
}

fn kind(column_type: &ColumnType) -> Option<Kind> {
    Some(match column_type {
        ColumnType::Boolean => Kind::Bool,
        ColumnType::TinyInteger => Kind::TinyInt,
        ColumnType::SmallInteger => Kind::SmallInt,
        ColumnType::Integer => Kind::Int,
        ColumnType::BigInteger => Kind::BigInt,
        ColumnType::Float => Kind::Float,
        ColumnType::Double => Kind::Double,
        // Not `Char`: a `char` field declares it too, and reads `Value::Char`.
        ColumnType::String(_) | ColumnType::Text => Kind::String,
        ColumnType::Binary(_) | ColumnType::VarBinary(_) | ColumnType::Blob => Kind::Bytes,
        _ => return None,
    })
}

/// `E`'s columns with their kinds, or `None` if one of them has a type not mapped here.
fn column_types<E: EntityTrait>() -> Option<Vec<(E::Column, Kind)>> {
    E::Column::iter().map(|c| kind(c.def().get_column_type()).map(|k| (c, k))).collect()
}

/// A bound value as SQLite takes it, as sea-query-sqlx binds it (booleans as 0 or 1, a `u64` as an `i64`), or `None`
/// if not mapped here.
fn bind_value(value: Value) -> Result<Option<SqliteValue>, DbErr> {
    Ok(Some(match value {
        Value::Bool(v) => v.map_or(SqliteValue::Null, |b| SqliteValue::Integer(b.into())),
        Value::TinyInt(v) => v.map_or(SqliteValue::Null, |i| SqliteValue::Integer(i.into())),
        Value::SmallInt(v) => v.map_or(SqliteValue::Null, |i| SqliteValue::Integer(i.into())),
        Value::Int(v) => v.map_or(SqliteValue::Null, |i| SqliteValue::Integer(i.into())),
        Value::BigInt(v) => v.map_or(SqliteValue::Null, SqliteValue::Integer),
        Value::TinyUnsigned(v) => v.map_or(SqliteValue::Null, |i| SqliteValue::Integer(i.into())),
        Value::SmallUnsigned(v) => v.map_or(SqliteValue::Null, |i| SqliteValue::Integer(i.into())),
        Value::Unsigned(v) => v.map_or(SqliteValue::Null, |i| SqliteValue::Integer(i.into())),
        // sea-orm binds a `limit` as one.
        Value::BigUnsigned(None) => SqliteValue::Null,
        Value::BigUnsigned(Some(u)) => {
            SqliteValue::Integer(i64::try_from(u).map_err(|_| DbErr::Type(format!("{u} is beyond SQLite's integers")))?)
        }
        Value::Float(v) => v.map_or(SqliteValue::Null, |f| SqliteValue::Real(f.into())),
        Value::Double(v) => v.map_or(SqliteValue::Null, SqliteValue::Real),
        Value::String(v) => v.map_or(SqliteValue::Null, SqliteValue::Text),
        Value::Bytes(v) => v.map_or(SqliteValue::Null, SqliteValue::Blob),
        _ => return Ok(None),
    }))
}

/// Why a direct read failed: SQLite, or a row that is not a model.
enum Failure {
    Sqlite(rusqlite::Error),
    Model(DbErr),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// Runs `sql` and decodes its rows into `E`'s models, or `Ok(None)` when the result columns are not `E`'s or there
/// are more than [`MOST_ROWS`] rows.
fn query<E>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[SqliteValue],
    columns: &[(E::Column, Kind)],
) -> Result<Option<Vec<E::Model>>, Failure>
where
    E: EntityTrait,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let mut statement = conn.prepare_cached(sql)?;
    if statement.column_count() != columns.len() {
        return Ok(None);
    }
    let mut read = Vec::with_capacity(columns.len());
    for name in statement.column_names() {
        match columns.iter().find(|(column, _)| column.as_str() == name) {
            Some(&column) => read.push(column),
            None => return Ok(None),
        }
    }
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut models = Vec::new();
    while let Some(row) = rows.next()? {
        if models.len() == MOST_ROWS {
            return Ok(None);
        }
        let mut model = <E::ActiveModel as ActiveModelTrait>::default();
        for (index, &(column, kind)) in read.iter().enumerate() {
            model.try_set(column, decode(row.get_ref(index)?, kind, index)?).map_err(Failure::Model)?;
        }
        models.push(model.try_into_model().map_err(Failure::Model)?);
    }
    Ok(Some(models))
}

/// One stored value as the [`Value`] variant its field reads; a value of another storage class is an error, as
/// sqlx's decoding makes it.
fn decode(value: ValueRef<'_>, kind: Kind, index: usize) -> Result<Value, rusqlite::Error> {
    let mismatch = || rusqlite::Error::InvalidColumnType(index, format!("{kind:?}"), value.data_type());
    let int = |min: i64, max: i64| match value {
        ValueRef::Integer(i) if (min..=max).contains(&i) => Ok(Some(i)),
        ValueRef::Integer(i) => Err(rusqlite::Error::IntegralValueOutOfRange(index, i)),
        ValueRef::Null => Ok(None),
        _ => Err(mismatch()),
    };
    // The ranges make the narrowing casts exact.
    #[allow(clippy::cast_possible_truncation)]
    Ok(match kind {
        Kind::Bool => Value::Bool(int(i64::MIN, i64::MAX)?.map(|i| i != 0)),
        Kind::TinyInt => Value::TinyInt(int(i8::MIN.into(), i8::MAX.into())?.map(|i| i as i8)),
        Kind::SmallInt => Value::SmallInt(int(i16::MIN.into(), i16::MAX.into())?.map(|i| i as i16)),
        Kind::Int => Value::Int(int(i32::MIN.into(), i32::MAX.into())?.map(|i| i as i32)),
        Kind::BigInt => Value::BigInt(int(i64::MIN, i64::MAX)?),
        Kind::Float | Kind::Double => {
            let real = match value {
                ValueRef::Real(f) => Some(f),
                // SQLite stores a whole REAL as an integer where the column's affinity allows.
                #[allow(clippy::cast_precision_loss)]
                ValueRef::Integer(i) => Some(i as f64),
                ValueRef::Null => None,
                _ => return Err(mismatch()),
            };
            #[allow(clippy::cast_possible_truncation)]
            match kind {
                Kind::Float => Value::Float(real.map(|f| f as f32)),
                _ => Value::Double(real),
            }
        }
        Kind::String => Value::String(match value {
            ValueRef::Text(text) => Some(
                std::str::from_utf8(text)
                    .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, value.data_type(), Box::new(e)))?
                    .to_owned(),
            ),
            ValueRef::Null => None,
            _ => return Err(mismatch()),
        }),
        Kind::Bytes => Value::Bytes(match value {
            // sqlx reads text as bytes too.
            ValueRef::Blob(bytes) | ValueRef::Text(bytes) => Some(bytes.to_vec()),
            ValueRef::Null => None,
            _ => return Err(mismatch()),
        }),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use sea_orm::entity::prelude::*;
    use sea_orm::{QueryOrder, QuerySelect};

    use super::{Direct, DirectReaders};

    mod counter {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "counter")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub hits: i64,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    mod counter_json {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "counter")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: Json,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    fn database() -> (tempfile::TempDir, std::path::PathBuf, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("direct.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "CREATE TABLE counter (id INTEGER PRIMARY KEY, hits INTEGER NOT NULL, name TEXT NOT NULL);
                 INSERT INTO counter VALUES (1, 5000000000, 'one'), (2, -1, 'two');",
            )
            .unwrap();
        (dir, path, writer)
    }

    fn rows<M>(direct: Direct<M>) -> Vec<M> {
        match direct {
            Direct::Rows(rows) => rows,
            Direct::Declined => panic!("declined"),
        }
    }

    /// Mapped entities are read here, with bound filters, as often as asked (statements come from the cache).
    #[test]
    fn reads_mapped_entities_here() {
        let (_dir, path, _writer) = database();
        let readers = DirectReaders::new(&path);
        for _ in 0..3 {
            let all = rows(readers.all(&counter::Entity::find().order_by_asc(counter::Column::Id)).unwrap());
            assert_eq!(all.len(), 2);
            assert_eq!(all[0], counter::Model { id: 1, hits: 5_000_000_000, name: "one".into() });
            let two = readers.all(&counter::Entity::find().filter(counter::Column::Name.eq("two"))).unwrap();
            assert_eq!(rows(two), [counter::Model { id: 2, hits: -1, name: "two".into() }]);
            // A limit binds a `u64`.
            let first = readers.all(&counter::Entity::find().order_by_desc(counter::Column::Id).limit(1)).unwrap();
            assert_eq!(rows(first)[0].id, 2);
        }
    }

    /// A read of more rows than a page declines (after `MOST_ROWS` rows), whatever its limit.
    #[test]
    fn declines_long_reads() {
        let (_dir, path, writer) = database();
        let most = i64::try_from(super::MOST_ROWS).unwrap();
        for id in 3..=most {
            writer.execute("INSERT INTO counter VALUES (?1, 0, 'more')", [id]).unwrap();
        }
        let readers = DirectReaders::new(&path);
        assert_eq!(rows(readers.all(&counter::Entity::find()).unwrap()).len(), super::MOST_ROWS);
        writer.execute("INSERT INTO counter VALUES (?1, 0, 'one too many')", [most + 1]).unwrap();
        assert!(matches!(readers.all(&counter::Entity::find()).unwrap(), Direct::Declined));
        assert_eq!(rows(readers.all(&counter::Entity::find().limit(10)).unwrap()).len(), 10);
    }

    /// A `u64` beyond SQLite's integers is an error (sqlx's binding would panic), not a wrapped number.
    #[test]
    fn huge_unsigned_values_fail() {
        assert!(super::bind_value(sea_orm::Value::BigUnsigned(Some(u64::MAX))).is_err());
        let bound = super::bind_value(sea_orm::Value::BigUnsigned(Some(7))).unwrap();
        assert_eq!(bound, Some(rusqlite::types::Value::Integer(7)));
    }

    /// An `INTEGER` column holding a value too large for its `i32` field is an error, not a wrapped number.
    #[test]
    fn out_of_range_integers_fail() {
        let (_dir, path, writer) = database();
        writer.execute("UPDATE counter SET id = 3000000000 WHERE id = 2", []).unwrap();
        let readers = DirectReaders::new(&path);
        assert!(readers.all(&counter::Entity::find()).is_err());
    }

    /// Declined: a column type not mapped here, and a database locked by a writer (left to the sqlx path, which
    /// waits for the lock on its own thread instead of this one).
    #[test]
    fn declines_what_it_cannot_read_here() {
        let (_dir, path, writer) = database();
        let readers = DirectReaders::new(&path);
        assert!(matches!(readers.all(&counter_json::Entity::find()).unwrap(), Direct::Declined));
        writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(readers.all(&counter::Entity::find()).unwrap(), Direct::Declined));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "did not wait for the lock");
        writer.execute_batch("ROLLBACK").unwrap();
        assert_eq!(rows(readers.all(&counter::Entity::find()).unwrap()).len(), 2);
    }
}
