//! sea-orm entities, one module per table. Timestamps are microseconds since the Unix epoch (`i64`): exact,
//! portable between SQLite and PostgreSQL, and hashed byte-for-byte by the audit chain.

pub(crate) mod event_log;
pub(crate) mod event_offset;
pub(crate) mod lease;
pub(crate) mod outbox;
