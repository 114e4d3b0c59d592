//! The one outbound HTTP client for provider APIs (reqwest on rustls with ring, the workspace's one TLS stack):
//! timeouts on every call, bounded response bodies, and retries with jittered exponential backoff on 429, 5xx and
//! connection failures that honour the provider's signals: `Retry-After` (seconds or an HTTP date) and Stripe's
//! `Stripe-Should-Retry`. A wait longer than the retry budget allows is not slept: the caller gets
//! [`ProviderError::RateLimited`] with the provider's delay, to report or reschedule.
//!
//! A `Retry-After` holds back every call with the same credentials to the same host, not only the one that got it:
//! a sync fetches several record kinds at once, and the provider's limit is the account's.
//!
//! Provider-specific throttling carried in a 200 body (Shopify GraphQL's `THROTTLED` with its cost extension) is
//! the provider module's to read; it returns [`ProviderError::RateLimited`] and the engine waits the same way.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use reqwest::StatusCode;

use crate::error::ProviderError;

/// Largest response body read from a provider.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Retry and timeout policy.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, ±50% jitter.
    pub base_delay: Duration,
    /// Longest single wait slept in place; a longer `Retry-After` is returned to the caller instead.
    pub max_wait: Duration,
    /// Per-request timeout (connect, send, and read the whole body).
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_wait: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A provider's answer.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, whole.
    pub body: Bytes,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ProviderError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ProviderError::Invalid(format!("response is not JSON ({e}), status {}", self.status)))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The shared client.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    policy: RetryPolicy,
    /// Per (host, credentials): no request before this instant (the last `Retry-After` they were given).
    gates: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, tokio::time::Instant>>>,
}

impl ProviderHttp {
    /// A client with `policy`.
    pub fn new(policy: RetryPolicy) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchboard-connectors/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client, policy, gates: Default::default() })
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Sends the request `build` makes (called again for each attempt), retrying what is retryable. Returns the
    /// final response whatever its status, unless it was a retryable failure that ran out of attempts or asked for
    /// a longer wait than the budget ([`ProviderError::RateLimited`] / [`ProviderError::Unavailable`]).
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, ProviderError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.policy.max_attempts;
            let request = build(&self.client)
                .build()
                .map_err(|e| ProviderError::Invalid(format!("cannot build the request: {}", describe(&e))))?;
            let gate = gate_key(&request);
            if let Some(until) = self.gate(gate) {
                let wait = until.saturating_duration_since(tokio::time::Instant::now());
                if wait > self.policy.max_wait {
                    return Err(ProviderError::RateLimited {
                        retry_after: wait,
                        message: "the provider asked these credentials to wait".into(),
                    });
                }
                tokio::time::sleep(wait).await;
            }
            let outcome = match self.client.execute(request).await {
                Ok(response) => read(response).await,
                Err(e) => Err(ProviderError::Unavailable(describe(&e))),
            };
            let wait = match &outcome {
                Ok(response) => match retry_decision(response) {
                    Decision::Done => return outcome,
                    Decision::RetryAfter(delay) => delay.or(Some(self.backoff(attempt))),
                },
                Err(ProviderError::Unavailable(_)) => Some(self.backoff(attempt)),
                Err(_) => return outcome,
            };
            let wait = wait.unwrap_or_default();
            if let Ok(response) = &outcome
                && response.status == StatusCode::TOO_MANY_REQUESTS
            {
                self.hold(gate, wait);
            }
            if last || wait > self.policy.max_wait {
                return match outcome {
                    Ok(response) if response.status == StatusCode::TOO_MANY_REQUESTS => {
                        Err(ProviderError::RateLimited { retry_after: wait, message: error_text(&response) })
                    }
                    Ok(response) if response.status.is_server_error() => Err(ProviderError::Unavailable(format!(
                        "the provider answered {} after {attempt} attempts: {}",
                        response.status,
                        error_text(&response)
                    ))),
                    other => other,
                };
            }
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, "retrying a provider call");
            tokio::time::sleep(wait).await;
        }
    }

    /// When calls through `gate` may go again, if they must wait.
    fn gate(&self, gate: u64) -> Option<tokio::time::Instant> {
        let gates = self.gates.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        gates.get(&gate).copied().filter(|until| *until > tokio::time::Instant::now())
    }

    /// Holds back calls through `gate` for `wait`.
    fn hold(&self, gate: u64, wait: Duration) {
        let now = tokio::time::Instant::now();
        let mut gates = self.gates.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if gates.len() > 10_000 {
            gates.retain(|_, until| *until > now);
        }
        let until = gates.entry(gate).or_insert(now);
        *until = (*until).max(now + wait);
    }

    /// Exponential backoff with ±50% jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.policy.base_delay.saturating_mul(1 << attempt.saturating_sub(1).min(10));
        let jitter = (random_u32() % 1000) as f64 / 1000.0; // 0..1
        base.mul_f64(0.5 + jitter).min(self.policy.max_wait)
    }
}

/// Which calls share a provider's rate limit: same host, same credentials (never stored: a hash).
fn gate_key(request: &reqwest::Request) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.url().host_str().hash(&mut hasher);
    request.url().port_or_known_default().hash(&mut hasher);
    for name in ["authorization", "x-shopify-access-token", "stripe-account"] {
        request.headers().get(name).map(|v| v.as_bytes()).hash(&mut hasher);
    }
    // Shopify's shop is in the path (sandbox) or the host (production): the first path segment covers the former.
    request.url().path_segments().and_then(|mut s| s.nth(1)).hash(&mut hasher);
    hasher.finish()
}

enum Decision {
    Done,
    RetryAfter(Option<Duration>),
}

fn retry_decision(response: &Response) -> Decision {
    // Stripe says explicitly whether a retry can succeed; believe it over the status.
    match response.header("stripe-should-retry") {
        Some("false") => return Decision::Done,
        Some("true") => return Decision::RetryAfter(retry_after(&response.headers)),
        _ => {}
    }
    let status = response.status;
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
        Decision::RetryAfter(retry_after(&response.headers))
    } else {
        Decision::Done
    }
}

/// `Retry-After` as seconds (fractions allowed: Shopify sends `2.0`) or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let when = httpdate_to_unix(value)?;
    let now = switchboard_types::now_unix_micros() / 1_000_000;
    Some(Duration::from_secs(u64::try_from(when - now).unwrap_or(0)))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
fn httpdate_to_unix(value: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let parsed = time::PrimitiveDateTime::parse(value, &format).ok()?;
    Some(parsed.assume_utc().unix_timestamp())
}

async fn read(response: reqwest::Response) -> Result<Response, ProviderError> {
    let status = response.status();
    let headers = response.headers().clone();
    if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Err(ProviderError::Invalid(format!("response body over {MAX_RESPONSE_BYTES} bytes")));
    }
    let mut body = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.map_err(|e| ProviderError::Unavailable(describe(&e)))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ProviderError::Invalid(format!("response body over {MAX_RESPONSE_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, headers, body: Bytes::from(body) })
}

/// A transport error without the URL (which may carry a shop's domain but never a token; still, keep it short).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_owned(),
    }
}

/// A short, safe excerpt of an error body for messages (providers' error bodies hold no secrets of ours).
pub fn error_text(response: &Response) -> String {
    let text = String::from_utf8_lossy(&response.body);
    let text: String = text.chars().take(300).collect();
    if text.is_empty() { response.status.to_string() } else { text }
}

/// `wait` lengthened by a random share of up to `spread` (0.25: up to a quarter longer), so that callers told to
/// wait together do not all come back at the same instant.
pub(crate) fn spread(wait: Duration, spread: f64) -> Duration {
    wait.mul_f64(1.0 + spread * f64::from(random_u32() % 1000) / 1000.0)
}

fn random_u32() -> u32 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_fractions_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, "2.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(2500)));
        headers.insert(http::header::RETRY_AFTER, "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "a date in the past means now");
        headers.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        assert_eq!(httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let http = ProviderHttp::new(RetryPolicy::default()).unwrap();
        for attempt in 1..6 {
            let base = 200u64 << (attempt - 1);
            let wait = http.backoff(attempt).as_millis() as u64;
            assert!(wait >= base / 2 && wait <= base * 3 / 2, "attempt {attempt}: {wait} ms");
        }
        assert!(http.backoff(30) <= Duration::from_secs(30));
    }
}
