//! Sorting: the `order_by` syntax (AIP-132) and the total order records are sorted by.
//!
//! ```text
//! order_by  = [ key { "," key } ] ;      empty or blank: no keys
//! key       = path [ "asc" | "desc" ] ;  ascending by default; asc/desc in any case
//! ```
//!
//! [`compare`] ranks values by type, then within the type: missing and `null` first, then booleans (false
//! first), numbers (numerically, integers and floats exactly), strings, arrays, objects. Among strings, those
//! that read as RFC 3339 timestamps come first, ordered as instants; the rest follow by code point. Ordering
//! timestamps apart from other text keeps the order total (mixing instant and text order could make `a < b < c
//! < a`), which sorting requires. Arrays and objects are equal among themselves.

use std::cmp::Ordering;

use serde_json::Value;

use crate::FilterError;
use crate::cursor::{Cursor, is_word_char};
use crate::path::read_path;
use crate::scalar::{Number, parse_timestamp};

/// One sort key of an `order_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    /// The field path, one segment per element (`["customer", "email"]`).
    pub path: Vec<String>,
    /// Whether the key sorts largest first.
    pub descending: bool,
}

/// Parses `"update_time desc, amount"`: fields comma-separated, each with an optional `asc`/`desc`.
pub fn parse_order_by(input: &str) -> Result<Vec<OrderKey>, FilterError> {
    let mut cursor = Cursor::new(input, "order_by")?;
    let mut keys = Vec::new();
    cursor.skip_whitespace();
    if cursor.at_end() {
        return Ok(keys);
    }
    loop {
        cursor.skip_whitespace();
        let expected = if keys.is_empty() { "a field name" } else { "a field name after ','" };
        let path = read_path(&mut cursor, expected)?;
        cursor.skip_whitespace();
        let mut descending = false;
        if cursor.peek().is_some_and(is_word_char) {
            let direction_at = cursor.pos();
            let direction = cursor.take_while(is_word_char);
            descending = match direction.to_ascii_lowercase().as_str() {
                "asc" => false,
                "desc" => true,
                _ => {
                    return Err(FilterError::at(
                        direction_at,
                        format!(
                            "expected 'asc', 'desc', ',' or end of input after '{}' (found '{direction}')",
                            path.join(".")
                        ),
                    ));
                }
            };
            cursor.skip_whitespace();
        }
        keys.push(OrderKey { path, descending });
        match cursor.peek() {
            None => return Ok(keys),
            Some(',') => cursor.advance(1),
            Some(_) => {
                return Err(cursor.error(format!("expected ',' or end of input (found {})", cursor.found())));
            }
        }
    }
}

/// Total order used for sorting: missing/null first, then bools, numbers, strings (RFC 3339 timestamps compare
/// as instants, before other strings), then arrays and objects.
pub fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let (a, b) = (a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null));
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        // Numbers no f64 holds (only with serde_json's arbitrary precision) sort before the others.
        (Value::Number(a), Value::Number(b)) => match (Number::from_json(a), Number::from_json(b)) {
            (Some(a), Some(b)) => a.cmp(b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        },
        (Value::String(a), Value::String(b)) => match (parse_timestamp(a), parse_timestamp(b)) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.cmp(b),
        },
        _ => Ordering::Equal,
    })
}

/// The type's place in the order.
fn rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(path: &str, descending: bool) -> OrderKey {
        OrderKey { path: path.split('.').map(str::to_owned).collect(), descending }
    }

    #[test]
    fn order_by_syntax() {
        assert_eq!(parse_order_by("").unwrap(), []);
        assert_eq!(parse_order_by("  ").unwrap(), []);
        assert_eq!(
            parse_order_by("update_time desc, amount").unwrap(),
            [key("update_time", true), key("amount", false)]
        );
        assert_eq!(
            parse_order_by(" customer.email ASC ,line_items.0.qty DESC,x").unwrap(),
            [key("customer.email", false), key("line_items.0.qty", true), key("x", false)]
        );
    }

    #[test]
    fn order_by_errors() {
        let cases = [
            ("amount up", "position 8: expected 'asc', 'desc', ',' or end of input after 'amount' (found 'up')"),
            ("a,", "position 3: expected a field name after ',' (found end of input)"),
            ("a,,b", "position 3: expected a field name after ',' (found ',')"),
            (",a", "position 1: expected a field name (found ',')"),
            ("a desc desc", "position 8: expected ',' or end of input (found 'desc')"),
            ("a;b", "position 2: expected ',' or end of input (found ';')"),
            ("a.", "position 3: expected a field name after '.' (found end of input)"),
            ("-a", "position 1: expected a field name (found '-')"),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_order_by(input).unwrap_err().to_string(), expected, "{input:?}");
        }
        let error = parse_order_by(&"a,".repeat(5000)).unwrap_err();
        assert_eq!(error.position, 1);
        assert!(error.message.starts_with("order_by is 10000 bytes long"), "{}", error.message);
    }

    #[test]
    fn types_rank_in_order() {
        let ascending = [
            None,
            Some(json!(null)),
            Some(json!(false)),
            Some(json!(true)),
            Some(json!(-5)),
            Some(json!(1.5)),
            Some(json!(2)),
            Some(json!(u64::MAX)),
            Some(json!("2024-01-01T00:00:00Z")),
            Some(json!("a")),
            Some(json!("b")),
            Some(json!([1])),
            Some(json!({"a": 1})),
        ];
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                let expected = if (i, j) == (0, 1) || (i, j) == (1, 0) { Ordering::Equal } else { i.cmp(&j) };
                assert_eq!(compare(a.as_ref(), b.as_ref()), expected, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn timestamps_sort_as_instants_before_other_text() {
        let mut values = vec![
            json!("2024-01-01T00:30:00 not a timestamp"),
            json!("2024-01-01T01:00:00+02:00"),
            json!("2024-01-01T00:00:00Z"),
            json!("2023-12-31T23:30:00Z"),
        ];
        values.sort_by(|a, b| compare(Some(a), Some(b)));
        assert_eq!(
            values,
            [
                json!("2024-01-01T01:00:00+02:00"),
                json!("2023-12-31T23:30:00Z"),
                json!("2024-01-01T00:00:00Z"),
                json!("2024-01-01T00:30:00 not a timestamp"),
            ]
        );
        assert_eq!(
            compare(Some(&json!("2024-01-01T02:00:00+02:00")), Some(&json!("2024-01-01T00:00:00Z"))),
            Ordering::Equal
        );
    }

    #[test]
    fn numbers_compare_exactly() {
        assert_eq!(compare(Some(&json!(1)), Some(&json!(1.0))), Ordering::Equal);
        assert_eq!(
            compare(Some(&json!(9_007_199_254_740_993_u64)), Some(&json!(9_007_199_254_740_992.0))),
            Ordering::Greater
        );
    }

    /// Sorting panics on an order that is not total; shuffled mixed values must sort without complaint and
    /// come out consistent.
    #[test]
    fn the_order_is_total() {
        let pool = [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-0.0),
            json!(9_007_199_254_740_992_u64),
            json!(9_007_199_254_740_993_u64),
            json!(9_007_199_254_740_992.0),
            json!(0.1),
            json!("2024-01-01T00:00:00Z"),
            json!("2024-01-01T02:00:00+02:00"),
            json!("2024-01-01T00:00:00Z x"),
            json!("2023"),
            json!(""),
            json!([]),
            json!({}),
        ];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        for _ in 0..200 {
            let mut values: Vec<Option<&Value>> = Vec::new();
            for _ in 0..40 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let pick = (state % (pool.len() as u64 + 1)) as usize;
                values.push(pool.get(pick));
            }
            values.sort_by(|a, b| compare(*a, *b));
            for pair in values.windows(2) {
                assert_ne!(compare(pair[0], pair[1]), Ordering::Greater, "{pair:?}");
            }
        }
    }
}
