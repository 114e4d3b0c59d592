//! How numbers and timestamps compare, exactly and in a total order.
//!
//! A number is written `-?DIGITS[.DIGITS][(e|E)[+|-]DIGITS]` (leading zeros allowed, so a string such as `"007"`
//! reads as 7); integers are kept as `i128` and others as finite `f64`, and an integer is compared with a float
//! exactly rather than through a lossy conversion, so the order stays transitive and sorting never sees
//! contradictions. Timestamps are RFC 3339 and compare as instants, whatever their offsets.

use std::cmp::Ordering;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A finite number, from a JSON value or from text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i128),
    /// Always finite.
    Float(f64),
}

/// 2^127, the first float beyond `i128`.
const TWO_POW_127: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

impl Number {
    /// A JSON number; `None` only for values no `f64` holds (possible with serde_json's arbitrary precision).
    pub(crate) fn from_json(number: &serde_json::Number) -> Option<Self> {
        if let Some(int) = number.as_i64() {
            Some(Self::Int(int.into()))
        } else if let Some(int) = number.as_u64() {
            Some(Self::Int(int.into()))
        } else {
            number.as_f64().filter(|f| f.is_finite()).map(Self::Float)
        }
    }

    /// Text in the number syntax above, or `None` (also for numbers too large for an `f64`).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        if !is_number_syntax(text) {
            return None;
        }
        if text.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && let Ok(int) = text.parse::<i128>()
        {
            return Some(Self::Int(int));
        }
        text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Self::Float)
    }

    /// Exact numeric order.
    pub(crate) fn cmp(self, other: Self) -> Ordering {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => a.cmp(&b),
            // Both finite, so partial_cmp always answers; -0.0 and 0.0 are equal.
            (Self::Float(a), Self::Float(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            (Self::Int(a), Self::Float(b)) => cmp_int_float(a, b),
            (Self::Float(a), Self::Int(b)) => cmp_int_float(b, a).reverse(),
        }
    }
}

/// Compares an integer with a finite float without rounding either.
fn cmp_int_float(int: i128, float: f64) -> Ordering {
    if float >= TWO_POW_127 {
        return Ordering::Less;
    }
    if float < -TWO_POW_127 {
        return Ordering::Greater;
    }
    let whole = float.trunc();
    // |whole| <= 2^127 and whole is integral, so the conversion is exact (-2^127 is i128::MIN).
    let whole_int = whole as i128;
    int.cmp(&whole_int).then_with(|| {
        if float > whole {
            Ordering::Less
        } else if float < whole {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    })
}

fn is_number_syntax(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut index = usize::from(bytes.first() == Some(&b'-'));
    let digits = |index: &mut usize| {
        let start = *index;
        while bytes.get(*index).is_some_and(u8::is_ascii_digit) {
            *index += 1;
        }
        *index > start
    };
    if !digits(&mut index) {
        return false;
    }
    if bytes.get(index) == Some(&b'.') {
        index += 1;
        if !digits(&mut index) {
            return false;
        }
    }
    if matches!(bytes.get(index), Some(b'e' | b'E')) {
        index += 1;
        if matches!(bytes.get(index), Some(b'+' | b'-')) {
            index += 1;
        }
        if !digits(&mut index) {
            return false;
        }
    }
    index == bytes.len()
}

/// An RFC 3339 timestamp, or `None`.
pub(crate) fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    // Every RFC 3339 timestamp starts with a four-digit year; this skips the parser for ordinary strings.
    if text.len() < 20 || !text.as_bytes().iter().take(4).all(u8::is_ascii_digit) {
        return None;
    }
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> Number {
        Number::parse(text).unwrap_or_else(|| panic!("{text} is a number"))
    }

    #[test]
    fn number_syntax() {
        for text in
            ["0", "-1", "007", "1.5", "-0.25", "1e3", "1E-3", "2.5e+10", "170141183460469231731687303715884105728"]
        {
            assert!(Number::parse(text).is_some(), "{text}");
        }
        for text in ["", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "inf", "NaN", "1_000", " 1", "1 ", "--1", "1e999"]
        {
            assert_eq!(Number::parse(text), None, "{text}");
        }
        assert_eq!(num("007"), Number::Int(7));
        assert_eq!(num("1e3"), Number::Float(1000.0));
    }

    #[test]
    fn json_numbers() {
        let json: serde_json::Value = serde_json::from_str("[1, -2, 18446744073709551615, 1.5]").unwrap();
        let numbers: Vec<_> =
            json.as_array().unwrap().iter().map(|v| Number::from_json(v.as_number().unwrap())).collect();
        assert_eq!(
            numbers,
            [Some(Number::Int(1)), Some(Number::Int(-2)), Some(Number::Int(u64::MAX.into())), Some(Number::Float(1.5))]
        );
    }

    #[test]
    fn mixed_comparisons_are_exact() {
        assert_eq!(num("1").cmp(num("1.0")), Ordering::Equal);
        assert_eq!(num("1").cmp(num("1.5")), Ordering::Less);
        assert_eq!(num("-1").cmp(num("-1.5")), Ordering::Greater);
        assert_eq!(num("-1.5").cmp(num("-1")), Ordering::Less);
        assert_eq!(num("0").cmp(num("-0.0")), Ordering::Equal);
        // 2^53 + 1 is not an f64: a lossy comparison would call it equal to 2^53.
        assert_eq!(num("9007199254740993").cmp(num("9007199254740992.0")), Ordering::Greater);
        assert_eq!(num("1").cmp(num("1e300")), Ordering::Less);
        assert_eq!(num("1").cmp(num("-1e300")), Ordering::Greater);
        assert_eq!(Number::Int(i128::MIN).cmp(num("-1.7014118346046923e38")), Ordering::Equal);
        assert_eq!(Number::Int(i128::MAX).cmp(num("1.7014118346046923e38")), Ordering::Less);
    }

    #[test]
    fn timestamps_are_instants() {
        let a = parse_timestamp("2024-01-01T00:00:00Z").unwrap();
        let b = parse_timestamp("2024-01-01T02:00:00+02:00").unwrap();
        let c = parse_timestamp("2024-01-01T00:00:00.5Z").unwrap();
        assert_eq!(a, b);
        assert!(a < c);
        for text in ["2024-01-01", "2024-01-01T00:00:00", "yesterday", "2024-13-01T00:00:00Z", ""] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
    }
}
