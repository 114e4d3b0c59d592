//! Stripe's error answers, in one place: `{"error":{"type","code","message","param","doc_url"}}` with the status
//! Stripe uses for each case (stripe-go `error.go`). Handlers only pick a constructor.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error answered in Stripe's format.
#[derive(Debug, Clone)]
pub(crate) struct StripeError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
}

impl StripeError {
    fn new(status: StatusCode, kind: &'static str, code: Option<&'static str>, message: String) -> Self {
        Self { status, kind, code, message, param: None }
    }

    fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn body(&self) -> Value {
        let mut error = Map::new();
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-"))),
            );
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        error.insert("type".into(), json!(self.kind));
        json!({ "error": error })
    }

    pub(crate) fn no_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "You did not provide an API key. You need to provide your API key in the Authorization header, using \
             Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication \
             for details, or we can help at https://support.stripe.com/."
                .to_owned(),
        )
    }

    pub(crate) fn invalid_key(key: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            format!("Invalid API Key provided: {}", mask_key(key)),
        )
    }

    pub(crate) fn expired_key(key: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("api_key_expired"),
            format!("Expired API Key provided: {}", mask_key(key)),
        )
    }

    pub(crate) fn no_account_access(key: &str, account: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            Some("account_invalid"),
            format!(
                "The provided key '{}' does not have access to account '{account}' (or that account does not exist). \
                 Application access may have been revoked.",
                mask_key(key)
            ),
        )
    }

    pub(crate) fn missing_permission(key: &str, account: &str, permission: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            None,
            format!(
                "The provided key '{}' does not have the required permissions for this endpoint on account \
                 '{account}'. Having the '{permission}' permission would allow this request to continue.",
                mask_key(key)
            ),
        )
    }

    pub(crate) fn unrecognized_url(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            None,
            format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at \
                 https://support.stripe.com/."
            ),
        )
    }

    /// `No such charge: 'ch_x'` (404, or 400 when the id came as a list cursor).
    pub(crate) fn no_such(kind: &str, id: &str, param: &str) -> Self {
        let status = if param == "id" { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
        Self::new(status, "invalid_request_error", Some("resource_missing"), format!("No such {kind}: '{id}'"))
            .with_param(param)
    }

    pub(crate) fn unknown_parameter(param: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_unknown"),
            format!("Received unknown parameter: {param}"),
        )
        .with_param(param)
    }

    pub(crate) fn invalid_integer(param: &str, value: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_invalid_integer"),
            format!("Invalid integer: {value}"),
        )
        .with_param(param)
    }

    pub(crate) fn invalid_param(param: &str, message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", None, message).with_param(param)
    }

    pub(crate) fn invalid_request(code: Option<&'static str>, message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message)
    }

    pub(crate) fn already_refunded(charge: &str, param: Option<&str>, message: Option<String>) -> Self {
        let error = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("charge_already_refunded"),
            message.unwrap_or_else(|| format!("Charge {charge} has already been refunded.")),
        );
        match param {
            Some(param) => error.with_param(param),
            None => error,
        }
    }

    pub(crate) fn idempotency_mismatch(key: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "idempotency_error",
            None,
            format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                 Try using a key other than '{key}' if you meant to execute a different request."
            ),
        )
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Masks a key as Stripe's errors do: the prefix (`sk_test_`), asterisks, the last four characters.
pub(crate) fn mask_key(key: &str) -> String {
    let prefix_len = ["sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_"]
        .iter()
        .find(|p| key.starts_with(**p))
        .map_or(0, |p| p.len());
    let chars: Vec<char> = key.chars().collect();
    let prefix_len = prefix_len.min(chars.len());
    let rest = chars.len() - prefix_len;
    let shown = if rest > 4 { 4 } else { 0 };
    let prefix: String = chars[..prefix_len].iter().collect();
    let suffix: String = chars[chars.len() - shown..].iter().collect();
    format!("{prefix}{}{suffix}", "*".repeat(rest - shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked_like_stripe_does() {
        assert_eq!(mask_key("sk_test_baddemo"), "sk_test_***demo");
        assert_eq!(mask_key("sk_test_xxxxdemo"), "sk_test_****demo");
        assert_eq!(mask_key("nonsense"), "****ense");
        assert_eq!(mask_key("sk_test_ab"), "sk_test_**");
    }

    #[test]
    fn bodies_carry_type_code_and_param() {
        let body = StripeError::no_such("charge", "ch_x", "starting_after").body();
        assert_eq!(body["error"]["code"], "resource_missing");
        assert_eq!(body["error"]["param"], "starting_after");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(StripeError::invalid_key("sk_test_nope").body()["error"].get("code").is_none());
    }
}
