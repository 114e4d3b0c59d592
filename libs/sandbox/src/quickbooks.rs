//! The QuickBooks Online skeleton under `{base}/quickbooks` (Intuit splits these over appcenter.intuit.com,
//! oauth.platform.intuit.com and quickbooks.api.intuit.com; here they share one base):
//!
//! - `GET /connect/oauth2?client_id&scope&redirect_uri&state&response_type=code` approves at once: 302 to
//!   `redirect_uri?code=..&state=..&realmId=<DEMO_QUICKBOOKS_REALM>`;
//! - `POST /oauth2/v1/tokens/bearer`, HTTP Basic client authentication, form body: `authorization_code` (the
//!   `redirect_uri` must match) or `refresh_token`. Every refresh returns a new refresh token and kills the old one
//!   at once, so a reused token is `{"error":"invalid_grant"}` — what the single-flight refresh lock guards against;
//! - `GET /v3/company/{realm}/companyinfo/{realm}`: one authenticated call, for token expiry (401
//!   `AuthenticationFailed`) and fault injection.
//!
//! Webhooks are built by [`crate::SandboxHandle::quickbooks_webhook`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::clock::{EPOCH, rfc3339, wall_unix};
use crate::oauth::{AccessError, Authorization, CodeError, Grant, Issued, Rotation, TokenPolicy};
use crate::state::{Shared, lock};
use crate::{DEMO_QUICKBOOKS_REALM, Provider};

const POLICY: TokenPolicy = TokenPolicy {
    access_prefix: "eyJsandbox.",
    access_lifetime: Some(Duration::from_secs(3600)),
    refresh: Some(("AB11", Rotation::Immediate)),
};
/// The rolling refresh-token lifetime Intuit reports (101 days).
const REFRESH_TOKEN_LIFETIME_SECS: u64 = 8_726_400;

pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/quickbooks/connect/oauth2", get(authorize))
        .route("/quickbooks/oauth2/v1/tokens/bearer", post(token))
        .route("/quickbooks/v3/company/{realm}/companyinfo/{id}", get(company_info))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), crate::gate::quickbooks))
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!("<!doctype html><title>Intuit</title><h1>Something went wrong</h1><p>{message}</p>")),
    )
        .into_response()
}

async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
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

fn token_response(issued: &Issued) -> Response {
    axum::Json(json!({
        "token_type": "bearer",
        "access_token": issued.access_token,
        "expires_in": issued.expires_in.unwrap_or(3600),
        "refresh_token": issued.refresh_token,
        "x_refresh_token_expires_in": REFRESH_TOKEN_LIFETIME_SECS,
    }))
    .into_response()
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let apps = &shared.apps;
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
                    token_response(&grants.issue(Provider::QuickBooks, grant, &POLICY))
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
                    token_response(&issued)
                }
                None => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

fn fault(status: StatusCode, kind: &str, message: &str, detail: &str, code: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "fault": {"error": [{"message": message, "detail": detail, "code": code}], "type": kind},
            "time": rfc3339(wall_unix()),
        })),
    )
        .into_response()
}

async fn company_info(
    State(shared): State<Arc<Shared>>,
    Path((realm, _id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .unwrap_or_default();
    let unauthorized = |detail: &str| {
        fault(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION",
            "message=AuthenticationFailed; errorCode=003200; statusCode=401",
            detail,
            "3200",
        )
    };
    let grant = match lock(&shared.grants).check(Provider::QuickBooks, token) {
        Ok(grant) => grant,
        Err(AccessError::Expired) => return unauthorized("Token expired"),
        Err(AccessError::Unknown) => return unauthorized("Token invalid"),
    };
    if grant.account != realm {
        return fault(
            StatusCode::FORBIDDEN,
            "AUTHORIZATION",
            "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
            "The token is not authorized for this company.",
            "3100",
        );
    }
    axum::Json(json!({
        "CompanyInfo": {
            "CompanyName": "Demo Coffee Roasters LLC",
            "LegalName": "Demo Coffee Roasters LLC",
            "CompanyAddr": {"Id": "1", "Line1": "1 Roastery Way", "City": "Portland", "CountrySubDivisionCode": "OR",
                            "PostalCode": "97201", "Country": "US"},
            "Country": "US",
            "Email": {"Address": "owner@demo-coffee.example"},
            "FiscalYearStartMonth": "January",
            "SupportedLanguages": "en",
            "domain": "QBO",
            "sparse": false,
            "Id": "1",
            "SyncToken": "3",
            "MetaData": {"CreateTime": rfc3339(EPOCH - 400 * 86_400), "LastUpdatedTime": rfc3339(EPOCH - 86_400)},
        },
        "time": rfc3339(wall_unix()),
    }))
    .into_response()
}
