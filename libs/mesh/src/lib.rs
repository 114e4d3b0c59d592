//! The service mesh every Switchboard service runs on.
//!
//! - [`access`]: who may call each RPC, as the contracts declare it (`switchboard.auth.v1.access`).
//! - [`identity`]: workload identities as SPIFFE URIs (`spiffe://switchboard.local/audit`).
//! - [`pki`]: the dev CA and per-service leaf certificates generated on first run, or certificates read from files.
//! - [`tls`]: rustls configurations: TLS 1.3 mTLS for internal hops, server-only TLS for the public edge.
//! - [`context`]: the request context (tenant, user, request id, W3C trace context) carried in gRPC metadata.
//! - [`inbound`]: the tower layer that checks the caller's identity and the role it acts with against each
//!   method's access rule, and turns inbound metadata into a [`context::RequestContext`].
//! - [`server`]: serves a service's routes with health, reflection, HTTP/2 limits and graceful shutdown.
//! - [`client`]: mTLS channels to other services, verified by their identity.
//! - [`net`]: address blocks and the per-client key (IPv6 by /64) that connection and rate limits count.
//! - [`pending`]: routes for contracts whose handlers arrive with later work (UNIMPLEMENTED, saying what).
//! - [`shutdown`]: one cancellation token, tripped by SIGINT/SIGTERM.
//!
//! What a service does with a request is not this crate's business: it only decides who may call and what
//! context comes with the call.

pub mod access;
pub mod client;
pub mod context;
mod error;
pub mod identity;
pub mod inbound;
pub mod net;
pub mod pending;
pub mod pki;
pub mod server;
pub mod shutdown;
pub mod tls;

pub use error::MeshError;
pub use identity::Identity;
