//! The connectors service against the provider sandbox: connections, OAuth, token refresh, sync, throttling,
//! records, actions and webhooks, on SQLite and PostgreSQL. Methods are called on the service directly with a
//! request context, as the mesh's inbound layer would hand them over.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

mod actions;
mod hubspot;
mod oauth;
mod quickbooks;
mod refresh;
mod rotation;
mod sync;
mod throttling;
mod webhooks;
