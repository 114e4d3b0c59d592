//! Shopify connection arguments: the `query` search syntax, `sortKey`/`reverse`, and cursor pagination
//! (`first`/`after`, `last`/`before`).
//!
//! Search syntax supported: space-separated terms (an explicit `AND` is skipped), each `field:value` or
//! `field:<op>value` with op one of `>`, `>=`, `<`, `<=`; values may be quoted with `'` or `"`; a leading `-` negates.
//! Timestamps (`created_at`, `updated_at`, `processed_at`) take RFC 3339 or `YYYY-MM-DD`; other fields compare
//! case-insensitively for equality. Terms on fields an object does not have are ignored, as Shopify ignores them
//! (with a search warning). Free text and `OR` are not supported and are ignored.
//!
//! Cursors are opaque base64 JSON `{"last_id":..,"last_value":..}`, as Shopify's look: a page after a cursor holds
//! the objects strictly after (sort value, id) in the requested order, so objects updated while paging move to the
//! end of an `UPDATED_AT` walk rather than being skipped.

use std::cmp::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::clock::parse_timestamp;

/// Most items a page may hold.
pub(crate) const MAX_PAGE: i64 = 250;

/// A value objects are sorted by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SortValue {
    Int(i64),
    Text(String),
}

/// What a connection's objects expose to search and sorting.
pub(crate) trait Searchable {
    fn id(&self) -> u64;
    /// The value of a sort key (`ID`, `UPDATED_AT`, ...), `None` if the type has no such key.
    fn sort_value(&self, key: &str) -> Option<SortValue>;
    /// A timestamp search field (`updated_at`), in unix seconds.
    fn timestamp(&self, field: &str) -> Option<i64>;
    /// Values of a text search field (`status`, `email`); `None` if the type has no such field.
    fn text(&self, field: &str) -> Option<Vec<String>>;
}

/// Connection arguments, resolved from the field's arguments and the variables.
#[derive(Debug, Default, Clone)]
pub(crate) struct ConnectionArgs {
    pub(crate) first: Option<i64>,
    pub(crate) last: Option<i64>,
    pub(crate) after: Option<String>,
    pub(crate) before: Option<String>,
    pub(crate) query: Option<String>,
    pub(crate) sort_key: Option<String>,
    pub(crate) reverse: bool,
}

impl ConnectionArgs {
    /// The page size asked for (what the cost is computed from).
    pub(crate) fn page_size(&self) -> i64 {
        self.first.or(self.last).unwrap_or(0)
    }
}

/// Why a connection could not be paged: the message is Shopify's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArgumentError(pub(crate) String);

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
struct Term {
    negated: bool,
    field: String,
    op: Op,
    value: String,
}

/// Splits a search query into terms.
fn parse_query(query: &str) -> Vec<Term> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in query.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            None => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
        .into_iter()
        .filter(|t| t != "AND")
        .filter_map(|token| {
            let (negated, token) = match token.strip_prefix('-') {
                Some(rest) => (true, rest.to_owned()),
                None => (false, token),
            };
            let (field, rest) = token.split_once(':')?;
            let (op, value) = [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)]
                .into_iter()
                .find_map(|(prefix, op)| rest.strip_prefix(prefix).map(|v| (op, v)))
                .unwrap_or((Op::Eq, rest));
            Some(Term { negated, field: field.to_lowercase(), op, value: value.to_owned() })
        })
        .collect()
}

fn term_matches<T: Searchable>(item: &T, term: &Term) -> bool {
    let matched = if let Some(at) = item.timestamp(&term.field) {
        let Some(bound) = parse_timestamp(&term.value) else {
            return true;
        };
        match term.op {
            Op::Eq => at == bound,
            Op::Gt => at > bound,
            Op::Ge => at >= bound,
            Op::Lt => at < bound,
            Op::Le => at <= bound,
        }
    } else if let Some(values) = item.text(&term.field) {
        let wanted = term.value.to_lowercase();
        match term.op {
            Op::Eq => values.iter().any(|v| v.to_lowercase() == wanted),
            _ => true,
        }
    } else {
        return true;
    };
    matched != term.negated
}

/// A cursor for (value, id).
fn encode_cursor(value: &SortValue, id: u64) -> String {
    let last_value = match value {
        SortValue::Int(n) => json!(n),
        SortValue::Text(t) => json!(t),
    };
    STANDARD.encode(json!({"last_id": id, "last_value": last_value}).to_string())
}

fn decode_cursor(cursor: &str) -> Option<(SortValue, u64)> {
    let bytes = STANDARD.decode(cursor.trim()).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    let id = value.get("last_id")?.as_u64()?;
    let sort = match value.get("last_value")? {
        Value::Number(n) => SortValue::Int(n.as_i64()?),
        Value::String(s) => SortValue::Text(s.clone()),
        _ => return None,
    };
    Some((sort, id))
}

/// A cursor for position `index` of a nested connection (which always has a single page).
pub(crate) fn index_cursor(index: u64) -> String {
    encode_cursor(&SortValue::Int(index as i64), index)
}

/// One page of `items`.
#[derive(Debug)]
pub(crate) struct Page<'a, T> {
    pub(crate) items: Vec<(String, &'a T)>,
    pub(crate) has_next: bool,
    pub(crate) has_previous: bool,
}

/// Filters, sorts and pages `items`. `sort_keys` are the type's allowed `sortKey` values; `type_name` names its
/// enum in errors (`OrderSortKeys`).
pub(crate) fn paginate<'a, T: Searchable>(
    items: &'a [T],
    args: &ConnectionArgs,
    sort_keys: &[&str],
    type_name: &str,
) -> Result<Page<'a, T>, ArgumentError> {
    let (size, forward) = match (args.first, args.last) {
        (Some(_), Some(_)) => {
            return Err(ArgumentError("Passing both `first` and `last` to paginate is not supported.".into()));
        }
        (Some(n), None) => (n, true),
        (None, Some(n)) => (n, false),
        (None, None) => return Err(ArgumentError("you must provide one of first or last".into())),
    };
    if !(0..=MAX_PAGE).contains(&size) {
        return Err(ArgumentError(format!(
            "The page size must be between 0 and {MAX_PAGE}; {} {size} was given.",
            if forward { "first" } else { "last" }
        )));
    }
    let key = args.sort_key.as_deref().unwrap_or("ID");
    if !sort_keys.contains(&key) {
        return Err(ArgumentError(format!(
            "Argument 'sortKey' has an invalid value ({key}). Expected type '{type_name}'."
        )));
    }
    let terms = args.query.as_deref().map(parse_query).unwrap_or_default();
    let mut sorted: Vec<(SortValue, &T)> = items
        .iter()
        .filter(|item| terms.iter().all(|t| term_matches(*item, t)))
        .map(|item| (item.sort_value(key).unwrap_or(SortValue::Int(0)), item))
        .collect();
    // Keys are compared by reference: sorting must not clone text sort values.
    let order =
        |a: (&SortValue, u64), b: (&SortValue, u64)| -> Ordering { if args.reverse { b.cmp(&a) } else { a.cmp(&b) } };
    sorted.sort_by(|a, b| order((&a.0, a.1.id()), (&b.0, b.1.id())));

    let invalid = || ArgumentError("Invalid cursor for current pagination sort.".into());
    let after = args.after.as_deref().map(|c| decode_cursor(c).ok_or_else(invalid)).transpose()?;
    let before = args.before.as_deref().map(|c| decode_cursor(c).ok_or_else(invalid)).transpose()?;
    let start = after.map_or(0, |(value, id)| {
        sorted.partition_point(|(v, item)| order((v, item.id()), (&value, id)) != Ordering::Greater)
    });
    let end = before.map_or(sorted.len(), |(value, id)| {
        sorted.partition_point(|(v, item)| order((v, item.id()), (&value, id)) == Ordering::Less)
    });
    let window = if start < end { &sorted[start..end] } else { &sorted[0..0] };
    let size = size as usize;
    let (slice, has_next, has_previous) = if forward {
        let take = size.min(window.len());
        (&window[..take], window.len() > take || end < sorted.len(), start > 0)
    } else {
        let skip = window.len().saturating_sub(size);
        (&window[skip..], end < sorted.len(), skip > 0 || start > 0)
    };
    Ok(Page {
        items: slice.iter().map(|(v, item)| (encode_cursor(v, item.id()), *item)).collect(),
        has_next,
        has_previous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Thing {
        id: u64,
        updated: i64,
        status: &'static str,
    }

    impl Searchable for Thing {
        fn id(&self) -> u64 {
            self.id
        }
        fn sort_value(&self, key: &str) -> Option<SortValue> {
            match key {
                "ID" => Some(SortValue::Int(self.id as i64)),
                "UPDATED_AT" => Some(SortValue::Int(self.updated)),
                _ => None,
            }
        }
        fn timestamp(&self, field: &str) -> Option<i64> {
            (field == "updated_at").then_some(self.updated)
        }
        fn text(&self, field: &str) -> Option<Vec<String>> {
            (field == "status").then(|| vec![self.status.to_owned()])
        }
    }

    fn things() -> Vec<Thing> {
        (1..=10)
            .map(|id| Thing { id, updated: 100 - (id as i64 % 4), status: if id % 2 == 0 { "open" } else { "closed" } })
            .collect()
    }

    fn args(first: i64, after: Option<String>) -> ConnectionArgs {
        ConnectionArgs { first: Some(first), after, sort_key: Some("UPDATED_AT".into()), ..Default::default() }
    }

    #[test]
    fn forward_pages_cover_everything_once_in_sort_order() {
        let items = things();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = paginate(&items, &args(3, after.clone()), &["ID", "UPDATED_AT"], "ThingSortKeys").unwrap();
            seen.extend(page.items.iter().map(|(_, t)| (t.updated, t.id)));
            if !page.has_next {
                break;
            }
            after = page.items.last().map(|(c, _)| c.clone());
        }
        let mut expected: Vec<(i64, u64)> = items.iter().map(|t| (t.updated, t.id)).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn last_and_before_page_backwards_and_reverse_flips() {
        let items = things();
        let by_id = |a: ConnectionArgs| {
            paginate(&items, &a, &["ID"], "T").unwrap().items.iter().map(|(_, t)| t.id).collect::<Vec<_>>()
        };
        assert_eq!(by_id(ConnectionArgs { last: Some(3), ..Default::default() }), [8, 9, 10]);
        assert_eq!(by_id(ConnectionArgs { first: Some(3), reverse: true, ..Default::default() }), [10, 9, 8]);
        let page = paginate(&items, &ConnectionArgs { first: Some(4), ..Default::default() }, &["ID"], "T").unwrap();
        let before = page.items.last().map(|(c, _)| c.clone());
        assert_eq!(by_id(ConnectionArgs { last: Some(2), before, ..Default::default() }), [2, 3]);
    }

    #[test]
    fn queries_filter_by_timestamp_and_text() {
        let items = vec![
            Thing { id: 1, updated: 1_793_491_200, status: "open" },
            Thing { id: 2, updated: 1_793_491_100, status: "closed" },
        ];
        let only = |q: &str| {
            let a = ConnectionArgs { first: Some(10), query: Some(q.into()), ..Default::default() };
            paginate(&items, &a, &["ID"], "T").unwrap().items.iter().map(|(_, t)| t.id).collect::<Vec<_>>()
        };
        assert_eq!(only("updated_at:>='2026-11-01T00:00:00Z'"), [1]);
        assert_eq!(only("updated_at:<2026-11-01T00:00:00Z"), [2]);
        assert_eq!(only("status:OPEN"), [1]);
        assert_eq!(only("-status:open AND colour:red"), [2]);
        assert_eq!(only("updated_at:>=\"2026-10-31\" status:closed"), [2]);
    }

    #[test]
    fn bad_arguments_are_refused() {
        let items = things();
        assert!(paginate(&items, &ConnectionArgs::default(), &["ID"], "T").is_err());
        assert!(paginate(&items, &ConnectionArgs { first: Some(251), ..Default::default() }, &["ID"], "T").is_err());
        let bad_cursor = ConnectionArgs { first: Some(1), after: Some("nope".into()), ..Default::default() };
        assert!(paginate(&items, &bad_cursor, &["ID"], "T").is_err());
        let bad_key = ConnectionArgs { first: Some(1), sort_key: Some("COLOUR".into()), ..Default::default() };
        assert!(paginate(&items, &bad_key, &["ID"], "T").unwrap_err().0.contains("COLOUR"));
    }
}
