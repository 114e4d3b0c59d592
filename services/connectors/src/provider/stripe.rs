//! Stripe: API keys (secret or restricted, pasted in) and Connect OAuth; customers, charges, invoices, payment
//! intents and refunds synced with Stripe's list pagination (`limit`/`starting_after`/`has_more`), incrementally by
//! `created[gte]` for new objects plus `/v1/events` for changes to older ones; refunds, customers and invoice
//! sending as actions (with Stripe's own `Idempotency-Key`); `Stripe-Signature` webhooks.
//!
//! The sync cursor says which phase a pass is in: `o:<last id>` while listing objects, `e:<last id>` while reading
//! events (incremental passes only).

use futures::FutureExt;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_proto::connectors::v1::AuthKind;
use switchboard_signatures::SignatureError;

use super::{
    AccountInfo, ActionSpec, AuthorizeRequest, Call, Delivery, Page, Provider, ProviderInfo, RecordIn, TokenGrant,
    WebhookNotice, WebhookTarget, WebhookUpdate, action, parse_input, status_error,
};
use crate::ProviderSettings;
use crate::error::{ConnectorError, ProviderError};

const ID: &str = "stripe";
const PAGE_SIZE: u32 = 100;

/// Record kind → list path and the `object` value of its objects.
const KINDS: [(&str, &str, &str); 5] = [
    ("charge", "/v1/charges", "charge"),
    ("customer", "/v1/customers", "customer"),
    ("invoice", "/v1/invoices", "invoice"),
    ("payment_intent", "/v1/payment_intents", "payment_intent"),
    ("refund", "/v1/refunds", "refund"),
];

static INFO: ProviderInfo = ProviderInfo {
    id: ID,
    display_name: "Stripe",
    auth_kinds: &[AuthKind::ApiKey, AuthKind::Oauth2],
    default_scopes: &["read_write"],
    scopes: &["read_only", "read_write"],
    record_kinds: &["charge", "customer", "invoice", "payment_intent", "refund"],
    webhooks: true,
    pkce: false,
};

/// Input of `stripe.refund.create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RefundInput {
    /// The charge to refund (`ch_...`).
    charge: String,
    /// Amount in the smallest currency unit; the whole remaining amount when absent.
    #[schemars(range(min = 1))]
    amount: Option<u64>,
    /// Why, as Stripe records it.
    reason: Option<RefundReason>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

impl RefundReason {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Duplicate => "duplicate",
            Self::Fraudulent => "fraudulent",
            Self::RequestedByCustomer => "requested_by_customer",
        }
    }
}

/// Output of `stripe.refund.create`.
#[derive(Debug, Serialize, JsonSchema)]
struct RefundOutput {
    id: String,
    status: String,
    amount: u64,
    currency: String,
    charge: String,
}

/// Input of `stripe.customer.create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CustomerInput {
    /// The customer's email address.
    #[schemars(length(min = 3, max = 512))]
    email: String,
    /// Full name or business name.
    name: Option<String>,
    /// Free text shown in the Stripe dashboard.
    description: Option<String>,
}

/// Output of `stripe.customer.create`.
#[derive(Debug, Serialize, JsonSchema)]
struct CustomerOutput {
    id: String,
    email: String,
    name: Option<String>,
}

/// Input of `stripe.invoice.send`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct InvoiceSendInput {
    /// The open invoice to email to its customer (`in_...`).
    invoice: String,
}

/// Output of `stripe.invoice.send`.
#[derive(Debug, Serialize, JsonSchema)]
struct InvoiceSendOutput {
    id: String,
    status: String,
}

/// The Stripe provider.
pub(crate) struct Stripe {
    actions: Vec<ActionSpec>,
}

impl Stripe {
    pub(crate) fn new() -> Self {
        Self {
            actions: vec![
                action::<CustomerInput, CustomerOutput>(
                    "stripe.customer.create",
                    "Creates a Stripe customer with an email address, and optionally a name and description.",
                    true,
                    &["read_write"],
                ),
                action::<InvoiceSendInput, InvoiceSendOutput>(
                    "stripe.invoice.send",
                    "Emails an open Stripe invoice to its customer.",
                    true,
                    &["read_write"],
                ),
                action::<RefundInput, RefundOutput>(
                    "stripe.refund.create",
                    "Refunds a Stripe charge, wholly or partly (amount in the smallest currency unit).",
                    true,
                    &["read_write"],
                ),
            ],
        }
    }
}

/// A Stripe id: a known prefix and then letters and digits only, so it is safe in a path.
fn stripe_id(value: &str, prefix: &str, field: &str) -> Result<(), ProviderError> {
    let ok = value.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 250 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Rejected { provider: ID, message: format!("{field}: not a Stripe id ({prefix}...)") })
    }
}

fn api(call: &Call<'_>, client: &reqwest::Client, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    client
        .request(method, format!("{}{path}", call.settings.stripe_api_base.trim_end_matches('/')))
        .bearer_auth(call.token)
        .header("Stripe-Version", &call.settings.stripe_api_version)
}

async fn token_request(call: &Call<'_>, form: &[(&str, &str)]) -> Result<TokenGrant, ProviderError> {
    let url = format!("{}/oauth/token", call.settings.stripe_connect_base.trim_end_matches('/'));
    let platform_key = call.settings.stripe_platform_key.expose();
    let response = call.http.send(|c| c.post(&url).bearer_auth(platform_key).form(form)).await?;
    if !response.status.is_success() {
        return Err(status_error(ID, &response));
    }
    let body = response.json()?;
    let account = body.get("stripe_user_id").and_then(Value::as_str).map(str::to_owned);
    Ok(TokenGrant { account, ..TokenGrant::from_response(ID, &body, ' ')? })
}

/// A list call: the page's objects and whether there are more.
async fn list(call: &Call<'_>, path: &str, query: &[(String, String)]) -> Result<(Vec<Value>, bool), ProviderError> {
    let response = call.http.send(|c| api(call, c, reqwest::Method::GET, path).query(query)).await?;
    if !response.status.is_success() {
        return Err(status_error(ID, &response));
    }
    let body = response.json()?;
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| ProviderError::Invalid(format!("{path}: no `data` list")))?;
    Ok((data, body.get("has_more").and_then(Value::as_bool).unwrap_or(false)))
}

fn created_us(object: &Value) -> i64 {
    object.get("created").and_then(Value::as_i64).unwrap_or(0).saturating_mul(1_000_000)
}

fn object_id(object: &Value) -> Option<String> {
    object.get("id").and_then(Value::as_str).map(str::to_owned)
}

async fn fetch_page(
    call: &Call<'_>,
    kind: &str,
    since_us: Option<i64>,
    cursor: Option<&str>,
) -> Result<Page, ProviderError> {
    let (_, path, object_name) = KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .ok_or_else(|| ProviderError::Invalid(format!("Stripe has no record kind {kind:?}")))?;
    let since_secs = since_us.map(|us| us.div_euclid(1_000_000));
    let mut query = vec![("limit".to_owned(), PAGE_SIZE.to_string())];
    if let Some(since) = since_secs {
        query.push(("created[gte]".to_owned(), since.to_string()));
    }
    match cursor.unwrap_or("o:").split_once(':') {
        Some(("o", after)) => {
            if !after.is_empty() {
                query.push(("starting_after".to_owned(), after.to_owned()));
            }
            let (objects, has_more) = list(call, path, &query).await?;
            let last = objects.last().and_then(object_id);
            let records = objects
                .into_iter()
                .filter_map(|o| Some(RecordIn { external_id: object_id(&o)?, updated_at_us: created_us(&o), data: o }))
                .collect();
            let next = match (has_more, last) {
                (true, Some(last)) => Some(format!("o:{last}")),
                // Objects done: an incremental pass goes on to the events for changes to older objects.
                _ if since_secs.is_some() => Some("e:".to_owned()),
                _ => None,
            };
            Ok(Page { records, next, deleted: Vec::new() })
        }
        Some(("e", after)) => {
            if !after.is_empty() {
                query.push(("starting_after".to_owned(), after.to_owned()));
            }
            let (events, has_more) = list(call, "/v1/events", &query).await?;
            let last = events.last().and_then(object_id);
            let records = events
                .iter()
                .filter_map(|event| {
                    let object = event.pointer("/data/object")?;
                    (object.get("object").and_then(Value::as_str) == Some(object_name)).then(|| RecordIn {
                        external_id: object_id(object).unwrap_or_default(),
                        updated_at_us: created_us(event),
                        data: object.clone(),
                    })
                })
                .filter(|r| !r.external_id.is_empty())
                .collect();
            let next = match (has_more, last) {
                (true, Some(last)) => Some(format!("e:{last}")),
                _ => None,
            };
            Ok(Page { records, next, deleted: Vec::new() })
        }
        _ => Err(ProviderError::Invalid(format!("unreadable Stripe sync cursor {cursor:?}"))),
    }
}

async fn invoke(call: &Call<'_>, action: &str, input: &Value, idempotency_key: &str) -> Result<Value, ProviderError> {
    let invalid = |m: String| ProviderError::Rejected { provider: ID, message: m };
    let (path, form): (String, Vec<(String, String)>) = match action {
        "stripe.refund.create" => {
            let input: RefundInput = parse_input(input).map_err(invalid)?;
            stripe_id(&input.charge, "ch_", "charge")?;
            let mut form = vec![("charge".to_owned(), input.charge)];
            if let Some(amount) = input.amount {
                form.push(("amount".to_owned(), amount.to_string()));
            }
            if let Some(reason) = input.reason {
                form.push(("reason".to_owned(), reason.as_str().to_owned()));
            }
            ("/v1/refunds".to_owned(), form)
        }
        "stripe.customer.create" => {
            let input: CustomerInput = parse_input(input).map_err(invalid)?;
            let mut form = vec![("email".to_owned(), input.email)];
            form.extend(input.name.map(|n| ("name".to_owned(), n)));
            form.extend(input.description.map(|d| ("description".to_owned(), d)));
            ("/v1/customers".to_owned(), form)
        }
        "stripe.invoice.send" => {
            let input: InvoiceSendInput = parse_input(input).map_err(invalid)?;
            stripe_id(&input.invoice, "in_", "invoice")?;
            (format!("/v1/invoices/{}/send", input.invoice), Vec::new())
        }
        other => return Err(invalid(format!("Stripe has no action {other:?}"))),
    };
    let response = call
        .http
        .send(|c| api(call, c, reqwest::Method::POST, &path).header("Idempotency-Key", idempotency_key).form(&form))
        .await?;
    if !response.status.is_success() {
        return Err(status_error(ID, &response));
    }
    let body = response.json()?;
    let text = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let output = match action {
        "stripe.refund.create" => serde_json::to_value(RefundOutput {
            id: text("id"),
            status: text("status"),
            amount: body.get("amount").and_then(Value::as_u64).unwrap_or(0),
            currency: text("currency"),
            charge: text("charge"),
        }),
        "stripe.customer.create" => serde_json::to_value(CustomerOutput {
            id: text("id"),
            email: text("email"),
            name: body.get("name").and_then(Value::as_str).map(str::to_owned),
        }),
        _ => serde_json::to_value(InvoiceSendOutput { id: text("id"), status: text("status") }),
    };
    output.map_err(|e| ProviderError::Invalid(e.to_string()))
}

impl Provider for Stripe {
    fn info(&self) -> &ProviderInfo {
        &INFO
    }

    fn actions(&self) -> &[ActionSpec] {
        &self.actions
    }

    fn authorization_url(&self, request: &AuthorizeRequest<'_>) -> Result<String, ConnectorError> {
        let base = format!("{}/oauth/authorize", request.settings.stripe_connect_base.trim_end_matches('/'));
        let scope = request.scopes.first().map(String::as_str).unwrap_or("read_write");
        let url = url::Url::parse_with_params(
            &base,
            [
                ("response_type", "code"),
                ("client_id", request.settings.stripe_client_id.as_str()),
                ("scope", scope),
                ("state", request.state),
                ("redirect_uri", request.redirect_uri),
            ],
        )
        .map_err(|e| ConnectorError::Internal(format!("Stripe Connect base URL: {e}")))?;
        Ok(url.into())
    }

    fn exchange_code<'a>(
        &'a self,
        call: &'a Call<'a>,
        code: &'a str,
        _code_verifier: &'a str,
        _redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        async move { token_request(call, &[("grant_type", "authorization_code"), ("code", code)]).await }.boxed()
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
            let response = call.http.send(|c| api(call, c, reqwest::Method::GET, "/v1/account")).await?;
            if !response.status.is_success() {
                return Err(status_error(ID, &response));
            }
            let body = response.json()?;
            let account = object_id(&body).ok_or_else(|| ProviderError::Invalid("/v1/account has no id".into()))?;
            let name = body
                .pointer("/business_profile/name")
                .or_else(|| body.get("email"))
                .and_then(Value::as_str)
                .unwrap_or(&account)
                .to_owned();
            Ok(AccountInfo { account, display_name: format!("Stripe {name}") })
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
        fetch_page(call, kind, since_us, cursor).boxed()
    }

    fn invoke<'a>(
        &'a self,
        call: &'a Call<'a>,
        action: &'a str,
        input: &'a Value,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<Value, ProviderError>> {
        invoke(call, action, input, idempotency_key).boxed()
    }

    fn webhook_secret_configured(&self, settings: &ProviderSettings) -> bool {
        !settings.stripe_webhook_secret.expose().is_empty()
    }

    fn verify_webhook(&self, settings: &ProviderSettings, delivery: &Delivery<'_>) -> Result<(), SignatureError> {
        let header = delivery.header("stripe-signature").ok_or(SignatureError::Missing("Stripe-Signature"))?;
        switchboard_signatures::stripe::verify(
            settings.stripe_webhook_secret.expose(),
            header,
            delivery.body,
            delivery.now_ms.div_euclid(1000),
            switchboard_signatures::stripe::DEFAULT_TOLERANCE_SECS,
        )
        .map(|_| ())
    }

    fn parse_webhook(&self, delivery: &Delivery<'_>) -> Result<Vec<WebhookNotice>, ConnectorError> {
        let event: Value = serde_json::from_slice(delivery.body)
            .map_err(|e| ConnectorError::InvalidArgument(format!("the Stripe event is not JSON: {e}")))?;
        let text = |name: &str| event.get(name).and_then(Value::as_str).map(str::to_owned);
        let event_id =
            text("id").ok_or_else(|| ConnectorError::InvalidArgument("the Stripe event has no id".into()))?;
        Ok(vec![WebhookNotice {
            // Connect events name the connected account; a direct account's events are routed by the platform's.
            account: text("account").unwrap_or_default(),
            event_id,
            event_type: text("type").unwrap_or_default(),
            payload: event,
        }])
    }

    fn webhook_update(&self, event_type: &str, payload: &Value) -> Option<WebhookUpdate> {
        if event_type.ends_with(".deleted") {
            return None;
        }
        let object = payload.pointer("/data/object")?;
        let object_name = object.get("object")?.as_str()?;
        let (kind, _, _) = KINDS.iter().find(|(_, _, name)| *name == object_name)?;
        Some(WebhookUpdate {
            kind,
            record: RecordIn {
                external_id: object_id(object)?,
                updated_at_us: created_us(payload),
                data: object.clone(),
            },
        })
    }

    fn webhook_target(&self, event_type: &str, payload: &Value) -> Option<WebhookTarget> {
        let object = payload.pointer("/data/object")?;
        let object_name = object.get("object")?.as_str()?;
        let (kind, _, _) = KINDS.iter().find(|(_, _, name)| *name == object_name)?;
        event_type
            .ends_with(".deleted")
            .then(|| WebhookTarget::Delete { kind, id: object_id(object).unwrap_or_default() })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn action_inputs_are_checked_against_their_types() {
        let stripe = Stripe::new();
        let refund = stripe.actions.iter().find(|a| a.name == "stripe.refund.create").unwrap();
        assert_eq!((refund.validate)(&json!({"charge": "ch_1", "amount": 500})), Ok(()));
        let err = (refund.validate)(&json!({"charge": "ch_1", "amount": "lots"})).unwrap_err();
        assert!(err.starts_with("amount:"), "{err}");
        assert!((refund.validate)(&json!({"amount": 5})).unwrap_err().contains("charge"));
        assert!((refund.validate)(&json!({"charge": "ch_1", "extra": 1})).unwrap_err().contains("extra"));
        assert!((refund.validate)(&json!({"charge": "ch_1", "reason": "because"})).unwrap_err().starts_with("reason"));
        assert_eq!(refund.input_schema["properties"]["charge"]["type"], "string");
        assert_eq!(refund.input_schema["required"], json!(["charge"]));
    }

    #[test]
    fn ids_in_paths_are_checked() {
        assert!(stripe_id("in_123abc", "in_", "invoice").is_ok());
        assert!(stripe_id("in_../../v1/charges", "in_", "invoice").is_err());
        assert!(stripe_id("ch_1", "in_", "invoice").is_err());
        assert!(stripe_id("in_", "in_", "invoice").is_err());
    }
}
