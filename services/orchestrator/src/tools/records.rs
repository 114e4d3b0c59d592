//! The built-in read tools over a tenant's synced records, each paging through `QueryRecords`:
//!
//! | tool               | input (besides `kind`, `provider`, `filter`)   | output                                      |
//! |--------------------|------------------------------------------------|---------------------------------------------|
//! | `records.query`    | `order_by`, `limit` (default 10, at most 1000) | `records` (id, provider, connection, data), `count` |
//! | `records.count`    |                                                | `count`                                     |
//! | `records.sum`      | `field` (dotted path)                          | `sum`, `count` (records summed), `matched`  |
//! | `records.group_by` | `field`, optional `sum_field`                  | `groups` (key, count, sum), `matched`       |
//!
//! `filter` and `order_by` are the AIP-160 filter and order of `QueryRecords`. Numbers given as strings (Shopify's
//! money amounts) are summed as numbers; values that are neither are counted as `skipped`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_mesh::context::RequestContext;
use switchboard_proto::connectors::v1 as pb;

use super::{ConnectorsApi, ToolSpec};
use crate::convert::struct_to_json;
use crate::error::ToolError;

/// Records read per `QueryRecords` page.
const PAGE_SIZE: i32 = 1000;
/// Most pages one tool call reads.
const MAX_PAGES: usize = 500;
/// Most records `records.query` returns.
const MAX_LIMIT: usize = 1000;

/// The tools this module answers.
const TOOLS: [(&str, &str); 4] = [
    ("records.query", "Lists synced records of one kind, filtered and ordered"),
    ("records.count", "Counts synced records of one kind that match a filter"),
    ("records.sum", "Sums a numeric field over synced records of one kind that match a filter"),
    ("records.group_by", "Groups synced records of one kind by a field, with a count (and a sum) per group"),
];

/// Whether `tool` is one of the built-in read tools.
pub(crate) fn is_builtin(tool: &str) -> bool {
    TOOLS.iter().any(|(name, _)| *name == tool)
}

/// The built-in tools' specs.
pub(crate) fn specs() -> Vec<ToolSpec> {
    TOOLS
        .iter()
        .map(|(name, description)| ToolSpec {
            name: (*name).to_owned(),
            description: (*description).to_owned(),
            provider: None,
            needs_approval: false,
            read_only: true,
            input_schema: schema(name),
        })
        .collect()
}

fn schema(tool: &str) -> Value {
    let mut properties = json!({
        "kind": {"type": "string", "description": "record kind, such as charge, order, invoice, customer"},
        "provider": {"type": "string", "description": "only records from this provider"},
        "filter": {"type": "string", "description": "AIP-160 filter over the record's fields"},
    });
    let mut required = vec!["kind"];
    if let Some(map) = properties.as_object_mut() {
        match tool {
            "records.query" => {
                map.insert("order_by".into(), json!({"type": "string"}));
                map.insert("limit".into(), json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}));
            }
            "records.sum" => {
                map.insert("field".into(), json!({"type": "string"}));
                required.push("field");
            }
            "records.group_by" => {
                map.insert("field".into(), json!({"type": "string"}));
                map.insert("sum_field".into(), json!({"type": "string"}));
                required.push("field");
            }
            _ => {}
        }
    }
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// A parsed built-in tool input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordsInput {
    kind: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    order_by: String,
    limit: Option<u64>,
    field: Option<String>,
    sum_field: Option<String>,
}

/// What a built-in tool does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Query {
    List { input: RecordsInput, limit: usize },
    Count { input: RecordsInput },
    Sum { input: RecordsInput, field: Vec<String> },
    GroupBy { input: RecordsInput, field: Vec<String>, sum_field: Option<Vec<String>> },
}

fn path(field: &str, name: &str) -> Result<Vec<String>, ToolError> {
    let parts: Vec<String> = field.split('.').map(str::to_owned).collect();
    if field.is_empty() || parts.iter().any(String::is_empty) {
        return Err(ToolError::invalid(format!("input.{name}: a dotted field path such as amount or a.b")));
    }
    Ok(parts)
}

/// Parses `input` for `tool`.
pub(crate) fn parse(tool: &str, input: &Value) -> Result<Query, ToolError> {
    let parsed: RecordsInput =
        serde_json::from_value(input.clone()).map_err(|e| ToolError::invalid(format!("input: {e}")))?;
    if parsed.kind.trim().is_empty() {
        return Err(ToolError::invalid("input.kind: required, such as charge, order or invoice"));
    }
    let allowed = |field: bool, limit: bool, order: bool, sum: bool| {
        let extra = [
            (parsed.field.is_some() && !field, "field"),
            (parsed.limit.is_some() && !limit, "limit"),
            (!parsed.order_by.is_empty() && !order, "order_by"),
            (parsed.sum_field.is_some() && !sum, "sum_field"),
        ];
        match extra.iter().find(|(bad, _)| *bad) {
            Some((_, name)) => Err(ToolError::invalid(format!("input.{name}: not an input of {tool}"))),
            None => Ok(()),
        }
    };
    match tool {
        "records.query" => {
            allowed(false, true, true, false)?;
            let limit = parsed.limit.unwrap_or(10).clamp(1, MAX_LIMIT as u64) as usize;
            Ok(Query::List { input: parsed, limit })
        }
        "records.count" => {
            allowed(false, false, false, false)?;
            Ok(Query::Count { input: parsed })
        }
        "records.sum" => {
            allowed(true, false, false, false)?;
            let field = path(parsed.field.as_deref().unwrap_or_default(), "field")?;
            Ok(Query::Sum { input: parsed, field })
        }
        "records.group_by" => {
            allowed(true, false, false, true)?;
            let field = path(parsed.field.as_deref().unwrap_or_default(), "field")?;
            let sum_field = parsed.sum_field.as_deref().map(|f| path(f, "sum_field")).transpose()?;
            Ok(Query::GroupBy { input: parsed, field, sum_field })
        }
        other => Err(ToolError::invalid(format!("{other} is not a built-in tool"))),
    }
}

/// `value` at `path` in `record`.
fn lookup<'a>(record: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(record, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A number, or a string holding one.
fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A sum kept exact while every term is an integer.
#[derive(Debug, Default, Clone, Copy)]
struct Sum {
    integer: i128,
    float: f64,
    all_integers: bool,
    terms: u64,
}

impl Sum {
    fn new() -> Self {
        Self { all_integers: true, ..Default::default() }
    }

    fn add(&mut self, value: Option<&Value>) -> bool {
        if let Some(Value::Number(n)) = value
            && let Some(i) = n.as_i64()
        {
            self.integer += i128::from(i);
            self.float += i as f64;
            self.terms += 1;
            return true;
        }
        match number(value) {
            Some(x) => {
                self.all_integers = false;
                self.float += x;
                self.terms += 1;
                true
            }
            None => false,
        }
    }

    fn to_json(self) -> Value {
        if self.all_integers
            && let Ok(exact) = i64::try_from(self.integer)
        {
            return json!(exact);
        }
        // Money in decimal strings: two decimals are what a person reads.
        json!((self.float * 100.0).round() / 100.0)
    }
}

/// Runs a built-in tool. `connection` (`connections/{id}`), when given, restricts it to that connection.
pub(crate) async fn run(
    api: &dyn ConnectorsApi,
    context: &RequestContext,
    connection: &str,
    query: &Query,
) -> Result<Value, ToolError> {
    let input = match query {
        Query::List { input, .. }
        | Query::Count { input }
        | Query::Sum { input, .. }
        | Query::GroupBy { input, .. } => input,
    };
    let base = pb::QueryRecordsRequest {
        connection: connection.to_owned(),
        provider: if connection.is_empty() { input.provider.clone() } else { String::new() },
        kind: input.kind.clone(),
        filter: input.filter.clone(),
        order_by: input.order_by.clone(),
        ..Default::default()
    };
    let want = match query {
        Query::List { limit, .. } => Some(*limit),
        _ => None,
    };
    let mut records = Vec::new();
    let mut count = 0u64;
    let mut sum = Sum::new();
    let mut skipped = 0u64;
    let mut groups: BTreeMap<String, (u64, Sum)> = BTreeMap::new();
    let mut page_token = String::new();
    let mut pages = 0usize;
    loop {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(ToolError::invalid(format!(
                "more than {} records match; narrow the filter",
                MAX_PAGES * PAGE_SIZE as usize
            )));
        }
        let page_size = want.map_or(PAGE_SIZE, |w| (w - records.len()).min(PAGE_SIZE as usize) as i32);
        let request = pb::QueryRecordsRequest { page_size, page_token: page_token.clone(), ..base.clone() };
        let page = api.query_records(context, request).await?;
        for record in page.records {
            count += 1;
            let data = record.data.as_ref().map(struct_to_json).unwrap_or(Value::Null);
            match query {
                Query::List { .. } => records.push(json!({
                    "id": record.id,
                    "kind": record.kind,
                    "provider": record.provider,
                    "connection": record.connection,
                    "data": data,
                })),
                Query::Count { .. } => {}
                Query::Sum { field, .. } => {
                    if !sum.add(lookup(&data, field)) {
                        skipped += 1;
                    }
                }
                Query::GroupBy { field, sum_field, .. } => {
                    let key = match lookup(&data, field) {
                        None | Some(Value::Null) => "(none)".to_owned(),
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                    };
                    let entry = groups.entry(key).or_insert_with(|| (0, Sum::new()));
                    entry.0 += 1;
                    if let Some(sum_field) = sum_field
                        && !entry.1.add(lookup(&data, sum_field))
                    {
                        skipped += 1;
                    }
                }
            }
        }
        let done = want.is_some_and(|w| records.len() >= w);
        if page.next_page_token.is_empty() || done {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(match query {
        Query::List { .. } => json!({"kind": input.kind, "count": records.len(), "records": records}),
        Query::Count { .. } => json!({"kind": input.kind, "count": count}),
        Query::Sum { input, .. } => json!({
            "kind": input.kind,
            "field": input.field,
            "sum": sum.to_json(),
            "count": sum.terms,
            "matched": count,
            "skipped": skipped,
        }),
        Query::GroupBy { input, sum_field, .. } => {
            let mut list: Vec<(String, (u64, Sum))> = groups.into_iter().collect();
            list.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
            let groups: Vec<Value> = list
                .into_iter()
                .map(|(key, (n, s))| {
                    let mut group = json!({"key": key, "count": n});
                    if sum_field.is_some()
                        && let Some(map) = group.as_object_mut()
                    {
                        map.insert("sum".into(), s.to_json());
                    }
                    group
                })
                .collect();
            json!({"kind": input.kind, "field": input.field, "groups": groups, "matched": count, "skipped": skipped})
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_per_tool() {
        assert!(matches!(parse("records.sum", &json!({"kind": "charge", "field": "amount"})), Ok(Query::Sum { .. })));
        assert!(parse("records.sum", &json!({"kind": "charge"})).is_err(), "field is required");
        assert!(parse("records.count", &json!({"kind": "charge", "limit": 3})).is_err());
        assert!(parse("records.query", &json!({"kind": "charge", "bogus": 1})).is_err());
        assert!(parse("records.query", &json!({"kind": ""})).is_err());
        match parse("records.query", &json!({"kind": "charge", "limit": 5000})) {
            Ok(Query::List { limit, .. }) => assert_eq!(limit, MAX_LIMIT),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sums_stay_exact_for_integers_and_read_decimal_strings() {
        let mut s = Sum::new();
        assert!(s.add(Some(&json!(1500))) && s.add(Some(&json!(250))));
        assert_eq!(s.to_json(), json!(1750));
        let mut s = Sum::new();
        assert!(s.add(Some(&json!("12.50"))) && s.add(Some(&json!(1))));
        assert!(!s.add(Some(&json!("n/a"))) && !s.add(None));
        assert_eq!(s.to_json(), json!(13.5));
    }
}
