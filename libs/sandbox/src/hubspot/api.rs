//! The CRM API of the demo portal, as HubSpot answers it:
//!
//! - `GET /crm/v3/objects/{type}?limit(≤100)&after&properties&associations&archived`: objects in id order,
//!   `paging.next.after` (the next id) while more remain;
//! - `GET|PATCH|DELETE /crm/v3/objects/{type}/{id}` (`idProperty=email` or a unique custom property for the id);
//! - `POST /crm/v3/objects/{type}` with `properties` and `associations`; `POST /crm/v3/objects/contacts/batch/upsert`
//!   with `idProperty: email`;
//! - `POST /crm/v3/objects/{type}/search`: `filterGroups` (groups OR'ed, filters AND'ed; EQ, NEQ, LT, LTE, GT, GTE,
//!   BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY), `sorts`, `properties`, `limit` ≤ 200 and `after` (an
//!   offset) — `total` counts every match, but paging stops at 10,000: `after` at or past it is HubSpot's 400;
//! - v4 associations: `GET /crm/v4/objects/{type}/{id}/associations/{to}`, `POST /crm/v4/associations/{type}/{to}/
//!   batch/read`, and `PUT /crm/v4/objects/{type}/{id}/associations/default/{to}/{toId}`;
//! - `POST /crm/v3/properties/{type}` (custom properties, `hasUniqueValue`) and `GET /crm/v3/pipelines/deals`.
//!
//! Writes send webhooks to the HubSpot target, if one is set.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::demo::{DEAL_STAGES, DEFAULT_PIPELINE};
use super::objects::{CrmObject, ObjectType, parse_ms, v3_associations, v4_target};
use super::{HubSpotData, HubSpotError, authenticate, notify, now_ms};
use crate::state::{Shared, lock};

/// How far the search API pages.
pub(crate) const SEARCH_CAP: usize = 10_000;
const LIST_LIMIT_MAX: usize = 100;
const SEARCH_LIMIT_MAX: usize = 200;

/// `name=a,b&name=c` → `[a, b, c]`.
fn multi(params: &[(String, String)], name: &str) -> Option<Vec<String>> {
    let values: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    (!values.is_empty()).then_some(values)
}

fn query_params(query: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn object_type(segment: &str) -> Result<ObjectType, HubSpotError> {
    ObjectType::parse(segment).ok_or_else(|| {
        HubSpotError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("Unable to infer object type from: {segment}"),
        )
    })
}

fn association_types(params: &[(String, String)]) -> Result<Vec<ObjectType>, HubSpotError> {
    multi(params, "associations").unwrap_or_default().iter().map(|s| object_type(s)).collect()
}

/// An object with its `associations` member for the types asked.
fn render(
    data: &HubSpotData,
    kind: ObjectType,
    object: &CrmObject,
    properties: Option<&[String]>,
    with: &[ObjectType],
) -> Value {
    let mut json = object.to_json(kind, properties);
    if !with.is_empty() {
        let member = v3_associations(&data.associations, kind, object.id, with);
        if member.as_object().is_some_and(|m| !m.is_empty()) {
            json["associations"] = member;
        }
    }
    json
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, HubSpotError> {
    serde_json::from_slice(body).map_err(|e| HubSpotError::validation(format!("Invalid input JSON on line 1: {e}")))
}

/// Property values as HubSpot takes them: strings, numbers and booleans, all stored as text.
fn property_map(properties: &serde_json::Map<String, Value>) -> BTreeMap<String, String> {
    properties
        .iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((k.clone(), text))
        })
        .collect()
}

macro_rules! authed {
    ($shared:expr, $headers:expr) => {
        if let Err(refused) = authenticate(&$shared, &$headers) {
            return refused;
        }
    };
}

macro_rules! attempt {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => return HubSpotError::into_response(error),
        }
    };
}

pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    Path(kind): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    authed!(shared, headers);
    let kind = attempt!(object_type(&kind));
    let params = query_params(query);
    let limit = match param(&params, "limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=LIST_LIMIT_MAX).contains(&n) => n,
        Some(_) => {
            return HubSpotError::validation(format!("limit must be between 1 and {LIST_LIMIT_MAX}")).into_response();
        }
    };
    let after: u64 = match param(&params, "after").filter(|a| !a.is_empty()).map(str::parse) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return HubSpotError::validation("after is not a valid paging cursor").into_response(),
    };
    let archived = param(&params, "archived") == Some("true");
    let properties = multi(&params, "properties");
    let with = attempt!(association_types(&params));
    let data = lock(&shared.hubspot);
    let mut page = data.objects[kind.index()]
        .range(after..)
        .filter(|(_, o)| o.archived_ms.is_some() == archived)
        .map(|(_, o)| o)
        .take(limit + 1);
    let results: Vec<Value> =
        page.by_ref().take(limit).map(|o| render(&data, kind, o, properties.as_deref(), &with)).collect();
    let mut body = json!({"results": results});
    if let Some(next) = page.next() {
        let after = next.id.to_string();
        let link = format!("{}/hubspot/crm/v3/objects/{}?limit={limit}&after={after}", shared.base_url, kind.plural());
        body["paging"] = json!({"next": {"after": after, "link": link}});
    }
    axum::Json(body).into_response()
}

pub(crate) async fn read(
    State(shared): State<Arc<Shared>>,
    Path((kind, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    authed!(shared, headers);
    let kind = attempt!(object_type(&kind));
    let params = query_params(query);
    let with = attempt!(association_types(&params));
    let data = lock(&shared.hubspot);
    match data.find(kind, &id, param(&params, "idProperty")) {
        Some(object) => {
            axum::Json(render(&data, kind, object, multi(&params, "properties").as_deref(), &with)).into_response()
        }
        None => HubSpotError::not_found(kind, &id).into_response(),
    }
}

#[derive(Deserialize)]
struct AssociationInput {
    to: IdInput,
    #[serde(default)]
    types: Vec<Value>,
}

#[derive(Deserialize)]
struct IdInput {
    id: Value,
}

fn id_of(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

#[derive(Deserialize)]
struct CreateInput {
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
    #[serde(default)]
    associations: Vec<AssociationInput>,
}

/// The object type an association input's `types` point to (`associationTypeId` of the HubSpot-defined ones).
fn association_target(from: ObjectType, input: &AssociationInput) -> Result<(ObjectType, u64), HubSpotError> {
    let to_id = id_of(&input.to.id).ok_or_else(|| HubSpotError::validation("associations[].to.id is not an id"))?;
    let type_id = input
        .types
        .first()
        .and_then(|t| t.get("associationTypeId"))
        .and_then(Value::as_u64)
        .ok_or_else(|| HubSpotError::validation("associations[].types[].associationTypeId is required"))?;
    ObjectType::ALL
        .into_iter()
        .find(|to| super::objects::association_type(from, *to).is_some_and(|(id, _)| u64::from(id) == type_id))
        .map(|to| (to, to_id))
        .ok_or_else(|| {
            HubSpotError::validation(format!("{type_id} is not a valid association type id for {}", from.plural()))
        })
}

pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authed!(shared, headers);
    let kind = attempt!(object_type(&kind));
    let input: CreateInput = attempt!(parse_json(&body));
    let targets: Vec<(ObjectType, u64)> =
        attempt!(input.associations.iter().map(|a| association_target(kind, a)).collect::<Result<_, _>>());
    let now = now_ms(&shared);
    let (object, events) = {
        let mut data = lock(&shared.hubspot);
        let (object, events) = attempt!(data.create(kind, property_map(&input.properties), &targets, now));
        (render(&data, kind, &object, Some(&input.properties.keys().cloned().collect::<Vec<_>>()), &[]), events)
    };
    notify(&shared, events);
    (StatusCode::CREATED, axum::Json(object)).into_response()
}

#[derive(Deserialize)]
struct UpdateInput {
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
}

pub(crate) async fn update(
    State(shared): State<Arc<Shared>>,
    Path((kind, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authed!(shared, headers);
    let kind = attempt!(object_type(&kind));
    let params = query_params(query);
    let input: UpdateInput = attempt!(parse_json(&body));
    let now = now_ms(&shared);
    let (object, events) = {
        let mut data = lock(&shared.hubspot);
        let Some(target) = data.find(kind, &id, param(&params, "idProperty")).map(|o| o.id) else {
            return HubSpotError::not_found(kind, &id).into_response();
        };
        let (object, events) = attempt!(data.update(kind, target, property_map(&input.properties), now));
        (render(&data, kind, &object, Some(&input.properties.keys().cloned().collect::<Vec<_>>()), &[]), events)
    };
    notify(&shared, events);
    axum::Json(object).into_response()
}

pub(crate) async fn archive(
    State(shared): State<Arc<Shared>>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    authed!(shared, headers);
    let kind = attempt!(object_type(&kind));
    let now = now_ms(&shared);
    let events = {
        let mut data = lock(&shared.hubspot);
        match id.parse::<u64>().ok().filter(|id| data.live(kind, *id).is_some()) {
            Some(id) => attempt!(data.archive(kind, id, now)),
            // Archiving what is not there is a 204 at HubSpot too.
            None => Vec::new(),
        }
    };
    notify(&shared, events);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpsertInput {
    inputs: Vec<UpsertItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpsertItem {
    id: String,
    id_property: Option<String>,
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
}

/// `batch/upsert`: each input updates the object whose `idProperty` (here: `email` or a unique custom property)
/// has the value `id`, or creates it with that value. Results carry `new`.
pub(crate) async fn batch_upsert(
    State(shared): State<Arc<Shared>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authed!(shared, headers);
    let kind = attempt!(object_type(&kind));
    let input: UpsertInput = attempt!(parse_json(&body));
    if input.inputs.is_empty() || input.inputs.len() > 100 {
        return HubSpotError::validation("inputs must hold 1 to 100 items").into_response();
    }
    let now = now_ms(&shared);
    let mut results = Vec::new();
    let mut all_events = Vec::new();
    {
        let mut data = lock(&shared.hubspot);
        for item in &input.inputs {
            let Some(id_property) = item.id_property.as_deref() else {
                return HubSpotError::validation("idProperty is required for upserts").into_response();
            };
            let mut properties = property_map(&item.properties);
            properties.insert(id_property.to_owned(), item.id.clone());
            let existing = data.find(kind, &item.id, Some(id_property)).map(|o| o.id);
            let (object, events, new) = match existing {
                Some(id) => {
                    let (object, events) = attempt!(data.update(kind, id, properties, now));
                    (object, events, false)
                }
                None => {
                    let (object, events) = attempt!(data.create(kind, properties, &[], now));
                    (object, events, true)
                }
            };
            let names: Vec<String> = item.properties.keys().cloned().chain([id_property.to_owned()]).collect();
            let mut rendered = render(&data, kind, &object, Some(&names), &[]);
            rendered["new"] = json!(new);
            results.push(rendered);
            all_events.extend(events);
        }
    }
    notify(&shared, all_events);
    let at = super::objects::iso_ms(now);
    axum::Json(json!({"status": "COMPLETE", "results": results, "startedAt": at, "completedAt": at})).into_response()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SearchInput {
    filter_groups: Vec<FilterGroup>,
    sorts: Vec<Sort>,
    properties: Option<Vec<String>>,
    limit: Option<usize>,
    after: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FilterGroup {
    filters: Vec<Filter>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Filter {
    property_name: String,
    operator: String,
    value: Option<Value>,
    high_value: Option<Value>,
    values: Option<Vec<Value>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Sort {
    property_name: String,
    direction: Option<String>,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_date(property: &str) -> bool {
    matches!(
        property,
        "createdate" | "hs_createdate" | "lastmodifieddate" | "hs_lastmodifieddate" | "closedate" | "hs_timestamp"
    )
}

/// Compares a property's value with a filter value: as instants for dates, numbers when both are, else text
/// (case-insensitively, as HubSpot does).
fn compare(property: &str, actual: &str, wanted: &str) -> Option<Ordering> {
    if is_date(property) {
        return Some(parse_ms(actual)?.cmp(&parse_ms(wanted)?));
    }
    if let (Ok(a), Ok(b)) = (actual.parse::<f64>(), wanted.parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    Some(actual.to_lowercase().cmp(&wanted.to_lowercase()))
}

fn matches(kind: ObjectType, object: &CrmObject, filter: &Filter) -> Result<bool, HubSpotError> {
    let date = is_date(&filter.property_name);
    let actual_ms = if date { object.date_ms(kind, &filter.property_name) } else { None };
    let actual = if date { actual_ms.map(|ms| ms.to_string()) } else { object.property(kind, &filter.property_name) };
    let value = filter.value.as_ref().map(text);
    let cmp = |wanted: &str| match actual_ms {
        Some(ms) => parse_ms(wanted).map(|w| ms.cmp(&w)),
        None => actual.as_deref().and_then(|a| compare(&filter.property_name, a, wanted)),
    };
    let with_value = |test: fn(Ordering) -> bool| -> Result<bool, HubSpotError> {
        let wanted =
            value.as_deref().ok_or_else(|| HubSpotError::validation(format!("{} needs a value", filter.operator)))?;
        Ok(cmp(wanted).is_some_and(test))
    };
    match filter.operator.as_str() {
        "EQ" => with_value(|o| o == Ordering::Equal),
        "NEQ" => Ok(!with_value(|o| o == Ordering::Equal)?),
        "LT" => with_value(|o| o == Ordering::Less),
        "LTE" => with_value(|o| o != Ordering::Greater),
        "GT" => with_value(|o| o == Ordering::Greater),
        "GTE" => with_value(|o| o != Ordering::Less),
        "BETWEEN" => {
            let high = filter
                .high_value
                .as_ref()
                .map(text)
                .ok_or_else(|| HubSpotError::validation("BETWEEN needs a highValue"))?;
            Ok(with_value(|o| o != Ordering::Less)? && cmp(&high).is_some_and(|o| o != Ordering::Greater))
        }
        "IN" | "NOT_IN" => {
            let values = filter.values.as_deref().unwrap_or_default();
            let found = values.iter().any(|v| cmp(&text(v)) == Some(Ordering::Equal));
            Ok(found == (filter.operator == "IN"))
        }
        "HAS_PROPERTY" => Ok(actual.is_some()),
        "NOT_HAS_PROPERTY" => Ok(actual.is_none()),
        other => Err(HubSpotError::validation(format!("operator {other} is not supported"))),
    }
}

/// Orders two objects by a property (missing values last), dates as instants, numbers as numbers.
fn order_by(kind: ObjectType, property: &str, a: &CrmObject, b: &CrmObject) -> Ordering {
    if is_date(property) {
        return match (a.date_ms(kind, property), b.date_ms(kind, property)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (x, y) => x.is_none().cmp(&y.is_none()),
        };
    }
    match (a.property(kind, property), b.property(kind, property)) {
        (Some(x), Some(y)) => compare(property, &x, &y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

pub(crate) async fn search(
    State(shared): State<Arc<Shared>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authed!(shared, headers);
    let kind = attempt!(object_type(&kind));
    let input: SearchInput = attempt!(parse_json(&body));
    let limit = input.limit.unwrap_or(10);
    if !(1..=SEARCH_LIMIT_MAX).contains(&limit) {
        return HubSpotError::validation(format!("limit must be between 1 and {SEARCH_LIMIT_MAX}")).into_response();
    }
    let after = match input.after.as_ref().map(text) {
        None => 0,
        Some(after) if after.is_empty() => 0,
        Some(after) => match after.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return HubSpotError::validation("after is not a valid paging cursor").into_response(),
        },
    };
    if after >= SEARCH_CAP {
        // HubSpot's answer past the cap.
        return HubSpotError::validation(format!(
            "There was a problem with the request: paging past {SEARCH_CAP} results is not supported (after={after}). \
             Narrow the search with filters."
        ))
        .into_response();
    }
    let data = lock(&shared.hubspot);
    let mut found = Vec::new();
    for object in data.objects[kind.index()].values().filter(|o| o.archived_ms.is_none()) {
        let mut any = input.filter_groups.is_empty();
        for group in &input.filter_groups {
            let mut all = true;
            for filter in &group.filters {
                if !attempt!(matches(kind, object, filter)) {
                    all = false;
                    break;
                }
            }
            if all {
                any = true;
                break;
            }
        }
        if any {
            found.push(object);
        }
    }
    found.sort_by(|a, b| {
        input
            .sorts
            .iter()
            .map(|sort| {
                let order = order_by(kind, &sort.property_name, a, b);
                if sort.direction.as_deref() == Some("DESCENDING") { order.reverse() } else { order }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
            .then(a.id.cmp(&b.id))
    });
    let total = found.len();
    let results: Vec<Value> =
        found.iter().skip(after).take(limit).map(|o| o.to_json(kind, input.properties.as_deref())).collect();
    let mut body = json!({"total": total, "results": results});
    if after + limit < total {
        body["paging"] = json!({"next": {"after": (after + limit).to_string()}});
    }
    axum::Json(body).into_response()
}

pub(crate) async fn associations(
    State(shared): State<Arc<Shared>>,
    Path((kind, id, to)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    authed!(shared, headers);
    let (kind, to) = (attempt!(object_type(&kind)), attempt!(object_type(&to)));
    let data = lock(&shared.hubspot);
    let Some(object) = id.parse().ok().and_then(|id| data.live(kind, id)) else {
        return HubSpotError::not_found(kind, &id).into_response();
    };
    let results: Vec<Value> = data
        .associations
        .of(kind, object.id, Some(to))
        .into_iter()
        .map(|(t, to_id)| v4_target(kind, t, to_id))
        .collect();
    axum::Json(json!({"results": results})).into_response()
}

#[derive(Deserialize)]
struct BatchInput {
    inputs: Vec<IdInput>,
}

pub(crate) async fn batch_associations(
    State(shared): State<Arc<Shared>>,
    Path((kind, to)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authed!(shared, headers);
    let (kind, to) = (attempt!(object_type(&kind)), attempt!(object_type(&to)));
    let input: BatchInput = attempt!(parse_json(&body));
    if input.inputs.len() > 1000 {
        return HubSpotError::validation("inputs must hold at most 1000 items").into_response();
    }
    let data = lock(&shared.hubspot);
    let mut results = Vec::new();
    for item in &input.inputs {
        let Some(id) = id_of(&item.id).filter(|id| data.live(kind, *id).is_some()) else { continue };
        let targets: Vec<Value> =
            data.associations.of(kind, id, Some(to)).into_iter().map(|(t, to_id)| v4_target(kind, t, to_id)).collect();
        if !targets.is_empty() {
            results.push(json!({"from": {"id": id.to_string()}, "to": targets}));
        }
    }
    let at = super::objects::iso_ms(now_ms(&shared));
    axum::Json(json!({"status": "COMPLETE", "results": results, "startedAt": at, "completedAt": at})).into_response()
}

pub(crate) async fn associate(
    State(shared): State<Arc<Shared>>,
    Path((kind, id, to, to_id)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    authed!(shared, headers);
    let (kind, to) = (attempt!(object_type(&kind)), attempt!(object_type(&to)));
    let (Ok(from_id), Ok(target)) = (id.parse::<u64>(), to_id.parse::<u64>()) else {
        return HubSpotError::validation("object ids must be numbers").into_response();
    };
    let now = now_ms(&shared);
    let events = attempt!(lock(&shared.hubspot).associate(kind, from_id, to, target, now));
    notify(&shared, events);
    let type_id = super::objects::association_type(kind, to).map(|(id, _)| id).unwrap_or(0);
    let at = super::objects::iso_ms(now);
    axum::Json(json!({
        "status": "COMPLETE",
        "results": [{
            "from": {"id": from_id.to_string()},
            "to": {"id": target.to_string()},
            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
        }],
        "startedAt": at,
        "completedAt": at,
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PropertyInput {
    name: String,
    #[serde(default)]
    has_unique_value: bool,
    #[serde(default)]
    label: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

pub(crate) async fn create_property(
    State(shared): State<Arc<Shared>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authed!(shared, headers);
    let kind = attempt!(object_type(&kind));
    let input: PropertyInput = attempt!(parse_json(&body));
    let valid =
        !input.name.is_empty() && input.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return HubSpotError::validation("name must be lower-case letters, digits and underscores").into_response();
    }
    if !lock(&shared.hubspot).define_property(kind, &input.name, input.has_unique_value) {
        let message = format!("A property named '{}' already exists.", input.name);
        return HubSpotError::new(StatusCode::CONFLICT, "OBJECT_ALREADY_EXISTS", message).into_response();
    }
    let body = json!({
        "name": input.name,
        "label": input.label.unwrap_or_else(|| input.name.clone()),
        "type": input.kind.unwrap_or_else(|| "string".to_owned()),
        "fieldType": "text",
        "groupName": format!("{}information", kind.singular()),
        "hasUniqueValue": input.has_unique_value,
        "hidden": false,
        "formField": false,
    });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

pub(crate) async fn pipelines(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    authed!(shared, headers);
    let stages: Vec<Value> = DEAL_STAGES
        .iter()
        .enumerate()
        .map(|(i, (id, probability))| {
            json!({"id": id, "label": id, "displayOrder": i,
                   "metadata": {"probability": probability, "isClosed": if id.starts_with("closed") { "true" } else { "false" }}})
        })
        .collect();
    axum::Json(
        json!({"results": [{"id": DEFAULT_PIPELINE, "label": "Sales Pipeline", "displayOrder": 0, "stages": stages}]}),
    )
    .into_response()
}
