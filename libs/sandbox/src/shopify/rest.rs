//! The legacy REST Admin API's `GET /admin/api/{version}/orders.json`, kept as a fallback:
//!
//! - filters `status` (`open` by default, `closed`, `cancelled`, `any`), `updated_at_min/max`,
//!   `created_at_min/max`, `since_id`, `financial_status`, `fulfillment_status`, `ids`; `limit` 1..=250 (default 50);
//!   `fields` picks top-level fields;
//! - orders come in id order; more pages are announced in `Link: <...page_info=...>; rel="next"` (and
//!   `rel="previous"`); with `page_info` only `limit` and `fields` may be given;
//! - every answer carries `X-Shopify-Shop-Api-Call-Limit: n/40`; past the bucket it is 429 with a float
//!   `Retry-After`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::not_found;
use super::objects::Order;
use crate::Provider;
use crate::clock::parse_timestamp;
use crate::faults::format_retry_after;
use crate::state::{Shared, lock};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 250;
const FILTERS: &[&str] = &[
    "status",
    "updated_at_min",
    "updated_at_max",
    "created_at_min",
    "created_at_max",
    "since_id",
    "financial_status",
    "fulfillment_status",
    "ids",
];

fn bad_request(errors: Value) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": errors }))).into_response()
}

/// The filters of a request: given directly on the first page, carried inside `page_info` after.
#[derive(Debug, Default, Clone)]
struct Filters(Map<String, Value>);

impl Filters {
    fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    fn keeps(&self, order: &Order) -> bool {
        let status_ok = match self.text("status").unwrap_or("open") {
            "any" => true,
            "cancelled" => order.cancelled_at.is_some(),
            "closed" => order.closed_at.is_some(),
            _ => order.cancelled_at.is_none() && order.closed_at.is_none(),
        };
        let time = |name: &str| self.text(name).and_then(parse_timestamp);
        let bounds_ok = time("updated_at_min").is_none_or(|t| order.updated_at >= t)
            && time("updated_at_max").is_none_or(|t| order.updated_at <= t)
            && time("created_at_min").is_none_or(|t| order.created_at >= t)
            && time("created_at_max").is_none_or(|t| order.created_at <= t);
        let since_ok = self.text("since_id").and_then(|s| s.parse::<u64>().ok()).is_none_or(|since| order.id > since);
        let financial_ok = match self.text("financial_status") {
            None | Some("any") => true,
            Some(wanted) => order.financial_status.eq_ignore_ascii_case(wanted),
        };
        let fulfillment_ok = match self.text("fulfillment_status") {
            None | Some("any") => true,
            Some("shipped") => order.fulfillment_status == "FULFILLED",
            Some("unshipped") | Some("unfulfilled") => order.fulfillment_status == "UNFULFILLED",
            Some("partial") => order.fulfillment_status == "PARTIALLY_FULFILLED",
            Some(_) => true,
        };
        let ids_ok = self
            .text("ids")
            .is_none_or(|ids| ids.split(',').filter_map(|i| i.trim().parse::<u64>().ok()).any(|i| i == order.id));
        status_ok && bounds_ok && since_ok && financial_ok && fulfillment_ok && ids_ok
    }
}

/// Where a page starts: after `last_id` going forward, or before `first_id` going back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Direction {
    Next(u64),
    Previous(u64),
}

fn encode_page_info(filters: &Filters, direction: Direction) -> String {
    let (direction, id) = match direction {
        Direction::Next(id) => ("next", id),
        Direction::Previous(id) => ("prev", id),
    };
    URL_SAFE_NO_PAD.encode(json!({"filters": filters.0, "last_id": id, "direction": direction}).to_string())
}

fn decode_page_info(text: &str) -> Option<(Filters, Direction)> {
    let value: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?).ok()?;
    let id = value.get("last_id")?.as_u64()?;
    let direction = match value.get("direction")?.as_str()? {
        "next" => Direction::Next(id),
        "prev" => Direction::Previous(id),
        _ => return None,
    };
    Some((Filters(value.get("filters")?.as_object()?.clone()), direction))
}

pub(super) async fn orders(
    State(shared): State<Arc<Shared>>,
    Path((shop, version)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !switchboard_signatures::shopify::is_valid_shop_domain(&shop) {
        return not_found();
    }
    if let Err(response) = super::authenticate(&shared, &shop, &headers) {
        return response;
    }
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    let limit = match get("limit").map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => return bad_request(json!({"limit": [format!("must be between 1 and {MAX_LIMIT}")]})),
    };
    let fields: Option<Vec<String>> = get("fields").map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    let (filters, direction) = match get("page_info") {
        Some(page_info) => {
            if let Some((name, _)) =
                params.iter().find(|(k, _)| !matches!(k.as_str(), "page_info" | "limit" | "fields"))
            {
                return bad_request(json!({
                    "page_info": [format!("cannot be combined with {name}: only limit and fields may accompany page_info")]
                }));
            }
            match decode_page_info(page_info) {
                Some((filters, direction)) => (filters, Some(direction)),
                None => return bad_request(json!({"page_info": ["Invalid value."]})),
            }
        }
        None => {
            let mut filters = Map::new();
            for (key, value) in &params {
                if FILTERS.contains(&key.as_str()) {
                    filters.insert(key.clone(), json!(value));
                }
            }
            (Filters(filters), None)
        }
    };

    let (page, has_before, has_after, used) = {
        let mut shops = lock(&shared.shopify);
        let shop_data = shops.shop_mut(&shop);
        if let Err(wait) = shop_data.rest_bucket.take(1.0) {
            let wait = std::time::Duration::from_secs_f64((wait.as_secs_f64() * 10.0).ceil() / 10.0);
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&format_retry_after(Provider::Shopify, wait)) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response.headers_mut().insert("x-shopify-shop-api-call-limit", HeaderValue::from_static("40/40"));
            return response;
        }
        let used = (shop_data.rest_bucket.capacity() - shop_data.rest_bucket.available()).ceil() as u32;
        let kept: Vec<&Order> = shop_data.orders.iter().filter(|o| filters.keeps(o)).collect();
        let (start, end) = match direction {
            None => (0, limit.min(kept.len())),
            Some(Direction::Next(last)) => {
                let start = kept.partition_point(|o| o.id <= last);
                (start, (start + limit).min(kept.len()))
            }
            Some(Direction::Previous(first)) => {
                let end = kept.partition_point(|o| o.id < first);
                (end.saturating_sub(limit), end)
            }
        };
        let page: Vec<Value> = kept[start..end]
            .iter()
            .map(|o| {
                let full = o.to_rest(o.customer_id.and_then(|c| shop_data.customer(c)));
                match &fields {
                    Some(fields) => Value::Object(
                        full.as_object()
                            .map(|m| {
                                m.iter()
                                    .filter(|(k, _)| fields.contains(k))
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    None => full,
                }
            })
            .collect();
        let ids = (kept.get(start).map(|o| o.id), end.checked_sub(1).and_then(|e| kept.get(e)).map(|o| o.id));
        (page, (start > 0).then_some(ids.0).flatten(), (end < kept.len()).then_some(ids.1).flatten(), used)
    };

    let mut response = axum::Json(json!({ "orders": page })).into_response();
    let base = format!("{}/shopify/{shop}/admin/api/{version}/orders.json", shared.base_url);
    let link = |direction: Direction, rel: &str| {
        let mut url = format!("{base}?limit={limit}");
        if let Some(fields) = get("fields") {
            url.push_str(&format!(
                "&fields={}",
                form_urlencoded::byte_serialize(fields.as_bytes()).collect::<String>()
            ));
        }
        format!("<{url}&page_info={}>; rel=\"{rel}\"", encode_page_info(&filters, direction))
    };
    let mut links = Vec::new();
    if let Some(first) = has_before {
        links.push(link(Direction::Previous(first), "previous"));
    }
    if let Some(last) = has_after {
        links.push(link(Direction::Next(last), "next"));
    }
    let headers = response.headers_mut();
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        headers.insert(header::LINK, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("{used}/40")) {
        headers.insert("x-shopify-shop-api-call-limit", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_info_round_trips_filters_and_direction() {
        let mut map = Map::new();
        map.insert("status".into(), json!("any"));
        let text = encode_page_info(&Filters(map), Direction::Next(42));
        let (filters, direction) = decode_page_info(&text).unwrap();
        assert_eq!(filters.text("status"), Some("any"));
        assert_eq!(direction, Direction::Next(42));
        assert!(decode_page_info("garbage!").is_none());
    }
}
