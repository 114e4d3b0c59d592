//! The store's error type.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL or connection is unusable.
    #[error("{0}")]
    Config(String),
    /// A uniqueness constraint refused a write: another writer got there first.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(sea_orm::DbErr),
}

impl From<sea_orm::DbErr> for StoreError {
    fn from(e: sea_orm::DbErr) -> Self {
        match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(what)) => Self::Conflict(what),
            _ => Self::Database(e),
        }
    }
}
