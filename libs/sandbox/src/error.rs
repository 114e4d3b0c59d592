//! The crate's one error type, for the library API (starting, delivering webhooks, driving the data). Errors the
//! fake providers answer over HTTP are not errors of the sandbox: each provider module renders its own wire format.

use crate::Provider;

/// What went wrong driving a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listener handed to [`Sandbox::start`](crate::Sandbox::start) has no local address.
    #[error("the sandbox listener has no local address: {0}")]
    Listener(std::io::Error),
    /// Starting failed: generating the data or building the webhook client (the message says which).
    #[error("starting the sandbox failed: {0}")]
    Startup(String),
    /// No such object in the sandbox's data.
    #[error("no such {kind} in the sandbox: {id}")]
    NotFound {
        /// The object kind (`charge`, `order`).
        kind: &'static str,
        /// The id that was asked for.
        id: String,
    },
    /// The object cannot change this way (a charge already refunded in full).
    #[error("{0}")]
    Conflict(String),
    /// `deliver` was asked to post a webhook but no target is set for the provider.
    #[error(
        "no webhook target is set for {0}; call set_webhook_target first (or start the binary with --webhook-target)"
    )]
    NoWebhookTarget(Provider),
    /// Posting a webhook delivery failed before a response arrived.
    #[error("delivering the webhook to {url} failed: {source}")]
    Delivery {
        /// Where it was posted.
        url: String,
        /// The client's error.
        source: reqwest::Error,
    },
}
