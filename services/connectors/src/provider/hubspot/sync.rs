//! HubSpot sync: contacts, companies and deals, each record carrying the ids of the objects it is associated with.
//!
//! - A full pass lists `GET /crm/v3/objects/{type}?limit=100&after=..&properties=..&associations=..`; the cursor is
//!   HubSpot's own `paging.next.after`.
//! - An incremental pass searches `POST /crm/v3/objects/{type}/search` for changes in `[since, now]`, sorted by the
//!   last-change property ascending (`lastmodifieddate` for contacts, `hs_lastmodifieddate` for the others), 200 a
//!   page. The search API pages through at most 10,000 results, so the pass works through a list of time windows:
//!   a window whose first page reports a `total` of 10,000 or more is split in halves (and again) before any of it is
//!   read, and a window that grew past the cap while being read continues from the last change seen. Search results
//!   carry no associations: they are read for the page's ids with v4 batch reads (one call per associated type).
//!
//! The incremental cursor the engine stores is `s:<after>:<lo>-<hi>,<lo>-<hi>...` — the offset in the first window
//! and the windows still to read, in milliseconds (`lo` inclusive, `hi` exclusive) — so a killed pass resumes in the
//! window it was in.
//!
//! Records are stored as `{"id", <every property, flattened>, "createdAt", "updatedAt", "archived",
//! "associations": {"companies": ["7"], ...}}`, the same whether listed, searched, or fetched for a webhook.

use serde_json::{Map, Value, json};

use super::{api_error, send};
use crate::error::ProviderError;
use crate::provider::{Call, Page, RecordIn, rfc3339_us};

/// The list API's largest page.
const LIST_LIMIT: u32 = 100;
/// The search API's largest page.
const SEARCH_LIMIT: usize = 200;
/// How far the search API pages.
pub(crate) const SEARCH_CAP: u64 = 10_000;

/// A record kind: its object type, the property holding its last change, the properties read, and the types
/// whose associations are kept on it.
pub(crate) struct Kind {
    pub(crate) name: &'static str,
    pub(crate) object_type: &'static str,
    modified: &'static str,
    properties: &'static [&'static str],
    associations: &'static [&'static str],
}

pub(crate) static KINDS: [Kind; 3] = [
    Kind {
        name: "company",
        object_type: "companies",
        modified: "hs_lastmodifieddate",
        properties: &[
            "name",
            "domain",
            "industry",
            "city",
            "phone",
            "lifecyclestage",
            "createdate",
            "hs_lastmodifieddate",
        ],
        associations: &["contacts", "deals"],
    },
    Kind {
        name: "contact",
        object_type: "contacts",
        modified: "lastmodifieddate",
        properties: &[
            "email",
            "firstname",
            "lastname",
            "phone",
            "company",
            "jobtitle",
            "city",
            "lifecyclestage",
            "hs_lead_status",
            "createdate",
            "lastmodifieddate",
        ],
        associations: &["companies", "deals"],
    },
    Kind {
        name: "deal",
        object_type: "deals",
        modified: "hs_lastmodifieddate",
        properties: &[
            "dealname",
            "amount",
            "pipeline",
            "dealstage",
            "closedate",
            "dealtype",
            "hs_deal_stage_probability",
            "createdate",
            "hs_lastmodifieddate",
        ],
        associations: &["contacts", "companies"],
    },
];

pub(crate) fn kind(name: &str) -> Result<&'static Kind, ProviderError> {
    KINDS
        .iter()
        .find(|k| k.name == name)
        .ok_or_else(|| ProviderError::Invalid(format!("HubSpot has no record kind {name:?}")))
}

/// The kind whose objects are of `object_type` (`contacts`, `0-1`, `contact`).
pub(crate) fn kind_of_type(object_type: &str) -> Option<&'static Kind> {
    let name = match object_type {
        "contacts" | "contact" | "0-1" => "contact",
        "companies" | "company" | "0-2" => "company",
        "deals" | "deal" | "0-3" => "deal",
        _ => return None,
    };
    KINDS.iter().find(|k| k.name == name)
}

/// A HubSpot object as a record: properties flattened beside the id, associations normalized to id lists.
fn record(kind: &Kind, object: &Value, associations: Map<String, Value>) -> Option<RecordIn> {
    let id = object.get("id")?.as_str()?.to_owned();
    let updated_at = object.get("updatedAt").and_then(Value::as_str).and_then(rfc3339_us).unwrap_or(0);
    let mut data = Map::new();
    data.insert("id".into(), json!(id));
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for (name, value) in properties {
            data.insert(name.clone(), value.clone());
        }
    }
    for name in ["createdAt", "updatedAt", "archived"] {
        if let Some(value) = object.get(name) {
            data.insert(name.into(), value.clone());
        }
    }
    let mut normalized = Map::new();
    for to in kind.associations {
        normalized.insert((*to).to_owned(), associations.get(*to).cloned().unwrap_or_else(|| json!([])));
    }
    data.insert("associations".into(), Value::Object(normalized));
    Some(RecordIn { external_id: id, updated_at_us: updated_at, data: Value::Object(data) })
}

/// The ids in a v3 `associations` member (`{"companies":{"results":[{"id":"7","type":".."}]}}`), by type.
fn v3_associations(object: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(member) = object.get("associations").and_then(Value::as_object) {
        for (to, links) in member {
            let mut ids: Vec<String> = links
                .get("results")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(|l| l.get("id").and_then(Value::as_str).map(str::to_owned)).collect())
                .unwrap_or_default();
            // One pair can be listed once per association type (primary and unlabeled): keep each id once.
            ids.sort();
            ids.dedup();
            out.insert(to.clone(), json!(ids));
        }
    }
    out
}

fn api_url(call: &Call<'_>, path: &str) -> String {
    format!("{}{path}", call.settings.hubspot_api_base.trim_end_matches('/'))
}

/// One record by id with its associations; `None` when HubSpot has no such live object.
pub(crate) async fn fetch_one(call: &Call<'_>, kind: &Kind, id: &str) -> Result<Option<RecordIn>, ProviderError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProviderError::Invalid(format!("{id:?} is not a HubSpot object id")));
    }
    let url = api_url(call, &format!("/crm/v3/objects/{}/{id}", kind.object_type));
    let query = [("properties", kind.properties.join(",")), ("associations", kind.associations.join(","))];
    let response = send(call, |c| c.get(&url).bearer_auth(call.token).query(&query)).await?;
    if response.status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !response.status.is_success() {
        return Err(api_error(&response));
    }
    let object = response.json()?;
    if object.get("archived").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    Ok(record(kind, &object, v3_associations(&object)))
}

/// One page of `kind`: the list when `since_us` is `None`, else the windowed search.
pub(crate) async fn fetch_page(
    call: &Call<'_>,
    kind: &Kind,
    since_us: Option<i64>,
    cursor: Option<&str>,
) -> Result<Page, ProviderError> {
    match since_us {
        None => list_page(call, kind, cursor).await,
        Some(since) => {
            let state = match cursor {
                Some(text) => Windows::parse(text)?,
                None => {
                    let now_ms = switchboard_types::now_unix_micros() / 1000;
                    Windows { after: 0, windows: vec![(since.div_euclid(1000), now_ms + 1)] }
                }
            };
            search_page(call, kind, state).await
        }
    }
}

async fn list_page(call: &Call<'_>, kind: &Kind, cursor: Option<&str>) -> Result<Page, ProviderError> {
    let url = api_url(call, &format!("/crm/v3/objects/{}", kind.object_type));
    let mut query = vec![
        ("limit", LIST_LIMIT.to_string()),
        ("properties", kind.properties.join(",")),
        ("associations", kind.associations.join(",")),
        ("archived", "false".to_owned()),
    ];
    if let Some(after) = cursor.filter(|c| !c.is_empty()) {
        query.push(("after", after.to_owned()));
    }
    let response = send(call, |c| c.get(&url).bearer_auth(call.token).query(&query)).await?;
    if !response.status.is_success() {
        return Err(api_error(&response));
    }
    let body = response.json()?;
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Invalid(format!("HubSpot's {} list has no results", kind.object_type)))?;
    let records = results.iter().filter_map(|o| record(kind, o, v3_associations(o))).collect();
    let next = body.pointer("/paging/next/after").and_then(Value::as_str).map(str::to_owned);
    Ok(Page { records, next, deleted: Vec::new() })
}

/// Where an incremental pass is: the offset in the first window and the windows left, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Windows {
    pub(crate) after: u64,
    pub(crate) windows: Vec<(i64, i64)>,
}

impl Windows {
    pub(crate) fn parse(text: &str) -> Result<Self, ProviderError> {
        let bad = || ProviderError::Invalid(format!("unreadable HubSpot sync cursor {text:?}"));
        let rest = text.strip_prefix("s:").ok_or_else(bad)?;
        let (after, windows) = rest.split_once(':').ok_or_else(bad)?;
        let windows = windows
            .split(',')
            .map(|w| {
                let (lo, hi) = w.split_once('-').ok_or_else(bad)?;
                Ok((lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?))
            })
            .collect::<Result<Vec<(i64, i64)>, ProviderError>>()?;
        if windows.is_empty() || windows.iter().any(|(lo, hi)| lo >= hi) {
            return Err(bad());
        }
        Ok(Self { after: after.parse().map_err(|_| bad())?, windows })
    }

    pub(crate) fn render(&self) -> String {
        let windows: Vec<String> = self.windows.iter().map(|(lo, hi)| format!("{lo}-{hi}")).collect();
        format!("s:{}:{}", self.after, windows.join(","))
    }

    /// Splits the first window in halves; false when it is one millisecond wide.
    pub(crate) fn split_first(&mut self) -> bool {
        let (lo, hi) = self.windows[0];
        if hi - lo < 2 {
            return false;
        }
        let mid = lo + (hi - lo) / 2;
        self.windows[0] = (lo, mid);
        self.windows.insert(1, (mid, hi));
        true
    }

    /// The cursor after a page: the same window further on, the next window, or the end.
    fn advance(mut self, next_after: Option<u64>) -> Option<Self> {
        match next_after {
            Some(after) => {
                self.after = after;
                Some(self)
            }
            None => {
                self.windows.remove(0);
                self.after = 0;
                (!self.windows.is_empty()).then_some(self)
            }
        }
    }
}

async fn search_page(call: &Call<'_>, kind: &Kind, mut state: Windows) -> Result<Page, ProviderError> {
    let url = api_url(call, &format!("/crm/v3/objects/{}/search", kind.object_type));
    loop {
        let (lo, hi) = state.windows[0];
        let body = json!({
            "filterGroups": [{"filters": [
                {"propertyName": kind.modified, "operator": "GTE", "value": lo.to_string()},
                {"propertyName": kind.modified, "operator": "LT", "value": hi.to_string()},
            ]}],
            "sorts": [{"propertyName": kind.modified, "direction": "ASCENDING"}],
            "properties": kind.properties,
            "limit": SEARCH_LIMIT,
            "after": state.after.to_string(),
        });
        let response = send(call, |c| c.post(&url).bearer_auth(call.token).json(&body)).await?;
        if !response.status.is_success() {
            return Err(api_error(&response));
        }
        let answer = response.json()?;
        let total = answer.get("total").and_then(Value::as_u64).unwrap_or(0);
        if state.after == 0 && total >= SEARCH_CAP {
            if state.split_first() {
                tracing::debug!(kind = kind.name, total, lo, hi, "HubSpot search window over the cap; split");
                continue;
            }
            return Err(ProviderError::Invalid(format!(
                "HubSpot reports {total} {} changed within one millisecond ({lo}); the search API cannot page past \
                 {SEARCH_CAP}",
                kind.object_type
            )));
        }
        let results = answer.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
        let ids: Vec<String> =
            results.iter().filter_map(|o| o.get("id").and_then(Value::as_str).map(str::to_owned)).collect();
        let mut links = associations_of(call, kind, &ids).await?;
        let records: Vec<RecordIn> = results
            .iter()
            .filter_map(|o| {
                let id = o.get("id")?.as_str()?;
                record(kind, o, links.remove(id).unwrap_or_default())
            })
            .collect();
        let next_after = answer.pointer("/paging/next/after").and_then(Value::as_str).and_then(|a| a.parse().ok());
        let next = match next_after {
            // The window grew past the cap while being read: go on from the last change seen.
            Some(after) if after >= SEARCH_CAP => {
                let last_ms = records.iter().map(|r| r.updated_at_us.div_euclid(1000)).max().unwrap_or(lo);
                if last_ms <= lo {
                    return Err(ProviderError::Invalid(format!(
                        "HubSpot's {} search window {lo}-{hi} cannot be narrowed",
                        kind.object_type
                    )));
                }
                state.windows[0] = (last_ms, hi);
                state.after = 0;
                Some(state)
            }
            other => state.advance(other),
        };
        return Ok(Page { records, next: next.map(|s| s.render()), deleted: Vec::new() });
    }
}

/// The associations of `ids` (objects of `kind`), by id then associated type, read with v4 batch reads.
async fn associations_of(
    call: &Call<'_>,
    kind: &Kind,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Map<String, Value>>, ProviderError> {
    let mut out: std::collections::HashMap<String, Map<String, Value>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let inputs: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
    let body = json!({"inputs": inputs});
    for to in kind.associations {
        let url = api_url(call, &format!("/crm/v4/associations/{}/{to}/batch/read", kind.object_type));
        let response = send(call, |c| c.post(&url).bearer_auth(call.token).json(&body)).await?;
        // 207 (multi-status) is a partial answer: what it has is still right.
        if !response.status.is_success() {
            return Err(api_error(&response));
        }
        let answer = response.json()?;
        for result in answer.get("results").and_then(Value::as_array).into_iter().flatten() {
            let Some(from) = result.pointer("/from/id").and_then(Value::as_str) else { continue };
            let mut targets: Vec<String> = result
                .get("to")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(|t| match t.get("toObjectId")? {
                            Value::Number(n) => Some(n.to_string()),
                            Value::String(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            targets.sort();
            targets.dedup();
            out.entry(from.to_owned()).or_default().insert((*to).to_owned(), json!(targets));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_windows_split_in_halves() {
        let mut state = Windows { after: 0, windows: vec![(1_000, 2_000)] };
        assert!(state.split_first());
        assert_eq!(state.windows, [(1_000, 1_500), (1_500, 2_000)]);
        let text = state.clone().advance(Some(400)).unwrap().render();
        assert_eq!(text, "s:400:1000-1500,1500-2000");
        assert_eq!(Windows::parse(&text).unwrap().after, 400);
        let next = state.advance(None).unwrap();
        assert_eq!(next.windows, [(1_500, 2_000)]);
        assert_eq!(next.after, 0);
        assert!(next.advance(None).is_none(), "the last window read ends the pass");
        let mut narrow = Windows { after: 0, windows: vec![(5, 6)] };
        assert!(!narrow.split_first(), "one millisecond cannot be split");
        for bad in ["", "o:1", "s:x:1-2", "s:0:", "s:0:5-5", "s:0:1-2,3"] {
            assert!(Windows::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn records_flatten_properties_and_normalize_associations() {
        let object = json!({
            "id": "101", "properties": {"email": "a@b.c", "lastmodifieddate": "2026-10-01T00:00:00.250Z"},
            "createdAt": "2026-09-01T00:00:00.000Z", "updatedAt": "2026-10-01T00:00:00.250Z", "archived": false,
            "associations": {"companies": {"results": [
                {"id": "7", "type": "contact_to_company"}, {"id": "7", "type": "contact_to_company_unlabeled"}]}},
        });
        let contact = kind("contact").unwrap();
        let record = record(contact, &object, v3_associations(&object)).unwrap();
        assert_eq!(record.external_id, "101");
        assert_eq!(record.updated_at_us, rfc3339_us("2026-10-01T00:00:00.250Z").unwrap());
        assert_eq!(record.data["email"], "a@b.c");
        assert_eq!(record.data["associations"], json!({"companies": ["7"], "deals": []}));
        assert!(kind("ticket").is_err());
        assert_eq!(kind_of_type("0-3").map(|k| k.name), Some("deal"));
    }
}
