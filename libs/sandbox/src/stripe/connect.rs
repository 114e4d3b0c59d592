//! Stripe Connect OAuth (standard accounts) under `{base}/stripe-connect`:
//!
//! - `GET /oauth/authorize?response_type=code&client_id=ca_...&scope=read_write&state=...&redirect_uri=...`
//!   approves at once, connecting the demo account: 302 to `redirect_uri?code=ac_...&scope=...&state=...`;
//!   an unknown `client_id` or a missing `redirect_uri` is a 400 page, as Stripe shows the user an error page;
//! - `POST /oauth/token`, authenticated with the platform key (Bearer, or `client_secret=`):
//!   `grant_type=authorization_code&code=...` (codes are single-use) or `grant_type=refresh_token&refresh_token=...`
//!   (the refresh token is kept); errors are RFC 6749 `{"error","error_description"}`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::oauth::{Authorization, CodeError, Grant, Issued, Rotation, TokenPolicy};
use crate::state::{Shared, lock};
use crate::{DEMO_STRIPE_ACCOUNT, Provider};

const POLICY: TokenPolicy =
    TokenPolicy { access_prefix: "sk_test_", access_lifetime: None, refresh: Some(("rt_", Rotation::Keep)) };

pub(super) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/stripe-connect/oauth/authorize", get(authorize))
        .route("/stripe-connect/oauth/token", post(token))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), crate::gate::stripe_connect))
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!("<!doctype html><title>Stripe Connect</title><h1>Error</h1><p>{message}</p>")),
    )
        .into_response()
}

async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let client_id = get("client_id").unwrap_or_default();
    if client_id != shared.apps.stripe_client_id {
        return error_page(&format!("Invalid client_id: {client_id}. No such application."));
    }
    if get("response_type") != Some("code") {
        return error_page("Invalid response_type: must be 'code'.");
    }
    let scope = get("scope").unwrap_or("read_only");
    if scope != "read_only" && scope != "read_write" {
        return error_page(&format!("Invalid scope: {scope}. Must be read_only or read_write."));
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return error_page("No redirect_uri given, and the application has no default redirect URI configured.");
    };
    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return error_page(&format!("Invalid redirect_uri: {redirect_uri}"));
    };
    let code = lock(&shared.grants).issue_code(
        Provider::Stripe,
        "ac_",
        Authorization {
            account: DEMO_STRIPE_ACCOUNT.to_owned(),
            client_id: client_id.to_owned(),
            redirect_uri: Some(redirect_uri.to_owned()),
            scope: scope.to_owned(),
            code_challenge: None,
        },
    );
    {
        let mut pairs = location.query_pairs_mut();
        pairs.append_pair("code", &code);
        pairs.append_pair("scope", scope);
        if let Some(state) = get("state") {
            pairs.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

fn token_response(issued: &Issued) -> Response {
    axum::Json(json!({
        "access_token": issued.access_token,
        "livemode": false,
        "refresh_token": issued.refresh_token,
        "scope": issued.grant.scope,
        "stripe_publishable_key": format!("pk_test_{}", crate::oauth::random_token()),
        "stripe_user_id": issued.grant.account,
        "token_type": "bearer",
    }))
    .into_response()
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let secret = get("client_secret").or(bearer);
    match secret {
        None => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_request", "No API key provided."),
        Some(secret) if secret != shared.apps.stripe_platform_key => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                &format!("Invalid API Key provided: {}", super::error::mask_key(secret)),
            );
        }
        Some(_) => {}
    }
    match get("grant_type") {
        Some("authorization_code") => {
            let code = get("code").unwrap_or_default();
            let mut grants = lock(&shared.grants);
            let redeemed = grants.redeem_code(Provider::Stripe, code, &shared.apps.stripe_client_id, None, None);
            match redeemed {
                Ok(authorization) => {
                    let grant = Grant { account: authorization.account, scope: authorization.scope };
                    token_response(&grants.issue(Provider::Stripe, grant, &POLICY))
                }
                Err(CodeError::Expired) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    &format!("Authorization code expired: {code}"),
                ),
                Err(_) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    &format!("Authorization code does not exist or has already been used: {code}"),
                ),
            }
        }
        Some("refresh_token") => {
            let token = get("refresh_token").unwrap_or_default();
            let issued = lock(&shared.grants).refresh(Provider::Stripe, token);
            match issued {
                Some(issued) => {
                    lock(&shared.recorder).refresh(Provider::Stripe, &issued.grant.account);
                    token_response(&issued)
                }
                None => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    &format!("Invalid refresh token: {}", super::error::mask_key(token)),
                ),
            }
        }
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Unsupported grant type: {}", other.unwrap_or("(none)")),
        ),
    }
}
