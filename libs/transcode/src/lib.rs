//! REST/JSON ↔ gRPC transcoding, driven entirely by the `google.api.http` annotations in a descriptor set (no
//! hand-written routes):
//!
//! - [`path_template`]: the annotation's path template grammar, matching and per-segment percent-decoding.
//! - [`routes`]: the route table (every rule and `additional_bindings`), resolved by method and path, most
//!   specific template first.
//! - [`json`]: a REST request (path variables, query parameters, body) to the RPC's request message, and the
//!   response message to JSON, per the proto3 JSON mapping (through prost-reflect): lowerCamelCase emitted,
//!   original names accepted, 64-bit integers as strings, well-known types, fields with default values emitted.
//!   Unknown fields and query parameters are errors naming them.
//!
//! - [`openapi`]: the OpenAPI 3.1 document of exactly those routes.
//!
//! This crate knows nothing about transport: the gateway calls the RPC and hands the bytes back.

pub mod json;
pub mod openapi;
pub mod path_template;
pub mod routes;

pub use crate::routes::{BodyRule, Route, RouteTable};

/// What can go wrong transcoding.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The request does not fit the route: the message says what to change (HTTP 400).
    #[error("{0}")]
    InvalidArgument(String),
    /// The descriptors or annotations are inconsistent (a build-time configuration error).
    #[error("HTTP rule for {method}: {message}")]
    Config {
        /// The RPC.
        method: String,
        /// What is wrong.
        message: String,
    },
    /// A response message could not be decoded or rendered.
    #[error("cannot render the response: {0}")]
    Response(String),
}
