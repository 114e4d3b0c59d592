//! AIP-160 filters over JSON records, as `QueryRecords` takes them in its `filter` and `order_by` fields.
//!
//! [`parse`] turns a filter such as `status = "paid" AND (amount >= 100 OR customer.email:"@example.com")` into
//! a [`Filter`] once per request; [`Filter::matches`] then tests each record (a `serde_json::Value`) against it.
//! [`parse_order_by`] reads `update_time desc, amount` into [`OrderKey`]s, and [`compare`] is the total order
//! records are sorted by, on the values [`lookup`] finds at each key's path.
//!
//! The crate is laid out as the spec reads: `syntax` holds the filter grammar and its parser, `eval` the
//! matching rules, `order` the `order_by` grammar and the sort order, `path` field paths and their lookup,
//! `scalar` how numbers and timestamps compare, and `cursor` the character reader both parsers share.
//!
//! Hostile input stays cheap: a filter or `order_by` is at most 8 KiB, parentheses nest at most 32 deep, a filter
//! holds at most 200 restrictions, and neither parsing nor matching recurses deeper than the nesting limit. Every
//! rejected input gets a [`FilterError`] naming the 1-based character column and what was expected there.
//!
//! This crate does not fetch, store or page records, and does not know their schemas: a path that names nothing
//! simply makes its restriction false.

mod cursor;
mod eval;
mod order;
mod path;
mod scalar;
mod syntax;

pub use crate::order::{OrderKey, compare, parse_order_by};
pub use crate::path::lookup;

/// Longest accepted filter or `order_by`, in bytes.
const MAX_INPUT_BYTES: usize = 8 * 1024;

/// A filter or `order_by` the parser rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("position {position}: {message}")]
pub struct FilterError {
    /// 1-based character (not byte) column where the problem is; one past the end for a truncated input.
    pub position: usize,
    /// What was wrong and what was expected, e.g. `expected a value after '>=' (found end of input)`.
    pub message: String,
}

impl FilterError {
    /// An error at the 0-based character `index`.
    pub(crate) fn at(index: usize, message: impl Into<String>) -> Self {
        Self { position: index + 1, message: message.into() }
    }
}

/// A parsed filter; the empty filter matches every record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// `None` for an empty filter.
    root: Option<syntax::Expr>,
}

impl Filter {
    /// Whether `record` satisfies the filter.
    pub fn matches(&self, record: &serde_json::Value) -> bool {
        self.root.as_ref().is_none_or(|root| root.matches(record))
    }
}

/// Parses an AIP-160 filter; empty or whitespace-only input matches everything.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    Ok(Filter { root: syntax::parse(input)? })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_filters_match_everything() {
        for input in ["", "   ", "\t\n "] {
            let filter = parse(input).unwrap();
            assert!(filter.matches(&json!({})));
            assert!(filter.matches(&json!(null)));
        }
        assert!(Filter::default().matches(&json!([1])));
    }

    /// xorshift64: deterministic, so a failing seed reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Random text over the language's own characters and keywords must never panic, in parsing or in
    /// matching.
    #[test]
    fn random_input_never_panics() {
        const PIECES: &[&str] = &[
            "a",
            "b",
            "x.y",
            "0",
            "1",
            "-",
            ".",
            "(",
            ")",
            "=",
            "!",
            "<",
            ">",
            ":",
            "*",
            "\"",
            "'",
            "\\",
            " ",
            " ",
            "AND",
            "OR",
            "NOT",
            "and",
            "true",
            "null",
            "1e3",
            "-2.5",
            "é",
            ",",
            "desc",
            "\t",
            "2024-01-01T00:00:00Z",
        ];
        let record = json!({"a": [1, "x", null], "b": {"c": "2024-01-01T00:00:00Z"}, "x": {"y": 1.5}, "0": true});
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = (rng.next() % 24) as usize;
            let input: String = (0..len).map(|_| PIECES[(rng.next() % PIECES.len() as u64) as usize]).collect();
            if let Ok(filter) = parse(&input) {
                parsed += 1;
                filter.matches(&record);
            }
            if let Ok(keys) = parse_order_by(&input) {
                for key in keys {
                    let _ = compare(lookup(&record, &key.path), Some(&record));
                }
            }
        }
        // Guards the generator: it must reach the evaluator, not only the error paths.
        assert!(parsed > 200, "only {parsed} random filters parsed");
    }

    #[test]
    fn random_characters_never_panic() {
        let chars: Vec<char> = "ab0(). =!<>:*\"'\\-NOTRDé\u{0}\u{10FFFF}".chars().collect();
        let mut rng = Rng(42);
        for _ in 0..20_000 {
            let len = (rng.next() % 40) as usize;
            let input: String = (0..len).map(|_| chars[(rng.next() % chars.len() as u64) as usize]).collect();
            if let Ok(filter) = parse(&input) {
                filter.matches(&json!({"a": 1}));
            }
            let _ = parse_order_by(&input);
        }
    }

    #[test]
    fn errors_display_their_position() {
        let error = parse("amount >=").unwrap_err();
        assert_eq!(error.to_string(), "position 10: expected a value after '>=' (found end of input)");
    }
}
