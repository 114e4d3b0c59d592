//! HubSpot: OAuth (date-versioned token endpoint, 30-minute access tokens refreshed ahead of expiry) and webhooks
//! signed with `X-HubSpot-Signature-v3` (or v1/v2), which sign the public URL HubSpot called
//! (`SWITCHBOARD_PUBLIC_URL` + the webhook path). Sync and actions arrive with the next connectors issue; until
//! then the provider lists no record kinds and no actions.

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
        "crm.objects.deals.read",
    ],
    record_kinds: &[],
    webhooks: true,
    pkce: false,
};

/// The HubSpot provider.
pub(crate) struct HubSpot;

impl HubSpot {
    pub(crate) fn new() -> Self {
        Self
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

impl Provider for HubSpot {
    fn info(&self) -> &ProviderInfo {
        &INFO
    }

    fn actions(&self) -> &[ActionSpec] {
        &[]
    }

    fn authorization_url(&self, request: &AuthorizeRequest<'_>) -> Result<String, ConnectorError> {
        let scope = request.scopes.join(" ");
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
        !settings.hubspot_client_secret.expose().is_empty()
    }

    fn verify_webhook(&self, settings: &ProviderSettings, delivery: &Delivery<'_>) -> Result<(), SignatureError> {
        let headers = switchboard_signatures::hubspot::Headers {
            signature: delivery.header("x-hubspot-signature"),
            signature_version: delivery.header("x-hubspot-signature-version"),
            signature_v3: delivery.header("x-hubspot-signature-v3"),
            request_timestamp: delivery.header("x-hubspot-request-timestamp"),
        };
        let uri = format!("{}/v1/webhooks/hubspot", settings.public_url.trim_end_matches('/'));
        switchboard_signatures::hubspot::verify(
            settings.hubspot_client_secret.expose(),
            &headers,
            "POST",
            &uri,
            delivery.body,
            delivery.now_ms,
        )
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
}
