//! Scripted fakes of the two model APIs Switchboard calls — OpenAI Chat Completions (`/openai/v1/chat/completions`)
//! and Anthropic Messages (`/anthropic/v1/messages`) — on their real wire formats: JSON answers and SSE streams with
//! text deltas, parallel tool calls and arguments streamed in fragments, usage, and each provider's error bodies
//! and retry headers. Tests take it as a dev-dependency and bind it on `127.0.0.1:0` ([`ModelSandbox::start`]).
//!
//! A test queues one [`Reply`] per request it expects, per API ([`ModelSandboxHandle::script`]); failures are
//! injected the same way ([`Failure`]: 429 with `retry-after` / `retry-after-ms`, quota 429, 500/503/529, context
//! length, 401, 400; and on a reply, a slow first byte, a stream cut before its final event, a stream that stalls
//! open, a mid-stream error event, or raw argument text that is not JSON). With nothing queued the fake answers by
//! echoing the last user message. Every request is recorded ([`ModelSandboxHandle::requests`]) so tests can assert what was sent and how
//! often. A request without the right key is answered 401 without using a scripted reply, as the real APIs do.
//!
//! Layout: `script` holds what tests script, `state` the queues and the record, `openai` and `anthropic` render
//! answers and errors in their formats, `wire` turns a rendered answer into an HTTP response. This crate is never a
//! dependency of a service.

mod anthropic;
mod error;
mod openai;
mod script;
mod state;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use crate::error::ModelSandboxError;
pub use crate::script::{Failure, Reply, RetryAfter, ScriptedCall};
pub use crate::state::{Api, ModelSandboxHandle, RecordedRequest};

/// The OpenAI key the fake accepts (`Authorization: Bearer …`).
pub const OPENAI_KEY: &str = "sk-sandbox-openai";
/// The Anthropic key the fake accepts (`x-api-key`).
pub const ANTHROPIC_KEY: &str = "sk-ant-sandbox";

/// The fake model APIs.
#[derive(Debug)]
pub struct ModelSandbox;

impl ModelSandbox {
    /// Serves both APIs on `listener` until `shutdown` is cancelled.
    ///
    /// The listener is already bound, so tests bind `127.0.0.1:0` and never race for a port.
    pub async fn start(
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<ModelSandboxHandle, ModelSandboxError> {
        let addr = listener.local_addr().map_err(ModelSandboxError::Listener)?;
        let handle = ModelSandboxHandle::new(format!("http://{addr}"));
        let app = Router::new()
            .route("/openai/v1/chat/completions", post(openai::completions))
            .route("/anthropic/v1/messages", post(anthropic::messages))
            .with_state(Arc::clone(handle.shared()));
        tracing::info!(base_url = %handle.base_url(), "model sandbox listening");
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
            if let Err(error) = served {
                tracing::error!(%error, "model sandbox stopped");
            }
        });
        Ok(handle)
    }
}
