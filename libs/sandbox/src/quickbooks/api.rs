//! Reads: the Query API, CDC, one entity by id, and `companyinfo`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::query::{self, Query};
use super::{Kind, admit, pairs, param, parse_time, qbo_time, validation};
use crate::clock::{epoch, wall_unix};
use crate::state::{Shared, lock};

/// How far back CDC reaches.
const CDC_LOOK_BACK: i64 = 30 * 86_400;
/// Most objects one CDC answer holds, all entities together.
const CDC_CAP: usize = 1000;

fn parser_error(detail: &str) -> Response {
    validation("Error parsing query", &format!("QueryParserError: {detail}"), "4000")
}

pub(super) async fn query_get(
    State(shared): State<Arc<Shared>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = pairs(raw.as_deref());
    let text = param(&params, "query").unwrap_or_default().to_owned();
    run_query(&shared, &headers, &realm, &params, &text)
}

/// `POST` with the statement as the body (`Content-Type: application/text`).
pub(super) async fn query_post(
    State(shared): State<Arc<Shared>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let params = pairs(raw.as_deref());
    let text = String::from_utf8_lossy(&body).into_owned();
    run_query(&shared, &headers, &realm, &params, &text)
}

fn run_query(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    realm: &str,
    params: &[(String, String)],
    text: &str,
) -> Response {
    let _admitted = match admit(shared, headers, realm, params) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    if text.trim().is_empty() {
        return parser_error("Encountered end of query but expected SELECT");
    }
    let query = match query::parse(text) {
        Ok(query) => query,
        Err(detail) => return parser_error(&detail),
    };
    let Some(kind) = Kind::parse(&query.entity) else {
        return validation(
            "Invalid query",
            &format!("QueryValidationError: Invalid context declaration : {}", query.entity),
            "4001",
        );
    };
    let data = lock(&shared.quickbooks);
    let Some(company) = data.companies.get(realm) else {
        return json_answer(json!({"QueryResponse": {}, "time": qbo_time(wall_unix())}));
    };
    let mut rows: Vec<&Value> =
        company.of(kind).map(|e| &e.body).filter(|b| query.conditions.iter().all(|c| c.matches(b))).collect();
    json_answer(json!({"QueryResponse": page(&query, kind, &mut rows), "time": qbo_time(wall_unix())}))
}

/// The `QueryResponse` of `rows` (already filtered): counted, or sorted and cut to the page.
fn page(query: &Query, kind: Kind, rows: &mut Vec<&Value>) -> Value {
    if query.count {
        return json!({"totalCount": rows.len()});
    }
    // Entities are kept in id order, which is Intuit's order when none is asked for (and `ORDERBY Id`'s).
    let by_id = |(field, _): &(String, bool)| field.eq_ignore_ascii_case("Id");
    if query.order.len() == 1 && by_id(&query.order[0]) {
        if query.order[0].1 {
            rows.reverse();
        }
        return cut(query, kind, rows);
    }
    for (field, descending) in query.order.iter().rev() {
        rows.sort_by(|a, b| {
            let ordering = query::order_by(a, b, field);
            if *descending { ordering.reverse() } else { ordering }
        });
    }
    cut(query, kind, rows)
}

/// The page of `rows` the query asks for.
fn cut(query: &Query, kind: Kind, rows: &[&Value]) -> Value {
    let found: Vec<Value> = rows.iter().skip(query.start - 1).take(query.max).map(|b| (*b).clone()).collect();
    if found.is_empty() {
        return json!({});
    }
    let count = found.len();
    json!({kind.name(): found, "startPosition": query.start, "maxResults": count})
}

fn json_answer(body: Value) -> Response {
    axum::Json(body).into_response()
}

pub(super) async fn cdc(
    State(shared): State<Arc<Shared>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = pairs(raw.as_deref());
    let _admitted = match admit(&shared, &headers, &realm, &params) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let mut kinds = Vec::new();
    for name in param(&params, "entities").unwrap_or_default().split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match Kind::parse(name) {
            Some(kind) => kinds.push(kind),
            None => return validation("Invalid entity", &format!("CDC is not supported for entity {name}"), "2000"),
        }
    }
    if kinds.is_empty() {
        return validation("Required parameter missing", "entities is required: a comma-separated list", "2000");
    }
    let Some(since) = param(&params, "changedSince").and_then(parse_time) else {
        return validation(
            "Required parameter missing",
            "changedSince is required: an ISO 8601 date or date-time",
            "2000",
        );
    };
    let now = shared.clock.now().max(epoch());
    if since < now - CDC_LOOK_BACK {
        return validation(
            "Invalid changedSince",
            "changedSince cannot be more than 30 days in the past; use the Query API for older changes",
            "2000",
        );
    }
    let data = lock(&shared.quickbooks);
    let empty = super::Company::default();
    let company = data.companies.get(&realm).unwrap_or(&empty);
    let mut left = CDC_CAP;
    let mut responses = Vec::new();
    for kind in kinds {
        let mut changed: Vec<(i64, Value)> =
            company.of(kind).filter(|e| e.updated >= since).map(|e| (e.updated, e.body.clone())).collect();
        changed.extend(company.deleted.iter().filter(|d| d.kind == kind && d.at >= since).map(|d| {
            let body = json!({"domain": "QBO", "status": "Deleted", "Id": d.id.to_string(),
                              "MetaData": {"LastUpdatedTime": qbo_time(d.at)}});
            (d.at, body)
        }));
        // Oldest first, so a client that hits the cap can ask again from the last one it got.
        changed.sort_by_key(|(at, _)| *at);
        changed.truncate(left);
        left -= changed.len();
        let count = changed.len();
        let objects: Vec<Value> = changed.into_iter().map(|(_, body)| body).collect();
        responses.push(if count == 0 {
            json!({})
        } else {
            json!({kind.name(): objects, "startPosition": 1, "maxResults": count, "totalCount": count})
        });
    }
    json_answer(json!({"CDCResponse": [{"QueryResponse": responses}], "time": qbo_time(wall_unix())}))
}

/// Intuit's answer for an id that is not there (deleted included).
pub(super) fn not_found(kind: Kind, id: &str) -> Response {
    validation(
        "Object Not Found",
        &format!(
            "Object Not Found : Something you're trying to use has been made inactive. Check the fields with \
             accounts, customers, items, vendors or employees. ({} {id})",
            kind.name()
        ),
        "610",
    )
}

pub(super) async fn read(
    State(shared): State<Arc<Shared>>,
    Path((realm, entity, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = pairs(raw.as_deref());
    let _admitted = match admit(&shared, &headers, &realm, &params) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    let Some(kind) = Kind::parse(&entity) else {
        return validation("Unsupported Operation", &format!("Operation read is not supported for {entity}"), "500");
    };
    let data = lock(&shared.quickbooks);
    let found = id.parse::<u64>().ok().and_then(|n| data.companies.get(&realm)?.get(kind, n)).map(|e| e.body.clone());
    match found {
        Some(body) => json_answer(json!({kind.name(): body, "time": qbo_time(wall_unix())})),
        None => not_found(kind, &id),
    }
}

pub(super) async fn company_info(
    State(shared): State<Arc<Shared>>,
    Path((realm, _id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut params = pairs(raw.as_deref());
    // Companyinfo predates minor versions in most clients' code; serve it without one.
    if param(&params, "minorversion").is_none() {
        params.push(("minorversion".into(), super::MIN_MINOR_VERSION.to_string()));
    }
    let _admitted = match admit(&shared, &headers, &realm, &params) {
        Ok(admitted) => admitted,
        Err(response) => return *response,
    };
    json_answer(json!({
        "CompanyInfo": {
            "CompanyName": "Demo Coffee Roasters LLC",
            "LegalName": "Demo Coffee Roasters LLC",
            "CompanyAddr": {"Id": "1", "Line1": "1 Roastery Way", "City": "Portland", "CountrySubDivisionCode": "OR",
                            "PostalCode": "97201", "Country": "US"},
            "Country": "US",
            "Email": {"Address": "owner@demo-coffee.example"},
            "FiscalYearStartMonth": "January",
            "SupportedLanguages": "en",
            "domain": "QBO",
            "sparse": false,
            "Id": "1",
            "SyncToken": "3",
            "MetaData": {"CreateTime": qbo_time(epoch() - 400 * 86_400), "LastUpdatedTime": qbo_time(epoch() - 86_400)},
        },
        "time": qbo_time(wall_unix()),
    }))
}
