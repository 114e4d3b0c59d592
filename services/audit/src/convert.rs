//! Conversions between wire types (prost `Struct`, `Timestamp`) and what is stored (canonical JSON, µs).

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Timestamp, Value};
use serde_json::Value as Json;
pub(crate) use switchboard_types::now_unix_micros as now_us;

/// Canonical JSON of a `Struct`: keys sorted (serde_json's default map is ordered), no whitespace.
pub(crate) fn struct_to_json(s: &Struct) -> Result<String, String> {
    let mut map = serde_json::Map::new();
    for (k, v) in &s.fields {
        map.insert(k.clone(), value_to_json(v)?);
    }
    serde_json::to_string(&Json::Object(map)).map_err(|e| e.to_string())
}

fn value_to_json(v: &Value) -> Result<Json, String> {
    Ok(match &v.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n)
            .map(Json::Number)
            .ok_or_else(|| format!("{n} is not a JSON number (NaN and infinities cannot be stored)"))?,
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(l)) => Json::Array(l.values.iter().map(value_to_json).collect::<Result<_, _>>()?),
        Some(Kind::StructValue(s)) => {
            let mut map = serde_json::Map::new();
            for (k, v) in &s.fields {
                map.insert(k.clone(), value_to_json(v)?);
            }
            Json::Object(map)
        }
    })
}

/// Parses stored JSON back into a `Struct` (a non-object yields an empty struct).
pub(crate) fn json_to_struct(s: &str) -> Struct {
    match serde_json::from_str::<Json>(s) {
        Ok(Json::Object(map)) => Struct { fields: map.into_iter().map(|(k, v)| (k, json_to_value(v))).collect() },
        _ => Struct::default(),
    }
}

fn json_to_value(v: Json) -> Value {
    let kind = match v {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Json::String(s) => Kind::StringValue(s),
        Json::Array(a) => Kind::ListValue(ListValue { values: a.into_iter().map(json_to_value).collect() }),
        Json::Object(map) => {
            Kind::StructValue(Struct { fields: map.into_iter().map(|(k, v)| (k, json_to_value(v))).collect() })
        }
    };
    Value { kind: Some(kind) }
}

/// Microseconds since the epoch of a `Timestamp`; `None` if out of range or malformed.
pub(crate) fn timestamp_to_us(t: &Timestamp) -> Option<i64> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    t.seconds.checked_mul(1_000_000)?.checked_add(i64::from(t.nanos / 1000))
}

/// A `Timestamp` from microseconds since the epoch.
pub(crate) fn us_to_timestamp(us: i64) -> Timestamp {
    Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_json_round_trip_is_canonical() {
        let s = json_to_struct(r#"{"b":[1,true,null,"x"],"a":{"z":1.5,"y":"q"}}"#);
        assert_eq!(struct_to_json(&s).unwrap(), r#"{"a":{"y":"q","z":1.5},"b":[1.0,true,null,"x"]}"#);
        let nan = Struct { fields: [("n".to_string(), Value { kind: Some(Kind::NumberValue(f64::NAN)) })].into() };
        assert!(struct_to_json(&nan).is_err());
    }

    #[test]
    fn timestamps_round_trip_at_microsecond_precision() {
        let t = Timestamp { seconds: 1_700_000_000, nanos: 123_456_000 };
        assert_eq!(us_to_timestamp(timestamp_to_us(&t).unwrap()), t);
        assert_eq!(us_to_timestamp(-1), Timestamp { seconds: -1, nanos: 999_999_000 });
        assert!(timestamp_to_us(&Timestamp { seconds: 0, nanos: -1 }).is_none());
        assert!(timestamp_to_us(&Timestamp { seconds: i64::MAX, nanos: 0 }).is_none());
    }
}
