//! The crate's one error type. Each provider's error body (HTTP status, `error.type` / `error.code`, `retry-after`,
//! `x-should-retry`) is read once into a [`ModelError`] variant; the chain decides what to do from
//! [`ModelError::class`] alone, and `From<ModelError> for tonic::Status` is the one place it becomes a gRPC status.

use std::fmt;
use std::time::Duration;

/// What a provider said when it refused or failed a call.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The configured provider's name.
    pub provider: String,
    /// The HTTP status; `None` when the error came as an event inside a stream that had already answered 200.
    pub status: Option<u16>,
    /// The provider's error type or code (`rate_limit_exceeded`, `overloaded_error`, …), when it sent one.
    pub code: Option<String>,
    /// The provider's message (never contains our key: providers mask it, and auth errors do not show it).
    pub message: String,
    /// The provider's request id (`x-request-id`, `request-id`), for support tickets.
    pub request_id: Option<String>,
    /// How long the provider asked us to wait (`retry-after-ms`, then `retry-after`), uncapped.
    pub retry_after: Option<Duration>,
    /// The provider's `x-should-retry` header, which overrides the status's usual retryability.
    pub should_retry: Option<bool>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.provider)?;
        match self.status {
            Some(status) => write!(f, " answered {status}")?,
            None => write!(f, " sent an error event mid-stream")?,
        }
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " [request {id}]")?;
        }
        Ok(())
    }
}

/// Which timeout fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// No response headers and first event within the provider's first-byte timeout.
    FirstByte,
    /// The whole call (including a stream) outlived the provider's total timeout.
    Total,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FirstByte => "first byte",
            Self::Total => "total",
        })
    }
}

/// Everything a model call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// 429 for request or token rate: retry after the provider's `retry-after`.
    #[error("rate limited: {0}")]
    RateLimited(ApiError),
    /// 429 `insufficient_quota` (OpenAI), 429 spend limit or 402 billing (Anthropic): retrying will not help until
    /// someone pays; fall back to another provider.
    #[error("quota exhausted, check the account's billing: {0}")]
    QuotaExhausted(ApiError),
    /// Anthropic's 529 `overloaded_error` (all customers, not our limit).
    #[error("overloaded: {0}")]
    Overloaded(ApiError),
    /// 5xx, 408 or 409: the provider failed this request.
    #[error("provider error: {0}")]
    Server(ApiError),
    /// The prompt does not fit the model's context window: a model with a larger window may take it.
    #[error("context length exceeded: {0}")]
    ContextLengthExceeded(ApiError),
    /// 400 and other 4xx: the request is wrong; retrying or another provider will not fix it.
    #[error("invalid request: {0}")]
    InvalidRequest(ApiError),
    /// 401/403: the configured key is wrong or lacks permission. A configuration error; never retried.
    #[error("{} rejected its credentials ({}): check the provider's API key and its permissions; not retried", .0.provider, .0.status.unwrap_or(0))]
    Auth(ApiError),
    /// 404: the configured model or base URL does not exist. A configuration error; never retried.
    #[error("model or endpoint not found, check the configured model name and base URL: {0}")]
    NotFound(ApiError),
    /// A timeout fired.
    #[error("{provider}: no answer within the {phase} timeout of {after:?}")]
    Timeout {
        /// The configured provider's name.
        provider: String,
        /// Which timeout.
        phase: TimeoutPhase,
        /// Its length.
        after: Duration,
    },
    /// Connecting, sending or reading failed below HTTP.
    #[error("{provider}: connection failed: {message}")]
    Connection {
        /// The configured provider's name.
        provider: String,
        /// The client's description.
        message: String,
    },
    /// The stream ended (cleanly or not) before its final event (`[DONE]`, `message_stop`).
    #[error("{provider}: the stream ended before its final event")]
    StreamInterrupted {
        /// The configured provider's name.
        provider: String,
    },
    /// The model's arguments for a tool call, once assembled, are not JSON.
    #[error("{provider}: the arguments of tool call {index} ({tool}) are not valid JSON: {reason}")]
    MalformedToolArguments {
        /// The configured provider's name.
        provider: String,
        /// The tool's name.
        tool: String,
        /// The call's index in the response.
        index: usize,
        /// What the JSON parser said.
        reason: String,
    },
    /// The provider answered something that is not its documented format.
    #[error("{provider}: unexpected response: {message}")]
    Protocol {
        /// The configured provider's name.
        provider: String,
        /// What was wrong.
        message: String,
    },
    /// Every provider is cooling down after failures: failing fast rather than waiting.
    #[error("no model provider is available: {} cooling down after failures; try again shortly", .providers.join(", "))]
    Unavailable {
        /// The providers cooling down.
        providers: Vec<String>,
    },
    /// Every provider was tried (with retries) and failed; one line per provider.
    #[error("every model provider failed: {}", failures_line(.failures))]
    AllProvidersFailed {
        /// The last error of each provider, in chain order.
        failures: Vec<ModelError>,
    },
    /// A configuration value is missing or malformed.
    #[error("invalid model configuration: {variable}: {message}")]
    Config {
        /// The setting (environment variable) at fault.
        variable: String,
        /// What is wrong with it and how to fix it.
        message: String,
    },
    /// The chain has no providers configured.
    #[error("no model provider is configured: set OPENAI_API_KEY or ANTHROPIC_API_KEY")]
    NoProviders,
}

fn failures_line(failures: &[ModelError]) -> String {
    failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// The kinds of failure the chain tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// [`ModelError::RateLimited`].
    RateLimited,
    /// [`ModelError::QuotaExhausted`].
    QuotaExhausted,
    /// [`ModelError::Overloaded`].
    Overloaded,
    /// [`ModelError::Server`].
    Server,
    /// [`ModelError::ContextLengthExceeded`].
    ContextLength,
    /// [`ModelError::InvalidRequest`].
    InvalidRequest,
    /// [`ModelError::Auth`], [`ModelError::NotFound`] and [`ModelError::Config`]: the configuration is wrong.
    Configuration,
    /// [`ModelError::Timeout`].
    Timeout,
    /// [`ModelError::Connection`] and [`ModelError::StreamInterrupted`].
    Connection,
    /// [`ModelError::MalformedToolArguments`] and [`ModelError::Protocol`]: the output was unusable.
    BadOutput,
    /// [`ModelError::Unavailable`], [`ModelError::AllProvidersFailed`], [`ModelError::NoProviders`].
    Unavailable,
}

impl ModelError {
    /// The class the chain decides on.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::RateLimited(_) => ErrorClass::RateLimited,
            Self::QuotaExhausted(_) => ErrorClass::QuotaExhausted,
            Self::Overloaded(_) => ErrorClass::Overloaded,
            Self::Server(_) => ErrorClass::Server,
            Self::ContextLengthExceeded(_) => ErrorClass::ContextLength,
            Self::InvalidRequest(_) => ErrorClass::InvalidRequest,
            Self::Auth(_) | Self::NotFound(_) | Self::Config { .. } => ErrorClass::Configuration,
            Self::Timeout { .. } => ErrorClass::Timeout,
            Self::Connection { .. } | Self::StreamInterrupted { .. } => ErrorClass::Connection,
            Self::MalformedToolArguments { .. } | Self::Protocol { .. } => ErrorClass::BadOutput,
            Self::Unavailable { .. } | Self::AllProvidersFailed { .. } | Self::NoProviders => ErrorClass::Unavailable,
        }
    }

    /// The provider's answer, for the variants that carry one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::RateLimited(e)
            | Self::QuotaExhausted(e)
            | Self::Overloaded(e)
            | Self::Server(e)
            | Self::ContextLengthExceeded(e)
            | Self::InvalidRequest(e)
            | Self::Auth(e)
            | Self::NotFound(e) => Some(e),
            Self::Timeout { .. }
            | Self::Connection { .. }
            | Self::StreamInterrupted { .. }
            | Self::MalformedToolArguments { .. }
            | Self::Protocol { .. }
            | Self::Config { .. }
            | Self::Unavailable { .. }
            | Self::AllProvidersFailed { .. }
            | Self::NoProviders => None,
        }
    }

    /// The provider's requested wait, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|e| e.retry_after)
    }

    /// Whether asking the same provider again may succeed: 408/409/429/5xx/529, timeouts, connection failures and
    /// unusable output, unless the provider said `x-should-retry: false`. `x-should-retry: true` adds retries only
    /// where a retry can help: never for 400/401/403, quota or context length.
    pub fn is_retryable(&self) -> bool {
        let by_class = match self.class() {
            ErrorClass::RateLimited
            | ErrorClass::Overloaded
            | ErrorClass::Server
            | ErrorClass::Timeout
            | ErrorClass::Connection
            | ErrorClass::BadOutput => true,
            ErrorClass::QuotaExhausted
            | ErrorClass::ContextLength
            | ErrorClass::InvalidRequest
            | ErrorClass::Configuration
            | ErrorClass::Unavailable => false,
        };
        let never = matches!(
            self.class(),
            ErrorClass::QuotaExhausted
                | ErrorClass::ContextLength
                | ErrorClass::InvalidRequest
                | ErrorClass::Configuration
                | ErrorClass::Unavailable
        );
        match self.api().and_then(|e| e.should_retry) {
            Some(false) => false,
            Some(true) => !never,
            None => by_class,
        }
    }
}

impl From<ModelError> for tonic::Status {
    fn from(error: ModelError) -> Self {
        use tonic::Code;
        let code = match error.class() {
            ErrorClass::RateLimited | ErrorClass::QuotaExhausted => Code::ResourceExhausted,
            ErrorClass::Overloaded | ErrorClass::Server | ErrorClass::Connection | ErrorClass::Unavailable => {
                Code::Unavailable
            }
            ErrorClass::Timeout => Code::DeadlineExceeded,
            ErrorClass::ContextLength => Code::OutOfRange,
            ErrorClass::InvalidRequest | ErrorClass::BadOutput => Code::Internal,
            // The server's own configuration is wrong, not the caller's request.
            ErrorClass::Configuration => Code::FailedPrecondition,
        };
        tonic::Status::new(code, error.to_string())
    }
}
