//! QuickBooks Online: OAuth (the redirect names the company, `realmId`, which forms every API URL and routes
//! webhooks; refresh tokens rotate and the old one dies at once, so refreshes are single-flight and persisted before
//! use, see the engine's `credentials` module; a refused refresh, `invalid_grant`, makes the connection
//! NEEDS_REAUTH); customers, invoices, payments, items and bills synced through the Query API with CDC for
//! deletions ([`sync`]); four actions ([`actions`]); calls within Intuit's per-realm limits, `Fault` bodies read
//! into clear errors ([`api`]); and `intuit-signature` webhooks in both the legacy `eventNotifications` and the
//! CloudEvents shape, each naming objects that are then fetched one by one (never a full sync).

mod actions;
mod api;
mod sync;

use std::collections::HashMap;

use base64::Engine;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use switchboard_proto::connectors::v1::AuthKind;
use switchboard_signatures::SignatureError;

use super::{
    ActionSpec, AuthorizeRequest, Call, Delivery, Page, Provider, ProviderInfo, RecordIn, TokenGrant, WebhookNotice,
    WebhookTarget, status_error,
};
use crate::ProviderSettings;
use crate::error::{ConnectorError, ProviderError};

const ID: &str = "quickbooks";

/// Record kind → QuickBooks entity.
const KINDS: [(&str, &str); 5] =
    [("bill", "Bill"), ("customer", "Customer"), ("invoice", "Invoice"), ("item", "Item"), ("payment", "Payment")];

/// The entity of a record kind (`invoice` → `Invoice`).
fn entity_of(kind: &str) -> Option<&'static str> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, e)| *e)
}

/// The record kind of an entity, any case (`Invoice`, `invoice` → `invoice`).
fn kind_of(entity: &str) -> Option<&'static str> {
    KINDS.iter().find(|(_, e)| e.eq_ignore_ascii_case(entity)).map(|(k, _)| *k)
}

static INFO: ProviderInfo = ProviderInfo {
    id: ID,
    display_name: "QuickBooks Online",
    auth_kinds: &[AuthKind::Oauth2],
    default_scopes: &["com.intuit.quickbooks.accounting"],
    scopes: &["com.intuit.quickbooks.accounting", "com.intuit.quickbooks.payment"],
    record_kinds: &["bill", "customer", "invoice", "item", "payment"],
    webhooks: true,
    pkce: false,
};

/// The QuickBooks Online provider.
pub(crate) struct QuickBooks {
    actions: Vec<ActionSpec>,
    /// Intuit's per-realm call limits, kept by this process.
    limiter: api::Limiter,
}

impl QuickBooks {
    pub(crate) fn new() -> Self {
        Self { actions: actions::specs(), limiter: api::Limiter::default() }
    }
}

async fn token_request(call: &Call<'_>, form: &[(&str, &str)]) -> Result<TokenGrant, ProviderError> {
    let settings = call.settings;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        settings.quickbooks_client_id,
        settings.quickbooks_client_secret.expose()
    ));
    let response = call
        .http
        .send(|c| {
            c.post(&settings.quickbooks_token_url)
                .header(http::header::AUTHORIZATION, format!("Basic {basic}"))
                .header(http::header::ACCEPT, "application/json")
                .header("x-include-refresh-token-hard-expires-in", "true")
                .form(form)
        })
        .await?;
    if !response.status.is_success() {
        let tid = response.header("intuit_tid").unwrap_or("none");
        tracing::warn!(provider = ID, status = response.status.as_u16(), intuit_tid = %tid, "token request refused");
        return Err(status_error(ID, &response));
    }
    let body = response.json()?;
    // The refresh token's own lifetimes have no place in a TokenGrant (the engine stores the access token's
    // expiry only): logged, so an approaching hard expiry is visible.
    let seconds = |name: &str| body.get(name).and_then(Value::as_i64);
    tracing::debug!(
        provider = ID,
        refresh_token_expires_in = seconds("x_refresh_token_expires_in"),
        refresh_token_hard_expires_in = seconds("x_refresh_token_hard_expires_in"),
        "QuickBooks tokens granted"
    );
    TokenGrant::from_response(ID, &body, ' ')
}

impl Provider for QuickBooks {
    fn info(&self) -> &ProviderInfo {
        &INFO
    }

    fn actions(&self) -> &[ActionSpec] {
        &self.actions
    }

    fn authorization_url(&self, request: &AuthorizeRequest<'_>) -> Result<String, ConnectorError> {
        let scope = request.scopes.join(" ");
        let url = url::Url::parse_with_params(
            &request.settings.quickbooks_auth_url,
            [
                ("client_id", request.settings.quickbooks_client_id.as_str()),
                ("response_type", "code"),
                ("scope", scope.as_str()),
                ("redirect_uri", request.redirect_uri),
                ("state", request.state),
            ],
        )
        .map_err(|e| ConnectorError::Internal(format!("QuickBooks authorization URL: {e}")))?;
        Ok(url.into())
    }

    fn account_from_callback(&self, params: &HashMap<String, String>) -> Option<String> {
        params.get("realmId").filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit())).cloned()
    }

    fn exchange_code<'a>(
        &'a self,
        call: &'a Call<'a>,
        code: &'a str,
        _code_verifier: &'a str,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        async move {
            token_request(call, &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)])
                .await
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

    fn fetch_page<'a>(
        &'a self,
        call: &'a Call<'a>,
        kind: &'a str,
        since_us: Option<i64>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, ProviderError>> {
        sync::fetch_page(call, &self.limiter, kind, since_us, cursor).boxed()
    }

    fn fetch_record<'a>(
        &'a self,
        call: &'a Call<'a>,
        kind: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RecordIn>, ProviderError>> {
        sync::fetch_record(call, &self.limiter, kind, id).boxed()
    }

    fn invoke<'a>(
        &'a self,
        call: &'a Call<'a>,
        action: &'a str,
        input: &'a Value,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<Value, ProviderError>> {
        actions::invoke(call, &self.limiter, action, input, idempotency_key).boxed()
    }

    fn webhook_target(&self, event_type: &str, payload: &Value) -> Option<WebhookTarget> {
        webhook_target(event_type, payload)
    }

    fn webhook_secret_configured(&self, settings: &ProviderSettings) -> bool {
        !settings.quickbooks_verifier_token.expose().is_empty()
    }

    fn verify_webhook(&self, settings: &ProviderSettings, delivery: &Delivery<'_>) -> Result<(), SignatureError> {
        let header = delivery.header("intuit-signature").ok_or(SignatureError::Missing("intuit-signature"))?;
        switchboard_signatures::quickbooks::verify(settings.quickbooks_verifier_token.expose(), header, delivery.body)
    }

    fn parse_webhook(&self, delivery: &Delivery<'_>) -> Result<Vec<WebhookNotice>, ConnectorError> {
        let body: Value = serde_json::from_slice(delivery.body)
            .map_err(|e| ConnectorError::InvalidArgument(format!("the QuickBooks webhook body is not JSON: {e}")))?;
        let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        match &body {
            // CloudEvents (2025–26): an array of events, each with its own id.
            Value::Array(events) => Ok(events
                .iter()
                .map(|event| WebhookNotice {
                    account: text(event, "intuitaccountid"),
                    event_id: text(event, "id"),
                    event_type: text(event, "type"),
                    payload: event.clone(),
                })
                .filter(|n| !n.event_id.is_empty())
                .collect()),
            // Legacy: one notification per realm naming several entities, and no event id. Each entity becomes an
            // event of its own (one event names one record to fetch), identified by its content.
            Value::Object(_) => Ok(body
                .get("eventNotifications")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|notification| {
                    let realm = text(notification, "realmId");
                    let entities = notification.pointer("/dataChangeEvent/entities").and_then(Value::as_array);
                    entities.into_iter().flatten().map(move |entity| {
                        let payload = serde_json::json!({
                            "realmId": realm,
                            "name": entity.get("name"),
                            "id": entity.get("id"),
                            "operation": entity.get("operation"),
                            "lastUpdated": entity.get("lastUpdated"),
                        });
                        let digest = ring::digest::digest(&ring::digest::SHA256, payload.to_string().as_bytes());
                        WebhookNotice {
                            account: realm.clone(),
                            event_id: format!("legacy-{}", hex::encode(&digest.as_ref()[..16])),
                            event_type: format!("{}.{}", text(entity, "name"), text(entity, "operation")),
                            payload,
                        }
                    })
                })
                .collect()),
            _ => Err(ConnectorError::InvalidArgument(
                "the QuickBooks webhook body is neither an array nor an object".into(),
            )),
        }
    }
}

/// The record a notice names: CloudEvents `qbo.invoice.deleted.v1` with `intuitentityid`, or a legacy entity
/// `Invoice.Delete` with `id`. A deletion deletes the record; anything else (create, update, merge, void, e-mail)
/// fetches it afresh, and a fetch that finds nothing deletes it too.
fn webhook_target(event_type: &str, payload: &Value) -> Option<WebhookTarget> {
    let text = |name: &str| payload.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let (entity, deleted, id) = if let Some(rest) = event_type.strip_prefix("qbo.") {
        let mut parts = rest.split('.');
        let entity = parts.next()?;
        let verb = parts.next()?;
        (entity, verb == "deleted", text("intuitentityid")?)
    } else {
        let (entity, operation) = event_type.split_once('.')?;
        (entity, operation.eq_ignore_ascii_case("delete"), text("id")?)
    };
    let kind = kind_of(entity)?;
    Some(if deleted { WebhookTarget::Delete { kind, id } } else { WebhookTarget::Refresh { kind, id } })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn notices(body: &str) -> Vec<WebhookNotice> {
        let headers = HashMap::new();
        let delivery = Delivery { headers: &headers, body: body.as_bytes(), now_ms: 0 };
        QuickBooks::new().parse_webhook(&delivery).unwrap()
    }

    #[test]
    fn legacy_notifications_become_one_event_per_entity() {
        let body = r#"{"eventNotifications":[{"realmId":"1269959970","dataChangeEvent":{"entities":[{"name":"Vendor","id":"40","operation":"Update","lastUpdated":"2016-10-05T03:09:04.000Z"},{"name":"Customer","id":"43","operation":"Create","lastUpdated":"2016-10-05T03:07:04.000Z"}]}}]}"#;
        let events = notices(body);
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.account == "1269959970" && e.event_id.starts_with("legacy-")));
        assert_ne!(events[0].event_id, events[1].event_id);
        assert_eq!(notices(body)[1].event_id, events[1].event_id, "a redelivery has the same ids");
        assert_eq!(events[1].event_type, "Customer.Create");
        assert_eq!(webhook_target(&events[0].event_type, &events[0].payload), None, "vendors are not synced");
        assert_eq!(
            webhook_target(&events[1].event_type, &events[1].payload),
            Some(WebhookTarget::Refresh { kind: "customer", id: "43".into() })
        );
        assert_eq!(
            webhook_target("Invoice.Delete", &json!({"id": "9"})),
            Some(WebhookTarget::Delete { kind: "invoice", id: "9".into() })
        );
    }

    #[test]
    fn cloud_events_name_their_entity_and_verb() {
        let events = notices(
            r#"[{"specversion":"1.0","id":"d1a3","type":"qbo.invoice.deleted.v1","intuitentityid":"1234","intuitaccountid":"310687"}]"#,
        );
        assert_eq!(events[0].account, "310687");
        assert_eq!(events[0].event_id, "d1a3");
        assert_eq!(
            webhook_target(&events[0].event_type, &events[0].payload),
            Some(WebhookTarget::Delete { kind: "invoice", id: "1234".into() })
        );
        assert_eq!(
            webhook_target("qbo.payment.created.v1", &json!({"intuitentityid": "5"})),
            Some(WebhookTarget::Refresh { kind: "payment", id: "5".into() })
        );
        assert_eq!(webhook_target("qbo.class.created.v1", &json!({"intuitentityid": "5"})), None);
        assert_eq!(webhook_target("qbo.invoice.updated.v1", &json!({})), None);
    }

    #[test]
    fn every_kind_has_an_entity() {
        for kind in INFO.record_kinds {
            assert_eq!(kind_of(entity_of(kind).unwrap()), Some(*kind));
        }
    }
}
