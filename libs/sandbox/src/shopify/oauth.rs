//! Shopify OAuth (authorization code grant, optional PKCE, expiring offline tokens):
//!
//! - `GET /admin/oauth/authorize?client_id&scope&redirect_uri&state[&code_challenge&code_challenge_method=S256]`
//!   approves at once: 302 to `redirect_uri` with `code`, `hmac`, `host` (base64 of
//!   `admin.shopify.com/store/<name>`), `shop`, `state`, `timestamp`; `hmac` signs every other callback parameter
//!   with the client secret (`switchboard_signatures::shopify::oauth_query_hmac`);
//! - `POST /admin/oauth/access_token` (JSON or form) exchanges a code — single-use, ten minutes, with the PKCE
//!   verifier when there was a challenge — for `{"access_token","scope"}`, plus `expires_in` (3600),
//!   `refresh_token` and `refresh_token_expires_in` when `expiring=1`;
//! - the same endpoint with `grant_type=refresh_token` returns a new access token and a new refresh token; the old
//!   refresh token keeps working until the new one has been used once (Shopify's 2026-08 rule). Every refresh is
//!   counted.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::Provider;
use crate::clock::wall_unix;
use crate::oauth::{Authorization, CodeError, Grant, Issued, Rotation, TokenPolicy};
use crate::state::{Shared, lock};

/// Expiring offline tokens: an hour, with a rotating refresh token.
const EXPIRING: TokenPolicy = TokenPolicy {
    access_prefix: "shpat_",
    access_lifetime: Some(Duration::from_secs(3600)),
    refresh: Some(("shprt_", Rotation::OnReplacementUse)),
};
/// Legacy non-expiring offline tokens.
const NON_EXPIRING: TokenPolicy = TokenPolicy { access_prefix: "shpat_", access_lifetime: None, refresh: None };
/// What Shopify reports as the refresh token's lifetime (90 days).
const REFRESH_TOKEN_LIFETIME_SECS: u64 = 7_776_000;

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(format!("<!doctype html><title>Oauth error</title><h1>Oauth error invalid_request</h1><p>{message}</p>")),
    )
        .into_response()
}

pub(super) async fn authorize(
    State(shared): State<Arc<Shared>>,
    Path(shop): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if !switchboard_signatures::shopify::is_valid_shop_domain(&shop) {
        return error_page(StatusCode::BAD_REQUEST, &format!("'{shop}' is not a shop domain."));
    }
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("client_id") != Some(shared.apps.shopify_client_id.as_str()) {
        return error_page(StatusCode::BAD_REQUEST, "The client_id provided is invalid.");
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return error_page(StatusCode::BAD_REQUEST, "The redirect_uri is missing.");
    };
    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "The redirect_uri is not a valid URL.");
    };
    let challenge = get("code_challenge").map(str::to_owned);
    if challenge.is_some() && get("code_challenge_method").unwrap_or("S256") != "S256" {
        return error_page(StatusCode::BAD_REQUEST, "Only the S256 code_challenge_method is supported.");
    }
    let code = lock(&shared.grants).issue_code(
        Provider::Shopify,
        "",
        Authorization {
            account: shop.clone(),
            client_id: shared.apps.shopify_client_id.clone(),
            redirect_uri: Some(redirect_uri.to_owned()),
            scope: get("scope").unwrap_or_default().to_owned(),
            code_challenge: challenge,
        },
    );
    let name = shop.trim_end_matches(".myshopify.com");
    let mut callback: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    callback.push(("code".into(), code));
    callback.push(("host".into(), STANDARD.encode(format!("admin.shopify.com/store/{name}"))));
    callback.push(("shop".into(), shop.clone()));
    if let Some(state) = get("state") {
        callback.push(("state".into(), state.to_owned()));
    }
    callback.push(("timestamp".into(), wall_unix().to_string()));
    let hmac = switchboard_signatures::shopify::oauth_query_hmac(&shared.apps.shopify_client_secret, &callback);
    callback.push(("hmac".into(), hmac));
    location.query_pairs_mut().clear().extend_pairs(callback.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

/// The request's parameters, from a JSON or a form body.
fn body_params(headers: &HeaderMap, body: &[u8]) -> Value {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    } else {
        Value::Object(form_urlencoded::parse(body).into_owned().map(|(k, v)| (k, Value::String(v))).collect())
    }
}

fn token_response(issued: &Issued) -> Response {
    let mut body = json!({"access_token": issued.access_token, "scope": issued.grant.scope});
    if let Some(expires_in) = issued.expires_in {
        body["expires_in"] = json!(expires_in);
    }
    if let Some(refresh_token) = &issued.refresh_token {
        body["refresh_token"] = json!(refresh_token);
        body["refresh_token_expires_in"] = json!(REFRESH_TOKEN_LIFETIME_SECS);
    }
    axum::Json(body).into_response()
}

pub(super) async fn access_token(
    State(shared): State<Arc<Shared>>,
    Path(shop): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !switchboard_signatures::shopify::is_valid_shop_domain(&shop) {
        return super::not_found();
    }
    let params = body_params(&headers, &body);
    let text = |name: &str| params.get(name).and_then(Value::as_str);
    if text("client_id") != Some(shared.apps.shopify_client_id.as_str())
        || text("client_secret") != Some(shared.apps.shopify_client_secret.as_str())
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client credentials are invalid.");
    }
    if text("grant_type") == Some("refresh_token") {
        let token = text("refresh_token").unwrap_or_default();
        let issued = lock(&shared.grants).refresh(Provider::Shopify, token).filter(|i| i.grant.account == shop);
        return match issued {
            Some(issued) => {
                lock(&shared.recorder).refresh(Provider::Shopify, &shop);
                token_response(&issued)
            }
            None => oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "The refresh token is invalid, expired or revoked.",
            ),
        };
    }
    let expiring = match params.get("expiring") {
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s == "1" || s == "true",
        Some(Value::Bool(b)) => *b,
        _ => false,
    };
    let code = text("code").unwrap_or_default();
    let mut grants = lock(&shared.grants);
    let redeemed =
        grants.redeem_code(Provider::Shopify, code, &shared.apps.shopify_client_id, None, text("code_verifier"));
    let authorization = match redeemed {
        Ok(authorization) if authorization.account == shop => authorization,
        Ok(_) | Err(CodeError::Invalid) | Err(CodeError::ClientMismatch) | Err(CodeError::RedirectMismatch) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The authorization code was not found or was already used",
            );
        }
        Err(CodeError::Expired) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The authorization code has expired");
        }
        Err(CodeError::VerifierMissing) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code_verifier is required");
        }
        Err(CodeError::VerifierMismatch) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code_verifier does not match");
        }
    };
    let grant = Grant { account: authorization.account, scope: authorization.scope };
    let issued = grants.issue(Provider::Shopify, grant, if expiring { &EXPIRING } else { &NON_EXPIRING });
    token_response(&issued)
}
