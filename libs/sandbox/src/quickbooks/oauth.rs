//! Intuit OAuth 2.0 under `{base}/quickbooks` (Intuit splits it over appcenter.intuit.com and
//! oauth.platform.intuit.com; here they share one base):
//!
//! - `GET /connect/oauth2?client_id&scope&redirect_uri&state&response_type=code` approves at once: 302 to
//!   `redirect_uri?code=..&state=..&realmId=<DEMO_QUICKBOOKS_REALM>`;
//! - `POST /oauth2/v1/tokens/bearer`, HTTP Basic client authentication, form body: `authorization_code` (the
//!   `redirect_uri` must match) or `refresh_token`. Every refresh returns a new refresh token and kills the old one
//!   at once, so a reused token is `{"error":"invalid_grant"}` — what the single-flight refresh lock guards against.
//!   Answers carry `x_refresh_token_expires_in`, and `x_refresh_token_hard_expires_in` when asked for with
//!   `x-include-refresh-token-hard-expires-in: true`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::oauth::{Authorization, CodeError, Grant, Issued, Rotation, TokenPolicy};
use crate::state::{Shared, lock};
use crate::{DEMO_QUICKBOOKS_REALM, Provider};

const POLICY: TokenPolicy = TokenPolicy {
    access_prefix: "eyJsandbox.",
    access_lifetime: Some(Duration::from_secs(3600)),
    refresh: Some(("AB11", Rotation::Immediate)),
};
/// The rolling refresh-token lifetime Intuit reports (101 days).
const REFRESH_TOKEN_LIFETIME_SECS: u64 = 8_726_400;
/// The absolute refresh-token lifetime (five years), reported on request.
const REFRESH_TOKEN_HARD_LIFETIME_SECS: u64 = 5 * 365 * 86_400;

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!("<!doctype html><title>Intuit</title><h1>Something went wrong</h1><p>{message}</p>")),
    )
        .into_response()
}

pub(super) async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("client_id") != Some(shared.apps.quickbooks_client_id.as_str()) {
        return error_page("invalid_client: the client_id is not registered.");
    }
    if get("response_type") != Some("code") {
        return error_page("unsupported_response_type: response_type must be 'code'.");
    }
    let scope = get("scope").unwrap_or_default();
    if scope.is_empty() {
        return error_page("invalid_scope: a scope is required.");
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return error_page("invalid_request: redirect_uri is required.");
    };
    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return error_page("invalid_request: redirect_uri is not a URL.");
    };
    let code = lock(&shared.grants).issue_code(
        Provider::QuickBooks,
        "AB11",
        Authorization {
            account: DEMO_QUICKBOOKS_REALM.to_owned(),
            client_id: shared.apps.quickbooks_client_id.clone(),
            redirect_uri: Some(redirect_uri.to_owned()),
            scope: scope.to_owned(),
            code_challenge: None,
        },
    );
    {
        let mut pairs = location.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = get("state") {
            pairs.append_pair("state", state);
        }
        pairs.append_pair("realmId", DEMO_QUICKBOOKS_REALM);
    }
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// `(client_id, client_secret)` from `Authorization: Basic`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The token answer; `hard` adds `x_refresh_token_hard_expires_in` (asked for with the
/// `x-include-refresh-token-hard-expires-in: true` header).
fn token_response(issued: &Issued, hard: bool) -> Response {
    let mut body = json!({
        "token_type": "bearer",
        "access_token": issued.access_token,
        "expires_in": issued.expires_in.unwrap_or(3600),
        "refresh_token": issued.refresh_token,
        "x_refresh_token_expires_in": REFRESH_TOKEN_LIFETIME_SECS,
    });
    if hard {
        body["x_refresh_token_hard_expires_in"] = json!(REFRESH_TOKEN_HARD_LIFETIME_SECS);
    }
    axum::Json(body).into_response()
}

pub(super) async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let apps = &shared.apps;
    let hard = headers
        .get("x-include-refresh-token-hard-expires-in")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    match basic_credentials(&headers) {
        Some((id, secret)) if id == apps.quickbooks_client_id && secret == apps.quickbooks_client_secret => {}
        _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match get("grant_type") {
        Some("authorization_code") => {
            let Some(redirect_uri) = get("redirect_uri") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            let mut grants = lock(&shared.grants);
            let code = get("code").unwrap_or_default();
            match grants.redeem_code(Provider::QuickBooks, code, &apps.quickbooks_client_id, Some(redirect_uri), None) {
                Ok(authorization) => {
                    let grant = Grant { account: authorization.account, scope: authorization.scope };
                    token_response(&grants.issue(Provider::QuickBooks, grant, &POLICY), hard)
                }
                Err(CodeError::RedirectMismatch) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
                Err(_) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        Some("refresh_token") => {
            let issued = lock(&shared.grants).refresh(Provider::QuickBooks, get("refresh_token").unwrap_or_default());
            match issued {
                Some(issued) => {
                    lock(&shared.recorder).refresh(Provider::QuickBooks, &issued.grant.account);
                    token_response(&issued, hard)
                }
                None => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}
