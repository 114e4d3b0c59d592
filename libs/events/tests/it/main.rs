//! The event bus suites: one conformance suite run against every bus (the embedded log on SQLite and on
//! PostgreSQL, and Kafka on the broker `make test` starts), and the outbox relay's guarantees.

mod conformance;
mod outbox;
mod support;

/// What `on_both_databases!` calls.
mod suite {
    pub use crate::outbox::*;
}
