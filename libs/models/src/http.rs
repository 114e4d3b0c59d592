//! What both clients share on the wire: sending under the call's deadlines, reading an error answer, and the
//! retry hints in its headers (`retry-after-ms`, `retry-after` in seconds or as an HTTP date, `x-should-retry`).

use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::config::Timeouts;
use crate::error::{ApiError, ModelError, TimeoutPhase};

/// The deadlines of one call, fixed when it starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadlines {
    first_byte: Instant,
    pub(crate) total: Instant,
    timeouts: Timeouts,
}

impl Deadlines {
    pub(crate) fn start(timeouts: Timeouts) -> Self {
        let now = Instant::now();
        Self { first_byte: now + timeouts.first_byte, total: now + timeouts.total, timeouts }
    }

    /// The earlier of the first-byte and total deadlines, and which one it is.
    pub(crate) fn first_byte(&self) -> (Instant, TimeoutPhase) {
        if self.first_byte <= self.total {
            (self.first_byte, TimeoutPhase::FirstByte)
        } else {
            (self.total, TimeoutPhase::Total)
        }
    }

    pub(crate) fn timeout(&self, provider: &str, phase: TimeoutPhase) -> ModelError {
        let after = match phase {
            TimeoutPhase::FirstByte => self.timeouts.first_byte,
            TimeoutPhase::Total => self.timeouts.total,
        };
        ModelError::Timeout { provider: provider.to_owned(), phase, after }
    }
}

/// A provider's reading of a non-2xx answer: status, headers (for the retry hints) and body.
pub(crate) type ErrorReader = fn(&str, u16, &HeaderMap, &str) -> ModelError;

/// Error bodies are small; a larger one is cut here rather than read whole.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sends a request; a 2xx answer is returned with its body unread, anything else becomes the provider's error.
pub(crate) async fn send(
    provider: &str,
    request: reqwest::RequestBuilder,
    deadlines: &Deadlines,
    read_error: ErrorReader,
) -> Result<reqwest::Response, ModelError> {
    let (deadline, phase) = deadlines.first_byte();
    let mut response = match tokio::time::timeout_at(deadline, request.send()).await {
        Err(_) => return Err(deadlines.timeout(provider, phase)),
        Ok(Err(error)) => return Err(transport(provider, deadlines, error)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout_at(deadlines.total, response.chunk()).await {
            Err(_) => return Err(deadlines.timeout(provider, TimeoutPhase::Total)),
            Ok(Err(error)) => return Err(transport(provider, deadlines, error)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                body.extend_from_slice(&chunk);
                if body.len() >= MAX_ERROR_BODY {
                    body.truncate(MAX_ERROR_BODY);
                    break;
                }
            }
        }
    }
    Err(read_error(provider, status.as_u16(), &headers, &String::from_utf8_lossy(&body)))
}

/// Reads a whole 2xx JSON body under the total deadline.
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(
    provider: &str,
    response: reqwest::Response,
    deadlines: &Deadlines,
) -> Result<T, ModelError> {
    let bytes = match tokio::time::timeout_at(deadlines.total, response.bytes()).await {
        Err(_) => return Err(deadlines.timeout(provider, TimeoutPhase::Total)),
        Ok(Err(error)) => return Err(transport(provider, deadlines, error)),
        Ok(Ok(bytes)) => bytes,
    };
    serde_json::from_slice(&bytes).map_err(|e| ModelError::Protocol {
        provider: provider.to_owned(),
        message: format!("the response body is not the documented JSON: {e}"),
    })
}

fn transport(provider: &str, deadlines: &Deadlines, error: reqwest::Error) -> ModelError {
    if error.is_timeout() {
        return deadlines.timeout(provider, TimeoutPhase::Total);
    }
    // The URL in reqwest's message carries no secret: keys travel in headers only.
    ModelError::Connection { provider: provider.to_owned(), message: error.to_string() }
}

/// An [`ApiError`] with the retry hints and request id read from the headers.
pub(crate) fn api_error(
    provider: &str,
    status: Option<u16>,
    headers: &HeaderMap,
    code: Option<String>,
    message: String,
) -> ApiError {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    ApiError {
        provider: provider.to_owned(),
        status,
        code,
        message,
        request_id: header("x-request-id").or_else(|| header("request-id")).map(str::to_owned),
        retry_after: retry_after(header("retry-after-ms"), header("retry-after")),
        should_retry: match header("x-should-retry") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        },
    }
}

/// `retry-after-ms` (milliseconds) wins over `retry-after` (seconds, or an HTTP date); zero or negative means none.
fn retry_after(millis: Option<&str>, after: Option<&str>) -> Option<Duration> {
    let positive = |secs: f64| (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    if let Some(ms) = millis.and_then(|v| v.parse::<f64>().ok()) {
        return positive(ms / 1000.0);
    }
    let after = after?;
    if let Ok(secs) = after.parse::<f64>() {
        return positive(secs);
    }
    let format = time::format_description::parse_borrowed::<1>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    let at = time::PrimitiveDateTime::parse(after, &format).ok()?.assume_utc();
    positive((at - time::OffsetDateTime::now_utc()).as_seconds_f64())
}

/// A message for an error body that is not the provider's JSON (a proxy's HTML page, say): its first 200 chars.
pub(crate) fn raw_message(status: u16, body: &str) -> String {
    let shown: String = body.chars().take(200).collect();
    if shown.trim().is_empty() { format!("HTTP {status} with an empty body") } else { shown }
}

/// The class of an error answer from its status and what the provider's body said.
pub(crate) fn classify(api: ApiError, quota: bool, context_length: bool) -> ModelError {
    if quota {
        return ModelError::QuotaExhausted(api);
    }
    if context_length {
        return ModelError::ContextLengthExceeded(api);
    }
    match api.status {
        Some(429) => ModelError::RateLimited(api),
        Some(529) => ModelError::Overloaded(api),
        Some(401 | 403) => ModelError::Auth(api),
        Some(404) => ModelError::NotFound(api),
        Some(402) => ModelError::QuotaExhausted(api),
        Some(408 | 409 | 500..=599) => ModelError::Server(api),
        Some(_) => ModelError::InvalidRequest(api),
        None => ModelError::Server(api),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_milliseconds_and_reads_dates() {
        assert_eq!(retry_after(Some("250"), Some("9")), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(None, Some("1.5")), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(None, Some("0")), None);
        assert_eq!(retry_after(Some("nonsense"), None), None);
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let format = time::format_description::parse_borrowed::<1>(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
        )
        .unwrap();
        let date = later.format(&format).unwrap();
        let wait = retry_after(None, Some(&date)).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(retry_after(None, Some("Thu, 01 Jan 1970 00:00:00 GMT")), None);
    }
}
