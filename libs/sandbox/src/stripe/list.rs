//! Stripe list semantics, as documented for every list endpoint:
//!
//! - objects come newest first by `created` (ties by id);
//! - `limit` is 1..=100, default 10;
//! - `starting_after=<id>` continues after that object, `ending_before=<id>` returns the page just before it (still
//!   newest first); at most one of them; an unknown id is `resource_missing`;
//! - `created=<unix>` or `created[gt|gte|lt|lte]=<unix>` bound the creation time;
//! - `has_more` says whether more objects lie in the direction of pagination;
//! - unknown parameters are refused (`parameter_unknown`), `expand[]` is accepted and ignored.
//!
//! Resource-specific filters (`customer`, `type`) are parsed by the caller from [`ListParams::filters`].

use serde_json::{Value, json};

use super::error::StripeError;
use super::objects::{Collection, Listed, list_key};

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

/// A parsed list request.
#[derive(Debug, Default)]
pub(crate) struct ListParams {
    limit: usize,
    starting_after: Option<String>,
    ending_before: Option<String>,
    created_min: Option<i64>,
    created_max: Option<i64>,
    /// The resource-specific parameters, as given.
    pub(crate) filters: Vec<(String, String)>,
}

impl ListParams {
    /// Parses `query`; `allowed` names the resource-specific parameters (`types` allows `types[]` and `types[N]`).
    pub(crate) fn parse(query: &[(String, String)], allowed: &[&str]) -> Result<Self, StripeError> {
        let mut params = ListParams { limit: DEFAULT_LIMIT, ..Default::default() };
        for (key, value) in query {
            match key.as_str() {
                "limit" => {
                    let limit: i64 = value.parse().map_err(|_| StripeError::invalid_integer("limit", value))?;
                    if !(1..=MAX_LIMIT as i64).contains(&limit) {
                        return Err(StripeError::invalid_param(
                            "limit",
                            format!("Invalid limit: must be between 1 and {MAX_LIMIT}"),
                        ));
                    }
                    params.limit = limit as usize;
                }
                "starting_after" => params.starting_after = Some(value.clone()),
                "ending_before" => params.ending_before = Some(value.clone()),
                "created" => {
                    let at = integer(key, value)?;
                    params.bound_min(at);
                    params.bound_max(at);
                }
                "created[gte]" => params.bound_min(integer(key, value)?),
                "created[gt]" => params.bound_min(integer(key, value)?.saturating_add(1)),
                "created[lte]" => params.bound_max(integer(key, value)?),
                "created[lt]" => params.bound_max(integer(key, value)?.saturating_sub(1)),
                _ if key == "expand" || key.starts_with("expand[") => {}
                _ if key.starts_with("created[") => return Err(StripeError::unknown_parameter(key)),
                _ => {
                    let base = key.split('[').next().unwrap_or(key);
                    if !allowed.contains(&base) || (base != key && !is_array_key(key)) {
                        return Err(StripeError::unknown_parameter(key));
                    }
                    params.filters.push((base.to_owned(), value.clone()));
                }
            }
        }
        if params.starting_after.is_some() && params.ending_before.is_some() {
            return Err(StripeError::invalid_request(
                None,
                "You may only specify one of these parameters: ending_before, starting_after.".to_owned(),
            ));
        }
        Ok(params)
    }

    fn bound_min(&mut self, at: i64) {
        self.created_min = Some(self.created_min.map_or(at, |m| m.max(at)));
    }

    fn bound_max(&mut self, at: i64) {
        self.created_max = Some(self.created_max.map_or(at, |m| m.min(at)));
    }

    /// The values given for one resource-specific filter.
    pub(crate) fn filter(&self, name: &str) -> Vec<&str> {
        self.filters.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// One page of `collection` at `url` (`/v1/charges`), keeping only objects `keep` accepts.
    pub(crate) fn page<T: Listed>(
        &self,
        collection: &Collection<T>,
        url: &str,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Value, StripeError> {
        let items = collection.items();
        // The slice whose `created` satisfies the bounds: the list is sorted by `created` descending.
        let lo = self.created_max.map_or(0, |max| items.partition_point(|i| i.created() > max));
        let hi = self.created_min.map_or(items.len(), |min| items.partition_point(|i| i.created() >= min));
        let window = if lo < hi { &items[lo..hi] } else { &items[0..0] };
        let (data, has_more) = if let Some(cursor) = &self.ending_before {
            let (created, id) =
                collection.key_of(cursor).ok_or_else(|| StripeError::no_such(T::KIND, cursor, "ending_before"))?;
            let end = window.partition_point(|i| list_key(i) > (created, id.as_str()));
            let mut newer: Vec<&T> = window[..end].iter().rev().filter(|i| keep(i)).take(self.limit + 1).collect();
            let has_more = newer.len() > self.limit;
            newer.truncate(self.limit);
            newer.reverse();
            (newer, has_more)
        } else {
            let start = match &self.starting_after {
                Some(cursor) => {
                    let (created, id) = collection
                        .key_of(cursor)
                        .ok_or_else(|| StripeError::no_such(T::KIND, cursor, "starting_after"))?;
                    window.partition_point(|i| list_key(i) >= (created, id.as_str()))
                }
                None => 0,
            };
            let mut older: Vec<&T> = window[start..].iter().filter(|i| keep(i)).take(self.limit + 1).collect();
            let has_more = older.len() > self.limit;
            older.truncate(self.limit);
            (older, has_more)
        };
        Ok(json!({
            "object": "list",
            "data": data.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
            "has_more": has_more,
            "url": url,
        }))
    }
}

fn integer(param: &str, value: &str) -> Result<i64, StripeError> {
    value.parse().map_err(|_| StripeError::invalid_integer(param, value))
}

/// `types[]` or `types[3]`.
fn is_array_key(key: &str) -> bool {
    key.split_once('[')
        .is_some_and(|(_, rest)| rest.strip_suffix(']').is_some_and(|inner| inner.chars().all(|c| c.is_ascii_digit())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::objects::{Customer, Metadata};

    fn collection(n: i64) -> Collection<Customer> {
        Collection::from_items(
            (0..n)
                .map(|i| Customer {
                    id: format!("cus_{i:03}"),
                    // Pairs share a timestamp, so ties by id are exercised.
                    created: 1_000 + i / 2,
                    email: None,
                    name: None,
                    description: None,
                    phone: None,
                    invoice_prefix: String::new(),
                    metadata: Metadata::new(),
                })
                .collect(),
        )
    }

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn ids(page: &Value) -> Vec<String> {
        page["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn starting_after_walks_everything_once_and_ending_before_walks_back() {
        let c = collection(25);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = vec![("limit", "7")];
            if let Some(id) = &cursor {
                q.push(("starting_after", id));
            }
            let page = ListParams::parse(&query(&q), &[]).unwrap().page(&c, "/v1/customers", |_| true).unwrap();
            let got = ids(&page);
            seen.extend(got.clone());
            if !page["has_more"].as_bool().unwrap() {
                break;
            }
            cursor = got.last().cloned();
        }
        let expected: Vec<String> = (0..25).rev().map(|i| format!("cus_{i:03}")).collect();
        assert_eq!(seen, expected);

        let page = ListParams::parse(&query(&[("limit", "3"), ("ending_before", "cus_010")]), &[])
            .unwrap()
            .page(&c, "/v1/customers", |_| true)
            .unwrap();
        assert_eq!(ids(&page), ["cus_013", "cus_012", "cus_011"]);
        assert_eq!(page["has_more"], true);
    }

    #[test]
    fn created_bounds_and_filters_apply() {
        let c = collection(20);
        let page =
            ListParams::parse(&query(&[("created[gte]", "1005"), ("created[lt]", "1007"), ("limit", "100")]), &[])
                .unwrap()
                .page(&c, "/v1/customers", |_| true)
                .unwrap();
        assert_eq!(ids(&page), ["cus_013", "cus_012", "cus_011", "cus_010"]);
        let page = ListParams::parse(&query(&[("created", "1002")]), &[]).unwrap().page(&c, "/", |_| true).unwrap();
        assert_eq!(ids(&page), ["cus_005", "cus_004"]);
        let page = ListParams::parse(&query(&[]), &[]).unwrap().page(&c, "/", |cus| cus.id.ends_with('1')).unwrap();
        assert_eq!(ids(&page), ["cus_011", "cus_001"]);
    }

    #[test]
    fn bad_parameters_are_refused_with_their_name() {
        let err = ListParams::parse(&query(&[("limit", "0")]), &[]).unwrap_err();
        assert_eq!(err.body()["error"]["param"], "limit");
        let err = ListParams::parse(&query(&[("limit", "101")]), &[]).unwrap_err();
        assert_eq!(err.status(), 400);
        let err = ListParams::parse(&query(&[("colour", "red")]), &[]).unwrap_err();
        assert_eq!(err.body()["error"]["code"], "parameter_unknown");
        let err = ListParams::parse(&query(&[("starting_after", "a"), ("ending_before", "b")]), &[]).unwrap_err();
        assert_eq!(err.status(), 400);
        let err = ListParams::parse(&query(&[("starting_after", "cus_nope")]), &[])
            .unwrap()
            .page(&collection(3), "/", |_| true)
            .unwrap_err();
        assert_eq!(err.body()["error"]["code"], "resource_missing");
        let params = ListParams::parse(
            &query(&[("types[]", "a"), ("types[1]", "b"), ("expand[]", "data.customer")]),
            &["types"],
        )
        .unwrap();
        assert_eq!(params.filter("types"), ["a", "b"]);
    }
}
