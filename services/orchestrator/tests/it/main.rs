//! The orchestrator against an in-process connectors service over the provider sandbox (a synced Stripe account),
//! on SQLite and PostgreSQL: questions answered from the records, refunds that wait for approval and happen once,
//! rejections, permissions, re-attaching to a run's stream, resumption after a restart, text in records that
//! tries to give orders, tenant isolation, and the intent router with the real embedding model. Methods are called on the services directly with a request context,
//! as the mesh's inbound layer would hand them over.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

mod approvals;
mod assistant_settings;
mod isolation;
mod knowledge;
mod models;
mod platform;
mod questions;
mod routing;
mod scenarios;
mod streams;
