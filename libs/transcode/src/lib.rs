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
//! - [`http_body`]: routes whose body binds to a `google.api.HttpBody`: the raw bytes and their content type,
//!   never parsed, and (for a request message with a `map<string, string> headers` field) the request headers,
//!   credentials and hop-by-hop headers withheld.
//! - [`wire_json`]: a response message's JSON written in one pass over its wire bytes, by a plan compiled once per
//!   route; it declines whatever it would not write exactly as prost-reflect does, which then does.
//! - [`request`]: the one entry point from a REST request to the request message; it picks the two above.
//!
//! - [`openapi`]: the OpenAPI 3.1 document of exactly those routes.
//!
//! This crate knows nothing about transport: the gateway calls the RPC and hands the bytes back.

pub mod http_body;
pub mod json;
pub mod openapi;
pub mod path_template;
pub mod routes;
pub mod wire_json;

pub use crate::routes::{BodyRule, RawBody, Route, RouteTable};

/// The RPC request message, encoded, for a REST request on `route` (path variables `bindings`, the query string,
/// the request's headers and body): a raw body as [`http_body`] says, any other as JSON ([`json`]).
pub fn request(
    route: &Route,
    bindings: &[(String, String)],
    query: Option<&str>,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, TranscodeError> {
    match route.body {
        BodyRule::Raw(_) => http_body::request(route, bindings, query, headers, body),
        BodyRule::None | BodyRule::Whole | BodyRule::Field(_) => json::request(route, bindings, query, body),
    }
}

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
