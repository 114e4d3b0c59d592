//! [`SandboxHandle`]: what tests (and the control plane) drive a running sandbox with — its base URLs, the
//! counters, fault injection, token expiry, lifetime and revocation, and signed webhook deliveries built from (and
//! recorded in) its data.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::counts::Counts;
use crate::faults::Fault;
use crate::state::{Shared, lock};
use crate::stripe::{StripeError, WriteContext};
use crate::webhooks::{self, Delivery};
use crate::{DEMO_STRIPE_ACCOUNT, Provider, SandboxError};

/// A running sandbox. Cheap to clone; the server stops when the start's shutdown token is cancelled.
#[derive(Clone)]
pub struct SandboxHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxHandle").field("base_url", &self.shared.base_url).finish_non_exhaustive()
    }
}

impl SandboxHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Stripe's API base (real: `https://api.stripe.com`); paths `/v1/...` go under it.
    pub fn stripe_api_base(&self) -> String {
        format!("{}/stripe", self.shared.base_url)
    }

    /// Stripe Connect's base (real: `https://connect.stripe.com`); `/oauth/authorize`, `/oauth/token` under it.
    pub fn stripe_connect_base(&self) -> String {
        format!("{}/stripe-connect", self.shared.base_url)
    }

    /// A shop's base with the literal `{shop}` for the client to replace by the shop domain (real: `https://{shop}`).
    pub fn shopify_base_template(&self) -> String {
        format!("{}/shopify/{{shop}}", self.shared.base_url)
    }

    /// QuickBooks' base: `/connect/oauth2`, `/oauth2/v1/tokens/bearer` and `/v3/company/...` under it.
    pub fn quickbooks_base(&self) -> String {
        format!("{}/quickbooks", self.shared.base_url)
    }

    /// HubSpot's base: `/oauth/authorize`, `/oauth/2026-03/token`, `/oauth/v1/token` and the API under it.
    pub fn hubspot_base(&self) -> String {
        format!("{}/hubspot", self.shared.base_url)
    }

    /// A snapshot of what has been served so far.
    pub fn counts(&self) -> Counts {
        lock(&self.shared.recorder).snapshot()
    }

    /// Makes the next `fault.count` API requests to `fault.provider` fail with `fault.status`.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).inject(fault);
    }

    /// Marks every access token issued so far by `provider`'s OAuth as expired (API calls with them answer 401).
    /// The demo keys and tokens are not affected.
    pub fn expire_tokens(&self, provider: Provider) {
        lock(&self.shared.grants).expire_all(provider);
    }

    /// Expiring access tokens issued from now on (code exchanges and refreshes) last `lifetime`; `None` restores each
    /// provider's own lifetime.
    pub fn set_token_lifetime(&self, lifetime: Option<std::time::Duration>) {
        lock(&self.shared.grants).set_token_lifetime(lifetime);
    }

    /// Revokes every refresh token issued so far by `provider`'s OAuth, as when the merchant uninstalls the app:
    /// refreshing with one is refused (`invalid_grant`). Access tokens are not affected.
    pub fn revoke_refresh_tokens(&self, provider: Provider) {
        lock(&self.shared.grants).revoke_refresh_tokens(provider);
    }

    /// Records a Stripe event of `event_type` about `object` on the demo account (it appears in `/v1/events`) and
    /// returns its signed delivery.
    pub fn stripe_event(&self, event_type: &str, object: Value) -> Delivery {
        let now = self.shared.clock.now();
        let event = lock(&self.shared.stripe).record_event(DEMO_STRIPE_ACCOUNT, event_type, object, now, (None, None));
        webhooks::stripe_delivery(&self.shared.apps, &event.unwrap_or(Value::Null))
    }

    /// Refunds what remains of a demo-account charge — the charge's `amount_refunded` and `refunded` change, a
    /// refund is recorded, and events `charge.refunded` and `refund.created` — and returns the signed delivery of
    /// `charge.refunded`.
    pub fn refund_charge_event(&self, charge_id: &str) -> Result<Delivery, SandboxError> {
        let now = self.shared.clock.now();
        let events = {
            let mut data = lock(&self.shared.stripe);
            let data = &mut *data;
            let account = data
                .accounts
                .get_mut(DEMO_STRIPE_ACCOUNT)
                .ok_or_else(|| SandboxError::NotFound { kind: "account", id: DEMO_STRIPE_ACCOUNT.to_owned() })?;
            let mut ctx = WriteContext {
                account,
                ids: &mut data.ids,
                now,
                request_id: None,
                idempotency_key: None,
                events: Vec::new(),
            };
            let request = crate::stripe::RefundRequest { charge: Some(charge_id.to_owned()), ..Default::default() };
            crate::stripe::refund(&mut ctx, request).map_err(|error| refund_error(charge_id, &error))?;
            ctx.events
        };
        let event = events.iter().find(|e| e["type"] == "charge.refunded").cloned().unwrap_or(Value::Null);
        Ok(webhooks::stripe_delivery(&self.shared.apps, &event))
    }

    /// Sets how fast `shop`'s GraphQL cost bucket refills, in points per second: its plan (100 Standard, the
    /// default; 200 Advanced; 1000 Plus; 2000 Enterprise).
    pub fn set_shopify_restore_rate(&self, shop: &str, points_per_second: f64) {
        lock(&self.shared.shopify).shop_mut(shop).graphql_bucket.set_rate(points_per_second);
    }

    /// Empties `shop`'s GraphQL cost bucket, as if another app had just spent it; it refills at its restore rate
    /// from now.
    pub fn drain_shopify_bucket(&self, shop: &str) {
        lock(&self.shared.shopify).shop_mut(shop).graphql_bucket.drain();
    }

    /// A signed Shopify webhook delivery of `topic` from `shop`.
    pub fn shopify_webhook(&self, shop: &str, topic: &str, payload: Value) -> Delivery {
        webhooks::shopify_delivery(&self.shared.apps, shop, topic, &payload)
    }

    /// A signed QuickBooks CloudEvents delivery: `op` (`Create`, `Update`, `Delete`, ...) on `entity` `id`.
    pub fn quickbooks_webhook(&self, realm_id: &str, entity: &str, id: &str, op: &str) -> Delivery {
        webhooks::quickbooks_delivery(&self.shared.apps, realm_id, entity, id, op)
    }

    /// A signed QuickBooks delivery in the legacy `eventNotifications` shape naming each `(entity, id, operation)`.
    pub fn quickbooks_legacy_webhook(&self, realm_id: &str, entities: &[(&str, &str, &str)]) -> Delivery {
        webhooks::quickbooks_legacy_delivery(&self.shared.apps, realm_id, entities)
    }

    /// Whether the QuickBooks change webhooks the sandbox sends by itself use the legacy `eventNotifications` shape
    /// (default: CloudEvents).
    pub fn set_quickbooks_legacy_webhooks(&self, legacy: bool) {
        lock(&self.shared.quickbooks).legacy_webhooks = legacy;
    }

    /// Edits QuickBooks `entity` `id` of `realm_id` as someone in QuickBooks would: sets the top-level fields of
    /// `patch`, stamps a new `SyncToken` and `LastUpdatedTime`, and sends the change webhook if a target is set.
    pub fn quickbooks_update(&self, realm_id: &str, entity: &str, id: &str, patch: &Value) -> Result<(), SandboxError> {
        crate::quickbooks::change_entity(&self.shared, realm_id, entity, id, patch).map_err(quickbooks_error)
    }

    /// Deletes QuickBooks `entity` `id` of `realm_id` (CDC then lists it as `"status":"Deleted"`) and sends the
    /// change webhook if a target is set.
    pub fn quickbooks_delete(&self, realm_id: &str, entity: &str, id: &str) -> Result<(), SandboxError> {
        crate::quickbooks::delete_entity(&self.shared, realm_id, entity, id).map_err(quickbooks_error)
    }

    /// The QuickBooks objects of `entity` (`Invoice`, `Customer`, ...) in `realm_id`, as the API serves them, in
    /// id order.
    pub fn quickbooks_entities(&self, realm_id: &str, entity: &str) -> Vec<Value> {
        let Some(kind) = crate::quickbooks::Kind::parse(entity) else { return Vec::new() };
        let data = lock(&self.shared.quickbooks);
        data.companies.get(realm_id).map(|c| c.of(kind).map(|e| e.body.clone()).collect()).unwrap_or_default()
    }

    /// A signed HubSpot delivery of `events` for `portal_id`, signed (v3, current timestamp) for a POST to `uri`.
    pub fn hubspot_webhook(&self, portal_id: i64, uri: &str, events: Value) -> Delivery {
        webhooks::hubspot_delivery(&self.shared.apps, portal_id, uri, events)
    }

    /// Live objects of a HubSpot type (`contacts`, `companies`, `deals`, `notes`) in the demo portal.
    pub fn hubspot_count(&self, kind: &str) -> Result<usize, SandboxError> {
        let kind = hubspot_kind(kind)?;
        Ok(lock(&self.shared.hubspot).objects[kind.index()].values().filter(|o| o.archived_ms.is_none()).count())
    }

    /// A live HubSpot object with every property it has, as `GET /crm/v3/objects/{kind}/{id}?properties=...`
    /// renders it; `id_property` finds it by another unique property (`email`).
    pub fn hubspot_object(&self, kind: &str, id: &str, id_property: Option<&str>) -> Option<Value> {
        let kind = hubspot_kind(kind).ok()?;
        let data = lock(&self.shared.hubspot);
        let object = data.find(kind, id, id_property)?;
        let names: Vec<String> = object.properties.keys().cloned().collect();
        Some(object.to_json(kind, Some(&names)))
    }

    /// The ids of the objects of type `to` a HubSpot object is associated with.
    pub fn hubspot_associations(&self, kind: &str, id: &str, to: &str) -> Result<Vec<String>, SandboxError> {
        let (kind, to) = (hubspot_kind(kind)?, hubspot_kind(to)?);
        let id: u64 = id.parse().map_err(|_| SandboxError::NotFound { kind: "hubspot object", id: id.to_owned() })?;
        Ok(lock(&self.shared.hubspot)
            .associations
            .of(kind, id, Some(to))
            .into_iter()
            .map(|(_, i)| i.to_string())
            .collect())
    }

    /// Creates a HubSpot object with `properties` (a JSON object) as an API call would, sends its webhook events to
    /// the HubSpot target if one is set, and returns its id and those events (a JSON array, to sign with
    /// [`SandboxHandle::hubspot_webhook`]).
    pub fn hubspot_create(&self, kind: &str, properties: Value) -> Result<(String, Value), SandboxError> {
        let kind = hubspot_kind(kind)?;
        let now = crate::hubspot::now_ms(&self.shared);
        let (object, events) = lock(&self.shared.hubspot)
            .create(kind, hubspot_properties(&properties), &[], now)
            .map_err(|e| hubspot_error(kind, "", e))?;
        crate::hubspot::notify(&self.shared, events.clone());
        Ok((object.id.to_string(), Value::Array(events)))
    }

    /// Changes properties of a HubSpot object (its `lastmodifieddate` moves to now), sends the `propertyChange`
    /// events to the HubSpot target if one is set, and returns them.
    pub fn hubspot_update(&self, kind: &str, id: &str, properties: Value) -> Result<Value, SandboxError> {
        let kind = hubspot_kind(kind)?;
        let object_id = id.parse().map_err(|_| SandboxError::NotFound { kind: "hubspot object", id: id.to_owned() })?;
        let now = crate::hubspot::now_ms(&self.shared);
        let (_, events) = lock(&self.shared.hubspot)
            .update(kind, object_id, hubspot_properties(&properties), now)
            .map_err(|e| hubspot_error(kind, id, e))?;
        crate::hubspot::notify(&self.shared, events.clone());
        Ok(Value::Array(events))
    }

    /// Archives (deletes) a HubSpot object, sends the `deletion` event to the HubSpot target if one is set, and
    /// returns it.
    pub fn hubspot_delete(&self, kind: &str, id: &str) -> Result<Value, SandboxError> {
        let kind = hubspot_kind(kind)?;
        let object_id = id.parse().map_err(|_| SandboxError::NotFound { kind: "hubspot object", id: id.to_owned() })?;
        let now = crate::hubspot::now_ms(&self.shared);
        let events =
            lock(&self.shared.hubspot).archive(kind, object_id, now).map_err(|e| hubspot_error(kind, id, e))?;
        crate::hubspot::notify(&self.shared, events.clone());
        Ok(Value::Array(events))
    }

    /// Creates `count` HubSpot objects of `kind` at once, all changed within the last second (several per
    /// millisecond past 1,000), without webhooks: more than 10,000 of them make an incremental window that the
    /// search API cannot page through whole. Returns their ids.
    pub fn hubspot_bulk_create(&self, kind: &str, count: usize) -> Result<Vec<String>, SandboxError> {
        let kind = hubspot_kind(kind)?;
        let now = crate::hubspot::now_ms(&self.shared);
        Ok(lock(&self.shared.hubspot).bulk_create(kind, count, now).into_iter().map(|id| id.to_string()).collect())
    }

    /// Where [`SandboxHandle::deliver`] and the automatic senders (Stripe API writes, Shopify `orderCancel`) post
    /// `provider`'s webhooks.
    pub fn set_webhook_target(&self, provider: Provider, url: String) {
        lock(&self.shared.targets).insert(provider, url);
    }

    /// The webhook target of `provider`, if set.
    pub fn webhook_target(&self, provider: Provider) -> Option<String> {
        self.shared.webhook_target(provider)
    }

    /// Posts `delivery` to `provider`'s webhook target and returns the status the target answered.
    pub async fn deliver(&self, provider: Provider, delivery: &Delivery) -> Result<reqwest::StatusCode, SandboxError> {
        let url = self.webhook_target(provider).ok_or(SandboxError::NoWebhookTarget(provider))?;
        delivery.post(&self.shared.client, &url).await
    }
}

fn quickbooks_error(error: crate::quickbooks::ChangeError) -> SandboxError {
    match error {
        crate::quickbooks::ChangeError::NoSuchEntity(entity) => {
            SandboxError::Conflict(format!("the QuickBooks sandbox keeps no {entity} entities"))
        }
        crate::quickbooks::ChangeError::NotFound(kind, id) => SandboxError::NotFound { kind, id },
    }
}

fn refund_error(charge_id: &str, error: &StripeError) -> SandboxError {
    let body = error.body();
    let message = body["error"]["message"].as_str().unwrap_or("the refund was refused").to_owned();
    if body["error"]["code"] == "resource_missing" {
        SandboxError::NotFound { kind: "charge", id: charge_id.to_owned() }
    } else {
        SandboxError::Conflict(message)
    }
}

fn hubspot_kind(kind: &str) -> Result<crate::hubspot::objects::ObjectType, SandboxError> {
    crate::hubspot::objects::ObjectType::parse(kind)
        .ok_or_else(|| SandboxError::NotFound { kind: "hubspot object type", id: kind.to_owned() })
}

fn hubspot_properties(properties: &Value) -> std::collections::BTreeMap<String, String> {
    properties
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn hubspot_error(
    kind: crate::hubspot::objects::ObjectType,
    id: &str,
    error: crate::hubspot::HubSpotError,
) -> SandboxError {
    if error.category == "OBJECT_NOT_FOUND" {
        SandboxError::NotFound { kind: kind.singular(), id: id.to_owned() }
    } else {
        SandboxError::Conflict(error.message)
    }
}
