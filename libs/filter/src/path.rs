//! Field paths, shared by filters and `order_by`: `customer.email`, `line_items.0.sku`.
//!
//! A path is one or more segments joined by `.`, each a non-empty run of letters, digits and `_`. Looking a path
//! up walks the record one segment at a time: in an object a segment is a key; in an array it must be a
//! decimal index (`0` is the first element); anything else, or a key or index that is not there, means the
//! field is missing.

use serde_json::Value;

use crate::FilterError;
use crate::cursor::{Cursor, is_word_char};

/// The value at `path` in `record`, or `None` when any segment is missing.
pub fn lookup<'a>(record: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(record, |value, segment| match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|index| items.get(index)),
        _ => None,
    })
}

/// Reads a path at the cursor; `expected` says what the caller wanted there, for the error when there is no
/// name at all (e.g. "a field name or '(' after 'AND'").
pub(crate) fn read_path(cursor: &mut Cursor, expected: &str) -> Result<Vec<String>, FilterError> {
    let mut segments = Vec::new();
    loop {
        let segment = cursor.take_while(is_word_char);
        if segment.is_empty() {
            let message = if segments.is_empty() {
                format!("expected {expected} (found {})", cursor.found())
            } else {
                format!("expected a field name after '.' (found {})", cursor.found())
            };
            return Err(cursor.error(message));
        }
        segments.push(segment);
        if cursor.peek() != Some('.') {
            return Ok(segments);
        }
        cursor.advance(1);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn lookup_walks_objects_and_arrays() {
        let record = json!({"customer": {"email": "a@b.c"}, "line_items": [{"sku": "X"}, {"sku": "Y"}], "0": "zero"});
        assert_eq!(lookup(&record, &path("customer.email")), Some(&json!("a@b.c")));
        assert_eq!(lookup(&record, &path("line_items.1.sku")), Some(&json!("Y")));
        assert_eq!(lookup(&record, &path("0")), Some(&json!("zero")));
        assert_eq!(lookup(&record, &[]), Some(&record));
        for missing in ["customer.name", "line_items.2.sku", "line_items.sku", "line_items.-1", "customer.email.x"] {
            assert_eq!(lookup(&record, &path(missing)), None, "{missing}");
        }
    }

    #[test]
    fn paths_are_dotted_names() {
        let mut cursor = Cursor::new("line_items.0.sku=1", "filter").unwrap();
        assert_eq!(read_path(&mut cursor, "a field name").unwrap(), path("line_items.0.sku"));
        assert_eq!(cursor.peek(), Some('='));

        let mut cursor = Cursor::new("a..b", "filter").unwrap();
        let error = read_path(&mut cursor, "a field name").unwrap_err();
        assert_eq!(error.to_string(), "position 3: expected a field name after '.' (found '.')");

        let mut cursor = Cursor::new("=1", "filter").unwrap();
        let error = read_path(&mut cursor, "a field name").unwrap_err();
        assert_eq!(error.to_string(), "position 1: expected a field name (found '=')");
    }
}
