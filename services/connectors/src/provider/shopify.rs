//! Shopify: the GraphQL Admin API (version in the path, from configuration), OAuth with expiring offline tokens
//! and rotating refresh tokens (`expiring: 1`), or an admin API access token pasted in; orders, products and
//! customers synced through `pageInfo` cursors, incrementally by `updated_at`; cost-based throttling read from
//! the `extensions.cost` of every answer (a `THROTTLED` answer waits for the bucket to refill); discount codes,
//! order cancellation and inventory adjustments as actions; `X-Shopify-Hmac-Sha256` webhooks and the signed OAuth
//! redirect (`hmac`).
//!
//! The base URL is a template, `https://{shop}` in production, with `{shop}` replaced by the shop domain.

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_proto::connectors::v1::AuthKind;
use switchboard_signatures::SignatureError;

use super::{
    AccountInfo, ActionSpec, AuthorizeRequest, Call, Delivery, Page, Provider, ProviderInfo, RecordIn, TokenGrant,
    WebhookNotice, WebhookTarget, action, parse_input, rfc3339_us, status_error, us_rfc3339,
};
use crate::ProviderSettings;
use crate::error::{ConnectorError, ProviderError};

const ID: &str = "shopify";
const PAGE_SIZE: u32 = 100;
/// Longest one GraphQL call waits in all through `THROTTLED` answers before it gives up. A sync's record kinds
/// share the shop's bucket, so a call may see the refill it waited for taken by another kind several times over;
/// a limit on attempts would fail a sync for that alone (it did, at three kinds against a busy bucket).
const THROTTLE_BUDGET: Duration = Duration::from_secs(60);

static INFO: ProviderInfo = ProviderInfo {
    id: ID,
    display_name: "Shopify",
    auth_kinds: &[AuthKind::Oauth2, AuthKind::ApiKey],
    default_scopes: &[
        "read_orders",
        "write_orders",
        "read_products",
        "read_customers",
        "write_discounts",
        "write_inventory",
    ],
    scopes: &[
        "read_orders",
        "write_orders",
        "read_all_orders",
        "read_products",
        "write_products",
        "read_customers",
        "write_customers",
        "read_discounts",
        "write_discounts",
        "read_inventory",
        "write_inventory",
    ],
    record_kinds: &["customer", "order", "product"],
    webhooks: true,
    pkce: true,
};

/// Record kind → root field of the GraphQL query and the fields fetched per node.
const KINDS: [(&str, &str, &str); 3] = [
    (
        "order",
        "orders",
        "id name createdAt updatedAt cancelledAt displayFinancialStatus displayFulfillmentStatus email \
         totalPriceSet { shopMoney { amount currencyCode } } customer { id email }",
    ),
    ("product", "products", "id title handle status vendor productType createdAt updatedAt totalInventory"),
    ("customer", "customers", "id email firstName lastName phone createdAt updatedAt numberOfOrders"),
];

/// Input of `shopify.discount_code.create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DiscountInput {
    /// Name of the discount shown in the admin.
    #[schemars(length(min = 1, max = 255))]
    title: String,
    /// The code customers type at checkout.
    #[schemars(length(min = 1, max = 255))]
    code: String,
    /// Percentage off, 1 to 100.
    #[schemars(range(min = 1, max = 100))]
    percentage: u8,
    /// When it starts (RFC 3339); now when absent.
    starts_at: Option<String>,
    /// When it ends (RFC 3339); never when absent.
    ends_at: Option<String>,
}

/// Output of `shopify.discount_code.create`.
#[derive(Debug, Serialize, JsonSchema)]
struct DiscountOutput {
    id: String,
    code: String,
}

/// Input of `shopify.order.cancel`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CancelInput {
    /// The order (`gid://shopify/Order/...`).
    order_id: String,
    /// Why: CUSTOMER, DECLINED, FRAUD, INVENTORY, STAFF or OTHER.
    reason: CancelReason,
    /// Refund the payment.
    #[serde(default)]
    refund: bool,
    /// Put the items back in stock.
    #[serde(default)]
    restock: bool,
    /// Email the customer.
    #[serde(default)]
    notify_customer: bool,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum CancelReason {
    Customer,
    Declined,
    Fraud,
    Inventory,
    Staff,
    Other,
}

/// Output of `shopify.order.cancel`.
#[derive(Debug, Serialize, JsonSchema)]
struct CancelOutput {
    order_id: String,
    job_id: Option<String>,
}

/// Input of `shopify.inventory.adjust`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct InventoryInput {
    /// The inventory item (`gid://shopify/InventoryItem/...`).
    inventory_item_id: String,
    /// The location (`gid://shopify/Location/...`).
    location_id: String,
    /// Units to add (negative to remove).
    delta: i32,
    /// Why: correction, cycle_count_available, damaged, received, restock, shrinkage, ...
    #[serde(default = "default_inventory_reason")]
    reason: String,
}

fn default_inventory_reason() -> String {
    "correction".to_owned()
}

/// Output of `shopify.inventory.adjust`.
#[derive(Debug, Serialize, JsonSchema)]
struct InventoryOutput {
    adjustment_group_id: Option<String>,
}

/// The Shopify provider.
pub(crate) struct Shopify {
    actions: Vec<ActionSpec>,
}

impl Shopify {
    pub(crate) fn new() -> Self {
        Self {
            actions: vec![
                action::<DiscountInput, DiscountOutput>(
                    "shopify.discount_code.create",
                    "Creates a percentage-off discount code in the Shopify store.",
                    true,
                    &["write_discounts"],
                ),
                action::<InventoryInput, InventoryOutput>(
                    "shopify.inventory.adjust",
                    "Adds or removes units of an inventory item at a location.",
                    true,
                    &["write_inventory"],
                ),
                action::<CancelInput, CancelOutput>(
                    "shopify.order.cancel",
                    "Cancels a Shopify order, optionally refunding, restocking and notifying the customer.",
                    true,
                    &["write_orders"],
                ),
            ],
        }
    }
}

fn shop_base(settings: &ProviderSettings, shop: &str) -> Result<String, ProviderError> {
    if !switchboard_signatures::shopify::is_valid_shop_domain(shop) {
        return Err(ProviderError::Rejected {
            provider: ID,
            message: format!("{shop:?} is not a shop domain (name.myshopify.com)"),
        });
    }
    Ok(settings.shopify_base.replace("{shop}", shop).trim_end_matches('/').to_owned())
}

async fn token_request(call: &Call<'_>, body: Value) -> Result<TokenGrant, ProviderError> {
    let url = format!("{}/admin/oauth/access_token", shop_base(call.settings, call.account)?);
    let response = call.http.send(|c| c.post(&url).json(&body)).await?;
    if !response.status.is_success() {
        return Err(status_error(ID, &response));
    }
    let body = response.json()?;
    TokenGrant::from_response(ID, &body, ',')
}

/// One GraphQL call, waiting out `THROTTLED` answers by the cost extension's restore rate.
async fn graphql(call: &Call<'_>, query: &str, variables: Value) -> Result<Value, ProviderError> {
    let url = format!(
        "{}/admin/api/{}/graphql.json",
        shop_base(call.settings, call.account)?,
        call.settings.shopify_api_version
    );
    let body = json!({ "query": query, "variables": variables });
    let started = tokio::time::Instant::now();
    loop {
        let response =
            call.http.send(|c| c.post(&url).header("X-Shopify-Access-Token", call.token).json(&body)).await?;
        if !response.status.is_success() {
            return Err(status_error(ID, &response));
        }
        let answer = response.json()?;
        let throttled = answer
            .get("errors")
            .and_then(Value::as_array)
            .is_some_and(|errors| errors.iter().any(|e| e.pointer("/extensions/code") == Some(&json!("THROTTLED"))));
        if throttled {
            // Kinds throttled together would all come back together, and all but one be throttled again.
            let wait = crate::http::spread(throttle_wait(&answer), 0.25);
            if wait > call.http.policy().max_wait || started.elapsed() + wait > THROTTLE_BUDGET {
                return Err(ProviderError::RateLimited {
                    retry_after: wait,
                    message: "Shopify's query cost budget is spent".into(),
                });
            }
            tracing::debug!(wait_ms = wait.as_millis() as u64, "Shopify throttled; waiting for the bucket");
            tokio::time::sleep(wait).await;
            continue;
        }
        if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
            return Err(ProviderError::Rejected {
                provider: ID,
                message: super::error_message(&json!({ "errors": errors }), "GraphQL error"),
            });
        }
        return answer.get("data").cloned().ok_or_else(|| ProviderError::Invalid("GraphQL answer without data".into()));
    }
}

/// How long until the bucket holds the requested cost: `(requested - available) / restoreRate`.
fn throttle_wait(answer: &Value) -> Duration {
    let cost = answer.pointer("/extensions/cost");
    let number = |path: &str| cost.and_then(|c| c.pointer(path)).and_then(Value::as_f64);
    let requested = number("/requestedQueryCost").unwrap_or(PAGE_SIZE as f64);
    let available = number("/throttleStatus/currentlyAvailable").unwrap_or(0.0);
    let rate = number("/throttleStatus/restoreRate").filter(|r| *r > 0.0).unwrap_or(50.0);
    Duration::from_secs_f64(((requested - available).max(0.0) / rate).clamp(0.05, 60.0))
}

async fn fetch_page(
    call: &Call<'_>,
    kind: &str,
    since_us: Option<i64>,
    cursor: Option<&str>,
) -> Result<Page, ProviderError> {
    let (_, root, fields) = KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .ok_or_else(|| ProviderError::Invalid(format!("Shopify has no record kind {kind:?}")))?;
    let query = format!(
        "query($first:Int!,$after:String,$q:String){{ {root}(first:$first, after:$after, query:$q, sortKey:UPDATED_AT) \
         {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {fields} }} }} }}"
    );
    let q = since_us.map(|us| format!("updated_at:>='{}'", us_rfc3339(us)));
    let data = graphql(call, &query, json!({ "first": PAGE_SIZE, "after": cursor, "q": q })).await?;
    let connection = data.get(*root).ok_or_else(|| ProviderError::Invalid(format!("no `{root}` in the answer")))?;
    let nodes = connection.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
    let records = nodes
        .into_iter()
        .filter_map(|node| {
            let id = node.get("id")?.as_str()?.to_owned();
            let updated = node.get("updatedAt").and_then(Value::as_str).and_then(rfc3339_us).unwrap_or(0);
            Some(RecordIn { external_id: id, updated_at_us: updated, data: node })
        })
        .collect();
    let has_next = connection.pointer("/pageInfo/hasNextPage").and_then(Value::as_bool).unwrap_or(false);
    let end = connection.pointer("/pageInfo/endCursor").and_then(Value::as_str).map(str::to_owned);
    Ok(Page { records, next: if has_next { end } else { None }, deleted: Vec::new() })
}

/// One record by its GraphQL id, with the fields a sync stores.
async fn fetch_record(call: &Call<'_>, kind: &str, id: &str) -> Result<Option<RecordIn>, ProviderError> {
    let (_, root, fields) = KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .ok_or_else(|| ProviderError::Invalid(format!("Shopify has no record kind {kind:?}")))?;
    // `orders` → `order`: the single-object root field.
    let single = root.trim_end_matches('s');
    let query = format!("query($id: ID!) {{ {single}(id: $id) {{ {fields} }} }}");
    let data = graphql(call, &query, json!({ "id": id })).await?;
    let Some(node) = data.get(single).filter(|n| !n.is_null()).cloned() else { return Ok(None) };
    let updated = node.get("updatedAt").and_then(Value::as_str).and_then(rfc3339_us).unwrap_or(0);
    Ok(Some(RecordIn { external_id: id.to_owned(), updated_at_us: updated, data: node }))
}

/// The record kind and GraphQL id a webhook topic names: `orders/updated` → (`order`, `gid://shopify/Order/<id>`).
fn topic_target(topic: &str, payload: &Value) -> Option<WebhookTarget> {
    let (resource, verb) = topic.split_once('/')?;
    let (kind, gid_type) = match resource {
        "orders" => ("order", "Order"),
        "products" => ("product", "Product"),
        "customers" => ("customer", "Customer"),
        _ => return None,
    };
    let id = payload
        .get("admin_graphql_api_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| payload.get("id").and_then(Value::as_i64).map(|n| format!("gid://shopify/{gid_type}/{n}")))?;
    Some(if verb == "delete" { WebhookTarget::Delete { kind, id } } else { WebhookTarget::Refresh { kind, id } })
}

/// The payload's `userErrors`, as a refusal, if any.
fn user_errors(payload: &Value) -> Result<(), ProviderError> {
    match payload.get("userErrors").and_then(Value::as_array) {
        Some(errors) if !errors.is_empty() => {
            let messages: Vec<String> = errors
                .iter()
                .map(|e| e.get("message").and_then(Value::as_str).unwrap_or("refused").to_owned())
                .collect();
            Err(ProviderError::Rejected { provider: ID, message: messages.join("; ") })
        }
        _ => Ok(()),
    }
}

fn gid(value: &str, kind: &str, field: &str) -> Result<(), ProviderError> {
    let ok = value
        .strip_prefix("gid://shopify/")
        .and_then(|rest| rest.strip_prefix(kind))
        .and_then(|r| r.strip_prefix('/'))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Rejected {
            provider: ID,
            message: format!("{field}: expected gid://shopify/{kind}/<number>"),
        })
    }
}

async fn invoke(call: &Call<'_>, action: &str, input: &Value) -> Result<Value, ProviderError> {
    let invalid = |m: String| ProviderError::Rejected { provider: ID, message: m };
    let output = match action {
        "shopify.discount_code.create" => {
            let input: DiscountInput = parse_input(input).map_err(invalid)?;
            let starts_at = input.starts_at.unwrap_or_else(|| us_rfc3339(switchboard_types::now_unix_micros()));
            let query = "mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) { \
                discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) { \
                codeDiscountNode { id codeDiscount { ... on DiscountCodeBasic { title codes(first: 1) { nodes { code } } } } } \
                userErrors { field code message } } }";
            let variables = json!({ "basicCodeDiscount": {
                "title": input.title,
                "code": input.code,
                "startsAt": starts_at,
                "endsAt": input.ends_at,
                "customerSelection": { "all": true },
                "customerGets": { "value": { "percentage": f64::from(input.percentage) / 100.0 }, "items": { "all": true } },
            }});
            let data = graphql(call, query, variables).await?;
            let payload = data.get("discountCodeBasicCreate").cloned().unwrap_or_default();
            user_errors(&payload)?;
            serde_json::to_value(DiscountOutput {
                id: payload.pointer("/codeDiscountNode/id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                code: input.code,
            })
        }
        "shopify.order.cancel" => {
            let input: CancelInput = parse_input(input).map_err(invalid)?;
            gid(&input.order_id, "Order", "order_id")?;
            let query = "mutation orderCancel($orderId: ID!, $reason: OrderCancelReason!, $refund: Boolean!, \
                $restock: Boolean!, $notifyCustomer: Boolean) { orderCancel(orderId: $orderId, reason: $reason, \
                refund: $refund, restock: $restock, notifyCustomer: $notifyCustomer) { job { id } \
                orderCancelUserErrors { field code message } userErrors { field message } } }";
            let variables = json!({ "orderId": input.order_id, "reason": input.reason, "refund": input.refund,
                "restock": input.restock, "notifyCustomer": input.notify_customer });
            let data = graphql(call, query, variables).await?;
            let payload = data.get("orderCancel").cloned().unwrap_or_default();
            user_errors(&payload)?;
            if let Some(errors) = payload.get("orderCancelUserErrors") {
                user_errors(&json!({ "userErrors": errors }))?;
            }
            serde_json::to_value(CancelOutput {
                order_id: input.order_id,
                job_id: payload.pointer("/job/id").and_then(Value::as_str).map(str::to_owned),
            })
        }
        "shopify.inventory.adjust" => {
            let input: InventoryInput = parse_input(input).map_err(invalid)?;
            gid(&input.inventory_item_id, "InventoryItem", "inventory_item_id")?;
            gid(&input.location_id, "Location", "location_id")?;
            let query = "mutation inventoryAdjustQuantities($input: InventoryAdjustQuantitiesInput!) { \
                inventoryAdjustQuantities(input: $input) { inventoryAdjustmentGroup { id } userErrors { field message } } }";
            let variables = json!({ "input": { "name": "available", "reason": input.reason, "changes": [
                { "delta": input.delta, "inventoryItemId": input.inventory_item_id, "locationId": input.location_id }
            ]}});
            let data = graphql(call, query, variables).await?;
            let payload = data.get("inventoryAdjustQuantities").cloned().unwrap_or_default();
            user_errors(&payload)?;
            serde_json::to_value(InventoryOutput {
                adjustment_group_id: payload
                    .pointer("/inventoryAdjustmentGroup/id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        }
        other => return Err(invalid(format!("Shopify has no action {other:?}"))),
    };
    output.map_err(|e| ProviderError::Invalid(e.to_string()))
}

impl Provider for Shopify {
    fn info(&self) -> &ProviderInfo {
        &INFO
    }

    fn actions(&self) -> &[ActionSpec] {
        &self.actions
    }

    fn authorization_url(&self, request: &AuthorizeRequest<'_>) -> Result<String, ConnectorError> {
        let base = shop_base(request.settings, request.account).map_err(|_| {
            ConnectorError::InvalidArgument("account: Shopify needs the shop domain, such as acme.myshopify.com".into())
        })?;
        let scope = request.scopes.join(",");
        let url = url::Url::parse_with_params(
            &format!("{base}/admin/oauth/authorize"),
            [
                ("client_id", request.settings.shopify_client_id.as_str()),
                ("scope", scope.as_str()),
                ("redirect_uri", request.redirect_uri),
                ("state", request.state),
                ("code_challenge", request.code_challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .map_err(|e| ConnectorError::Internal(format!("Shopify base URL: {e}")))?;
        Ok(url.into())
    }

    fn verify_callback(
        &self,
        settings: &ProviderSettings,
        params: &[(String, String)],
        account: &str,
        now_unix: i64,
    ) -> Result<(), ConnectorError> {
        switchboard_signatures::shopify::verify_oauth_callback(
            settings.shopify_client_secret.expose(),
            params,
            now_unix,
        )
        .map_err(|e| ConnectorError::InvalidArgument(format!("the Shopify redirect does not verify: {e}")))?;
        let shop = params.iter().find(|(k, _)| k == "shop").map(|(_, v)| v.as_str()).unwrap_or_default();
        if !shop.eq_ignore_ascii_case(account) {
            return Err(ConnectorError::InvalidArgument(format!(
                "the redirect names shop {shop:?}, but the authorization was started for {account:?}"
            )));
        }
        Ok(())
    }

    fn exchange_code<'a>(
        &'a self,
        call: &'a Call<'a>,
        code: &'a str,
        code_verifier: &'a str,
        _redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        let body = json!({
            "client_id": call.settings.shopify_client_id,
            "client_secret": call.settings.shopify_client_secret.expose(),
            "code": code,
            "expiring": 1,
            "code_verifier": code_verifier,
        });
        token_request(call, body).boxed()
    }

    fn refresh<'a>(
        &'a self,
        call: &'a Call<'a>,
        refresh_token: &'a str,
    ) -> BoxFuture<'a, Result<TokenGrant, ProviderError>> {
        let body = json!({
            "client_id": call.settings.shopify_client_id,
            "client_secret": call.settings.shopify_client_secret.expose(),
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        });
        token_request(call, body).boxed()
    }

    fn check_credentials<'a>(&'a self, call: &'a Call<'a>) -> BoxFuture<'a, Result<AccountInfo, ProviderError>> {
        async move {
            graphql(call, "query { customers(first: 1) { nodes { id } } }", json!({})).await?;
            Ok(AccountInfo {
                account: call.account.to_ascii_lowercase(),
                display_name: format!("Shopify {}", call.account),
            })
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
        _idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<Value, ProviderError>> {
        // Shopify takes no idempotency key: the engine's stored keys make a retried invocation act once.
        invoke(call, action, input).boxed()
    }

    fn webhook_secret_configured(&self, settings: &ProviderSettings) -> bool {
        !settings.shopify_client_secret.expose().is_empty()
    }

    fn verify_webhook(&self, settings: &ProviderSettings, delivery: &Delivery<'_>) -> Result<(), SignatureError> {
        let header =
            delivery.header("x-shopify-hmac-sha256").ok_or(SignatureError::Missing("X-Shopify-Hmac-Sha256"))?;
        switchboard_signatures::shopify::verify_webhook(settings.shopify_client_secret.expose(), header, delivery.body)
    }

    fn webhook_target(&self, event_type: &str, payload: &Value) -> Option<WebhookTarget> {
        topic_target(event_type, payload)
    }

    fn fetch_record<'a>(
        &'a self,
        call: &'a Call<'a>,
        kind: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<RecordIn>, ProviderError>> {
        fetch_record(call, kind, id).boxed()
    }

    fn parse_webhook(&self, delivery: &Delivery<'_>) -> Result<Vec<WebhookNotice>, ConnectorError> {
        let required = |name: &str| {
            delivery
                .header(name)
                .map(str::to_owned)
                .ok_or_else(|| ConnectorError::InvalidArgument(format!("the Shopify webhook has no {name} header")))
        };
        let payload: Value = serde_json::from_slice(delivery.body)
            .map_err(|e| ConnectorError::InvalidArgument(format!("the Shopify webhook body is not JSON: {e}")))?;
        Ok(vec![WebhookNotice {
            account: required("x-shopify-shop-domain")?.to_ascii_lowercase(),
            // Unique per delivery and kept across retries: the deduplication key.
            event_id: required("x-shopify-webhook-id")?,
            event_type: required("x-shopify-topic")?,
            payload,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_wait_follows_the_cost_extension() {
        let answer = json!({"extensions": {"cost": {"requestedQueryCost": 102,
            "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 2, "restoreRate": 100.0}}}});
        assert_eq!(throttle_wait(&answer), Duration::from_secs(1));
        assert_eq!(throttle_wait(&json!({})), Duration::from_secs_f64(2.0));
    }

    #[test]
    fn webhook_topics_name_their_records() {
        let payload = json!({"id": 42, "admin_graphql_api_id": "gid://shopify/Order/42"});
        assert_eq!(
            topic_target("orders/updated", &payload),
            Some(WebhookTarget::Refresh { kind: "order", id: "gid://shopify/Order/42".into() })
        );
        assert_eq!(
            topic_target("products/delete", &json!({"id": 7})),
            Some(WebhookTarget::Delete { kind: "product", id: "gid://shopify/Product/7".into() })
        );
        assert_eq!(topic_target("app/uninstalled", &payload), None);
    }

    #[test]
    fn gids_are_checked() {
        assert!(gid("gid://shopify/Order/123", "Order", "order_id").is_ok());
        assert!(gid("gid://shopify/Order/12a", "Order", "order_id").is_err());
        assert!(gid("gid://shopify/Product/1", "Order", "order_id").is_err());
    }
}
