//! Calls to the QuickBooks Accounting API: the URL (`{base}/v3/company/{realm}/...`, `minorversion` on every
//! call), the per-realm limits Intuit sets (10 calls at once, 500 a minute — kept here so a sync never earns the
//! 429s; a 429 that still comes is waited out by the shared client, whose retries of one call count once here),
//! and Intuit's `Fault` body read into a clear [`ProviderError`], logged with the `intuit_tid` Intuit support asks
//! for.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::ID;
use crate::error::ProviderError;
use crate::http::Response;
use crate::provider::Call;

/// Calls one realm may have running at once (Intuit: 10).
const CONCURRENT_PER_REALM: usize = 10;
/// Calls one realm may start in a minute (Intuit: 500).
const PER_MINUTE_PER_REALM: usize = 500;
/// Intuit's code for an id that does not exist (or was deleted).
const OBJECT_NOT_FOUND: &str = "610";

/// One realm's budget.
struct Realm {
    slots: Arc<Semaphore>,
    started: Mutex<VecDeque<Instant>>,
}

/// The per-realm limits of this process (replicas each keep their own: a 429 beyond them still waits).
#[derive(Default)]
pub(super) struct Limiter {
    realms: Mutex<HashMap<String, Arc<Realm>>>,
}

impl Limiter {
    /// Waits for a slot of `realm` and for room in its minute; the slot is held until the permit drops.
    async fn acquire(&self, realm: &str) -> Result<OwnedSemaphorePermit, ProviderError> {
        let budget = {
            let mut realms = self.realms.lock().unwrap_or_else(PoisonError::into_inner);
            realms
                .entry(realm.to_owned())
                .or_insert_with(|| {
                    Arc::new(Realm {
                        slots: Arc::new(Semaphore::new(CONCURRENT_PER_REALM)),
                        started: Mutex::new(VecDeque::new()),
                    })
                })
                .clone()
        };
        let permit = budget
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ProviderError::Unavailable("the QuickBooks call limiter was closed".into()))?;
        loop {
            let wait = {
                let mut started = budget.started.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                while started.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
                    started.pop_front();
                }
                if started.len() < PER_MINUTE_PER_REALM {
                    started.push_back(now);
                    None
                } else {
                    started.front().map(|oldest| Duration::from_secs(60).saturating_sub(now.duration_since(*oldest)))
                }
            };
            match wait {
                None => return Ok(permit),
                Some(wait) => {
                    tracing::debug!(realm, wait_ms = wait.as_millis() as u64, "QuickBooks: 500 calls this minute");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// A realm id: digits only, so it is safe in a path.
pub(super) fn realm(call: &Call<'_>) -> Result<String, ProviderError> {
    let realm = call.account;
    if !realm.is_empty() && realm.len() <= 32 && realm.bytes().all(|b| b.is_ascii_digit()) {
        Ok(realm.to_owned())
    } else {
        Err(ProviderError::Invalid(format!("the QuickBooks connection has no usable realm id ({realm:?})")))
    }
}

/// How a call is made.
pub(super) enum Method<'a> {
    Get,
    /// A JSON body.
    Post(&'a Value),
}

/// Calls `path` (below `/v3/company/{realm}`) with `query` and `minorversion`, within the realm's limits. Returns
/// the answer whatever its status; see [`read`].
pub(super) async fn request(
    call: &Call<'_>,
    limiter: &Limiter,
    method: Method<'_>,
    path: &str,
    query: &[(&str, String)],
) -> Result<Response, ProviderError> {
    let realm = realm(call)?;
    let url = format!("{}/v3/company/{realm}{path}", call.settings.quickbooks_api_base.trim_end_matches('/'));
    let mut query: Vec<(&str, String)> = query.to_vec();
    query.push(("minorversion", call.settings.quickbooks_minor_version.max(75).to_string()));
    let _slot = limiter.acquire(&realm).await?;
    call.http
        .send(|c| {
            let builder = match &method {
                Method::Get => c.get(&url),
                Method::Post(body) => c.post(&url).json(body),
            };
            builder.bearer_auth(call.token).header(http::header::ACCEPT, "application/json").query(&query)
        })
        .await
}

/// The body of a successful answer; a `Fault` (or any other failure) as its error.
pub(super) fn read(response: &Response, what: &str) -> Result<Value, ProviderError> {
    if response.status.is_success() {
        return response.json();
    }
    Err(fault_error(response, what))
}

/// Whether the answer is Intuit's "Object Not Found" (the id is unknown or was deleted).
pub(super) fn is_not_found(response: &Response) -> bool {
    response.status == reqwest::StatusCode::NOT_FOUND
        || (response.status == reqwest::StatusCode::BAD_REQUEST
            && response.json().ok().and_then(|b| fault(&b)).is_some_and(|f| f.code == OBJECT_NOT_FOUND))
}

/// The first error of a `Fault` body.
#[derive(Debug, PartialEq)]
pub(super) struct Fault {
    pub(super) kind: String,
    pub(super) message: String,
    pub(super) detail: String,
    pub(super) code: String,
}

/// Reads `{"Fault":{"Error":[{"Message","Detail","code"}],"type"}}`, or its lower-case variant (401s, 429s).
pub(super) fn fault(body: &Value) -> Option<Fault> {
    let get = |v: &Value, name: &str| {
        v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    let fault = get(body, "Fault")?;
    let error = get(&fault, "Error").and_then(|e| e.as_array()?.first().cloned()).unwrap_or(Value::Null);
    let text = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    Some(Fault {
        kind: text(get(&fault, "type")),
        message: text(get(&error, "Message")),
        detail: text(get(&error, "Detail")),
        code: text(get(&error, "code")),
    })
}

/// A failed answer as a [`ProviderError`] saying what Intuit said; logged with `intuit_tid`.
pub(super) fn fault_error(response: &Response, what: &str) -> ProviderError {
    let tid = response.header("intuit_tid").unwrap_or("none").to_owned();
    let body = response.json().unwrap_or(Value::Null);
    let said = match fault(&body) {
        Some(f) => {
            let detail =
                if f.detail.is_empty() || f.detail == f.message { String::new() } else { format!(": {}", f.detail) };
            format!("{}{detail} ({} {})", f.message, f.kind, f.code)
        }
        None => crate::provider::error_message(&body, &crate::http::error_text(response)),
    };
    let said: String = said.chars().take(500).collect();
    tracing::warn!(provider = ID, status = response.status.as_u16(), intuit_tid = %tid, error = %said, "{what} failed");
    let message = format!("{what}: {said} [intuit_tid {tid}]");
    match response.status.as_u16() {
        401 | 403 => ProviderError::Unauthorized { provider: ID, message },
        429 => ProviderError::RateLimited {
            retry_after: crate::http::retry_after(&response.headers).unwrap_or(Duration::from_secs(60)),
            message,
        },
        400..=499 => ProviderError::Rejected { provider: ID, message },
        _ => ProviderError::Unavailable(format!("QuickBooks answered {}: {message}", response.status)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(status: u16, body: Value) -> Response {
        let mut headers = http::HeaderMap::new();
        headers.insert("intuit_tid", http::HeaderValue::from_static("1-abc"));
        Response {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers,
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn faults_read_in_either_case_and_map_to_errors() {
        let validation = answer(
            400,
            json!({"Fault": {
                "Error": [{"Message": "Duplicate Name Exists Error",
                           "Detail": "The name supplied already exists. : Ava Chen", "code": "6240"}],
                "type": "ValidationFault",
            }}),
        );
        match fault_error(&validation, "creating a customer") {
            ProviderError::Rejected { message, .. } => {
                assert!(message.contains("Duplicate Name Exists Error: The name supplied already exists"), "{message}");
                assert!(message.contains("ValidationFault 6240"), "{message}");
                assert!(message.contains("intuit_tid 1-abc"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let expired = answer(
            401,
            json!({"fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                "detail": "Token expired", "code": "3200"}], "type": "AUTHENTICATION"}}),
        );
        assert!(matches!(fault_error(&expired, "a query"), ProviderError::Unauthorized { .. }));
        let missing = answer(400, json!({"Fault": {"Error": [{"Message": "Object Not Found", "code": "610"}]}}));
        assert!(is_not_found(&missing));
        assert!(!is_not_found(&validation));
        assert!(matches!(fault_error(&answer(503, json!({})), "x"), ProviderError::Unavailable(_)));
    }

    #[tokio::test]
    async fn the_limiter_holds_the_eleventh_call_of_a_realm() {
        let limiter = Limiter::default();
        let mut held = Vec::new();
        for _ in 0..CONCURRENT_PER_REALM {
            held.push(limiter.acquire("1").await.unwrap());
        }
        let eleventh = tokio::time::timeout(Duration::from_millis(50), limiter.acquire("1")).await;
        assert!(eleventh.is_err(), "waits for a slot");
        assert!(limiter.acquire("2").await.is_ok(), "another realm has its own");
        held.pop();
        assert!(tokio::time::timeout(Duration::from_secs(1), limiter.acquire("1")).await.is_ok());
    }
}
