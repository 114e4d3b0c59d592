//! Stripe writes — `POST /v1/refunds`, `POST /v1/customers`, `POST /v1/invoices/{id}/send` — with form-encoded
//! bodies (nested keys like `metadata[order]`), the events they record, and `Idempotency-Key` handling:
//!
//! - keys are per account; the first response of a key (successes and 5xx; not validation errors) is stored;
//! - the same key with the same body replays it with `Idempotent-Replayed: true` and `Original-Request`;
//! - the same key with another body (or endpoint) is an `idempotency_error`.
//!
//! Events recorded by API writes are also posted to the Stripe webhook target, when one is set.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::demo::stripe_id;
use super::error::StripeError;
use super::objects::{Account, Customer, Event, Listed, Metadata, Refund};
use super::{Caller, authenticate};
use crate::Provider;
use crate::gate::RequestId;
use crate::prng::Rng;
use crate::state::{Shared, lock};

/// The first response given to an idempotency key.
#[derive(Debug, Clone)]
pub(crate) struct StoredResponse {
    fingerprint: String,
    status: StatusCode,
    body: Value,
    request_id: String,
}

/// What a write may touch: one account, the id generator, and the events it records.
pub(crate) struct WriteContext<'a> {
    pub(crate) account: &'a mut Account,
    pub(crate) ids: &'a mut Rng,
    pub(crate) now: i64,
    pub(crate) request_id: Option<String>,
    pub(crate) idempotency_key: Option<String>,
    /// Events recorded by this write, in order.
    pub(crate) events: Vec<Value>,
}

impl WriteContext<'_> {
    fn event(&mut self, kind: &str, object: Value, previous_attributes: Option<Value>) {
        let event = Event {
            id: stripe_id(self.ids, "evt"),
            created: self.now,
            kind: kind.to_owned(),
            account: self.account.id.clone(),
            object,
            previous_attributes,
            request_id: self.request_id.clone(),
            idempotency_key: self.idempotency_key.clone(),
        };
        self.events.push(event.to_json());
        self.account.events.insert(event);
    }
}

/// A refund request.
#[derive(Debug, Default)]
pub(crate) struct RefundRequest {
    pub(crate) charge: Option<String>,
    pub(crate) payment_intent: Option<String>,
    pub(crate) amount: Option<i64>,
    pub(crate) reason: Option<String>,
    pub(crate) metadata: Metadata,
}

/// Refunds (part of) a charge: records a refund, updates the charge's `amount_refunded`/`refunded`, and records
/// `charge.refunded` then `refund.created`. Returns the refund.
pub(crate) fn refund(ctx: &mut WriteContext<'_>, request: RefundRequest) -> Result<Value, StripeError> {
    let charge_id = match (&request.charge, &request.payment_intent) {
        (Some(charge), _) => charge.clone(),
        (None, Some(intent)) => {
            let intent = ctx
                .account
                .payment_intents
                .get(intent)
                .ok_or_else(|| StripeError::no_such("payment_intent", intent, "payment_intent"))?;
            intent.latest_charge.clone().ok_or_else(|| {
                StripeError::invalid_request(
                    None,
                    format!("This PaymentIntent ({}) does not have a successful charge to refund.", intent.id),
                )
            })?
        }
        (None, None) => {
            return Err(StripeError::invalid_request(
                Some("parameter_missing"),
                "One of the following params should be provided for this request: payment_intent or charge.".to_owned(),
            ));
        }
    };
    if let Some(reason) = &request.reason
        && !["duplicate", "fraudulent", "requested_by_customer"].contains(&reason.as_str())
    {
        return Err(StripeError::invalid_param(
            "reason",
            "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer".to_owned(),
        ));
    }
    let charge =
        ctx.account.charges.get_mut(&charge_id).ok_or_else(|| StripeError::no_such("charge", &charge_id, "charge"))?;
    if charge.status != "succeeded" {
        return Err(StripeError::invalid_request(
            None,
            format!("Charge {charge_id} has not been captured or has failed, so it cannot be refunded."),
        ));
    }
    let remaining = charge.amount - charge.amount_refunded;
    if remaining <= 0 {
        return Err(StripeError::already_refunded(&charge_id, None, None));
    }
    let amount = request.amount.unwrap_or(remaining);
    if amount < 1 {
        return Err(StripeError::invalid_param("amount", "Invalid positive integer".to_owned()));
    }
    if amount > remaining {
        return Err(StripeError::already_refunded(
            &charge_id,
            Some("amount"),
            Some(format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({}).",
                dollars(amount),
                dollars(remaining)
            )),
        ));
    }
    let previous = json!({"amount_refunded": charge.amount_refunded, "refunded": charge.refunded()});
    charge.amount_refunded += amount;
    let charge_json = charge.to_json();
    let refund = Refund {
        id: stripe_id(ctx.ids, "re"),
        created: ctx.now,
        amount,
        charge: charge_id,
        payment_intent: charge.payment_intent.clone(),
        currency: charge.currency.clone(),
        reason: request.reason,
        balance_transaction: stripe_id(ctx.ids, "txn"),
        metadata: request.metadata,
    };
    let refund_json = refund.to_json();
    ctx.account.refunds.insert(refund);
    ctx.event("charge.refunded", charge_json, Some(previous));
    ctx.event("refund.created", refund_json.clone(), None);
    Ok(refund_json)
}

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// Runs a write for the caller: authentication, permissions, idempotency, then `op` under the data lock.
fn execute(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    request_id: &str,
    route: &str,
    permission: &str,
    body: &[u8],
    op: impl FnOnce(&mut WriteContext<'_>, &[(String, String)]) -> Result<Value, StripeError>,
) -> Response {
    let caller: Caller = match authenticate(shared, headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if caller.read_only {
        return StripeError::missing_permission(&caller.key, &caller.account, permission).into_response();
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let fingerprint = format!("{route}\n{}", String::from_utf8_lossy(body));
    let now = shared.clock.now();
    let (response, events) = {
        let mut data = lock(&shared.stripe);
        let data = &mut *data;
        if let Some(key) = &key
            && let Some(stored) = data.idempotency.get(&(caller.account.clone(), key.clone()))
        {
            if stored.fingerprint != fingerprint {
                return StripeError::idempotency_mismatch(key).into_response();
            }
            let mut response = (stored.status, axum::Json(stored.body.clone())).into_response();
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            if let Ok(original) = HeaderValue::from_str(&stored.request_id) {
                response.headers_mut().insert("original-request", original);
            }
            return response;
        }
        let Some(account) = data.accounts.get_mut(&caller.account) else {
            return StripeError::no_account_access(&caller.key, &caller.account).into_response();
        };
        let mut ctx = WriteContext {
            account,
            ids: &mut data.ids,
            now,
            request_id: Some(request_id.to_owned()),
            idempotency_key: key.clone(),
            events: Vec::new(),
        };
        let (status, body) = match op(&mut ctx, &params) {
            Ok(body) => (StatusCode::OK, body),
            Err(error) => (error.status(), error.body()),
        };
        let events = std::mem::take(&mut ctx.events);
        if let Some(key) = key
            && (status.is_success() || status.is_server_error())
        {
            data.idempotency.insert(
                (caller.account.clone(), key),
                StoredResponse { fingerprint, status, body: body.clone(), request_id: request_id.to_owned() },
            );
        }
        ((status, axum::Json(body)).into_response(), events)
    };
    for event in &events {
        shared.send_in_background(Provider::Stripe, crate::webhooks::stripe_delivery(&shared.apps, event));
    }
    response
}

/// Splits form parameters into known scalars, `metadata[...]`, and refuses anything else.
#[allow(clippy::type_complexity)] // form pairs and the metadata parsed out of them
fn parse_form<'a>(
    params: &'a [(String, String)],
    allowed: &[&str],
) -> Result<(Vec<(&'a str, &'a str)>, Metadata), StripeError> {
    let mut scalars = Vec::new();
    let mut metadata = Metadata::new();
    for (key, value) in params {
        if let Some(inner) = key.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')) {
            metadata.insert(inner.to_owned(), value.clone());
        } else if key == "expand" || key.starts_with("expand[") || key == "metadata" {
        } else if allowed.contains(&key.as_str()) {
            scalars.push((key.as_str(), value.as_str()));
        } else {
            return Err(StripeError::unknown_parameter(key));
        }
    }
    Ok((scalars, metadata))
}

fn scalar<'a>(scalars: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    scalars.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

pub(super) async fn create_refund(
    State(shared): State<Arc<Shared>>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    execute(&shared, &headers, &request_id.0, "POST /v1/refunds", "rak_refund_write", &body, |ctx, params| {
        let (scalars, metadata) = parse_form(
            params,
            &[
                "charge",
                "payment_intent",
                "amount",
                "reason",
                "instructions_email",
                "refund_application_fee",
                "reverse_transfer",
            ],
        )?;
        let amount = match scalar(&scalars, "amount") {
            Some(text) => Some(text.parse::<i64>().map_err(|_| StripeError::invalid_integer("amount", text))?),
            None => None,
        };
        let request = RefundRequest {
            charge: scalar(&scalars, "charge").map(str::to_owned),
            payment_intent: scalar(&scalars, "payment_intent").map(str::to_owned),
            amount,
            reason: scalar(&scalars, "reason").map(str::to_owned),
            metadata,
        };
        refund(ctx, request)
    })
}

pub(super) async fn create_customer(
    State(shared): State<Arc<Shared>>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    execute(&shared, &headers, &request_id.0, "POST /v1/customers", "rak_customer_write", &body, |ctx, params| {
        let (scalars, metadata) = parse_form(params, &["email", "name", "description", "phone"])?;
        let email = scalar(&scalars, "email").filter(|e| !e.is_empty());
        if let Some(email) = email
            && !email.contains('@')
        {
            return Err(StripeError::invalid_param("email", format!("Invalid email address: {email}")));
        }
        let customer = Customer {
            id: stripe_id(ctx.ids, "cus"),
            created: ctx.now,
            email: email.map(str::to_owned),
            name: scalar(&scalars, "name").map(str::to_owned),
            description: scalar(&scalars, "description").map(str::to_owned),
            phone: scalar(&scalars, "phone").map(str::to_owned),
            invoice_prefix: ctx.ids.base62(8).to_uppercase(),
            metadata,
        };
        let json = customer.to_json();
        ctx.account.customers.insert(customer);
        ctx.event("customer.created", json.clone(), None);
        Ok(json)
    })
}

pub(super) async fn send_invoice(
    State(shared): State<Arc<Shared>>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let route = format!("POST /v1/invoices/{id}/send");
    execute(&shared, &headers, &request_id.0, &route, "rak_invoice_write", &body, |ctx, params| {
        parse_form(params, &[])?;
        let invoice = ctx.account.invoices.get(&id).ok_or_else(|| StripeError::no_such("invoice", &id, "id"))?;
        if invoice.status != "open" {
            return Err(StripeError::invalid_request(
                Some("invoice_not_open"),
                format!(
                    "You can only send an invoice that is open. Invoice {id} has status '{}'; finalize it first.",
                    invoice.status
                ),
            ));
        }
        let json = invoice.to_json();
        ctx.event("invoice.sent", json.clone(), None);
        Ok(json)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::demo::demo_account;

    fn context<'a>(account: &'a mut Account, ids: &'a mut Rng) -> WriteContext<'a> {
        WriteContext { account, ids, now: 2_000_000_000, request_id: None, idempotency_key: None, events: Vec::new() }
    }

    #[test]
    fn refunds_update_the_charge_and_record_events() {
        let mut account = demo_account("acct_t", 42, 1);
        let mut ids = Rng::new(1);
        let mut ctx = context(&mut account, &mut ids);
        let charge = ctx.account.charges.items().iter().find(|c| c.status == "succeeded" && c.amount_refunded == 0);
        let (charge_id, amount) = charge.map(|c| (c.id.clone(), c.amount)).unwrap();
        let request = RefundRequest { charge: Some(charge_id.clone()), amount: Some(100), ..Default::default() };
        let refund_json = refund(&mut ctx, request).unwrap();
        assert_eq!(refund_json["amount"], 100);
        assert_eq!(ctx.events.len(), 2);
        assert_eq!(ctx.events[0]["type"], "charge.refunded");
        assert_eq!(ctx.events[0]["data"]["object"]["amount_refunded"], 100);
        assert_eq!(ctx.events[0]["data"]["previous_attributes"]["amount_refunded"], 0);
        let rest = refund(&mut ctx, RefundRequest { charge: Some(charge_id.clone()), ..Default::default() }).unwrap();
        assert_eq!(rest["amount"], amount - 100);
        assert_eq!(ctx.account.charges.get(&charge_id).unwrap().to_json()["refunded"], true);
        let again = refund(&mut ctx, RefundRequest { charge: Some(charge_id), ..Default::default() }).unwrap_err();
        assert_eq!(again.body()["error"]["code"], "charge_already_refunded");
    }

    #[test]
    fn refunds_check_their_parameters() {
        let mut account = demo_account("acct_t", 42, 1);
        let mut ids = Rng::new(1);
        let mut ctx = context(&mut account, &mut ids);
        let charge = ctx.account.charges.items().iter().find(|c| c.status == "succeeded" && c.amount_refunded == 0);
        let (charge_id, amount) = charge.map(|c| (c.id.clone(), c.amount)).unwrap();
        let too_much =
            RefundRequest { charge: Some(charge_id.clone()), amount: Some(amount + 1), ..Default::default() };
        let error = refund(&mut ctx, too_much).unwrap_err();
        assert_eq!(error.body()["error"]["code"], "charge_already_refunded");
        assert_eq!(error.body()["error"]["param"], "amount");
        let error = refund(&mut ctx, RefundRequest::default()).unwrap_err();
        assert_eq!(error.status(), 400);
        let missing = RefundRequest { charge: Some("ch_nope".into()), ..Default::default() };
        assert_eq!(refund(&mut ctx, missing).unwrap_err().body()["error"]["code"], "resource_missing");
        let bad_reason = RefundRequest { charge: Some(charge_id), reason: Some("bored".into()), ..Default::default() };
        assert_eq!(refund(&mut ctx, bad_reason).unwrap_err().body()["error"]["param"], "reason");
        assert!(ctx.events.is_empty());
    }

    #[test]
    fn forms_split_metadata_and_refuse_unknown_keys() {
        let params = vec![
            ("email".to_owned(), "a@b.c".to_owned()),
            ("metadata[order]".to_owned(), "1001".to_owned()),
            ("expand[]".to_owned(), "x".to_owned()),
        ];
        let (scalars, metadata) = parse_form(&params, &["email"]).unwrap();
        assert_eq!(scalar(&scalars, "email"), Some("a@b.c"));
        assert_eq!(metadata["order"], "1001");
        let error = parse_form(&[("colour".to_owned(), "red".to_owned())], &["email"]).unwrap_err();
        assert_eq!(error.body()["error"]["param"], "colour");
    }
}
