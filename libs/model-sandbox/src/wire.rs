//! A rendered answer and how it goes on the wire: a JSON body with a status and headers, or an SSE stream of
//! pre-rendered events whose last is the provider's final event — where a cut or an error event is applied.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::script::Reply;

/// What a handler answers.
pub(crate) struct Wire {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: WireBody,
}

pub(crate) enum WireBody {
    Json(Value),
    /// Complete SSE events (each ending in a blank line); the last is the final event. `stall`: then the stream
    /// stays open and silent.
    Events {
        events: Vec<String>,
        stall: bool,
    },
}

impl Wire {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, headers: Vec::new(), body: WireBody::Json(body) }
    }

    pub(crate) fn events(events: Vec<String>) -> Self {
        Self { status: StatusCode::OK, headers: Vec::new(), body: WireBody::Events { events, stall: false } }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Applies the reply's stream faults: an error event after N events, a cut after N, or a stall after N, each
    /// before the final event at the latest.
    pub(crate) fn with_stream_faults(mut self, reply: &Reply, error_event: String) -> Self {
        if let WireBody::Events { events, stall } = &mut self.body {
            let before_final = events.len().saturating_sub(1);
            if let Some(n) = reply.error_after {
                events.truncate(n.min(before_final));
                events.push(error_event);
            } else if let Some(n) = reply.cut_after {
                events.truncate(n.min(before_final));
            } else if let Some(n) = reply.stall_after {
                events.truncate(n.min(before_final));
                *stall = true;
            }
        }
        self
    }
}

impl IntoResponse for Wire {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            WireBody::Json(body) => (self.status, axum::Json(body)).into_response(),
            WireBody::Events { events, stall } => {
                // One chunk per event, as the providers flush them.
                let chunks = events.into_iter().map(|e| Ok::<_, Infallible>(Bytes::from(e)));
                let chunks = futures::stream::iter(chunks);
                let body = if stall {
                    Body::from_stream(futures::StreamExt::chain(chunks, futures::stream::pending()))
                } else {
                    Body::from_stream(chunks)
                };
                let mut response = Response::new(body);
                *response.status_mut() = self.status;
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                response
            }
        };
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(HeaderName::from_static(name), value);
            }
        }
        response
    }
}

/// `data: …` (and `event: …`) lines of one SSE event.
pub(crate) fn sse(event: Option<&str>, data: &str) -> String {
    match event {
        Some(event) => format!("event: {event}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// A deterministic token estimate: a quarter of the characters, at least one.
pub(crate) fn estimate_tokens(chars: usize) -> u64 {
    u64::try_from(chars / 4).unwrap_or(u64::MAX).max(1)
}
