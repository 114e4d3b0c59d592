//! What a filter means for one record.
//!
//! A restriction looks its path up in the record (see `path`) and tests what it finds:
//!
//! - **missing field**: every test is false, except `!=`, which is true;
//! - **comparisons** (`=`, `!=`, `<`, `<=`, `>`, `>=`) compare the field with the operand when they are
//!   comparable, and are false when not (`!=` true):
//!   - a JSON number and a number, or a JSON number and a quoted string that reads as a number, or a string
//!     field that reads as a number and a bare number, compare numerically (`amount > 10`, `amount = "10"`,
//!     `"10" > 9` all numeric);
//!   - two strings that both read as RFC 3339 timestamps compare as instants (`"2024-01-01T02:00:00+02:00"`
//!     equals `"2024-01-01T00:00:00Z"`); other strings compare by code point, and `=` on strings is exact;
//!   - booleans compare with `true`/`false` (false before true), `null` equals `null`;
//!   - anything else (a string with `true`, an object with a number, …) is not comparable;
//! - **has** (`:`):
//!   - `field:*`: the field is present and not null;
//!   - on an array: some element equals the operand (as `=` would say);
//!   - on an object: it has the operand as a key;
//!   - on a string: it contains the operand, ignoring case;
//!   - on a number, boolean or null: it equals the operand.
//!
//! `AND`, `OR` and `NOT` combine as in boolean logic; `NOT` of a test on a missing field is true.

use std::cmp::Ordering;

use serde_json::Value;

use crate::path::lookup;
use crate::scalar::{Number, parse_timestamp};
use crate::syntax::{Comparison, Expr, Literal, LiteralKind, Restriction, Test};

impl Expr {
    /// Whether `record` satisfies the expression; recursion is bounded by the parser's nesting limit.
    pub(crate) fn matches(&self, record: &Value) -> bool {
        match self {
            Self::And(parts) => parts.iter().all(|part| part.matches(record)),
            Self::Or(parts) => parts.iter().any(|part| part.matches(record)),
            Self::Not(inner) => !inner.matches(record),
            Self::Restriction(restriction) => restriction.matches(record),
        }
    }
}

impl Restriction {
    fn matches(&self, record: &Value) -> bool {
        let field = lookup(record, &self.path);
        match &self.test {
            Test::Present => field.is_some_and(|value| !value.is_null()),
            Test::Compare(comparison, literal) => match field {
                None => *comparison == Comparison::Ne,
                Some(value) => {
                    let ordering = compare_with_literal(value, literal);
                    match comparison {
                        Comparison::Eq => ordering == Some(Ordering::Equal),
                        Comparison::Ne => ordering != Some(Ordering::Equal),
                        Comparison::Lt => ordering == Some(Ordering::Less),
                        Comparison::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                        Comparison::Gt => ordering == Some(Ordering::Greater),
                        Comparison::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
                    }
                }
            },
            Test::Has(literal) => field.is_some_and(|value| has(value, literal)),
        }
    }
}

/// The `:` test on a present field.
fn has(value: &Value, literal: &Literal) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| compare_with_literal(item, literal) == Some(Ordering::Equal)),
        Value::Object(map) => map.contains_key(&literal.text),
        Value::String(text) => text.to_lowercase().contains(&literal.lower),
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            compare_with_literal(value, literal) == Some(Ordering::Equal)
        }
    }
}

/// How a field value orders against an operand, or `None` when they are not comparable.
fn compare_with_literal(value: &Value, literal: &Literal) -> Option<Ordering> {
    match (value, literal.kind) {
        (Value::Null, LiteralKind::Null) => Some(Ordering::Equal),
        (Value::Bool(field), LiteralKind::Bool(operand)) => Some(field.cmp(&operand)),
        (Value::Number(field), LiteralKind::Number | LiteralKind::String) => {
            Some(Number::from_json(field)?.cmp(literal.number?))
        }
        (Value::String(field), LiteralKind::Number) => Some(Number::parse(field)?.cmp(literal.number?)),
        (Value::String(field), LiteralKind::String) => {
            if let Some(operand) = literal.instant
                && let Some(field) = parse_timestamp(field)
            {
                return Some(field.cmp(&operand));
            }
            Some(field.as_str().cmp(literal.text.as_str()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::parse;

    fn record() -> serde_json::Value {
        json!({
            "status": "paid",
            "amount": 250,
            "ratio": 0.5,
            "amount_text": "250",
            "zip": "02134",
            "code": "abc",
            "active": true,
            "archived": false,
            "deleted_at": null,
            "update_time": "2024-03-01T12:00:00Z",
            "local_time": "2024-03-01T14:00:00+02:00",
            "note": "Call Mrs. Smith on Monday",
            "tags": ["vip", "wholesale", 7],
            "customer": {"email": "ann@example.com", "address": {"city": "Lyon"}},
            "line_items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
            "metadata": {"source": "shopify", "1": "one"},
            "big": 9_007_199_254_740_993_u64
        })
    }

    fn check(filter: &str, expected: bool) {
        let parsed = parse(filter).unwrap_or_else(|error| panic!("{filter:?}: {error}"));
        assert_eq!(parsed.matches(&record()), expected, "{filter:?}");
    }

    fn all(cases: &[(&str, bool)]) {
        for (filter, expected) in cases {
            check(filter, *expected);
        }
    }

    #[test]
    fn precedence_follows_aip_160() {
        // OR binds tighter: `false AND (true OR ...)`.
        all(&[
            ("status = refunded AND status = paid OR amount = 250", false),
            ("status = paid OR amount = 0 AND status = refunded", false),
            ("(status = refunded AND status = paid) OR amount = 250", true),
            ("status = paid amount = 250", true),
            ("status = paid amount = 1", false),
        ]);
    }

    #[test]
    fn equality_and_inequality() {
        all(&[
            ("status = paid", true),
            ("status = \"paid\"", true),
            ("status = Paid", false),
            ("status = pai", false),
            ("status != paid", false),
            ("status != refunded", true),
            ("amount = 250", true),
            ("amount = 250.0", true),
            ("amount != 250", false),
            ("active = true", true),
            ("archived = false", true),
            ("active = false", false),
            ("deleted_at = null", true),
            ("deleted_at != null", false),
            ("status = null", false),
            ("status != null", true),
            ("active = \"true\"", false),
            ("active != \"true\"", true),
            ("customer = 1", false),
            ("customer != 1", true),
        ]);
    }

    #[test]
    fn ordering_operators() {
        all(&[
            ("amount > 249", true),
            ("amount > 250", false),
            ("amount >= 250", true),
            ("amount < 251", true),
            ("amount < 250", false),
            ("amount <= 250", true),
            ("ratio < 1", true),
            ("ratio > 0.25", true),
            ("amount > -1e3", true),
            ("code < abd", true),
            ("code > abc", false),
            ("code >= abc", true),
            ("code < B", false),
            ("active > false", true),
            ("active < 1", false),
            ("big > 9007199254740992", true),
            ("big = 9007199254740993", true),
        ]);
    }

    #[test]
    fn numbers_and_numeric_strings() {
        all(&[
            ("amount = \"250\"", true),
            ("amount > \"99\"", true),
            ("amount = \"250x\"", false),
            ("amount < \"x\"", false),
            ("amount_text = 250", true),
            ("amount_text > 99", true),
            ("amount_text = 250.0", true),
            // Two strings compare as text, even when both read as numbers.
            ("amount_text > \"99\"", false),
            ("zip = 2134", true),
            ("zip = \"2134\"", false),
            ("code = 1", false),
            ("code != 1", true),
        ]);
    }

    #[test]
    fn timestamps_compare_as_instants() {
        all(&[
            ("update_time = 2024-03-01T12:00:00Z", true),
            ("update_time = \"2024-03-01T14:00:00+02:00\"", true),
            ("local_time = 2024-03-01T12:00:00Z", true),
            ("local_time > 2024-03-01T13:00:00Z", false),
            ("local_time < 2024-03-01T13:00:00Z", true),
            ("update_time >= \"2024-01-01T00:00:00Z\"", true),
            ("update_time < 2024-03-01T12:00:00.001Z", true),
            // Not a timestamp on one side: plain text order.
            ("update_time > 2024-03-01", true),
            ("update_time = 2024-03-01", false),
        ]);
    }

    #[test]
    fn has_operator() {
        all(&[
            ("status:*", true),
            ("deleted_at:*", false),
            ("missing:*", false),
            ("-missing:*", true),
            ("tags:vip", true),
            ("tags:VIP", false),
            ("tags:7", true),
            ("tags:\"7\"", true),
            ("tags:retail", false),
            ("metadata:source", true),
            ("metadata:1", true),
            ("metadata:shopify", false),
            ("note:smith", true),
            ("note:\"MRS. SMITH\"", true),
            ("note:tuesday", false),
            ("customer.email:\"@EXAMPLE.com\"", true),
            ("amount:250", true),
            ("amount:25", false),
            ("active:true", true),
            ("deleted_at:null", true),
            ("line_items:*", true),
        ]);
    }

    #[test]
    fn missing_fields_fail_every_test_but_not_equal() {
        all(&[
            ("nope = 1", false),
            ("nope != 1", true),
            ("nope < 1", false),
            ("nope <= 1", false),
            ("nope > 1", false),
            ("nope >= 1", false),
            ("nope : x", false),
            ("nope = null", false),
            ("NOT nope = 1", true),
            ("customer.phone != x", true),
            ("status.length = 4", false),
        ]);
    }

    #[test]
    fn nested_paths_and_array_indexes() {
        all(&[
            ("customer.address.city = Lyon", true),
            ("customer.address.city:ly", true),
            ("line_items.0.sku = A-1", true),
            ("line_items.1.qty < 2", true),
            ("line_items.2.sku:*", false),
            ("line_items.2.sku != A-1", true),
            ("tags.0 = vip", true),
            ("line_items.sku = A-1", false),
        ]);
    }

    #[test]
    fn boolean_combinations() {
        all(&[
            ("status = paid AND amount > 100", true),
            ("status = paid AND amount > 300", false),
            ("status = refunded OR amount > 100", true),
            ("NOT status = paid", false),
            ("-status = paid OR -amount = 1", true),
            ("NOT (status = paid AND amount = 1)", true),
            ("(status = paid OR status = refunded) AND (tags:vip OR tags:new) AND NOT deleted_at:*", true),
        ]);
    }

    #[test]
    fn non_object_records_have_no_fields() {
        let filter = parse("a != 1").unwrap();
        assert!(filter.matches(&json!(42)));
        assert!(!parse("a = 1").unwrap().matches(&json!([1])));
    }
}
