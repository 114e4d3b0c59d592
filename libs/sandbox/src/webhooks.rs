//! Webhook deliveries as each provider sends them: the exact body bytes and the signed headers. Signatures come
//! from `switchboard-signatures`; timestamps in them are the wall clock, so receivers' tolerance checks pass.
//!
//! - Stripe: the event JSON, `Stripe-Signature: t=..,v1=..` with the endpoint secret;
//! - Shopify: the REST-shaped payload, `X-Shopify-Topic`, `-Hmac-Sha256`, `-Shop-Domain`, `-API-Version`,
//!   `-Webhook-Id` (unique per delivery: the dedupe key), `-Triggered-At`, `-Event-Id`;
//! - QuickBooks: a CloudEvents array (`qbo.<entity>.<op>.v1`) or the legacy `eventNotifications` object,
//!   `intuit-signature` with the verifier token;
//! - HubSpot: an array of events, v3 (`X-HubSpot-Signature-v3` over method, URI, body and
//!   `X-HubSpot-Request-Timestamp`) and v1 signatures.

use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::{rfc3339, wall_unix, wall_unix_ms};
use crate::{Apps, SandboxError};

/// How long posting one delivery may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// One webhook delivery, ready to post.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Headers to send, names as the provider spells them.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes the signature covers.
    pub body: Vec<u8>,
    /// The provider's id for deduplication: Stripe `evt_...`, Shopify `X-Shopify-Webhook-Id`, the CloudEvent `id`,
    /// HubSpot's first `eventId`.
    pub event_id: String,
}

impl Delivery {
    /// Posts the delivery to `url` and returns the status the receiver answered.
    pub async fn post(&self, client: &reqwest::Client, url: &str) -> Result<reqwest::StatusCode, SandboxError> {
        let mut request = client.post(url).timeout(POST_TIMEOUT).body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|source| SandboxError::Delivery { url: url.to_owned(), source })?;
        Ok(response.status())
    }

    /// The value of a header (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// A Stripe event delivery.
pub(crate) fn stripe_delivery(apps: &Apps, event: &Value) -> Delivery {
    let body = to_bytes(event);
    let signature = switchboard_signatures::stripe::sign(&apps.stripe_webhook_secret, wall_unix(), &body);
    Delivery {
        headers: vec![
            ("Content-Type".into(), "application/json; charset=utf-8".into()),
            ("User-Agent".into(), "Stripe/1.0 (+https://stripe.com/docs/webhooks)".into()),
            ("Stripe-Signature".into(), signature),
        ],
        event_id: event.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
        body,
    }
}

/// A Shopify webhook delivery of `topic` from `shop`.
pub(crate) fn shopify_delivery(apps: &Apps, shop: &str, topic: &str, payload: &Value) -> Delivery {
    let body = serde_json::to_vec(payload).unwrap_or_default();
    let webhook_id = uuid::Uuid::new_v4().to_string();
    let hmac = switchboard_signatures::shopify::webhook_signature(&apps.shopify_client_secret, &body);
    Delivery {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), "Shopify-Captain-Hook".into()),
            ("X-Shopify-Topic".into(), topic.to_owned()),
            ("X-Shopify-Hmac-Sha256".into(), hmac),
            ("X-Shopify-Shop-Domain".into(), shop.to_owned()),
            ("X-Shopify-API-Version".into(), crate::shopify::LATEST_VERSION.to_owned()),
            ("X-Shopify-Webhook-Id".into(), webhook_id.clone()),
            ("X-Shopify-Triggered-At".into(), rfc3339(wall_unix())),
            ("X-Shopify-Event-Id".into(), uuid::Uuid::new_v4().to_string()),
        ],
        event_id: webhook_id,
        body,
    }
}

/// The CloudEvents verb for a QuickBooks operation (`Create` → `created`).
fn cloud_event_verb(op: &str) -> String {
    match op.to_ascii_lowercase().as_str() {
        "create" | "created" => "created".to_owned(),
        "update" | "updated" => "updated".to_owned(),
        "delete" | "deleted" => "deleted".to_owned(),
        "merge" | "merged" => "merged".to_owned(),
        "void" | "voided" => "voided".to_owned(),
        "emailed" | "email" => "emailed".to_owned(),
        other => other.to_owned(),
    }
}

/// A QuickBooks CloudEvents delivery: one event about `entity` `id` in `realm_id`.
pub(crate) fn quickbooks_delivery(apps: &Apps, realm_id: &str, entity: &str, id: &str, op: &str) -> Delivery {
    let event_id = uuid::Uuid::new_v4().to_string();
    let events = json!([{
        "specversion": "1.0",
        "id": event_id,
        "source": "intuit.switchboard-sandbox",
        "type": format!("qbo.{}.{}.v1", entity.to_ascii_lowercase(), cloud_event_verb(op)),
        "datacontenttype": "application/json",
        "time": rfc3339(wall_unix()),
        "intuitentityid": id,
        "intuitaccountid": realm_id,
        "data": {},
    }]);
    let body = serde_json::to_vec(&events).unwrap_or_default();
    let signature = switchboard_signatures::quickbooks::sign(&apps.quickbooks_verifier_token, &body);
    Delivery {
        headers: vec![("Content-Type".into(), "application/json".into()), ("intuit-signature".into(), signature)],
        event_id,
        body,
    }
}

/// A QuickBooks delivery in the legacy shape: one `eventNotifications` entry for `realm_id` naming each
/// `(entity, id, operation)` (`Create`, `Update`, `Delete`, `Merge`, `Void`, `Emailed`). Legacy bodies carry no
/// event id; the delivery's is a fresh one for the caller's bookkeeping.
pub(crate) fn quickbooks_legacy_delivery(apps: &Apps, realm_id: &str, entities: &[(&str, &str, &str)]) -> Delivery {
    let now = rfc3339(wall_unix());
    let entities: Vec<Value> = entities
        .iter()
        .map(|(name, id, operation)| json!({"name": name, "id": id, "operation": operation, "lastUpdated": now}))
        .collect();
    let body = json!({"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": entities}}]});
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let signature = switchboard_signatures::quickbooks::sign(&apps.quickbooks_verifier_token, &body);
    Delivery {
        headers: vec![("Content-Type".into(), "application/json".into()), ("intuit-signature".into(), signature)],
        event_id: uuid::Uuid::new_v4().to_string(),
        body,
    }
}

/// A HubSpot delivery of `events` (an array, or one event) for `portal_id`, signed for a POST to `uri`.
/// Events missing `portalId`, `eventId`, `occurredAt`, `subscriptionId`, `appId` or `attemptNumber` get them.
pub(crate) fn hubspot_delivery(apps: &Apps, portal_id: i64, uri: &str, events: Value) -> Delivery {
    let now_ms = wall_unix_ms();
    let mut events = match events {
        Value::Array(items) => items,
        single => vec![single],
    };
    for event in &mut events {
        if let Value::Object(fields) = event {
            let defaults = [
                ("portalId", json!(portal_id)),
                ("eventId", json!(uuid::Uuid::new_v4().as_u128() as u32)),
                ("occurredAt", json!(now_ms)),
                ("subscriptionId", json!(1)),
                ("appId", json!(1)),
                ("attemptNumber", json!(0)),
            ];
            for (key, value) in defaults {
                fields.entry(key).or_insert(value);
            }
        }
    }
    let event_id = events
        .first()
        .and_then(|e| e.get("eventId"))
        .map(|id| id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string()))
        .unwrap_or_default();
    let body = serde_json::to_vec(&Value::Array(events)).unwrap_or_default();
    let timestamp = now_ms.to_string();
    let secret = &apps.hubspot_client_secret;
    Delivery {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            (
                "X-HubSpot-Signature-v3".into(),
                switchboard_signatures::hubspot::sign_v3(secret, "POST", uri, &body, &timestamp),
            ),
            ("X-HubSpot-Request-Timestamp".into(), timestamp),
            ("X-HubSpot-Signature".into(), switchboard_signatures::hubspot::sign_v1(secret, &body)),
            ("X-HubSpot-Signature-Version".into(), "v1".into()),
        ],
        event_id,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_deliveries_verify() {
        let apps = Apps::default();
        let delivery = stripe_delivery(&apps, &json!({"id": "evt_1", "object": "event"}));
        assert_eq!(delivery.event_id, "evt_1");
        let header = delivery.header("stripe-signature").unwrap();
        switchboard_signatures::stripe::verify(&apps.stripe_webhook_secret, header, &delivery.body, wall_unix(), 300)
            .unwrap();
    }

    #[test]
    fn shopify_deliveries_carry_every_header_and_verify() {
        let apps = Apps::default();
        let a = shopify_delivery(&apps, "demo-shop.myshopify.com", "orders/create", &json!({"id": 1}));
        let b = shopify_delivery(&apps, "demo-shop.myshopify.com", "orders/create", &json!({"id": 1}));
        for name in ["Topic", "Hmac-Sha256", "Shop-Domain", "API-Version", "Webhook-Id", "Triggered-At", "Event-Id"] {
            assert!(a.header(&format!("x-shopify-{name}")).is_some(), "{name}");
        }
        assert_ne!(a.event_id, b.event_id);
        switchboard_signatures::shopify::verify_webhook(
            &apps.shopify_client_secret,
            a.header("X-Shopify-Hmac-Sha256").unwrap(),
            &a.body,
        )
        .unwrap();
    }

    #[test]
    fn quickbooks_deliveries_are_cloud_events_and_verify() {
        let apps = Apps::default();
        let delivery = quickbooks_delivery(&apps, "9341453050", "Invoice", "130", "Update");
        let body = delivery.json().unwrap();
        assert_eq!(body[0]["type"], "qbo.invoice.updated.v1");
        assert_eq!(body[0]["intuitaccountid"], "9341453050");
        assert_eq!(body[0]["id"], delivery.event_id.as_str());
        switchboard_signatures::quickbooks::verify(
            &apps.quickbooks_verifier_token,
            delivery.header("intuit-signature").unwrap(),
            &delivery.body,
        )
        .unwrap();
    }

    #[test]
    fn quickbooks_legacy_deliveries_name_every_entity_and_verify() {
        let apps = Apps::default();
        let delivery =
            quickbooks_legacy_delivery(&apps, "9341453050", &[("Invoice", "7", "Update"), ("Customer", "3", "Delete")]);
        let body = delivery.json().unwrap();
        let notification = &body["eventNotifications"][0];
        assert_eq!(notification["realmId"], "9341453050");
        assert_eq!(notification["dataChangeEvent"]["entities"][1]["operation"], "Delete");
        switchboard_signatures::quickbooks::verify(
            &apps.quickbooks_verifier_token,
            delivery.header("intuit-signature").unwrap(),
            &delivery.body,
        )
        .unwrap();
    }

    #[test]
    fn hubspot_deliveries_fill_events_and_verify_v3() {
        let apps = Apps::default();
        let uri = "https://example.com/v1/webhooks/hubspot";
        let delivery =
            hubspot_delivery(&apps, 62515, uri, json!([{"subscriptionType": "contact.creation", "objectId": 1}]));
        let body = delivery.json().unwrap();
        assert_eq!(body[0]["portalId"], 62515);
        assert_eq!(body[0]["eventId"].to_string(), delivery.event_id);
        let headers = switchboard_signatures::hubspot::Headers {
            signature: delivery.header("X-HubSpot-Signature"),
            signature_version: delivery.header("X-HubSpot-Signature-Version"),
            signature_v3: delivery.header("X-HubSpot-Signature-v3"),
            request_timestamp: delivery.header("X-HubSpot-Request-Timestamp"),
        };
        switchboard_signatures::hubspot::verify(
            &apps.hubspot_client_secret,
            &headers,
            "POST",
            uri,
            &delivery.body,
            wall_unix_ms(),
        )
        .unwrap();
    }
}
