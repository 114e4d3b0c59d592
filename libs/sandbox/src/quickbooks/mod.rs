//! The QuickBooks Online fake under `{base}/quickbooks` (real: appcenter.intuit.com, oauth.platform.intuit.com and
//! quickbooks.api.intuit.com): OAuth in [`oauth`], and the Accounting API of the companies (realms) it knows:
//!
//! - `GET|POST /v3/company/{realm}/query`: the query language subset a sync uses ([`query`]);
//! - `GET /v3/company/{realm}/cdc?entities=..&changedSince=..`: change data capture, 30 days back at most, 1,000
//!   objects at most, deleted objects as `{"Id":..,"status":"Deleted"}`;
//! - `GET /v3/company/{realm}/{entity}/{id}` and `companyinfo/{realm}`: one object ([`api`]);
//! - `POST /v3/company/{realm}/{customer|invoice|payment}` and `POST .../invoice/{id}/send?sendTo=`: writes, with
//!   `requestid` as the idempotency key ([`writes`]).
//!
//! Every API call needs `Authorization: Bearer` with a token of that realm and `minorversion` 75 or later (Intuit
//! serves older ones as 75; the sandbox refuses them so a client that forgets is caught). Per realm at most 10
//! calls run at once and 500 a minute; beyond that the answer is Intuit's 429 `ThrottleExceeded` fault. Errors are
//! Intuit `Fault` bodies; the gate adds `intuit_tid` to every answer. The demo company ([`demo`]) sells to the demo
//! shop's customers and stocks its products, so a question across Shopify and QuickBooks has a true answer.

mod api;
mod demo;
mod oauth;
mod query;
mod writes;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset};

pub(crate) use self::writes::{ChangeError, change_entity, delete_entity};
use crate::clock::{rfc3339, wall_unix};
use crate::oauth::AccessError;
use crate::shopify::Shop;
use crate::state::{Shared, lock};
use crate::{DEMO_QUICKBOOKS_REALM, Provider};

/// The oldest `minorversion` served.
pub(crate) const MIN_MINOR_VERSION: u32 = 75;
/// Calls one realm may have running at once.
pub(crate) const CONCURRENT_PER_REALM: u32 = 10;
/// Calls one realm may make in a minute.
pub(crate) const PER_MINUTE_PER_REALM: usize = 500;

/// The entities the sandbox keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Customer,
    Invoice,
    Payment,
    Item,
    Bill,
    Vendor,
}

impl Kind {
    pub(crate) const ALL: [Kind; 6] =
        [Kind::Customer, Kind::Invoice, Kind::Payment, Kind::Item, Kind::Bill, Kind::Vendor];

    /// The entity name of queries and response keys (`Invoice`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Customer => "Customer",
            Kind::Invoice => "Invoice",
            Kind::Payment => "Payment",
            Kind::Item => "Item",
            Kind::Bill => "Bill",
            Kind::Vendor => "Vendor",
        }
    }

    /// By entity name or URL segment, any case (`Invoice`, `invoice`).
    pub(crate) fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(text))
    }
}

/// One object: its number, when it last changed (unix seconds), and its wire JSON (with `Id`, `SyncToken`,
/// `MetaData`).
#[derive(Clone, Debug)]
pub(crate) struct Entity {
    pub(crate) id: u64,
    pub(crate) updated: i64,
    pub(crate) body: Value,
}

/// A deleted object, as CDC reports it.
#[derive(Clone, Debug)]
pub(crate) struct Deleted {
    pub(crate) kind: Kind,
    pub(crate) id: u64,
    pub(crate) at: i64,
}

/// One company's books.
#[derive(Debug, Default)]
pub(crate) struct Company {
    pub(crate) entities: BTreeMap<Kind, BTreeMap<u64, Entity>>,
    pub(crate) deleted: Vec<Deleted>,
    /// First answers of writes, by `requestid`: (status, body).
    pub(crate) replies: HashMap<String, (u16, Value)>,
}

impl Company {
    pub(crate) fn of(&self, kind: Kind) -> impl Iterator<Item = &Entity> {
        self.entities.get(&kind).into_iter().flat_map(|m| m.values())
    }

    pub(crate) fn get(&self, kind: Kind, id: u64) -> Option<&Entity> {
        self.entities.get(&kind)?.get(&id)
    }

    pub(crate) fn get_mut(&mut self, kind: Kind, id: u64) -> Option<&mut Entity> {
        self.entities.get_mut(&kind)?.get_mut(&id)
    }

    /// The next id of `kind` (Intuit numbers each entity on its own).
    pub(crate) fn next_id(&self, kind: Kind) -> u64 {
        let live = self.entities.get(&kind).and_then(|m| m.keys().next_back().copied()).unwrap_or(0);
        let gone = self.deleted.iter().filter(|d| d.kind == kind).map(|d| d.id).max().unwrap_or(0);
        live.max(gone) + 1
    }

    pub(crate) fn insert(&mut self, kind: Kind, entity: Entity) {
        self.entities.entry(kind).or_default().insert(entity.id, entity);
    }

    /// Number of objects of `kind`.
    #[cfg(test)]
    pub(crate) fn count(&self, kind: Kind) -> usize {
        self.entities.get(&kind).map_or(0, BTreeMap::len)
    }
}

/// Calls of one realm: how many run now, and when the last minute's started.
#[derive(Debug, Default)]
struct Window {
    running: u32,
    started: VecDeque<Instant>,
}

/// Every company, the per-realm throttle, and how change webhooks are shaped.
#[derive(Debug, Default)]
pub(crate) struct QuickBooksData {
    pub(crate) companies: HashMap<String, Company>,
    windows: HashMap<String, Window>,
    /// Change webhooks in the legacy `eventNotifications` shape instead of CloudEvents.
    pub(crate) legacy_webhooks: bool,
}

impl QuickBooksData {
    /// The demo company, its customers and items taken from the demo shop.
    pub(crate) fn generate(seed: u64, scale: u32, shop: &Shop) -> Self {
        let mut companies = HashMap::new();
        companies.insert(DEMO_QUICKBOOKS_REALM.to_owned(), demo::demo_company(seed, scale, shop));
        Self { companies, windows: HashMap::new(), legacy_webhooks: false }
    }

    /// Admits a call of `realm`, or says how long until one would be (`None`: over the concurrency cap).
    fn admit(&mut self, realm: &str, now: Instant) -> Result<(), Option<Duration>> {
        let window = self.windows.entry(realm.to_owned()).or_default();
        while window.started.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            window.started.pop_front();
        }
        if window.started.len() >= PER_MINUTE_PER_REALM {
            let oldest = window.started.front().copied().unwrap_or(now);
            return Err(Some(Duration::from_secs(60).saturating_sub(now.duration_since(oldest))));
        }
        if window.running >= CONCURRENT_PER_REALM {
            return Err(None);
        }
        window.running += 1;
        window.started.push_back(now);
        Ok(())
    }

    fn release(&mut self, realm: &str) {
        if let Some(window) = self.windows.get_mut(realm) {
            window.running = window.running.saturating_sub(1);
        }
    }
}

/// The QuickBooks routes.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/quickbooks/connect/oauth2", get(oauth::authorize))
        .route("/quickbooks/oauth2/v1/tokens/bearer", post(oauth::token))
        .route("/quickbooks/v3/company/{realm}/query", get(api::query_get).post(api::query_post))
        .route("/quickbooks/v3/company/{realm}/cdc", get(api::cdc))
        .route("/quickbooks/v3/company/{realm}/companyinfo/{id}", get(api::company_info))
        .route("/quickbooks/v3/company/{realm}/{entity}", post(writes::create))
        .route("/quickbooks/v3/company/{realm}/{entity}/{id}", get(api::read))
        .route("/quickbooks/v3/company/{realm}/invoice/{id}/send", post(writes::send_invoice))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), crate::gate::quickbooks))
}

// === faults ===

/// An Intuit `Fault` answer.
pub(crate) fn fault(status: StatusCode, kind: &str, message: &str, detail: &str, code: &str) -> Response {
    let body = json!({
        "Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}], "type": kind},
        "time": qbo_time(wall_unix()),
    });
    (status, axum::Json(body)).into_response()
}

/// A `ValidationFault` (400).
pub(crate) fn validation(message: &str, detail: &str, code: &str) -> Response {
    fault(StatusCode::BAD_REQUEST, "ValidationFault", message, detail, code)
}

/// Intuit's 401 and 403 bodies (lower-case keys, as Intuit sends them).
fn auth_fault(status: StatusCode, kind: &str, message: &str, detail: &str, code: &str) -> Response {
    let body = json!({
        "fault": {"error": [{"message": message, "detail": detail, "code": code}], "type": kind},
        "time": rfc3339(wall_unix()),
    });
    (status, axum::Json(body)).into_response()
}

fn throttled(retry_after: Option<Duration>) -> Response {
    let mut response = auth_fault(
        StatusCode::TOO_MANY_REQUESTS,
        "SERVICE",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached. Wait 60 seconds before retrying.",
        "3001",
    );
    if let Some(wait) = retry_after
        && let Ok(value) = HeaderValue::from_str(&wait.as_secs_f64().ceil().max(1.0).to_string())
    {
        // Intuit sends none; the sandbox says how long its window has left, so tests need not sleep a minute.
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

// === the prologue of every API call ===

/// An admitted API call: releases its realm's concurrency slot when dropped.
pub(crate) struct Admitted {
    shared: Arc<Shared>,
    pub(crate) realm: String,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        lock(&self.shared.quickbooks).release(&self.realm);
    }
}

/// Checks the bearer token (of `realm`), `minorversion`, and the realm's throttle; `Err` is the answer to send.
pub(crate) fn admit(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    realm: &str,
    params: &[(String, String)],
) -> Result<Admitted, Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .unwrap_or_default();
    let unauthorized = |detail: &str| {
        auth_fault(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION",
            "message=AuthenticationFailed; errorCode=003200; statusCode=401",
            detail,
            "3200",
        )
    };
    let grant = match lock(&shared.grants).check(Provider::QuickBooks, token) {
        Ok(grant) => grant,
        Err(AccessError::Expired) => return Err(Box::new(unauthorized("Token expired"))),
        Err(AccessError::Unknown) => return Err(Box::new(unauthorized("Token invalid"))),
    };
    if grant.account != realm {
        return Err(Box::new(auth_fault(
            StatusCode::FORBIDDEN,
            "AUTHORIZATION",
            "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
            "The token is not authorized for this company.",
            "3100",
        )));
    }
    let minor = params.iter().find(|(k, _)| k.eq_ignore_ascii_case("minorversion")).map(|(_, v)| v.trim());
    match minor.map(str::parse::<u32>) {
        Some(Ok(v)) if v >= MIN_MINOR_VERSION => {}
        Some(Ok(_)) | Some(Err(_)) | None => {
            return Err(Box::new(validation(
                "Invalid minorversion",
                &format!(
                    "minorversion {} is not served: send minorversion={MIN_MINOR_VERSION} or later on every call",
                    minor.unwrap_or("(missing)")
                ),
                "4001",
            )));
        }
    }
    match lock(&shared.quickbooks).admit(realm, Instant::now()) {
        Ok(()) => Ok(Admitted { shared: shared.clone(), realm: realm.to_owned() }),
        Err(wait) => Err(Box::new(throttled(wait))),
    }
}

/// Query-string pairs.
pub(crate) fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

// === wire values ===

/// Intuit's timestamps: local time of the company (Pacific, `-07:00`), seconds.
pub(crate) fn qbo_time(unix: i64) -> String {
    let offset = UtcOffset::from_hms(-7, 0, 0).unwrap_or(UtcOffset::UTC);
    let Ok(at) = OffsetDateTime::from_unix_timestamp(unix) else { return rfc3339(unix) };
    let at = at.to_offset(offset);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}-07:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A transaction date (`2026-10-01`) of a unix time, in the company's time zone.
pub(crate) fn qbo_date(unix: i64) -> String {
    qbo_time(unix)[..10].to_owned()
}

/// Parses Intuit's and ISO 8601 timestamps and dates (`-00:00` taken as UTC) into unix seconds.
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.strip_suffix("-00:00").map(|t| format!("{t}Z")).unwrap_or_else(|| text.to_owned());
    crate::clock::parse_timestamp(&text)
}

/// Money as Intuit writes it: a decimal number.
pub(crate) fn money(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

/// Cents of a decimal amount.
pub(crate) fn cents(value: &Value) -> Option<i64> {
    let amount = value.as_f64().or_else(|| value.as_str()?.parse().ok())?;
    (amount.is_finite() && amount.abs() < 1e13).then(|| (amount * 100.0).round() as i64)
}

/// `{"CreateTime":..,"LastUpdatedTime":..}`.
pub(crate) fn metadata(created: i64, updated: i64) -> Value {
    json!({"CreateTime": qbo_time(created), "LastUpdatedTime": qbo_time(updated)})
}

/// Stamps a changed entity: a new `SyncToken` and `LastUpdatedTime`.
pub(crate) fn touch(entity: &mut Entity, now: i64) {
    entity.updated = now;
    let token = entity.body["SyncToken"].as_str().and_then(|t| t.parse::<u64>().ok()).unwrap_or(0) + 1;
    entity.body["SyncToken"] = json!(token.to_string());
    entity.body["MetaData"]["LastUpdatedTime"] = json!(qbo_time(now));
}

/// The webhook delivery announcing `op` on `kind` `id` in `realm`, in the shape the sandbox is set to send.
pub(crate) fn change_delivery(shared: &Shared, realm: &str, kind: Kind, id: u64, op: &str) -> crate::Delivery {
    let legacy = lock(&shared.quickbooks).legacy_webhooks;
    let id = id.to_string();
    if legacy {
        crate::webhooks::quickbooks_legacy_delivery(&shared.apps, realm, &[(kind.name(), id.as_str(), op)])
    } else {
        crate::webhooks::quickbooks_delivery(&shared.apps, realm, kind.name(), &id, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_pacific_and_parse_back() {
        assert_eq!(qbo_time(crate::clock::DEFAULT_EPOCH), "2026-10-31T17:00:00-07:00");
        assert_eq!(parse_time(&qbo_time(crate::clock::DEFAULT_EPOCH)), Some(crate::clock::DEFAULT_EPOCH));
        assert_eq!(parse_time("2026-11-01T00:00:00-00:00"), Some(crate::clock::DEFAULT_EPOCH));
        assert_eq!(qbo_date(crate::clock::DEFAULT_EPOCH), "2026-10-31");
    }

    #[test]
    fn the_throttle_admits_ten_at_once_and_five_hundred_a_minute() {
        let mut data = QuickBooksData::default();
        let now = Instant::now();
        for _ in 0..CONCURRENT_PER_REALM {
            data.admit("1", now).unwrap();
        }
        assert_eq!(data.admit("1", now), Err(None), "the eleventh concurrent call");
        data.admit("2", now).unwrap();
        data.release("1");
        data.admit("1", now).unwrap();

        let mut data = QuickBooksData::default();
        for _ in 0..PER_MINUTE_PER_REALM {
            data.admit("1", now).unwrap();
            data.release("1");
        }
        let wait = data.admit("1", now + Duration::from_secs(10)).unwrap_err().unwrap();
        assert_eq!(wait, Duration::from_secs(50), "until the oldest call is a minute old");
        data.admit("1", now + Duration::from_secs(61)).unwrap();
    }

    #[test]
    fn money_round_trips() {
        assert_eq!(cents(&money(12_345)), Some(12_345));
        assert_eq!(cents(&json!("10.5")), Some(1_050));
        assert_eq!(cents(&json!(null)), None);
    }
}
