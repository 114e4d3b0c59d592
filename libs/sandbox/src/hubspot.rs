//! The HubSpot skeleton under `{base}/hubspot` (HubSpot splits app.hubspot.com and api.hubapi.com; here they share
//! one base):
//!
//! - `GET /oauth/authorize?client_id&redirect_uri&scope&state` approves at once: 302 to
//!   `redirect_uri?code=..&state=..`, connecting [`DEMO_HUBSPOT_PORTAL`];
//! - `POST /oauth/2026-03/token` and the deprecated `POST /oauth/v1/token`, form body with `client_id` and
//!   `client_secret`: `authorization_code` or `refresh_token` → `{"token_type","access_token","refresh_token",
//!   "expires_in":1800,"hub_id"}`; refresh tokens are not rotated; errors are RFC 6749 plus HubSpot's `status`;
//! - `GET /account-info/v3/details`: one authenticated call, for token expiry and fault injection.
//!
//! Webhooks are built by [`crate::SandboxHandle::hubspot_webhook`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::oauth::{AccessError, Authorization, Grant, Issued, Rotation, TokenPolicy};
use crate::state::{Shared, lock};
use crate::{DEMO_HUBSPOT_PORTAL, Provider};

const POLICY: TokenPolicy = TokenPolicy {
    access_prefix: "CNa1",
    access_lifetime: Some(Duration::from_secs(1800)),
    refresh: Some(("na1-", Rotation::Keep)),
};

pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/hubspot/oauth/authorize", get(authorize))
        .route("/hubspot/oauth/v1/token", post(token))
        .route("/hubspot/oauth/2026-03/token", post(token))
        .route("/hubspot/account-info/v3/details", get(account_details))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), crate::gate::hubspot))
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!("<!doctype html><title>HubSpot</title><h1>Authorization failed</h1><p>{message}</p>")),
    )
        .into_response()
}

async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("client_id") != Some(shared.apps.hubspot_client_id.as_str()) {
        return error_page("Couldn't complete the connection: the app's client_id is invalid.");
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return error_page("Couldn't complete the connection: redirect_uri is missing.");
    };
    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return error_page("Couldn't complete the connection: redirect_uri is not a URL.");
    };
    let code = lock(&shared.grants).issue_code(
        Provider::HubSpot,
        "na1-",
        Authorization {
            account: DEMO_HUBSPOT_PORTAL.to_string(),
            client_id: shared.apps.hubspot_client_id.clone(),
            redirect_uri: Some(redirect_uri.to_owned()),
            scope: get("scope").unwrap_or_default().to_owned(),
            code_challenge: None,
        },
    );
    {
        let mut pairs = location.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = get("state") {
            pairs.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

fn oauth_error(status: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "status": status,
            "message": message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
            "error": "invalid_grant",
            "error_description": message,
        })),
    )
        .into_response()
}

fn token_response(issued: &Issued) -> Response {
    axum::Json(json!({
        "token_type": "bearer",
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "expires_in": issued.expires_in.unwrap_or(1800),
        "hub_id": issued.grant.account.parse::<i64>().unwrap_or(DEMO_HUBSPOT_PORTAL),
    }))
    .into_response()
}

async fn token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let apps = &shared.apps;
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("client_id") != Some(apps.hubspot_client_id.as_str()) {
        return oauth_error("BAD_CLIENT_ID", "missing or invalid client_id");
    }
    if get("client_secret") != Some(apps.hubspot_client_secret.as_str()) {
        return oauth_error("BAD_CLIENT_SECRET", "missing or invalid client_secret");
    }
    match get("grant_type") {
        Some("authorization_code") => {
            let mut grants = lock(&shared.grants);
            let code = get("code").unwrap_or_default();
            match grants.redeem_code(Provider::HubSpot, code, &apps.hubspot_client_id, get("redirect_uri"), None) {
                Ok(authorization) => {
                    let grant = Grant { account: authorization.account, scope: authorization.scope };
                    token_response(&grants.issue(Provider::HubSpot, grant, &POLICY))
                }
                Err(crate::oauth::CodeError::RedirectMismatch) => {
                    oauth_error("BAD_REDIRECT_URI", "redirect_uri does not match the one used to authorize")
                }
                Err(_) => oauth_error("BAD_AUTH_CODE", "missing or unknown auth code"),
            }
        }
        Some("refresh_token") => {
            let issued = lock(&shared.grants).refresh(Provider::HubSpot, get("refresh_token").unwrap_or_default());
            match issued {
                Some(issued) => {
                    lock(&shared.recorder).refresh(Provider::HubSpot, &issued.grant.account);
                    token_response(&issued)
                }
                None => oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token"),
            }
        }
        _ => oauth_error("BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token"),
    }
}

async fn account_details(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .unwrap_or_default();
    let refused = |category: &str, message: &str| {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({
                "status": "error",
                "message": message,
                "correlationId": uuid::Uuid::new_v4().to_string(),
                "category": category,
            })),
        )
            .into_response()
    };
    let grant = match lock(&shared.grants).check(Provider::HubSpot, token) {
        Ok(grant) => grant,
        Err(AccessError::Expired) => {
            return refused("EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired.");
        }
        Err(AccessError::Unknown) => {
            return refused(
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            );
        }
    };
    axum::Json(json!({
        "portalId": grant.account.parse::<i64>().unwrap_or(DEMO_HUBSPOT_PORTAL),
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }))
    .into_response()
}
