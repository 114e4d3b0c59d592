//! Injected failures: a [`Fault`] makes the next N API requests to one provider fail with a 429 or a 5xx, answered
//! the way that provider answers (Stripe's error object and `Stripe-Should-Retry`, Shopify's `Retry-After` in float
//! seconds, Intuit's `Fault`, HubSpot's `policyName`). OAuth endpoints are never faulted, only API requests.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Provider;

/// The next `count` API requests to `provider` are answered with `status` (429 or 5xx) in the provider's format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Whose API fails.
    pub provider: Provider,
    /// The HTTP status to answer: 429 or a 5xx.
    pub status: u16,
    /// How many requests fail.
    pub count: u32,
    /// The `Retry-After` to send (JSON: float seconds). Shopify always sends one (2.0 s when unset); Stripe sends
    /// none unless set.
    #[serde(default, with = "secs")]
    pub retry_after: Option<Duration>,
}

/// Faults waiting to fire, per provider, in injection order.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    queued: HashMap<Provider, VecDeque<Fault>>,
}

impl Faults {
    pub(crate) fn inject(&mut self, fault: Fault) {
        if fault.count > 0 {
            self.queued.entry(fault.provider).or_default().push_back(fault);
        }
    }

    /// Takes one firing of the oldest fault of `provider`, if any remain.
    pub(crate) fn take(&mut self, provider: Provider) -> Option<Fault> {
        let queue = self.queued.get_mut(&provider)?;
        let front = queue.front_mut()?;
        let fired = Fault { count: 1, ..front.clone() };
        front.count -= 1;
        if front.count == 0 {
            queue.pop_front();
        }
        Some(fired)
    }
}

/// The `Retry-After` a fault answers with.
pub(crate) fn effective_retry_after(fault: &Fault) -> Option<Duration> {
    match fault.provider {
        Provider::Shopify if fault.status == 429 => Some(fault.retry_after.unwrap_or(Duration::from_secs(2))),
        _ => fault.retry_after,
    }
}

/// The provider's answer to a request hit by `fault`. `graphql` says whether a Shopify request was GraphQL.
pub(crate) fn respond(fault: &Fault, graphql: bool) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
    let retry_after = effective_retry_after(fault);
    let body = match fault.provider {
        Provider::Stripe if throttled => json!({"error": {
            "code": "rate_limit",
            "message": "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            "type": "invalid_request_error",
        }}),
        Provider::Stripe => json!({"error": {
            "message": "An unknown error occurred. Please try again later.",
            "type": "api_error",
        }}),
        Provider::Shopify if throttled && graphql => json!({"errors": [{
            "message": "Throttled",
            "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
        }]}),
        Provider::Shopify if throttled => json!({
            "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
        }),
        Provider::Shopify if graphql => json!({"errors": [{
            "message": "Internal error. Looks like something went wrong on our end.",
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }]}),
        Provider::Shopify => json!({"errors": "Internal Server Error"}),
        Provider::QuickBooks if throttled => json!({"fault": {
            "error": [{
                "message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "detail": "The request limit was reached. Wait 60 seconds before retrying.",
                "code": "3001",
            }],
            "type": "SERVICE",
        }, "time": crate::clock::rfc3339(crate::clock::wall_unix())}),
        Provider::QuickBooks => json!({"Fault": {
            "Error": [{"Message": "An application error has occurred while processing your request",
                       "Detail": "System Failure Error: An unexpected error occurred", "code": "10000"}],
            "type": "SystemFault",
        }, "time": crate::clock::rfc3339(crate::clock::wall_unix())}),
        Provider::HubSpot if throttled => json!({
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": uuid::Uuid::new_v4().to_string(),
            "policyName": "TEN_SECONDLY_ROLLING",
            "category": "RATE_LIMITS",
        }),
        Provider::HubSpot => json!({
            "status": "error",
            "message": "internal error",
            "correlationId": uuid::Uuid::new_v4().to_string(),
            "category": "INTERNAL_ERROR",
        }),
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Some(wait) = retry_after
        && let Ok(value) = HeaderValue::from_str(&format_retry_after(fault.provider, wait))
    {
        headers.insert("retry-after", value);
    }
    match fault.provider {
        Provider::Stripe => {
            headers.insert("stripe-should-retry", HeaderValue::from_static("true"));
        }
        Provider::HubSpot if throttled => {
            headers.insert("x-hubspot-ratelimit-max", HeaderValue::from_static("110"));
            headers.insert("x-hubspot-ratelimit-remaining", HeaderValue::from_static("0"));
            headers.insert("x-hubspot-ratelimit-interval-milliseconds", HeaderValue::from_static("10000"));
        }
        _ => {}
    }
    response
}

/// Shopify sends float seconds (`2.0`, `1.5`); the others whole seconds, rounded up.
pub(crate) fn format_retry_after(provider: Provider, wait: Duration) -> String {
    match provider {
        Provider::Shopify => {
            let secs = wait.as_secs_f64();
            if secs.fract() == 0.0 { format!("{secs:.1}") } else { format!("{secs}") }
        }
        _ => wait.as_secs_f64().ceil().to_string(),
    }
}

/// `Option<Duration>` as float seconds in JSON.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_f64(d.as_secs_f64()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(deserializer)?;
        match secs {
            None => Ok(None),
            Some(s) => Duration::try_from_secs_f64(s).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_fires_count_times_then_the_next_one() {
        let mut faults = Faults::default();
        faults.inject(Fault { provider: Provider::Stripe, status: 429, count: 2, retry_after: None });
        faults.inject(Fault { provider: Provider::Stripe, status: 503, count: 1, retry_after: None });
        let fired: Vec<u16> = std::iter::from_fn(|| faults.take(Provider::Stripe)).map(|f| f.status).collect();
        assert_eq!(fired, [429, 429, 503]);
        assert!(faults.take(Provider::Shopify).is_none());
    }

    #[test]
    fn retry_after_formats_per_provider() {
        assert_eq!(format_retry_after(Provider::Shopify, Duration::from_secs(2)), "2.0");
        assert_eq!(format_retry_after(Provider::Shopify, Duration::from_millis(1500)), "1.5");
        assert_eq!(format_retry_after(Provider::Stripe, Duration::from_millis(1500)), "2");
    }

    #[test]
    fn faults_parse_from_json_with_float_seconds() {
        let fault: Fault =
            serde_json::from_str(r#"{"provider":"shopify","status":429,"count":1,"retry_after":0.5}"#).unwrap();
        assert_eq!(fault.retry_after, Some(Duration::from_millis(500)));
        let fault: Fault = serde_json::from_str(r#"{"provider":"quickbooks","status":503,"count":1}"#).unwrap();
        assert_eq!(fault.retry_after, None);
    }
}
