//! Stripe's objects as the sandbox keeps them — accounts holding customers, charges, invoices, payment intents,
//! refunds and events — and their JSON as the API renders it (`id` prefixes, `object`, `created` in unix seconds,
//! amounts in cents). Each collection is kept in list order (newest first, ties by id) so lists are slices.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

/// The API version the sandbox renders and stamps on events when a request names none.
pub(crate) const DEFAULT_API_VERSION: &str = "2026-10-28.acacia";

/// An object that appears in a Stripe list.
pub(crate) trait Listed {
    /// The `object` value and the word used in "No such ..." errors.
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn created(&self) -> i64;
    fn to_json(&self) -> Value;
}

/// A collection in list order: newest first by `created`, ties by id descending.
#[derive(Debug)]
pub(crate) struct Collection<T> {
    items: Vec<T>,
    created_of: HashMap<String, i64>,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Self { items: Vec::new(), created_of: HashMap::new() }
    }
}

/// The order key of an object in a list: larger is earlier in the list.
pub(crate) fn list_key<T: Listed>(item: &T) -> (i64, &str) {
    (item.created(), item.id())
}

impl<T: Listed> Collection<T> {
    pub(crate) fn from_items(mut items: Vec<T>) -> Self {
        items.sort_by(|a, b| list_key(b).cmp(&list_key(a)));
        let created_of = items.iter().map(|i| (i.id().to_owned(), i.created())).collect();
        Self { items, created_of }
    }

    pub(crate) fn items(&self) -> &[T] {
        &self.items
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn insert(&mut self, item: T) {
        let at = self.items.partition_point(|probe| list_key(probe) > list_key(&item));
        self.created_of.insert(item.id().to_owned(), item.created());
        self.items.insert(at, item);
    }

    /// The list key of an object, if it is in the collection.
    pub(crate) fn key_of(&self, id: &str) -> Option<(i64, String)> {
        self.created_of.get(id).map(|created| (*created, id.to_owned()))
    }

    fn position(&self, id: &str) -> Option<usize> {
        let created = *self.created_of.get(id)?;
        self.items
            // The list is in descending key order: a probe with a larger key comes before the target.
            .binary_search_by(|probe| (created, id).cmp(&list_key(probe)))
            .ok()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        self.position(id).map(|at| &self.items[at])
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.position(id).map(|at| &mut self.items[at])
    }
}

/// One Stripe account and everything in it.
#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) business_name: String,
    pub(crate) email: String,
    pub(crate) created: i64,
    pub(crate) customers: Collection<Customer>,
    pub(crate) charges: Collection<Charge>,
    pub(crate) invoices: Collection<Invoice>,
    pub(crate) payment_intents: Collection<PaymentIntent>,
    pub(crate) refunds: Collection<Refund>,
    pub(crate) events: Collection<Event>,
}

impl Account {
    pub(crate) fn empty(id: &str, business_name: &str, email: &str, created: i64) -> Self {
        Self {
            id: id.to_owned(),
            business_name: business_name.to_owned(),
            email: email.to_owned(),
            created,
            customers: Collection::default(),
            charges: Collection::default(),
            invoices: Collection::default(),
            payment_intents: Collection::default(),
            refunds: Collection::default(),
            events: Collection::default(),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "account",
            "business_profile": {
                "name": self.business_name,
                "mcc": "5499",
                "support_email": self.email,
                "url": null,
            },
            "business_type": "company",
            "capabilities": {"card_payments": "active", "transfers": "active"},
            "charges_enabled": true,
            "country": "US",
            "created": self.created,
            "default_currency": "usd",
            "details_submitted": true,
            "email": self.email,
            "metadata": {},
            "payouts_enabled": true,
            "settings": {"dashboard": {"display_name": self.business_name, "timezone": "America/New_York"}},
            "type": "standard",
        })
    }
}

pub(crate) type Metadata = BTreeMap<String, String>;

#[derive(Clone, Debug)]
pub(crate) struct Customer {
    pub(crate) id: String,
    pub(crate) created: i64,
    pub(crate) email: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) invoice_prefix: String,
    pub(crate) metadata: Metadata,
}

impl Listed for Customer {
    const KIND: &'static str = "customer";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "customer",
            "address": null,
            "balance": 0,
            "created": self.created,
            "currency": "usd",
            "default_source": null,
            "delinquent": false,
            "description": self.description,
            "discount": null,
            "email": self.email,
            "invoice_prefix": self.invoice_prefix,
            "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null,
                                 "rendering_options": null},
            "livemode": false,
            "metadata": self.metadata,
            "name": self.name,
            "next_invoice_sequence": 1,
            "phone": self.phone,
            "preferred_locales": [],
            "shipping": null,
            "tax_exempt": "none",
            "test_clock": null,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Card {
    pub(crate) brand: &'static str,
    pub(crate) last4: String,
    pub(crate) exp_month: u32,
    pub(crate) exp_year: u32,
    pub(crate) funding: &'static str,
}

#[derive(Clone, Debug)]
pub(crate) struct Charge {
    pub(crate) id: String,
    pub(crate) created: i64,
    pub(crate) amount: i64,
    pub(crate) amount_refunded: i64,
    pub(crate) currency: String,
    pub(crate) customer: Option<String>,
    pub(crate) billing_name: Option<String>,
    pub(crate) receipt_email: Option<String>,
    pub(crate) payment_intent: Option<String>,
    pub(crate) payment_method: String,
    pub(crate) balance_transaction: Option<String>,
    pub(crate) description: Option<String>,
    /// `succeeded`, `failed` or `pending`.
    pub(crate) status: &'static str,
    pub(crate) failure_code: Option<&'static str>,
    pub(crate) card: Card,
    pub(crate) metadata: Metadata,
}

impl Charge {
    pub(crate) fn refunded(&self) -> bool {
        self.amount_refunded >= self.amount && self.amount > 0
    }
}

impl Listed for Charge {
    const KIND: &'static str = "charge";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn to_json(&self) -> Value {
        let succeeded = self.status == "succeeded";
        let (network_status, outcome_type, seller_message) = match self.status {
            "succeeded" => ("approved_by_network", "authorized", "Payment complete."),
            "failed" => ("declined_by_network", "issuer_declined", "The bank did not return any further details."),
            _ => ("approved_by_network", "authorized", "Payment pending."),
        };
        json!({
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": if succeeded { self.amount } else { 0 },
            "amount_refunded": self.amount_refunded,
            "application": null,
            "application_fee": null,
            "application_fee_amount": null,
            "balance_transaction": self.balance_transaction,
            "billing_details": {"address": null, "email": self.receipt_email, "name": self.billing_name, "phone": null},
            "calculated_statement_descriptor": "DEMO COFFEE",
            "captured": succeeded,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "disputed": false,
            "failure_balance_transaction": null,
            "failure_code": self.failure_code,
            "failure_message": self.failure_code.map(|_| "Your card was declined."),
            "fraud_details": {},
            "invoice": null,
            "livemode": false,
            "metadata": self.metadata,
            "on_behalf_of": null,
            "outcome": {
                "network_status": network_status,
                "reason": self.failure_code.map(|_| "generic_decline"),
                "risk_level": "normal",
                "seller_message": seller_message,
                "type": outcome_type,
            },
            "paid": succeeded,
            "payment_intent": self.payment_intent,
            "payment_method": self.payment_method,
            "payment_method_details": {"type": "card", "card": {
                "brand": self.card.brand,
                "country": "US",
                "exp_month": self.card.exp_month,
                "exp_year": self.card.exp_year,
                "funding": self.card.funding,
                "last4": self.card.last4,
                "network": self.card.brand,
            }},
            "receipt_email": self.receipt_email,
            "receipt_url": format!("https://pay.stripe.com/receipts/payment/{}", self.id),
            "refunded": self.refunded(),
            "review": null,
            "shipping": null,
            "source_transfer": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": self.status,
            "transfer_data": null,
            "transfer_group": null,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct PaymentIntent {
    pub(crate) id: String,
    pub(crate) created: i64,
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) customer: Option<String>,
    pub(crate) description: Option<String>,
    /// `succeeded`, `requires_payment_method`, `processing` or `canceled`.
    pub(crate) status: &'static str,
    pub(crate) latest_charge: Option<String>,
    pub(crate) payment_method: Option<String>,
    pub(crate) canceled_at: Option<i64>,
    pub(crate) metadata: Metadata,
}

impl Listed for PaymentIntent {
    const KIND: &'static str = "payment_intent";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": 0,
            "amount_received": if self.status == "succeeded" { self.amount } else { 0 },
            "application": null,
            "automatic_payment_methods": {"allow_redirects": "always", "enabled": true},
            "canceled_at": self.canceled_at,
            "cancellation_reason": self.canceled_at.map(|_| "abandoned"),
            "capture_method": "automatic",
            "client_secret": format!("{}_secret_sandbox", self.id),
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "last_payment_error": null,
            "latest_charge": self.latest_charge,
            "livemode": false,
            "metadata": self.metadata,
            "next_action": null,
            "payment_method": self.payment_method,
            "payment_method_types": ["card"],
            "receipt_email": null,
            "setup_future_usage": null,
            "shipping": null,
            "statement_descriptor": null,
            "status": self.status,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Invoice {
    pub(crate) id: String,
    pub(crate) created: i64,
    pub(crate) customer: String,
    pub(crate) customer_email: Option<String>,
    pub(crate) customer_name: Option<String>,
    pub(crate) number: Option<String>,
    /// `draft`, `open`, `paid`, `void` or `uncollectible`.
    pub(crate) status: &'static str,
    pub(crate) collection_method: &'static str,
    pub(crate) subtotal: i64,
    pub(crate) tax: i64,
    pub(crate) amount_paid: i64,
    pub(crate) currency: String,
    pub(crate) description: String,
    pub(crate) due_date: Option<i64>,
    pub(crate) finalized_at: Option<i64>,
    pub(crate) paid_at: Option<i64>,
    pub(crate) voided_at: Option<i64>,
    pub(crate) line_id: String,
    pub(crate) metadata: Metadata,
}

impl Invoice {
    fn total(&self) -> i64 {
        self.subtotal + self.tax
    }
}

impl Listed for Invoice {
    const KIND: &'static str = "invoice";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn to_json(&self) -> Value {
        let total = self.total();
        let remaining = match self.status {
            "open" | "uncollectible" => total - self.amount_paid,
            _ => 0,
        };
        let hosted = self.finalized_at.map(|_| format!("https://invoice.stripe.com/i/sandbox/{}", self.id));
        json!({
            "id": self.id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Demo Coffee Roasters",
            "amount_due": total,
            "amount_overpaid": 0,
            "amount_paid": self.amount_paid,
            "amount_remaining": remaining,
            "amount_shipping": 0,
            "attempt_count": if self.status == "paid" { 1 } else { 0 },
            "attempted": self.status == "paid",
            "auto_advance": self.status == "draft" || self.status == "open",
            "billing_reason": "manual",
            "collection_method": self.collection_method,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "customer_email": self.customer_email,
            "customer_name": self.customer_name,
            "description": self.description,
            "due_date": self.due_date,
            "hosted_invoice_url": hosted,
            "invoice_pdf": hosted.as_ref().map(|url| format!("{url}/pdf")),
            "lines": {
                "object": "list",
                "data": [{
                    "id": self.line_id,
                    "object": "line_item",
                    "amount": self.subtotal,
                    "currency": self.currency,
                    "description": self.description,
                    "invoice": self.id,
                    "livemode": false,
                    "metadata": {},
                    "period": {"end": self.created, "start": self.created},
                    "quantity": 1,
                }],
                "has_more": false,
                "total_count": 1,
                "url": format!("/v1/invoices/{}/lines", self.id),
            },
            "livemode": false,
            "metadata": self.metadata,
            "number": self.number,
            "paid": self.status == "paid",
            "period_end": self.created,
            "period_start": self.created,
            "status": self.status,
            "status_transitions": {
                "finalized_at": self.finalized_at,
                "marked_uncollectible_at": null,
                "paid_at": self.paid_at,
                "voided_at": self.voided_at,
            },
            "subtotal": self.subtotal,
            "tax": self.tax,
            "total": total,
            "webhooks_delivered_at": self.created,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Refund {
    pub(crate) id: String,
    pub(crate) created: i64,
    pub(crate) amount: i64,
    pub(crate) charge: String,
    pub(crate) payment_intent: Option<String>,
    pub(crate) currency: String,
    pub(crate) reason: Option<String>,
    pub(crate) balance_transaction: String,
    pub(crate) metadata: Metadata,
}

impl Listed for Refund {
    const KIND: &'static str = "refund";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": self.balance_transaction,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "destination_details": {"card": {"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"}, "type": "card"},
            "metadata": self.metadata,
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "succeeded",
            "transfer_reversal": null,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) created: i64,
    pub(crate) kind: String,
    pub(crate) account: String,
    pub(crate) object: Value,
    pub(crate) previous_attributes: Option<Value>,
    pub(crate) request_id: Option<String>,
    pub(crate) idempotency_key: Option<String>,
}

impl Listed for Event {
    const KIND: &'static str = "event";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn to_json(&self) -> Value {
        let mut data = json!({"object": self.object});
        if let Some(previous) = &self.previous_attributes {
            data["previous_attributes"] = previous.clone();
        }
        json!({
            "id": self.id,
            "object": "event",
            "account": self.account,
            "api_version": DEFAULT_API_VERSION,
            "created": self.created,
            "data": data,
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": self.request_id, "idempotency_key": self.idempotency_key},
            "type": self.kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str, created: i64) -> Customer {
        Customer {
            id: id.into(),
            created,
            email: None,
            name: None,
            description: None,
            phone: None,
            invoice_prefix: "ABC".into(),
            metadata: Metadata::new(),
        }
    }

    #[test]
    fn collections_keep_list_order_and_find_by_id() {
        let mut c = Collection::from_items(vec![customer("cus_a", 10), customer("cus_c", 30), customer("cus_b", 30)]);
        c.insert(customer("cus_d", 20));
        let ids: Vec<&str> = c.items().iter().map(|i| i.id()).collect();
        assert_eq!(ids, ["cus_c", "cus_b", "cus_d", "cus_a"]);
        assert_eq!(c.get("cus_d").map(|x| x.created), Some(20));
        assert!(c.get("cus_x").is_none());
        assert_eq!(c.key_of("cus_b"), Some((30, "cus_b".to_owned())));
        assert_eq!(c.len(), 4);
    }
}
