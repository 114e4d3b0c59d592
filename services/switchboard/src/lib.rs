//! The Switchboard platform as a library: [`Platform`] wires the four services (gateway, orchestrator, connectors,
//! audit) with their store, event bus, cache and certificates, from one [`PlatformConfig`] (flags and
//! `SWITCHBOARD_*` environment variables, see [`config`]).
//!
//! The `switchboard` binary (`up`, `serve`, client commands) and the tests' `TestPlatform` both build the platform
//! here, so there is one wiring. Each service's own behaviour lives in its crate; this crate decides nothing about
//! requests.

pub mod config;
pub mod platform;

pub use crate::config::{Mesh, PlatformConfig, Service};
pub use crate::platform::{Listeners, Platform, PlatformError, Running, credentials, init_dev_certs, migrate_all};
