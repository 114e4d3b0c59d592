//! The demo Stripe account's data, generated from the seed: per unit of scale 200 customers, 300 payment intents,
//! 500 charges (one per attempted payment intent, the rest direct charges), 40 refunds, 120 invoices, and the
//! events of the last 30 days before the epoch. Each collection draws from its own PRNG stream.

use serde_json::json;

use super::objects::{
    Account, Card, Charge, Collection, Customer, Event, Invoice, Listed, Metadata, PaymentIntent, Refund,
};
use crate::clock::{DATA_WINDOW, epoch};
use crate::names::{FIRST_NAMES, LAST_NAMES, PRODUCT_ADJECTIVES, PRODUCT_NOUNS};
use crate::prng::Rng;

pub(crate) const CUSTOMERS: usize = 200;
pub(crate) const CHARGES: usize = 500;
pub(crate) const INVOICES: usize = 120;
pub(crate) const PAYMENT_INTENTS: usize = 300;
pub(crate) const REFUNDS: usize = 40;

/// Events are generated for changes in the last 30 days before the epoch (Stripe keeps 30 days of events).
const EVENT_WINDOW: i64 = 30 * 86_400;

/// `prefix_` + 24 base62 characters, like Stripe's ids.
pub(crate) fn stripe_id(rng: &mut Rng, prefix: &str) -> String {
    format!("{prefix}_{}", rng.base62(24))
}

/// Generates the demo account `id` at `scale`.
pub(crate) fn demo_account(id: &str, seed: u64, scale: u32) -> Account {
    let scale = scale.max(1) as usize;
    let start = epoch() - DATA_WINDOW;
    let mut account = Account::empty(id, "Demo Coffee Roasters", "owner@demo-coffee.example", start - 400 * 86_400);
    let mut events = Vec::new();

    let customers = customers(seed, CUSTOMERS * scale, start);
    for customer in customers.iter().filter(|c| c.created >= epoch() - EVENT_WINDOW) {
        events.push(("customer.created", customer.created, customer.to_json(), None));
    }

    let (payment_intents, mut charges) = payments(seed, PAYMENT_INTENTS * scale, CHARGES * scale, &customers, start);
    for charge in charges.iter().filter(|c| c.created >= epoch() - EVENT_WINDOW) {
        let kind = match charge.status {
            "succeeded" => "charge.succeeded",
            "failed" => "charge.failed",
            _ => "charge.pending",
        };
        events.push((kind, charge.created, charge.to_json(), None));
    }
    for intent in payment_intents.iter().filter(|p| p.created >= epoch() - EVENT_WINDOW && p.status == "succeeded") {
        events.push(("payment_intent.succeeded", intent.created, intent.to_json(), None));
    }

    let refunds = refunds(seed, REFUNDS * scale, &mut charges);
    for refund in refunds.iter().filter(|r| r.created >= epoch() - EVENT_WINDOW) {
        if let Some(charge) = charges.iter().find(|c| c.id == refund.charge) {
            let previous = json!({"amount_refunded": charge.amount_refunded - refund.amount, "refunded": false});
            events.push(("charge.refunded", refund.created, charge.to_json(), Some(previous)));
        }
    }

    let invoices = invoices(seed, INVOICES * scale, &customers, start);
    for invoice in invoices.iter().filter(|i| i.status == "paid") {
        if let Some(paid_at) = invoice.paid_at.filter(|at| *at >= epoch() - EVENT_WINDOW) {
            events.push(("invoice.paid", paid_at, invoice.to_json(), None));
        }
    }

    let mut rng = Rng::stream(seed, "stripe/events");
    account.events = Collection::from_items(
        events
            .into_iter()
            .map(|(kind, created, object, previous_attributes)| Event {
                id: stripe_id(&mut rng, "evt"),
                created: (created + rng.range(0, 3)).min(epoch() - 1),
                kind: kind.to_owned(),
                account: id.to_owned(),
                object,
                previous_attributes,
                request_id: None,
                idempotency_key: None,
            })
            .collect(),
    );
    account.customers = Collection::from_items(customers);
    account.payment_intents = Collection::from_items(payment_intents);
    account.charges = Collection::from_items(charges);
    account.refunds = Collection::from_items(refunds);
    account.invoices = Collection::from_items(invoices);
    account
}

fn customers(seed: u64, count: usize, start: i64) -> Vec<Customer> {
    let mut rng = Rng::stream(seed, "stripe/customers");
    (0..count)
        .map(|i| {
            let first = *rng.pick(FIRST_NAMES);
            let last = *rng.pick(LAST_NAMES);
            Customer {
                id: stripe_id(&mut rng, "cus"),
                created: rng.range(start, epoch() - 86_400),
                email: Some(format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), i + 1)),
                name: Some(format!("{first} {last}")),
                description: rng.percent(20).then(|| "Wholesale account".to_owned()),
                phone: rng.percent(60).then(|| format!("+1555{:07}", rng.below(10_000_000))),
                invoice_prefix: rng.base62(8).to_uppercase(),
                metadata: Metadata::new(),
            }
        })
        .collect()
}

fn card(rng: &mut Rng) -> Card {
    Card {
        brand: rng.pick(&["visa", "visa", "mastercard", "amex", "discover"]).to_owned(),
        last4: format!("{:04}", rng.below(10_000)),
        exp_month: rng.range(1, 13) as u32,
        exp_year: rng.range(2027, 2032) as u32,
        funding: rng.pick(&["credit", "credit", "debit"]).to_owned(),
    }
}

fn description(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(PRODUCT_ADJECTIVES), rng.pick(PRODUCT_NOUNS))
}

/// Payment intents, and exactly `charge_count` charges: one for each intent that got as far as a charge, then
/// direct charges for the rest.
fn payments(
    seed: u64,
    intent_count: usize,
    charge_count: usize,
    customers: &[Customer],
    start: i64,
) -> (Vec<PaymentIntent>, Vec<Charge>) {
    let mut rng = Rng::stream(seed, "stripe/payments");
    let mut intents = Vec::with_capacity(intent_count);
    let mut charges = Vec::with_capacity(charge_count);
    for _ in 0..intent_count {
        let customer = (!customers.is_empty() && rng.percent(85)).then(|| rng.pick(customers));
        let created = rng.range(customer.map_or(start, |c| c.created.max(start)), epoch() - 60);
        let amount = rng.range(100, 5_000) * 5;
        let roll = rng.below(100);
        let status = match roll {
            0..88 => "succeeded",
            88..94 => "requires_payment_method",
            94..97 => "processing",
            _ => "canceled",
        };
        let id = stripe_id(&mut rng, "pi");
        let payment_method = stripe_id(&mut rng, "pm");
        let description = description(&mut rng);
        let latest_charge = (status != "canceled" && charges.len() < charge_count).then(|| {
            let charge = Charge {
                id: stripe_id(&mut rng, "ch"),
                created: created + rng.range(1, 30),
                amount,
                amount_refunded: 0,
                currency: "usd".to_owned(),
                customer: customer.map(|c| c.id.clone()),
                billing_name: customer.and_then(|c| c.name.clone()),
                receipt_email: customer.and_then(|c| c.email.clone()),
                payment_intent: Some(id.clone()),
                payment_method: payment_method.clone(),
                balance_transaction: (status == "succeeded").then(|| stripe_id(&mut rng, "txn")),
                description: Some(description.clone()),
                status: match status {
                    "succeeded" => "succeeded",
                    "processing" => "pending",
                    _ => "failed",
                },
                failure_code: (status == "requires_payment_method").then_some("card_declined"),
                card: card(&mut rng),
                metadata: Metadata::new(),
            };
            let charge_id = charge.id.clone();
            charges.push(charge);
            charge_id
        });
        intents.push(PaymentIntent {
            id,
            created,
            amount,
            currency: "usd".to_owned(),
            customer: customer.map(|c| c.id.clone()),
            description: Some(description),
            status,
            latest_charge,
            payment_method: (status != "requires_payment_method").then_some(payment_method),
            canceled_at: (status == "canceled").then(|| created + 3_600),
            metadata: Metadata::new(),
        });
    }
    while charges.len() < charge_count {
        let customer = (!customers.is_empty() && rng.percent(70)).then(|| rng.pick(customers));
        let created = rng.range(customer.map_or(start, |c| c.created.max(start)), epoch() - 60);
        let succeeded = rng.percent(92);
        charges.push(Charge {
            id: stripe_id(&mut rng, "ch"),
            created,
            amount: rng.range(100, 5_000) * 5,
            amount_refunded: 0,
            currency: "usd".to_owned(),
            customer: customer.map(|c| c.id.clone()),
            billing_name: customer.and_then(|c| c.name.clone()),
            receipt_email: customer.and_then(|c| c.email.clone()),
            payment_intent: None,
            payment_method: stripe_id(&mut rng, "card"),
            balance_transaction: succeeded.then(|| stripe_id(&mut rng, "txn")),
            description: Some(description(&mut rng)),
            status: if succeeded { "succeeded" } else { "failed" },
            failure_code: (!succeeded).then_some("card_declined"),
            card: card(&mut rng),
            metadata: Metadata::new(),
        });
    }
    (intents, charges)
}

/// `count` refunds of distinct succeeded charges (full or partial), applied to those charges.
fn refunds(seed: u64, count: usize, charges: &mut [Charge]) -> Vec<Refund> {
    let mut rng = Rng::stream(seed, "stripe/refunds");
    let mut refunds = Vec::with_capacity(count);
    let refundable = charges.iter().filter(|c| c.status == "succeeded").count();
    let count = count.min(refundable);
    while refunds.len() < count {
        let at = rng.below(charges.len() as u64) as usize;
        let charge = &mut charges[at];
        if charge.status != "succeeded" || charge.amount_refunded > 0 {
            continue;
        }
        let amount = if rng.percent(60) { charge.amount } else { rng.range(1, charge.amount / 100 + 1) * 100 };
        let amount = amount.clamp(1, charge.amount);
        charge.amount_refunded = amount;
        refunds.push(Refund {
            id: stripe_id(&mut rng, "re"),
            created: rng.range(charge.created + 3_600, epoch()).min(epoch() - 1),
            amount,
            charge: charge.id.clone(),
            payment_intent: charge.payment_intent.clone(),
            currency: charge.currency.clone(),
            reason: Some((*rng.pick(&["requested_by_customer", "requested_by_customer", "duplicate"])).to_owned()),
            balance_transaction: stripe_id(&mut rng, "txn"),
            metadata: Metadata::new(),
        });
    }
    refunds
}

fn invoices(seed: u64, count: usize, customers: &[Customer], start: i64) -> Vec<Invoice> {
    let mut rng = Rng::stream(seed, "stripe/invoices");
    let mut sequence = std::collections::HashMap::<String, u32>::new();
    if customers.is_empty() {
        return Vec::new();
    }
    (0..count)
        .map(|_| {
            let customer = rng.pick(customers);
            let created = rng.range(customer.created.max(start), epoch() - 60);
            let status = match rng.below(100) {
                0..55 => "paid",
                55..80 => "open",
                80..90 => "draft",
                90..95 => "void",
                _ => "uncollectible",
            };
            let subtotal = rng.range(20, 4_000) * 50;
            let tax = subtotal * 8 / 100;
            let finalized = status != "draft";
            let number = finalized.then(|| {
                let n = sequence.entry(customer.id.clone()).or_default();
                *n += 1;
                format!("{}-{:04}", customer.invoice_prefix, n)
            });
            let collection_method =
                if status == "open" && rng.percent(70) { "send_invoice" } else { "charge_automatically" };
            Invoice {
                id: stripe_id(&mut rng, "in"),
                created,
                customer: customer.id.clone(),
                customer_email: customer.email.clone(),
                customer_name: customer.name.clone(),
                number,
                status,
                collection_method,
                subtotal,
                tax,
                amount_paid: if status == "paid" { subtotal + tax } else { 0 },
                currency: "usd".to_owned(),
                description: format!("Wholesale order: {}", description(&mut rng)),
                due_date: (collection_method == "send_invoice").then_some(created + 30 * 86_400),
                finalized_at: finalized.then_some(created + 60),
                paid_at: (status == "paid").then(|| rng.range(created + 60, epoch()).min(epoch() - 1)),
                voided_at: (status == "void").then_some(created + 86_400),
                line_id: stripe_id(&mut rng, "il"),
                metadata: Metadata::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_account_has_the_documented_sizes() {
        let account = demo_account("acct_x", 42, 1);
        assert_eq!(account.customers.len(), CUSTOMERS);
        assert_eq!(account.charges.len(), CHARGES);
        assert_eq!(account.invoices.len(), INVOICES);
        assert_eq!(account.payment_intents.len(), PAYMENT_INTENTS);
        assert_eq!(account.refunds.len(), REFUNDS);
        assert!(account.events.len() > 50);
        assert!(account.invoices.items().iter().any(|i| i.status == "open"));
        let refunded: i64 = account.charges.items().iter().map(|c| c.amount_refunded).sum();
        let refunds: i64 = account.refunds.items().iter().map(|r| r.amount).sum();
        assert_eq!(refunded, refunds);
    }

    #[test]
    fn data_lies_in_the_window_and_scales() {
        let account = demo_account("acct_x", 7, 2);
        assert_eq!(account.charges.len(), 2 * CHARGES);
        assert!(account.charges.items().iter().all(|c| c.created >= epoch() - DATA_WINDOW && c.created < epoch()));
        assert!(account.charges.items().iter().all(|c| c.id.starts_with("ch_") && c.id.len() == 27));
    }

    #[test]
    fn one_seed_one_dataset() {
        let a = demo_account("acct_x", 9, 1);
        let b = demo_account("acct_x", 9, 1);
        let c = demo_account("acct_x", 10, 1);
        let first = |acc: &Account| acc.charges.items()[0].to_json();
        assert_eq!(first(&a), first(&b));
        assert_ne!(first(&a), first(&c));
    }
}
