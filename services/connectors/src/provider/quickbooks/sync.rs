//! Sync through the Query API, and CDC for what the Query API cannot show: deletions.
//!
//! A pass lists `SELECT * FROM <Entity> [WHERE MetaData.LastUpdatedTime >= '<since>'] ORDERBY Id STARTPOSITION n
//! MAXRESULTS 1000` until a page comes back short. It orders by `Id`, not by `LastUpdatedTime`: with offsets for
//! pages, an object edited mid-pass would move to the end of a time-ordered list and shift an unchanged one past
//! the offset, unseen; in id order an edit moves nothing (new objects are appended, deletions are CDC's).
//!
//! An incremental pass then reads `cdc?entities=<Entity>&changedSince=<since>`: deleted objects come back as
//! `{"Id":..,"status":"Deleted"}`: the page names them as deleted and the engine removes those records with the page
//! (webhooks delete them the same way). CDC reaches 30
//! days back: a watermark older than that is clamped, so deletions before it go unseen until a full resync (logged).
//! CDC answers at most 1,000 objects; a full answer is followed by another from its newest object's time.
//!
//! The cursor says where a pass is: `q:<start position>` while listing, `c:<unix seconds>` while reading CDC.

use serde_json::Value;

use super::api::{self, Limiter, Method};
use super::entity_of;
use crate::error::ProviderError;
use crate::provider::{Call, Page, RecordIn, rfc3339_us, us_rfc3339};

/// Intuit's largest page.
pub(super) const PAGE_SIZE: usize = 1000;
/// Most objects one CDC answer holds.
const CDC_CAP: usize = 1000;
/// How far back CDC reaches, less an hour for clocks that disagree.
const CDC_REACH_US: i64 = (30 * 86_400 - 3_600) * 1_000_000;

/// A QuickBooks object as a record: `Id`, and `MetaData.LastUpdatedTime`.
fn record(object: Value) -> Option<RecordIn> {
    let id = object.get("Id").and_then(Value::as_str)?.to_owned();
    let updated = object.pointer("/MetaData/LastUpdatedTime").and_then(Value::as_str).and_then(rfc3339_us).unwrap_or(0);
    Some(RecordIn { external_id: id, updated_at_us: updated, data: object })
}

pub(super) async fn fetch_page(
    call: &Call<'_>,
    limiter: &Limiter,
    kind: &str,
    since_us: Option<i64>,
    cursor: Option<&str>,
) -> Result<Page, ProviderError> {
    let entity =
        entity_of(kind).ok_or_else(|| ProviderError::Invalid(format!("QuickBooks has no record kind {kind:?}")))?;
    match cursor.unwrap_or("q:1").split_once(':') {
        Some(("q", start)) => {
            let start: usize = start
                .parse()
                .map_err(|_| ProviderError::Invalid(format!("unreadable QuickBooks cursor {cursor:?}")))?;
            let filter = since_us
                .map(|us| format!(" WHERE MetaData.LastUpdatedTime >= '{}'", us_rfc3339(us)))
                .unwrap_or_default();
            let statement =
                format!("SELECT * FROM {entity}{filter} ORDERBY Id STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}");
            let response = api::request(call, limiter, Method::Get, "/query", &[("query", statement)]).await?;
            let body = api::read(&response, &format!("listing QuickBooks {entity} objects"))?;
            // The entity's key is absent when nothing matched.
            let objects = match body.pointer(&format!("/QueryResponse/{entity}")) {
                Some(Value::Array(objects)) => objects.clone(),
                Some(_) => return Err(ProviderError::Invalid(format!("QueryResponse.{entity} is not a list"))),
                None if body.get("QueryResponse").is_some() => Vec::new(),
                None => return Err(ProviderError::Invalid("the query answer has no QueryResponse".into())),
            };
            let count = objects.len();
            let records = objects.into_iter().filter_map(record).collect();
            let next = if count >= PAGE_SIZE {
                Some(format!("q:{}", start + count))
            } else {
                since_us.map(|us| format!("c:{}", cdc_since(us).div_euclid(1_000_000)))
            };
            Ok(Page { records, next, deleted: Vec::new() })
        }
        Some(("c", since)) => {
            let since: i64 = since
                .parse()
                .map_err(|_| ProviderError::Invalid(format!("unreadable QuickBooks cursor {cursor:?}")))?;
            let query = [("entities", entity.to_owned()), ("changedSince", us_rfc3339(since * 1_000_000))];
            let response = api::request(call, limiter, Method::Get, "/cdc", &query).await?;
            let body = api::read(&response, &format!("reading QuickBooks changes to {entity} objects"))?;
            let objects: Vec<Value> = body
                .pointer("/CDCResponse/0/QueryResponse")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.get(entity)?.as_array().cloned())
                .flatten()
                .collect();
            let count = objects.len();
            let records: Vec<RecordIn> = objects.into_iter().filter_map(record).collect();
            let newest = records.iter().map(|r| r.updated_at_us).max().unwrap_or(0);
            let full = count >= CDC_CAP;
            if full && newest <= since * 1_000_000 {
                // A thousand changes in one second: asking again from it would answer the same thousand.
                tracing::warn!(
                    entity,
                    "QuickBooks CDC answered its cap within one second; later deletions may be missed"
                );
            }
            let next = (full && newest > since * 1_000_000).then(|| format!("c:{}", newest.div_euclid(1_000_000)));
            let (gone, records): (Vec<RecordIn>, Vec<RecordIn>) =
                records.into_iter().partition(|r| r.data.get("status").and_then(Value::as_str) == Some("Deleted"));
            Ok(Page { records, next, deleted: gone.into_iter().map(|r| r.external_id).collect() })
        }
        _ => Err(ProviderError::Invalid(format!("unreadable QuickBooks cursor {cursor:?}"))),
    }
}

/// Where CDC can start for a pass since `since_us`: no earlier than CDC reaches.
fn cdc_since(since_us: i64) -> i64 {
    let earliest = switchboard_types::now_unix_micros() - CDC_REACH_US;
    if since_us < earliest {
        tracing::info!(
            since = %us_rfc3339(since_us),
            "QuickBooks CDC reaches 30 days back: deletions before then are not seen until a full sync"
        );
    }
    since_us.max(earliest)
}

/// One object by id; `None` when QuickBooks has no such object (or it was deleted).
pub(super) async fn fetch_record(
    call: &Call<'_>,
    limiter: &Limiter,
    kind: &str,
    id: &str,
) -> Result<Option<RecordIn>, ProviderError> {
    let entity =
        entity_of(kind).ok_or_else(|| ProviderError::Invalid(format!("QuickBooks has no record kind {kind:?}")))?;
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let path = format!("/{}/{id}", entity.to_ascii_lowercase());
    let response = api::request(call, limiter, Method::Get, &path, &[]).await?;
    if api::is_not_found(&response) {
        return Ok(None);
    }
    let body = api::read(&response, &format!("reading QuickBooks {entity} {id}"))?;
    let object =
        body.get(entity).cloned().ok_or_else(|| ProviderError::Invalid(format!("no {entity} in the answer")))?;
    Ok(record(object))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_and_tombstones_become_records() {
        let invoice = json!({"Id": "12", "SyncToken": "2",
            "MetaData": {"CreateTime": "2026-10-01T10:00:00-07:00", "LastUpdatedTime": "2026-10-02T10:00:00-07:00"}});
        let r = record(invoice).unwrap();
        assert_eq!(r.external_id, "12");
        assert_eq!(r.updated_at_us, rfc3339_us("2026-10-02T17:00:00Z").unwrap());
        let gone = record(
            json!({"Id": "7", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-11-20T01:00:00-07:00"}}),
        )
        .unwrap();
        assert_eq!(gone.data["status"], "Deleted");
        assert!(record(json!({"status": "Deleted"})).is_none());
    }

    #[test]
    fn cdc_never_starts_beyond_its_reach() {
        let now = switchboard_types::now_unix_micros();
        assert_eq!(cdc_since(now - 1_000_000), now - 1_000_000);
        assert!(cdc_since(0) >= now - CDC_REACH_US);
    }
}
