//! HubSpot: OAuth (date-versioned token endpoint, 30-minute access tokens refreshed ahead of expiry, the token's
//! `hub_id` as the connection's account) or a private app's token; contacts, companies and deals synced with their
//! associations ([`sync`]: the objects list for a full pass, the search API in time windows split below its 10,000
//! cap for an incremental one); four actions ([`actions`]); webhooks signed with `X-HubSpot-Signature-v3` (or v1/v2
//! for older apps) over the public URL HubSpot called (`SWITCHBOARD_PUBLIC_URL` + the webhook path), batched, each
//! event naming an object to fetch afresh or delete.
//!
//! Every API answer's `X-HubSpot-RateLimit-*` headers are read: when less than a tenth of the burst window is left,
//! calls are spaced to the window's average rate; a 429 waits (the HTTP client's backoff, or its `Retry-After`).

mod actions;
mod sync;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use switchboard_proto::connectors::v1::AuthKind;
use switchboard_signatures::SignatureError;

use super::{
    AccountInfo, ActionSpec, AuthorizeRequest, Call, Delivery, Page, Provider, ProviderInfo, RecordIn, TokenGrant,
    WebhookNotice, WebhookTarget, error_message, status_error,
};
use crate::ProviderSettings;
use crate::error::{ConnectorError, ProviderError};

const ID: &str = "hubspot";

static INFO: ProviderInfo = ProviderInfo {
    id: ID,
    display_name: "HubSpot",
    auth_kinds: &[AuthKind::Oauth2, AuthKind::ApiKey],
    default_scopes: &["oauth", "crm.objects.contacts.read", "crm.objects.companies.read", "crm.objects.deals.read"],
    scopes: &[
        "oauth",
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.objects.companies.read",
        "crm.objects.companies.write",
        "crm.objects.deals.read",
        "crm.objects.deals.write",
        "crm.schemas.deals.write",
    ],
    record_kinds: &["company", "contact", "deal"],
    webhooks: true,
    pkce: false,
};

/// The HubSpot provider.
pub(crate) struct HubSpot {
    actions: Vec<ActionSpec>,
}

impl HubSpot {
    pub(crate) fn new() -> Self {
        Self { actions: actions::specs() }
    }
}

/// Sends an API call and reads its rate-limit headers: below a tenth of the window left, waits the window's
/// average spacing before answering, so a sync slows down instead of running into 429s.
pub(crate) async fn send(
    call: &Call<'_>,
    build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Result<crate::http::Response, ProviderError> {
    let response = call.http.send(build).await?;
    if let Some(pause) = pacing(&response) {
        tokio::time::sleep(pause).await;
    }
    Ok(response)
}

/// How long to pause after an answer whose `X-HubSpot-RateLimit-Remaining` is under a tenth of `-Max`.
fn pacing(response: &crate::http::Response) -> Option<std::time::Duration> {
    let number = |name: &str| response.header(name).and_then(|v| v.trim().parse::<u64>().ok());
    let max = number("x-hubspot-ratelimit-max").filter(|m| *m > 0)?;
    let remaining = number("x-hubspot-ratelimit-remaining")?;
    let interval = number("x-hubspot-ratelimit-interval-milliseconds").unwrap_or(10_000);
    (remaining * 10 < max).then(|| std::time::Duration::from_millis(interval / max))
}

/// HubSpot's error body (`{"status":"error","message","correlationId","category"}`) as an error: credentials
/// refused on 401/403 and `invalid_grant`, rate limited on 429, refused with HubSpot's category, message and
/// correlation id (for HubSpot support) on other 4xx, unavailable on 5xx.
pub(crate) fn api_error(response: &crate::http::Response) -> ProviderError {
    let status = response.status.as_u16();
    if status == 401 || status == 403 || status == 429 || status >= 500 {
        return status_error(ID, response);
    }
    let body = response.json().unwrap_or(Value::Null);
    if body.get("error").and_then(Value::as_str) == Some("invalid_grant") {
        return status_error(ID, response);
    }
    let message = error_message(&body, &crate::http::error_text(response));
    let category = body.get("category").and_then(Value::as_str).unwrap_or("ERROR");
    let correlation = body.get("correlationId").and_then(Value::as_str).map(|id| format!(" (correlation id {id})"));
    tracing::debug!(status, category, correlation = ?correlation, "HubSpot refused a call");
    ProviderError::Rejected {
        provider: ID,
        message: format!("{category}: {message}{}", correlation.unwrap_or_default()),
    }
}

/// The v1/v2/v3 check of a delivery signed for `uri`.
fn verify_signed(secret: &str, uri: &str, delivery: &Delivery<'_>) -> Result<(), SignatureError> {
    let headers = switchboard_signatures::hubspot::Headers {
        signature: delivery.header("x-hubspot-signature"),
        signature_version: delivery.header("x-hubspot-signature-version"),
        signature_v3: delivery.header("x-hubspot-signature-v3"),
        request_timestamp: delivery.header("x-hubspot-request-timestamp"),
    };
    switchboard_signatures::hubspot::verify(secret, &headers, "POST", uri, delivery.body, delivery.now_ms)
}

/// The URL HubSpot signs: the platform's public URL and the webhook route.
fn webhook_uri(settings: &ProviderSettings) -> String {
    format!("{}/v1/webhooks/hubspot", settings.public_url.trim_end_matches('/'))
}

/// An id as HubSpot sends it in events: a number, or a string of digits.
fn event_id_field(payload: &Value, name: &str) -> Option<String> {
    match payload.get(name)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

async fn token_request(call: &Call<'_>, form: &[(&str, &str)]) -> Result<TokenGrant, ProviderError> {
    let settings = call.settings;
    let url = format!("{}/oauth/2026-03/token", settings.hubspot_api_base.trim_end_matches('/'));
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("client_id", &settings.hubspot_client_id));
    form.push(("client_secret", settings.hubspot_client_secret.expose()));
    let response = call.http.send(|c| c.post(&url).form(&form)).await?;
    if !response.status.is_success() {
        return Err(status_error(ID, &response));
    }
    let body = response.json()?;
    let account = body.get("hub_id").and_then(Value::as_i64).map(|id| id.to_string());
    Ok(TokenGrant { account, ..TokenGrant::from_response(ID, &body, ' ')? })
}

/// The scopes an access token grants, from `GET /oauth/v1/access-tokens/{token}`; empty (the engine then records
/// the requested ones) when HubSpot does not say.
async fn granted_scopes(call: &Call<'_>, access_token: &str) -> Vec<String> {
    let url = format!("{}/oauth/v1/access-tokens/{access_token}", call.settings.hubspot_api_base.trim_end_matches('/'));
    match call.http.send(|c| c.get(&url)).await {
        Ok(response) if response.status.is_success() => response
            .json()
            .ok()
            .and_then(|body| {
                body.get("scopes")?
                    .as_array()
                    .map(|scopes| scopes.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            })
            .unwrap_or_default(),
        Ok(response) => {
            tracing::warn!(status = %response.status, "HubSpot's token information was refused; keeping the requested scopes");
            Vec::new()
        }
        Err(error) => {
            tracing::warn!(%error, "HubSpot's token information could not be read; keeping the requested scopes");
            Vec::new()
        }
    }
}

impl Provider for HubSpot {
    fn info(&self) -> &ProviderInfo {
        &INFO
    }

    fn actions(&self) -> &[ActionSpec] {
        &self.actions
    }

    fn authorization_url(&self, request: &AuthorizeRequest<'_>) -> Result<String, ConnectorError> {
        // The request's scopes, then the configured CRM scopes it does not name.
        let mut scopes: Vec<&str> = request.scopes.iter().map(String::as_str).collect();
        for scope in &request.settings.hubspot_scopes {
            if !scopes.contains(&scope.as_str()) {
                scopes.push(scope);
            }
        }
        let scope = scopes.join(" ");
        let url = url::Url::parse_with_params(
            &request.settings.hubspot_auth_url,
            [
                ("client_id", request.settings.hubspot_client_id.as_str()),
                ("scope", scope.as_str()),
                ("redirect_uri", request.redirect_uri),
                ("state", request.state),
            ],
        )
        .map_err(|e| ConnectorError::Internal(format!("HubSpot authorization URL: {e}")))?;
        Ok(url.into())
    }

    fn exchange_code<'a>(
        &'a self,
        call: &'a Call<'a>,
        code: &'a str,
        _code_verifier: &'a str,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        async move {
            let grant = token_request(
                call,
                &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)],
            )
            .await?;
            // HubSpot's token response names no scopes; its token information does (the configured CRM scopes
            // included), so the connection records what was granted.
            let scopes = granted_scopes(call, &grant.access_token).await;
            Ok(TokenGrant { scopes, ..grant })
        }
        .boxed()
    }

    fn refresh<'a>(
        &'a self,
        call: &'a Call<'a>,
        refresh_token: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        async move { token_request(call, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await }
            .boxed()
    }

    fn check_credentials<'a>(&'a self, call: &'a Call<'a>) -> BoxFuture<'a, Result<AccountInfo, ProviderError>> {
        async move {
            let url = format!("{}/account-info/v3/details", call.settings.hubspot_api_base.trim_end_matches('/'));
            let response = send(call, |c| c.get(&url).bearer_auth(call.token)).await?;
            if !response.status.is_success() {
                return Err(api_error(&response));
            }
            let body = response.json()?;
            let portal = body
                .get("portalId")
                .and_then(Value::as_i64)
                .ok_or_else(|| ProviderError::Invalid("HubSpot's account details have no portalId".into()))?;
            Ok(AccountInfo { account: portal.to_string(), display_name: format!("HubSpot portal {portal}") })
        }
        .boxed()
    }

    fn fetch_page<'a>(
        &'a self,
        call: &'a Call<'a>,
        kind: &'a str,
        since_us: Option<i64>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, ProviderError>> {
        async move { sync::fetch_page(call, sync::kind(kind)?, since_us, cursor).await }.boxed()
    }

    fn fetch_record<'a>(
        &'a self,
        call: &'a Call<'a>,
        kind: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RecordIn>, ProviderError>> {
        async move { sync::fetch_one(call, sync::kind(kind)?, id).await }.boxed()
    }

    fn invoke<'a>(
        &'a self,
        call: &'a Call<'a>,
        action: &'a str,
        input: &'a Value,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<Value, ProviderError>> {
        actions::invoke(call, action, input, idempotency_key).boxed()
    }

    fn webhook_secret_configured(&self, settings: &ProviderSettings) -> bool {
        !settings.hubspot_client_secret.expose().is_empty()
    }

    fn verify_webhook(&self, settings: &ProviderSettings, delivery: &Delivery<'_>) -> Result<(), SignatureError> {
        verify_signed(settings.hubspot_client_secret.expose(), &webhook_uri(settings), delivery)
    }

    fn parse_webhook(&self, delivery: &Delivery<'_>) -> Result<Vec<WebhookNotice>, ConnectorError> {
        let body: Value = serde_json::from_slice(delivery.body)
            .map_err(|e| ConnectorError::InvalidArgument(format!("the HubSpot webhook body is not JSON: {e}")))?;
        let events = body
            .as_array()
            .ok_or_else(|| ConnectorError::InvalidArgument("the HubSpot webhook body is not a JSON array".into()))?;
        let number = |v: &Value, name: &str| v.get(name).and_then(Value::as_i64).map(|n| n.to_string());
        Ok(events
            .iter()
            .filter_map(|event| {
                Some(WebhookNotice {
                    account: number(event, "portalId")?,
                    // Event ids repeat across subscriptions: the pair is the key.
                    event_id: format!(
                        "{}-{}",
                        number(event, "subscriptionId").unwrap_or_default(),
                        number(event, "eventId")?
                    ),
                    event_type: event.get("subscriptionType").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    payload: event.clone(),
                })
            })
            .collect())
    }

    /// Classic events (`contact.creation`, `deal.propertyChange`, `company.deletion`, `contact.associationChange`,
    /// `contact.merge`, `contact.restore`, `contact.privacyDeletion`) and the newer `object.*` form with
    /// `objectTypeId` (`0-1` contacts, `0-2` companies, `0-3` deals) name one object: fetched afresh, or deleted.
    fn webhook_target(&self, event_type: &str, payload: &Value) -> Option<WebhookTarget> {
        let (object, change) = event_type.split_once('.')?;
        let kind = if object == "object" {
            sync::kind_of_type(payload.get("objectTypeId")?.as_str()?)?
        } else {
            sync::kind_of_type(object)?
        };
        let id = match change {
            "associationChange" => event_id_field(payload, "fromObjectId"),
            "merge" => event_id_field(payload, "primaryObjectId").or_else(|| event_id_field(payload, "objectId")),
            _ => event_id_field(payload, "objectId"),
        }?;
        match change {
            "deletion" | "privacyDeletion" => Some(WebhookTarget::Delete { kind: kind.name, id }),
            "creation" | "propertyChange" | "associationChange" | "restore" | "merge" => {
                Some(WebhookTarget::Refresh { kind: kind.name, id })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    /// The HubSpot cases of `../shared/vectors/webhooks.json` (published v1, v2 and v3 signatures), through the
    /// provider's own check with each case's clock.
    #[test]
    fn published_vectors_verify_through_the_provider() {
        let secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
        let uri = "https://www.example.com/webhook_uri";
        let contact_batch = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
        /// Name, URI, body, clock, headers, verdict.
        type Case<'a> = (&'a str, &'a str, &'a str, i64, &'a [(&'a str, &'a str)], bool);
        let cases: [Case<'_>; 5] = [
            (
                "v1",
                uri,
                contact_batch,
                0,
                &[
                    ("x-hubspot-signature", "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"),
                    ("x-hubspot-signature-version", "v1"),
                ],
                true,
            ),
            (
                "v2",
                uri,
                r#"{"example_field":"example_value"}"#,
                0,
                &[
                    ("x-hubspot-signature", "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"),
                    ("x-hubspot-signature-version", "v2"),
                ],
                true,
            ),
            (
                "v3",
                uri,
                "{'example_field':'example_value'}",
                1_693_657_620_000,
                &[
                    ("x-hubspot-signature-v3", "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="),
                    ("x-hubspot-request-timestamp", "1693657560000"),
                ],
                true,
            ),
            (
                "v3 too old",
                uri,
                "{'example_field':'example_value'}",
                1_693_657_860_001,
                &[
                    ("x-hubspot-signature-v3", "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="),
                    ("x-hubspot-request-timestamp", "1693657560000"),
                ],
                false,
            ),
            (
                "v3 uri decoding",
                "https://www.example.com/webhook_uri?param=a%3Ab%2Cc&x=%40y",
                contact_batch,
                1_700_000_001_000,
                &[
                    ("x-hubspot-signature-v3", "GJsMzEMoQWPW7GBSzQascA7rh0pjtpgRwO4tWHWD6zw="),
                    ("x-hubspot-request-timestamp", "1700000000000"),
                ],
                true,
            ),
        ];
        for (name, uri, body, now_ms, headers, valid) in cases {
            let headers: HashMap<String, String> =
                headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            let delivery = Delivery { headers: &headers, body: body.as_bytes(), now_ms };
            assert_eq!(verify_signed(secret, uri, &delivery).is_ok(), valid, "{name}");
        }
        // Behind a proxy the signed URI is the public one.
        let mut settings = ProviderSettings::production();
        settings.public_url = "https://switchboard.example.com/".into();
        assert_eq!(webhook_uri(&settings), "https://switchboard.example.com/v1/webhooks/hubspot");
    }

    #[test]
    fn events_name_the_object_to_fetch_or_delete() {
        let hubspot = HubSpot::new();
        let target = |t: &str, p: Value| hubspot.webhook_target(t, &p);
        assert_eq!(
            target("contact.propertyChange", json!({"objectId": 123})),
            Some(WebhookTarget::Refresh { kind: "contact", id: "123".into() })
        );
        assert_eq!(
            target("deal.deletion", json!({"objectId": 9})),
            Some(WebhookTarget::Delete { kind: "deal", id: "9".into() })
        );
        assert_eq!(
            target("company.associationChange", json!({"fromObjectId": 5, "toObjectId": 6})),
            Some(WebhookTarget::Refresh { kind: "company", id: "5".into() })
        );
        assert_eq!(
            target("object.propertyChange", json!({"objectTypeId": "0-3", "objectId": 77})),
            Some(WebhookTarget::Refresh { kind: "deal", id: "77".into() })
        );
        assert_eq!(
            target("contact.merge", json!({"primaryObjectId": 1, "mergedObjectIds": [2]})),
            Some(WebhookTarget::Refresh { kind: "contact", id: "1".into() })
        );
        assert_eq!(target("object.creation", json!({"objectTypeId": "0-5", "objectId": 1})), None, "tickets");
        assert_eq!(target("conversation.creation", json!({"objectId": 1})), None);
    }

    #[test]
    fn configured_scopes_join_the_requested_ones() {
        let mut settings = ProviderSettings::production();
        settings.hubspot_client_id = "app".into();
        settings.hubspot_scopes = vec!["crm.objects.deals.read".into(), "crm.objects.deals.write".into()];
        let scopes = vec!["oauth".to_owned(), "crm.objects.deals.read".to_owned()];
        let request = AuthorizeRequest {
            settings: &settings,
            account: "",
            scopes: &scopes,
            redirect_uri: "https://app/cb",
            state: "s",
            code_challenge: "",
        };
        let url = url::Url::parse(&HubSpot::new().authorization_url(&request).unwrap()).unwrap();
        let scope = url.query_pairs().find(|(k, _)| k == "scope").map(|(_, v)| v.into_owned()).unwrap();
        assert_eq!(scope, "oauth crm.objects.deals.read crm.objects.deals.write");
    }

    #[test]
    fn low_remaining_paces_and_errors_keep_hubspots_category() {
        let response = |status: u16, headers: &[(&'static str, &str)], body: &str| {
            let mut map = http::HeaderMap::new();
            for (name, value) in headers {
                map.insert(*name, value.parse().unwrap());
            }
            crate::http::Response {
                status: reqwest::StatusCode::from_u16(status).unwrap(),
                headers: map,
                body: bytes::Bytes::from(body.to_owned()),
            }
        };
        let limits = |remaining: &str| {
            response(
                200,
                &[
                    ("x-hubspot-ratelimit-max", "190"),
                    ("x-hubspot-ratelimit-remaining", remaining),
                    ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
                ],
                "{}",
            )
        };
        assert_eq!(pacing(&limits("100")), None);
        assert_eq!(pacing(&limits("5")), Some(std::time::Duration::from_millis(52)));
        let refused = api_error(&response(
            400,
            &[],
            r#"{"status":"error","message":"Property values were not valid","correlationId":"c-1","category":"VALIDATION_ERROR"}"#,
        ));
        let text = refused.to_string();
        assert!(text.contains("VALIDATION_ERROR") && text.contains("not valid") && text.contains("c-1"), "{text}");
        assert!(matches!(
            api_error(&response(401, &[], r#"{"category":"EXPIRED_AUTHENTICATION"}"#)),
            ProviderError::Unauthorized { .. }
        ));
        assert!(matches!(
            api_error(&response(400, &[], r#"{"error":"invalid_grant"}"#)),
            ProviderError::Unauthorized { .. }
        ));
    }
}
