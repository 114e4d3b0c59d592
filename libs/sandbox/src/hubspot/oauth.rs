//! HubSpot's OAuth under `{base}/hubspot`:
//!
//! - `GET /oauth/authorize?client_id&redirect_uri&scope&state` approves at once: 302 to
//!   `redirect_uri?code=..&state=..`, connecting [`DEMO_HUBSPOT_PORTAL`];
//! - `POST /oauth/2026-03/token` and the deprecated `POST /oauth/v1/token`, form body with `client_id` and
//!   `client_secret`: `authorization_code` or `refresh_token` → `{"token_type","access_token","refresh_token",
//!   "expires_in":1800,"hub_id"}`; errors are RFC 6749 plus HubSpot's `status`;
//! - `GET /oauth/v1/access-tokens/{token}`: what an access token grants (`scopes`, `hub_id`), as HubSpot's token
//!   information endpoint answers;
//! - `GET /account-info/v3/details`: the portal the token opens.
//!
//! Refresh tokens ROTATE here and the used one dies at once ([`Rotation::Immediate`]). HubSpot's documentation
//! describes long-lived refresh tokens that are not rotated (../shared/reference/providers.md §5.1, a secondary
//! source); issue #14 asks the sandbox to rotate anyway so that a client which loses or races a refresh response is
//! caught — the stricter rule: a client correct under rotation is correct without it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::oauth::{Authorization, Grant, Issued, Rotation, TokenPolicy};
use crate::state::{Shared, lock};
use crate::{DEMO_HUBSPOT_PORTAL, Provider};

const POLICY: TokenPolicy = TokenPolicy {
    access_prefix: "CNa1",
    access_lifetime: Some(Duration::from_secs(1800)),
    refresh: Some(("na1-", Rotation::Immediate)),
};

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!("<!doctype html><title>HubSpot</title><h1>Authorization failed</h1><p>{message}</p>")),
    )
        .into_response()
}

pub(super) async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
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

pub(super) async fn token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
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

pub(super) async fn account_details(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let portal = match super::authenticate(&shared, &headers) {
        Ok(portal) => portal,
        Err(refused) => return refused,
    };
    axum::Json(json!({
        "portalId": portal,
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

pub(super) async fn access_token_info(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Response {
    match lock(&shared.grants).check(Provider::HubSpot, &token) {
        Ok(grant) => axum::Json(json!({
            "token": token,
            "user": "owner@demo-coffee.example",
            "hub_domain": "demo-coffee.example",
            "scopes": grant.scope.split_whitespace().collect::<Vec<_>>(),
            "hub_id": grant.account.parse::<i64>().unwrap_or(DEMO_HUBSPOT_PORTAL),
            "app_id": 1,
            "user_id": 1,
            "token_type": "access",
        }))
        .into_response(),
        Err(_) => super::HubSpotError::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "The access token is expired or invalid",
        )
        .into_response(),
    }
}
