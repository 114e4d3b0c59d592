//! One vocabulary for refusing a request at the edge, and one place that renders it.
//!
//! [`EdgeError`] says what went wrong; [`respond`] decides, for each kind and in exactly one `match`, the gRPC code,
//! the HTTP status, the message and the `google.rpc` details, and renders them in the caller's protocol:
//!
//! - gRPC and gRPC-Web: a trailers-only response (HTTP 200) with `grpc-status`, `grpc-message` and
//!   `grpc-status-details-bin` (an encoded `google.rpc.Status`): gRPC clients read HTTP error statuses as
//!   UNAVAILABLE or UNKNOWN, never as what happened.
//! - REST: JSON `google.rpc.Status` (`code`, `message`, `details` with `@type`) and the HTTP status of the canonical
//!   table in googleapis `google/rpc/code.proto` (the one Envoy and grpc-gateway use), plus `Retry-After` where
//!   a retry makes sense.
//!
//! Edge-made errors carry a `google.rpc.ErrorInfo` (domain `switchboard.edge`, a stable `reason`) so clients can
//! branch on the reason instead of the text; rate limits carry a `google.rpc.RetryInfo` first. Statuses from the
//! services pass through with their own details, rendered to JSON for REST.

use std::time::Duration;

use axum::body::Body;
use prost::Message;
use switchboard_proto::google::rpc::{ErrorInfo, RetryInfo, Status as RpcStatus};
use tonic::Code;

use crate::edge::Protocol;

/// The `domain` of the `ErrorInfo` the edge attaches to its own refusals.
pub(crate) const ERROR_DOMAIN: &str = "switchboard.edge";

/// Why the edge refused (or could not complete) a request.
#[derive(Debug, Clone)]
pub(crate) enum EdgeError {
    /// No route for this method and path (REST), or no such RPC (gRPC).
    NoRoute { method: http::Method, path: String },
    /// An RPC the public port does not offer (internal, or operator-only).
    NotPublic { path: String },
    /// A gRPC method path sent with another content type.
    NotGrpc { path: String },
    /// `application/grpc-web+json`, which tonic-web does not speak.
    GrpcWebJson,
    /// More header fields than the edge accepts.
    TooManyHeaders { limit: usize },
    /// A REST body larger than the route accepts.
    BodyTooLarge { limit: usize },
    /// A gRPC message larger than the method accepts.
    MessageTooLarge { limit: usize },
    /// The request body did not arrive in time (a slow or stalled sender).
    BodyTooSlow,
    /// The request is malformed; the message says how to fix it.
    BadRequest(String),
    /// No valid access token (deliberately vague: no hint which part was wrong).
    Unauthenticated(&'static str),
    /// The caller may not do this.
    Forbidden(String),
    /// A rate limit refused the request.
    RateLimited { message: String, retry_after: Duration },
    /// The edge is at capacity for this kind of work; retry shortly.
    Busy(&'static str),
    /// The call did not finish within the edge's deadline.
    Timeout,
    /// A stream opened without a token reached its lifetime.
    StreamExpired { seconds: u64 },
    /// A service answered with this status.
    Status(tonic::Status),
    /// Something inside the edge failed; details are in the log.
    Internal(&'static str),
}

/// What [`EdgeError`] means on the wire.
struct Rendered {
    code: Code,
    /// Only where the canonical table's status would mislead (413, 415, 431, 408).
    http: Option<http::StatusCode>,
    /// Send `http` to gRPC callers too: only where the request is not gRPC the edge can answer in kind.
    http_for_grpc: bool,
    message: String,
    reason: Option<&'static str>,
    metadata: Vec<(&'static str, String)>,
    retry_after: Option<Duration>,
}

impl EdgeError {
    fn render(&self) -> Rendered {
        let plain = |code: Code, message: String, reason: &'static str| Rendered {
            code,
            http: None,
            http_for_grpc: false,
            message,
            reason: Some(reason),
            metadata: Vec::new(),
            retry_after: None,
        };
        match self {
            EdgeError::NoRoute { method, path } => plain(
                Code::NotFound,
                format!("no route for {method} {path}: see /openapi.json for the API"),
                "NO_ROUTE",
            ),
            EdgeError::NotPublic { path } => plain(
                Code::Unimplemented,
                format!("{path} is internal: it is not offered on the public API"),
                "NOT_PUBLIC",
            ),
            EdgeError::NotGrpc { path } => Rendered {
                http: Some(http::StatusCode::UNSUPPORTED_MEDIA_TYPE),
                ..plain(Code::InvalidArgument, format!("{path} is a gRPC method: send application/grpc"), "NOT_GRPC")
            },
            EdgeError::GrpcWebJson => Rendered {
                // tonic-web cannot frame an answer in grpc-web+json: a 415 with the status in headers is all a
                // client of that dialect can read.
                http: Some(http::StatusCode::UNSUPPORTED_MEDIA_TYPE),
                http_for_grpc: true,
                ..plain(
                    Code::Unimplemented,
                    "grpc-web+json is not supported: use application/grpc-web+proto or application/grpc-web-text"
                        .into(),
                    "GRPC_WEB_JSON",
                )
            },
            EdgeError::TooManyHeaders { limit } => Rendered {
                http: Some(http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
                metadata: vec![("limit", limit.to_string())],
                ..plain(Code::ResourceExhausted, format!("too many header fields: at most {limit}"), "TOO_MANY_HEADERS")
            },
            EdgeError::BodyTooLarge { limit } => Rendered {
                http: Some(http::StatusCode::PAYLOAD_TOO_LARGE),
                metadata: vec![("limit", limit.to_string())],
                ..plain(
                    Code::ResourceExhausted,
                    format!("the body is larger than this route accepts ({limit} bytes)"),
                    "BODY_TOO_LARGE",
                )
            },
            EdgeError::MessageTooLarge { limit } => Rendered {
                http: Some(http::StatusCode::PAYLOAD_TOO_LARGE),
                metadata: vec![("limit", limit.to_string())],
                ..plain(
                    Code::ResourceExhausted,
                    format!("the request message is larger than this method accepts ({limit} bytes)"),
                    "MESSAGE_TOO_LARGE",
                )
            },
            EdgeError::BodyTooSlow => Rendered {
                http: Some(http::StatusCode::REQUEST_TIMEOUT),
                ..plain(
                    Code::DeadlineExceeded,
                    "the request body arrived too slowly: send it at once".into(),
                    "BODY_TOO_SLOW",
                )
            },
            EdgeError::BadRequest(message) => plain(Code::InvalidArgument, message.clone(), "BAD_REQUEST"),
            EdgeError::Unauthenticated(message) => plain(Code::Unauthenticated, (*message).into(), "UNAUTHENTICATED"),
            EdgeError::Forbidden(message) => plain(Code::PermissionDenied, message.clone(), "FORBIDDEN"),
            EdgeError::RateLimited { message, retry_after } => Rendered {
                retry_after: Some(*retry_after),
                ..plain(Code::ResourceExhausted, message.clone(), "RATE_LIMITED")
            },
            EdgeError::Busy(message) => Rendered {
                retry_after: Some(Duration::from_secs(1)),
                ..plain(Code::Unavailable, (*message).into(), "BUSY")
            },
            EdgeError::Timeout => plain(Code::DeadlineExceeded, "the call took too long".into(), "TIMEOUT"),
            EdgeError::StreamExpired { seconds } => Rendered {
                metadata: vec![("lifetime_seconds", seconds.to_string())],
                ..plain(
                    Code::DeadlineExceeded,
                    format!("streams without an access token end after {seconds} s: call again, or sign in"),
                    "STREAM_EXPIRED",
                )
            },
            EdgeError::Status(status) => Rendered {
                code: status.code(),
                http: None,
                http_for_grpc: false,
                message: status.message().to_owned(),
                reason: None,
                metadata: Vec::new(),
                retry_after: None,
            },
            EdgeError::Internal(message) => plain(Code::Internal, (*message).into(), "INTERNAL"),
        }
    }

    /// The gRPC status, as a gRPC client receives it (with details).
    pub(crate) fn to_status(&self) -> tonic::Status {
        if let EdgeError::Status(status) = self {
            return status.clone();
        }
        let rendered = self.render();
        let details = rpc_status(&rendered);
        tonic::Status::with_details(rendered.code, rendered.message, details.encode_to_vec().into())
    }
}

impl From<tonic::Status> for EdgeError {
    fn from(status: tonic::Status) -> Self {
        EdgeError::Status(status)
    }
}

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// The `google.rpc.Status` of an edge-made error: RetryInfo first (clients look there), then ErrorInfo.
fn rpc_status(rendered: &Rendered) -> RpcStatus {
    let mut details = Vec::new();
    if let Some(wait) = rendered.retry_after {
        details.push(prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: RetryInfo { retry_delay: Some(duration(wait)) }.encode_to_vec(),
        });
    }
    if let Some(reason) = rendered.reason {
        let info = ErrorInfo {
            reason: reason.into(),
            domain: ERROR_DOMAIN.into(),
            metadata: rendered.metadata.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        };
        details.push(prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
            value: info.encode_to_vec(),
        });
    }
    RpcStatus { code: rendered.code as i32, message: rendered.message.clone(), details }
}

/// The HTTP status of a gRPC code, from the canonical table.
pub(crate) fn http_status(code: Code) -> http::StatusCode {
    use http::StatusCode;
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

/// The `details` of a status as proto3 JSON (`{"@type": ..., ...}`), decoded with the contracts' descriptors; a
/// detail of a type the edge does not know keeps only its `@type`.
fn details_json(details: &RpcStatus) -> Vec<serde_json::Value> {
    static POOL: std::sync::OnceLock<Option<prost_reflect::DescriptorPool>> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| prost_reflect::DescriptorPool::decode(switchboard_proto::FILE_DESCRIPTOR_SET).ok());
    details
        .details
        .iter()
        .map(|any| {
            let name = any.type_url.rsplit('/').next().unwrap_or_default();
            let decoded = pool
                .as_ref()
                .and_then(|p| p.get_message_by_name(name))
                .and_then(|d| prost_reflect::DynamicMessage::decode(d, any.value.as_slice()).ok())
                .and_then(|m| serde_json::to_value(&m).ok());
            let mut object = match decoded {
                Some(serde_json::Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            };
            object.insert("@type".into(), serde_json::Value::String(any.type_url.clone()));
            serde_json::Value::Object(object)
        })
        .collect()
}

/// `error` as the JSON `google.rpc.Status` a REST client reads (the body of a REST error, and the `error` of a
/// stream that fails after it started).
pub(crate) fn status_json(error: &EdgeError) -> serde_json::Value {
    let rendered = error.render();
    let details = match error {
        EdgeError::Status(status) if status.details().is_empty() => RpcStatus::default(),
        EdgeError::Status(status) => RpcStatus::decode(status.details()).unwrap_or_default(),
        _ => rpc_status(&rendered),
    };
    serde_json::json!({
        "code": rendered.code as i32,
        "message": rendered.message,
        "details": details_json(&details),
    })
}

/// The response that refuses a request with `error`, in `protocol`.
pub(crate) fn respond(protocol: Protocol, error: &EdgeError) -> http::Response<Body> {
    let rendered = error.render();
    let mut response = match protocol {
        Protocol::Grpc => {
            let mut response = error.to_status().into_http();
            if let (true, Some(status)) = (rendered.http_for_grpc, rendered.http) {
                *response.status_mut() = status;
            }
            response
        }
        Protocol::Rest => {
            let mut response = http::Response::new(Body::from(status_json(error).to_string()));
            *response.status_mut() = rendered.http.unwrap_or_else(|| http_status(rendered.code));
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            response
        }
    };
    if let Some(wait) = rendered.retry_after {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response.headers_mut().insert(http::header::RETRY_AFTER, seconds.max(1).into());
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[test]
    fn the_canonical_table() {
        let table = [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::ResourceExhausted, 429),
            (Code::Cancelled, 499),
            (Code::Unimplemented, 501),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::Internal, 500),
        ];
        for (code, http) in table {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }

    async fn json(response: http::Response<Body>) -> serde_json::Value {
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
    }

    #[tokio::test]
    async fn one_error_speaks_both_protocols() {
        let error = EdgeError::BodyTooLarge { limit: 8192 };
        let rest = respond(Protocol::Rest, &error);
        assert_eq!(rest.status(), 413);
        let body = json(rest).await;
        assert_eq!(body["code"], 8);
        assert_eq!(body["details"][0]["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
        assert_eq!(body["details"][0]["reason"], "BODY_TOO_LARGE");
        assert_eq!(body["details"][0]["metadata"]["limit"], "8192");

        let grpc = respond(Protocol::Grpc, &error);
        assert_eq!(grpc.status(), 200, "gRPC errors travel in grpc-status, never as HTTP errors");
        let status = tonic::Status::from_header_map(grpc.headers()).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let details = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(details.details[0].type_url, "type.googleapis.com/google.rpc.ErrorInfo");
    }

    #[tokio::test]
    async fn rate_limits_carry_retry_info_first_and_retry_after() {
        let error = EdgeError::RateLimited { message: "slow down".into(), retry_after: Duration::from_millis(2500) };
        let rest = respond(Protocol::Rest, &error);
        assert_eq!(rest.status(), 429);
        assert_eq!(rest.headers()["retry-after"], "3");
        let body = json(rest).await;
        assert_eq!(body["details"][0]["@type"], "type.googleapis.com/google.rpc.RetryInfo");
        assert_eq!(body["details"][0]["retryDelay"], "2.500s");
    }

    #[tokio::test]
    async fn service_statuses_pass_through_with_their_details() {
        let info = ErrorInfo { reason: "PROVIDER_REFUSED".into(), domain: "stripe".into(), ..Default::default() };
        let details = RpcStatus {
            code: Code::FailedPrecondition as i32,
            message: "card declined".into(),
            details: vec![prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
                value: info.encode_to_vec(),
            }],
        };
        let status =
            tonic::Status::with_details(Code::FailedPrecondition, "card declined", details.encode_to_vec().into());
        let rest = respond(Protocol::Rest, &EdgeError::Status(status));
        assert_eq!(rest.status(), 400);
        let body = json(rest).await;
        assert_eq!(body["message"], "card declined");
        assert_eq!(body["details"][0]["reason"], "PROVIDER_REFUSED");
    }
}
