//! The HubSpot fake under `{base}/hubspot` (HubSpot splits app.hubspot.com and api.hubapi.com; here they share one
//! base): OAuth ([`oauth`]), the CRM ([`api`]: v3 objects, search with its 10,000 cap, v4 associations, writes,
//! custom properties) over the demo portal [`DEMO_HUBSPOT_PORTAL`] ([`demo`]), and webhooks on every change.
//!
//! API calls authenticate with `Authorization: Bearer`: [`DEMO_HUBSPOT_TOKEN`] (a private app's token, which never
//! expires) or an OAuth access token. Every API answer carries HubSpot's rate-limit headers, counted over a rolling
//! ten seconds per credential (110 for OAuth apps, 190 and the daily pair for the private app, HubSpot's
//! Professional figures); the sandbox only reports them — 429s come from injected faults.
//!
//! HubSpot has no idempotency keys: a retried create makes a second object. What the sandbox offers for safe
//! retries is what HubSpot offers: upsert by e-mail, and custom properties with `hasUniqueValue` (a second create
//! with a used value is a 409 `CONFLICT`, and `GET .../{value}?idProperty=` finds the first).

pub(crate) mod api;
pub(crate) mod demo;
mod oauth;
pub(crate) mod objects;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use self::demo::{DEAL_STAGES, DEFAULT_PIPELINE, Person};
use self::objects::{Associations, CrmObject, ObjectType};
use crate::oauth::AccessError;
use crate::state::{Shared, lock};
use crate::{DEMO_HUBSPOT_PORTAL, DEMO_HUBSPOT_TOKEN, Provider};

/// HubSpot's burst window.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// Requests per window: public (OAuth) apps, and private apps on Professional.
const OAUTH_APP_LIMIT: usize = 110;
const PRIVATE_APP_LIMIT: usize = 190;
/// The private app's daily limit (Professional).
const PRIVATE_APP_DAILY: u64 = 650_000;

/// Properties a write may set, per type, besides custom ones; the dates and the id are HubSpot's to set.
fn standard_properties(kind: ObjectType) -> &'static [&'static str] {
    match kind {
        ObjectType::Contacts => &[
            "email",
            "firstname",
            "lastname",
            "phone",
            "company",
            "website",
            "jobtitle",
            "city",
            "lifecyclestage",
            "hs_lead_status",
        ],
        ObjectType::Companies => &["name", "domain", "industry", "city", "phone", "website", "lifecyclestage"],
        ObjectType::Deals => &[
            "dealname",
            "amount",
            "pipeline",
            "dealstage",
            "closedate",
            "dealtype",
            "description",
            "hs_deal_stage_probability",
        ],
        ObjectType::Notes => &["hs_note_body", "hs_timestamp"],
    }
}

/// A HubSpot error answer: `{"status":"error","message","correlationId","category"}` (plus `subCategory`,
/// `context` when given).
#[derive(Debug, Clone)]
pub(crate) struct HubSpotError {
    pub(crate) status: StatusCode,
    pub(crate) category: &'static str,
    pub(crate) message: String,
    pub(crate) sub_category: Option<&'static str>,
    pub(crate) context: Option<Value>,
}

impl HubSpotError {
    pub(crate) fn new(status: StatusCode, category: &'static str, message: impl Into<String>) -> Self {
        Self { status, category, message: message.into(), sub_category: None, context: None }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub(crate) fn not_found(kind: ObjectType, id: &str) -> Self {
        let message = format!("resource not found: no {} with id {id}", kind.singular());
        Self::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", message)
    }

    /// `Property values were not valid: [...]` with one entry per bad property.
    fn invalid_properties(problems: Vec<Value>) -> Self {
        Self::validation(format!("Property values were not valid: {}", Value::Array(problems)))
    }
}

impl IntoResponse for HubSpotError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "status": "error",
            "message": self.message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
            "category": self.category,
        });
        if let Some(sub) = self.sub_category {
            body["subCategory"] = json!(sub);
        }
        if let Some(context) = self.context {
            body["context"] = context;
        }
        (self.status, axum::Json(body)).into_response()
    }
}

/// The demo portal's CRM, and what the API keeps beside it.
#[derive(Debug)]
pub(crate) struct HubSpotData {
    /// Objects by type ([`ObjectType::index`]), in id order; archived ones stay, flagged.
    pub(crate) objects: [BTreeMap<u64, CrmObject>; 4],
    pub(crate) associations: Associations,
    /// Ids of objects created while running.
    next_id: u64,
    /// Webhook event ids.
    next_event_id: u64,
    /// Custom properties apps defined, by type and name: whether their values are unique.
    custom_properties: HashMap<(ObjectType, String), bool>,
    /// Requests per credential (a hash of the `Authorization` header) in the last [`RATE_WINDOW`], and per day.
    windows: HashMap<u64, VecDeque<Instant>>,
    daily: HashMap<u64, u64>,
}

impl HubSpotData {
    /// The demo portal around `people` (the shop's and Stripe's customers).
    pub(crate) fn generate(seed: u64, scale: u32, people: &[Person]) -> Self {
        let portal = demo::demo_portal(seed, scale, people);
        Self {
            objects: portal.objects,
            associations: portal.associations,
            next_id: 90_000_000_000,
            next_event_id: 1_000,
            custom_properties: HashMap::new(),
            windows: HashMap::new(),
            daily: HashMap::new(),
        }
    }

    pub(crate) fn live(&self, kind: ObjectType, id: u64) -> Option<&CrmObject> {
        self.objects[kind.index()].get(&id).filter(|o| o.archived_ms.is_none())
    }

    /// A live object by id, or by the value of `id_property` (`email`, or a custom unique property).
    pub(crate) fn find(&self, kind: ObjectType, id: &str, id_property: Option<&str>) -> Option<&CrmObject> {
        match id_property.filter(|p| *p != "hs_object_id") {
            None => self.live(kind, id.parse().ok()?),
            Some(property) => self.objects[kind.index()].values().find(|o| {
                o.archived_ms.is_none()
                    && o.properties
                        .get(property)
                        .is_some_and(|v| if property == "email" { v.eq_ignore_ascii_case(id) } else { v == id })
            }),
        }
    }

    /// Defines a custom property; false if it exists.
    pub(crate) fn define_property(&mut self, kind: ObjectType, name: &str, unique: bool) -> bool {
        if standard_properties(kind).contains(&name) || self.custom_properties.contains_key(&(kind, name.to_owned())) {
            return false;
        }
        self.custom_properties.insert((kind, name.to_owned()), unique);
        true
    }

    /// Checks the properties of a write to `kind` (on object `id` when updating): every name exists, deals name a
    /// pipeline and stage of it, e-mails and unique properties are not taken by another object.
    fn check(
        &self,
        kind: ObjectType,
        id: Option<u64>,
        properties: &BTreeMap<String, String>,
    ) -> Result<(), HubSpotError> {
        let mut problems = Vec::new();
        for name in properties.keys() {
            let known = standard_properties(kind).contains(&name.as_str())
                || self.custom_properties.contains_key(&(kind, name.clone()));
            if !known {
                problems.push(json!({"isValid": false, "message": format!("Property \"{name}\" does not exist"),
                    "error": "PROPERTY_DOESNT_EXIST", "name": name}));
            }
        }
        if kind == ObjectType::Deals {
            let current = id.and_then(|id| self.live(kind, id));
            let value = |name: &str| properties.get(name).cloned().or_else(|| current?.properties.get(name).cloned());
            let pipeline = value("pipeline");
            if pipeline.as_deref().is_some_and(|p| p != DEFAULT_PIPELINE) {
                problems.push(json!({"isValid": false, "message": format!("{} was not one of the allowed options",
                    pipeline.unwrap_or_default()), "error": "INVALID_OPTION", "name": "pipeline"}));
            }
            match value("dealstage") {
                Some(stage) if !DEAL_STAGES.iter().any(|(s, _)| *s == stage) => {
                    problems.push(json!({"isValid": false, "message": format!("{stage} was not one of the allowed \
                        options for pipeline {DEFAULT_PIPELINE}"), "error": "INVALID_OPTION", "name": "dealstage"}));
                }
                None if id.is_none() => problems.push(json!({"isValid": false, "message": "dealstage is required",
                    "error": "REQUIRED_PROPERTY", "name": "dealstage"})),
                _ => {}
            }
        }
        if !problems.is_empty() {
            return Err(HubSpotError::invalid_properties(problems));
        }
        for (name, value) in properties {
            let unique = (kind == ObjectType::Contacts && name == "email")
                || self.custom_properties.get(&(kind, name.clone())).copied().unwrap_or(false);
            if !unique {
                continue;
            }
            if let Some(other) = self.find(kind, value, Some(name)).filter(|o| Some(o.id) != id) {
                let message = if name == "email" {
                    format!("Contact already exists. Existing ID: {}", other.id)
                } else {
                    format!(
                        "A {} with the value {value:?} for unique property {name} already exists. Existing ID: {}",
                        kind.singular(),
                        other.id
                    )
                };
                let mut error = HubSpotError::new(StatusCode::CONFLICT, "CONFLICT", message);
                error.context = Some(json!({"id": [other.id.to_string()], "propertyName": [name]}));
                return Err(error);
            }
        }
        Ok(())
    }

    fn event(&mut self, kind: ObjectType, id: u64, change: &str, at_ms: i64) -> Value {
        self.next_event_id += 1;
        let subscription = format!("{}.{change}", kind.singular());
        // One subscription per type and change, as an app configures them.
        let subscription_id = 100 + kind.index() as u64 * 10 + u64::from(change.len() as u8 % 10);
        let mut event = json!({
            "eventId": self.next_event_id,
            "subscriptionId": subscription_id,
            "portalId": DEMO_HUBSPOT_PORTAL,
            "appId": 1,
            "occurredAt": at_ms,
            "subscriptionType": subscription,
            "attemptNumber": 0,
            "objectId": id,
            "changeSource": "CRM",
        });
        match change {
            "creation" => event["changeFlag"] = json!("NEW"),
            "deletion" => event["changeFlag"] = json!("DELETED"),
            _ => {}
        }
        event
    }

    /// `{from}.associationChange` events for a new association, one per direction, as HubSpot sends them
    /// (`fromObjectId`, `toObjectId`, `associationType` like `CONTACT_TO_COMPANY`).
    fn association_events(
        &mut self,
        from: ObjectType,
        from_id: u64,
        to: ObjectType,
        to_id: u64,
        at_ms: i64,
    ) -> Vec<Value> {
        [(from, from_id, to, to_id), (to, to_id, from, from_id)]
            .into_iter()
            .map(|(a, a_id, b, b_id)| {
                let mut event = self.event(a, a_id, "associationChange", at_ms);
                if let Some(fields) = event.as_object_mut() {
                    fields.remove("objectId");
                }
                event["fromObjectId"] = json!(a_id);
                event["toObjectId"] = json!(b_id);
                event["associationType"] = json!(format!("{}_TO_{}", a.singular(), b.singular()).to_ascii_uppercase());
                event["associationRemoved"] = json!(false);
                event["isPrimaryAssociation"] = json!(false);
                event
            })
            .collect()
    }

    /// Creates an object, with associations to existing objects; returns it and the webhook events.
    pub(crate) fn create(
        &mut self,
        kind: ObjectType,
        properties: BTreeMap<String, String>,
        associate: &[(ObjectType, u64)],
        now_ms: i64,
    ) -> Result<(CrmObject, Vec<Value>), HubSpotError> {
        self.check(kind, None, &properties)?;
        for (to, to_id) in associate {
            if self.live(*to, *to_id).is_none() {
                return Err(HubSpotError::validation(format!(
                    "Association to {} {to_id} is not valid: no such object",
                    to.singular()
                )));
            }
            if objects::association_type(kind, *to).is_none() {
                return Err(HubSpotError::validation(format!(
                    "{} cannot be associated with {}",
                    kind.plural(),
                    to.plural()
                )));
            }
        }
        self.next_id += 1;
        let id = self.next_id;
        let object = CrmObject::new(id, now_ms, now_ms, properties);
        self.objects[kind.index()].insert(id, object.clone());
        let mut events = vec![self.event(kind, id, "creation", now_ms)];
        for (to, to_id) in associate {
            self.associations.add(kind, id, *to, *to_id);
            events.extend(self.association_events(kind, id, *to, *to_id, now_ms));
        }
        Ok((object, events))
    }

    /// Sets properties on a live object; returns it and one `propertyChange` event per changed property.
    pub(crate) fn update(
        &mut self,
        kind: ObjectType,
        id: u64,
        properties: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<(CrmObject, Vec<Value>), HubSpotError> {
        if self.live(kind, id).is_none() {
            return Err(HubSpotError::not_found(kind, &id.to_string()));
        }
        self.check(kind, Some(id), &properties)?;
        let mut changed = Vec::new();
        let object =
            self.objects[kind.index()].get_mut(&id).ok_or_else(|| HubSpotError::not_found(kind, &id.to_string()))?;
        for (name, value) in properties {
            if object.properties.get(&name) != Some(&value) {
                changed.push((name.clone(), value.clone()));
                object.properties.insert(name, value);
            }
        }
        if !changed.is_empty() {
            object.updated_ms = object.updated_ms.max(now_ms);
        }
        let object = object.clone();
        let mut events = Vec::new();
        for (name, value) in changed {
            let mut event = self.event(kind, id, "propertyChange", now_ms);
            event["propertyName"] = json!(name);
            event["propertyValue"] = json!(value);
            events.push(event);
        }
        Ok((object, events))
    }

    /// Archives a live object and drops its associations.
    pub(crate) fn archive(&mut self, kind: ObjectType, id: u64, now_ms: i64) -> Result<Vec<Value>, HubSpotError> {
        let object = self.objects[kind.index()]
            .get_mut(&id)
            .filter(|o| o.archived_ms.is_none())
            .ok_or_else(|| HubSpotError::not_found(kind, &id.to_string()))?;
        object.archived_ms = Some(now_ms);
        object.updated_ms = now_ms;
        self.associations.remove_all(kind, id);
        Ok(vec![self.event(kind, id, "deletion", now_ms)])
    }

    /// Associates two live objects (the default association type); both change. Idempotent.
    pub(crate) fn associate(
        &mut self,
        from: ObjectType,
        from_id: u64,
        to: ObjectType,
        to_id: u64,
        now_ms: i64,
    ) -> Result<Vec<Value>, HubSpotError> {
        if self.live(from, from_id).is_none() {
            return Err(HubSpotError::not_found(from, &from_id.to_string()));
        }
        if self.live(to, to_id).is_none() {
            return Err(HubSpotError::not_found(to, &to_id.to_string()));
        }
        if objects::association_type(from, to).is_none() {
            return Err(HubSpotError::validation(format!(
                "{} cannot be associated with {}",
                from.plural(),
                to.plural()
            )));
        }
        if !self.associations.add(from, from_id, to, to_id) {
            return Ok(Vec::new());
        }
        // The sandbox counts an association as a change of both objects, so incremental syncs pick it up.
        for (kind, id) in [(from, from_id), (to, to_id)] {
            if let Some(object) = self.objects[kind.index()].get_mut(&id) {
                object.updated_ms = object.updated_ms.max(now_ms);
            }
        }
        Ok(self.association_events(from, from_id, to, to_id, now_ms))
    }

    /// Creates `count` objects of `kind` at once, last changed spread evenly over the second before `now_ms`
    /// (several per millisecond when `count` is over 1,000): for tests and benches that need a window holding more
    /// than the search API's 10,000 results. No webhooks.
    pub(crate) fn bulk_create(&mut self, kind: ObjectType, count: usize, now_ms: i64) -> Vec<u64> {
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            self.next_id += 1;
            let id = self.next_id;
            let at = now_ms - 999 + (i as i64 * 1000) / count.max(1) as i64;
            let properties: BTreeMap<String, String> = match kind {
                ObjectType::Contacts => [
                    ("email", format!("bulk{id}@example.com")),
                    ("firstname", "Bulk".to_owned()),
                    ("lastname", format!("Contact {id}")),
                    ("lifecyclestage", "lead".to_owned()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
                ObjectType::Companies => {
                    [("name", format!("Bulk Company {id}")), ("domain", format!("bulk{id}.example"))]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect()
                }
                ObjectType::Deals => [
                    ("dealname", format!("Bulk deal {id}")),
                    ("pipeline", DEFAULT_PIPELINE.to_owned()),
                    ("dealstage", "appointmentscheduled".to_owned()),
                    ("amount", "100".to_owned()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
                ObjectType::Notes => {
                    [("hs_note_body", format!("Bulk note {id}"))].into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                }
            };
            self.objects[kind.index()].insert(id, CrmObject::new(id, at, at, properties));
            ids.push(id);
        }
        ids
    }

    /// Counts a request with `credential` and returns (limit, remaining, daily remaining for private apps).
    fn count_request(&mut self, credential: u64, private_app: bool) -> (usize, usize, Option<u64>) {
        let now = Instant::now();
        let window = self.windows.entry(credential).or_default();
        while window.front().is_some_and(|at| now.duration_since(*at) >= RATE_WINDOW) {
            window.pop_front();
        }
        window.push_back(now);
        let limit = if private_app { PRIVATE_APP_LIMIT } else { OAUTH_APP_LIMIT };
        let remaining = limit.saturating_sub(window.len());
        let daily = private_app.then(|| {
            let used = self.daily.entry(credential).or_default();
            *used += 1;
            PRIVATE_APP_DAILY.saturating_sub(*used)
        });
        (limit, remaining, daily)
    }
}

/// The HubSpot routes.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/hubspot/oauth/authorize", get(oauth::authorize))
        .route("/hubspot/oauth/v1/token", post(oauth::token))
        .route("/hubspot/oauth/2026-03/token", post(oauth::token))
        .route("/hubspot/oauth/v1/access-tokens/{token}", get(oauth::access_token_info))
        .route("/hubspot/account-info/v3/details", get(oauth::account_details))
        .route("/hubspot/crm/v3/objects/{kind}", get(api::list).post(api::create))
        .route("/hubspot/crm/v3/objects/{kind}/search", post(api::search))
        .route("/hubspot/crm/v3/objects/{kind}/batch/upsert", post(api::batch_upsert))
        .route("/hubspot/crm/v3/objects/{kind}/{id}", get(api::read).patch(api::update).delete(api::archive))
        .route("/hubspot/crm/v3/properties/{kind}", post(api::create_property))
        .route("/hubspot/crm/v3/pipelines/deals", get(api::pipelines))
        .route("/hubspot/crm/v4/objects/{kind}/{id}/associations/{to}", get(api::associations))
        .route("/hubspot/crm/v4/objects/{kind}/{id}/associations/default/{to}/{to_id}", put(api::associate))
        .route("/hubspot/crm/v4/associations/{kind}/{to}/batch/read", post(api::batch_associations))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), crate::gate::hubspot))
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .unwrap_or_default()
}

/// The portal the request's bearer token opens, or HubSpot's 401.
#[allow(clippy::result_large_err)] // the refusal is the response itself
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<i64, Response> {
    let token = bearer(headers);
    if token == DEMO_HUBSPOT_TOKEN {
        return Ok(DEMO_HUBSPOT_PORTAL);
    }
    match lock(&shared.grants).check(Provider::HubSpot, token) {
        Ok(grant) => Ok(grant.account.parse().unwrap_or(DEMO_HUBSPOT_PORTAL)),
        Err(AccessError::Expired) => Err(HubSpotError::new(
            StatusCode::UNAUTHORIZED,
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired 0 second(s) ago.",
        )
        .into_response()),
        Err(AccessError::Unknown) => Err(HubSpotError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more \
             details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
        .into_response()),
    }
}

/// Adds the `X-HubSpot-RateLimit-*` headers to an API answer, counting the request against its credential.
pub(crate) fn rate_limit_headers(shared: &Shared, authorization: Option<&HeaderValue>, headers: &mut HeaderMap) {
    use std::hash::{Hash, Hasher};
    let token = authorization.and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut hasher);
    let private_app = token.ends_with(DEMO_HUBSPOT_TOKEN);
    let (limit, remaining, daily) = lock(&shared.hubspot).count_request(hasher.finish(), private_app);
    // A faulted 429 already says what it says.
    let faulted = headers.contains_key("x-hubspot-ratelimit-remaining");
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    if !faulted {
        put("x-hubspot-ratelimit-max", limit.to_string());
        put("x-hubspot-ratelimit-remaining", remaining.to_string());
        put("x-hubspot-ratelimit-interval-milliseconds", RATE_WINDOW.as_millis().to_string());
    }
    if let Some(daily) = daily {
        put("x-hubspot-ratelimit-daily", PRIVATE_APP_DAILY.to_string());
        put("x-hubspot-ratelimit-daily-remaining", daily.to_string());
    }
}

/// The sandbox's clock in milliseconds (never before the demo epoch).
pub(crate) fn now_ms(shared: &Shared) -> i64 {
    crate::clock::wall_unix_ms().max(shared.clock.now() * 1000)
}

/// Sends `events` to the HubSpot webhook target, if one is set, signed for that URL.
pub(crate) fn notify(shared: &Shared, events: Vec<Value>) {
    if events.is_empty() {
        return;
    }
    let Some(url) = shared.webhook_target(Provider::HubSpot) else { return };
    let delivery = crate::webhooks::hubspot_delivery(&shared.apps, DEMO_HUBSPOT_PORTAL, &url, Value::Array(events));
    shared.send_in_background(Provider::HubSpot, delivery);
}

/// The demo people (Shopify's and Stripe's customers, one per e-mail) the portal's contacts are made of.
pub(crate) fn people(shop: &crate::shopify::Shop, stripe: &crate::stripe::StripeData) -> Vec<Person> {
    let mut seen = std::collections::HashSet::new();
    let mut people = Vec::new();
    for customer in &shop.customers {
        if seen.insert(customer.email.to_lowercase()) {
            people.push(Person {
                first: customer.first_name.clone(),
                last: customer.last_name.clone(),
                email: customer.email.clone(),
                phone: customer.phone.clone(),
                created: customer.created_at,
            });
        }
    }
    if let Some(account) = stripe.accounts.get(crate::DEMO_STRIPE_ACCOUNT) {
        for customer in account.customers.items() {
            let (Some(email), Some(name)) = (&customer.email, &customer.name) else { continue };
            if !seen.insert(email.to_lowercase()) {
                continue;
            }
            let (first, last) = name.split_once(' ').unwrap_or((name.as_str(), ""));
            people.push(Person {
                first: first.to_owned(),
                last: last.to_owned(),
                email: email.clone(),
                phone: customer.phone.clone(),
                created: customer.created,
            });
        }
    }
    people
}
