//! QuickBooks Online: OAuth (the redirect names the company, `realmId`; refresh tokens rotate and the old one dies
//! at once, so refreshes are single-flight and persisted before use, see the engine's `credentials` module) and
//! `intuit-signature` webhooks in both the legacy `eventNotifications` and the CloudEvents shape. Sync and actions
//! arrive with the next connectors issue; until then the provider lists no record kinds and no actions.

use std::collections::HashMap;

use base64::Engine;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use switchboard_proto::connectors::v1::AuthKind;
use switchboard_signatures::SignatureError;

use super::{
    ActionSpec, AuthorizeRequest, Call, Delivery, Provider, ProviderInfo, TokenGrant, WebhookNotice, status_error,
};
use crate::ProviderSettings;
use crate::error::{ConnectorError, ProviderError};

const ID: &str = "quickbooks";

static INFO: ProviderInfo = ProviderInfo {
    id: ID,
    display_name: "QuickBooks Online",
    auth_kinds: &[AuthKind::Oauth2],
    default_scopes: &["com.intuit.quickbooks.accounting"],
    scopes: &["com.intuit.quickbooks.accounting", "com.intuit.quickbooks.payment"],
    record_kinds: &[],
    webhooks: true,
    pkce: false,
};

/// The QuickBooks Online provider.
pub(crate) struct QuickBooks;

impl QuickBooks {
    pub(crate) fn new() -> Self {
        Self
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
                .form(form)
        })
        .await?;
    if !response.status.is_success() {
        return Err(status_error(ID, &response));
    }
    let body = response.json()?;
    TokenGrant::from_response(ID, &body, ' ')
}

impl Provider for QuickBooks {
    fn info(&self) -> &ProviderInfo {
        &INFO
    }

    fn actions(&self) -> &[ActionSpec] {
        &[]
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
            // Legacy: no event id, so the notification's content is its identity.
            Value::Object(_) => Ok(body
                .get("eventNotifications")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|notification| {
                    let digest = ring::digest::digest(&ring::digest::SHA256, notification.to_string().as_bytes());
                    WebhookNotice {
                        account: text(notification, "realmId"),
                        event_id: format!("legacy-{}", hex::encode(&digest.as_ref()[..16])),
                        event_type: "dataChangeEvent".to_owned(),
                        payload: notification.clone(),
                    }
                })
                .collect()),
            _ => Err(ConnectorError::InvalidArgument(
                "the QuickBooks webhook body is neither an array nor an object".into(),
            )),
        }
    }
}
