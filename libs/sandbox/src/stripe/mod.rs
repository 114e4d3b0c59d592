//! The Stripe fake: the `/v1` API under `{base}/stripe` and Connect OAuth under `{base}/stripe-connect`.
//!
//! Keys: [`DEMO_STRIPE_KEY`] (and the read-only [`DEMO_STRIPE_RESTRICTED_KEY`]) act on the demo account; the
//! platform key acts on the account named by `Stripe-Account` (the platform's own, empty account without it); access
//! tokens from Connect OAuth act on the account they were granted for. Bearer and Basic (key as user name) both
//! work. Lists and retrievals are in this file, list paging in [`list`], writes and idempotency in [`writes`].

mod connect;
mod demo;
mod error;
mod list;
mod objects;
mod writes;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

pub(crate) use self::error::StripeError;
use self::list::ListParams;
pub(crate) use self::objects::DEFAULT_API_VERSION;
use self::objects::{Account, Collection, Listed};
use self::writes::StoredResponse;
pub(crate) use self::writes::{RefundRequest, WriteContext, refund};
use crate::clock::epoch;
use crate::oauth::AccessError;
use crate::prng::Rng;
use crate::state::{Shared, lock};
use crate::{DEMO_STRIPE_ACCOUNT, DEMO_STRIPE_KEY, DEMO_STRIPE_RESTRICTED_KEY, Provider};

/// The platform's own account: what the platform key acts on without `Stripe-Account`.
pub(crate) const PLATFORM_ACCOUNT: &str = "acct_sandboxplatform";

/// Every Stripe account the sandbox knows, and the idempotency keys used on them.
#[derive(Debug)]
pub(crate) struct StripeData {
    pub(crate) accounts: HashMap<String, Account>,
    /// Stored first responses by (account, `Idempotency-Key`).
    pub(crate) idempotency: HashMap<(String, String), StoredResponse>,
    /// Ids of objects created while running (seeded, so one seed and one sequence of calls give the same ids).
    pub(crate) ids: Rng,
}

impl StripeData {
    pub(crate) fn generate(seed: u64, scale: u32) -> Self {
        let mut accounts = HashMap::new();
        accounts.insert(DEMO_STRIPE_ACCOUNT.to_owned(), demo::demo_account(DEMO_STRIPE_ACCOUNT, seed, scale));
        accounts.insert(
            PLATFORM_ACCOUNT.to_owned(),
            Account::empty(
                PLATFORM_ACCOUNT,
                "Switchboard Platform",
                "platform@switchboard.example",
                epoch() - 800 * 86_400,
            ),
        );
        Self { accounts, idempotency: HashMap::new(), ids: Rng::stream(seed, "stripe/runtime") }
    }

    /// Creates and stores an event on `account`; returns its JSON (or `None` if there is no such account).
    pub(crate) fn record_event(
        &mut self,
        account: &str,
        kind: &str,
        object: Value,
        created: i64,
        request: (Option<String>, Option<String>),
    ) -> Option<Value> {
        let id = demo::stripe_id(&mut self.ids, "evt");
        let account_data = self.accounts.get_mut(account)?;
        let event = objects::Event {
            id,
            created,
            kind: kind.to_owned(),
            account: account.to_owned(),
            object,
            previous_attributes: None,
            request_id: request.0,
            idempotency_key: request.1,
        };
        let json = event.to_json();
        account_data.events.insert(event);
        Some(json)
    }
}

/// The Stripe routes (API and Connect).
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/stripe/v1/account", get(account))
        .route("/stripe/v1/customers", get(|s, h, q| list(s, h, q, Resource::Customers)).post(writes::create_customer))
        .route("/stripe/v1/charges", get(|s, h, q| list(s, h, q, Resource::Charges)))
        .route("/stripe/v1/invoices", get(|s, h, q| list(s, h, q, Resource::Invoices)))
        .route("/stripe/v1/payment_intents", get(|s, h, q| list(s, h, q, Resource::PaymentIntents)))
        .route("/stripe/v1/refunds", get(|s, h, q| list(s, h, q, Resource::Refunds)).post(writes::create_refund))
        .route("/stripe/v1/events", get(|s, h, q| list(s, h, q, Resource::Events)))
        .route("/stripe/v1/customers/{id}", get(|s, h, p| retrieve(s, h, p, Resource::Customers)))
        .route("/stripe/v1/charges/{id}", get(|s, h, p| retrieve(s, h, p, Resource::Charges)))
        .route("/stripe/v1/invoices/{id}", get(|s, h, p| retrieve(s, h, p, Resource::Invoices)))
        .route("/stripe/v1/payment_intents/{id}", get(|s, h, p| retrieve(s, h, p, Resource::PaymentIntents)))
        .route("/stripe/v1/refunds/{id}", get(|s, h, p| retrieve(s, h, p, Resource::Refunds)))
        .route("/stripe/v1/events/{id}", get(|s, h, p| retrieve(s, h, p, Resource::Events)))
        .route("/stripe/v1/invoices/{id}/send", post(writes::send_invoice))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), crate::gate::stripe));
    api.merge(connect::routes(shared))
}

/// Who is calling: the account a key acts on.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) account: String,
    pub(crate) key: String,
    pub(crate) read_only: bool,
}

/// The key of `Authorization: Bearer <key>` or `Basic base64(<key>:)`.
fn api_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(STANDARD.decode(credentials).ok()?).ok()?;
        return Some(decoded.split_once(':').map_or(decoded.as_str(), |(user, _)| user).to_owned());
    }
    None
}

/// Resolves the caller's key and `Stripe-Account` to an existing account.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Caller, StripeError> {
    let key = api_key(headers).filter(|k| !k.is_empty()).ok_or_else(StripeError::no_key)?;
    let on_behalf =
        headers.get("stripe-account").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let (account, read_only) = if key == DEMO_STRIPE_KEY {
        (DEMO_STRIPE_ACCOUNT.to_owned(), false)
    } else if key == DEMO_STRIPE_RESTRICTED_KEY {
        (DEMO_STRIPE_ACCOUNT.to_owned(), true)
    } else if key == shared.apps.stripe_platform_key {
        (on_behalf.unwrap_or(PLATFORM_ACCOUNT).to_owned(), false)
    } else {
        match lock(&shared.grants).check(Provider::Stripe, &key) {
            Ok(grant) => (grant.account, false),
            Err(AccessError::Expired) => return Err(StripeError::expired_key(&key)),
            Err(AccessError::Unknown) => return Err(StripeError::invalid_key(&key)),
        }
    };
    if let Some(named) = on_behalf
        && named != account
    {
        return Err(StripeError::no_account_access(&key, named));
    }
    if !lock(&shared.stripe).accounts.contains_key(&account) {
        return Err(StripeError::no_account_access(&key, &account));
    }
    Ok(Caller { account, key, read_only })
}

/// The listable resources.
#[derive(Clone, Copy, Debug)]
enum Resource {
    Customers,
    Charges,
    Invoices,
    PaymentIntents,
    Refunds,
    Events,
}

impl Resource {
    fn url(self) -> &'static str {
        match self {
            Resource::Customers => "/v1/customers",
            Resource::Charges => "/v1/charges",
            Resource::Invoices => "/v1/invoices",
            Resource::PaymentIntents => "/v1/payment_intents",
            Resource::Refunds => "/v1/refunds",
            Resource::Events => "/v1/events",
        }
    }

    /// The resource-specific list filters Stripe documents (and the sandbox applies).
    fn filters(self) -> &'static [&'static str] {
        match self {
            Resource::Customers => &["email"],
            Resource::Charges => &["customer", "payment_intent"],
            Resource::Invoices => &["customer", "status", "collection_method"],
            Resource::PaymentIntents => &["customer"],
            Resource::Refunds => &["charge", "payment_intent"],
            Resource::Events => &["type", "types", "delivery_success"],
        }
    }
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect()
}

/// Whether `value` equals the wanted filter value (no filter given: everything matches).
fn matches(wanted: &[&str], value: Option<&str>) -> bool {
    wanted.is_empty() || wanted.iter().any(|w| Some(*w) == value)
}

/// An event type pattern: exact, or `charge.*`.
fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    resource: Resource,
) -> Response {
    let caller = match authenticate(&shared, &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let params = match ListParams::parse(&query_pairs(query.as_deref()), resource.filters()) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let data = lock(&shared.stripe);
    let Some(account) = data.accounts.get(&caller.account) else {
        return StripeError::no_account_access(&caller.key, &caller.account).into_response();
    };
    let url = resource.url();
    let page = match resource {
        Resource::Customers => {
            let email = params.filter("email");
            params.page(&account.customers, url, |c| matches(&email, c.email.as_deref()))
        }
        Resource::Charges => {
            let (customer, intent) = (params.filter("customer"), params.filter("payment_intent"));
            params.page(&account.charges, url, |c| {
                matches(&customer, c.customer.as_deref()) && matches(&intent, c.payment_intent.as_deref())
            })
        }
        Resource::Invoices => {
            let (customer, status, method) =
                (params.filter("customer"), params.filter("status"), params.filter("collection_method"));
            params.page(&account.invoices, url, |i| {
                matches(&customer, Some(&i.customer))
                    && matches(&status, Some(i.status))
                    && matches(&method, Some(i.collection_method))
            })
        }
        Resource::PaymentIntents => {
            let customer = params.filter("customer");
            params.page(&account.payment_intents, url, |p| matches(&customer, p.customer.as_deref()))
        }
        Resource::Refunds => {
            let (charge, intent) = (params.filter("charge"), params.filter("payment_intent"));
            params.page(&account.refunds, url, |r| {
                matches(&charge, Some(&r.charge)) && matches(&intent, r.payment_intent.as_deref())
            })
        }
        Resource::Events => {
            let (kind, kinds) = (params.filter("type"), params.filter("types"));
            if !kind.is_empty() && !kinds.is_empty() {
                return StripeError::invalid_request(
                    None,
                    "You may only specify one of these parameters: type, types.".to_owned(),
                )
                .into_response();
            }
            let patterns: Vec<&str> = kind.into_iter().chain(kinds).collect();
            params.page(&account.events, url, |e| {
                patterns.is_empty() || patterns.iter().any(|p| type_matches(p, &e.kind))
            })
        }
    };
    match page {
        Ok(page) => axum::Json(page).into_response(),
        Err(error) => error.into_response(),
    }
}

fn find<T: Listed>(collection: &Collection<T>, id: &str) -> Result<Value, StripeError> {
    collection.get(id).map(Listed::to_json).ok_or_else(|| StripeError::no_such(T::KIND, id, "id"))
}

async fn retrieve(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    resource: Resource,
) -> Response {
    let caller = match authenticate(&shared, &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let data = lock(&shared.stripe);
    let Some(account) = data.accounts.get(&caller.account) else {
        return StripeError::no_account_access(&caller.key, &caller.account).into_response();
    };
    let found = match resource {
        Resource::Customers => find(&account.customers, &id),
        Resource::Charges => find(&account.charges, &id),
        Resource::Invoices => find(&account.invoices, &id),
        Resource::PaymentIntents => find(&account.payment_intents, &id),
        Resource::Refunds => find(&account.refunds, &id),
        Resource::Events => find(&account.events, &id),
    };
    match found {
        Ok(object) => axum::Json(object).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn account(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let caller = match authenticate(&shared, &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let data = lock(&shared.stripe);
    match data.accounts.get(&caller.account) {
        Some(account) => axum::Json(account.to_json()).into_response(),
        None => StripeError::no_account_access(&caller.key, &caller.account).into_response(),
    }
}

/// Stripe's 404 for a URL it does not serve.
pub(crate) fn unrecognized(method: &str, path: &str) -> Response {
    StripeError::unrecognized_url(method, path).into_response()
}
