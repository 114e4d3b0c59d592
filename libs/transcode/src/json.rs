//! From a REST request to the RPC's request message, and from the response message back to JSON.
//!
//! The request is assembled as one proto3-JSON object (path variables, query parameters, body), then parsed once
//! by prost-reflect with unknown fields denied, so every JSON rule (names, 64-bit integers as strings,
//! well-known types, enums by name) is prost-reflect's, not ours. Query parameters follow HTML form encoding
//! (`+` is a space); nested fields are `a.b=1`, repeated fields repeat the key, enums go by name.

use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions};
use serde_json::{Map, Value};

use crate::TranscodeError;
use crate::path_template::percent_decode;
use crate::routes::{BodyRule, Route, field_path};

fn invalid(message: impl Into<String>) -> TranscodeError {
    TranscodeError::InvalidArgument(message.into())
}

/// Well-known message types written as a JSON string (or scalar) rather than an object.
fn is_scalar_like(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
            | "google.protobuf.BoolValue"
            | "google.protobuf.Int32Value"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.FloatValue"
            | "google.protobuf.DoubleValue"
    )
}

/// A text value for `field` as the JSON proto3 parser expects it.
fn typed(field: &FieldDescriptor, text: &str, source: &str) -> Result<Value, TranscodeError> {
    let bad = |what: &str| invalid(format!("{source}: {text:?} is not {what}"));
    Ok(match field.kind() {
        Kind::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        Kind::Double | Kind::Float => match text.parse::<f64>() {
            Ok(n) => serde_json::Number::from_f64(n).map(Value::Number).unwrap_or_else(|| Value::String(text.into())),
            Err(_) => return Err(bad("a number")),
        },
        // Integers go as strings: the proto3 JSON parser accepts them for every integer type, and range checks
        // stay its job.
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => Value::String(text.into()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => Value::String(text.into()),
        // Enums by name, or by number.
        Kind::Enum(_) => match text.parse::<i32>() {
            Ok(number) => Value::from(number),
            Err(_) => Value::String(text.into()),
        },
        Kind::String | Kind::Bytes => Value::String(text.into()),
        Kind::Message(m) if m.full_name() == "google.protobuf.BoolValue" => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        Kind::Message(m) if is_scalar_like(&m) => Value::String(text.into()),
        Kind::Message(_) => {
            return Err(invalid(format!(
                "{source}: {} is a message; set its fields as {}.<field>",
                field.name(),
                field.name()
            )));
        }
    })
}

/// Sets the field at dotted `path` in `object` (JSON names), creating intermediate objects.
fn set(
    object: &mut Map<String, Value>,
    message: &MessageDescriptor,
    path: &str,
    text: &str,
    source: &str,
    repeatable: bool,
) -> Result<(), TranscodeError> {
    let unknown = |e: String| invalid(format!("{source}: unknown field {path:?} ({e})"));
    let field = field_path(message, path).map_err(unknown)?;
    let mut target = object;
    let mut current = message.clone();
    let segments: Vec<&str> = path.split('.').collect();
    for segment in &segments[..segments.len().saturating_sub(1)] {
        let f = current
            .get_field_by_name(segment)
            .or_else(|| current.get_field_by_json_name(segment))
            .ok_or_else(|| unknown(segment.to_string()))?;
        let Kind::Message(inner) = f.kind() else { return Err(unknown(segment.to_string())) };
        current = inner;
        let entry = target.entry(f.json_name().to_owned()).or_insert_with(|| Value::Object(Map::new()));
        target = match entry {
            Value::Object(map) => map,
            _ => return Err(invalid(format!("{source}: {path} conflicts with another value"))),
        };
    }
    let value = typed(&field, text, source)?;
    let key = field.json_name().to_owned();
    if field.is_map() {
        return Err(invalid(format!("{source}: map field {path} cannot be set from the URL")));
    }
    if field.is_list() {
        match target.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(items) => items.push(value),
            _ => return Err(invalid(format!("{source}: {path} conflicts with another value"))),
        }
    } else if target.contains_key(&key) && !repeatable {
        return Err(invalid(format!("{source}: {path} is given more than once but is not a repeated field")));
    } else {
        target.insert(key, value);
    }
    Ok(())
}

/// Decodes an HTML-form query component (`+` is a space).
fn form_decode(component: &str) -> Option<String> {
    percent_decode(&component.replace('+', " "), false)
}

/// The RPC request message, encoded, for a REST request on `route`.
pub fn request(
    route: &Route,
    bindings: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, TranscodeError> {
    let input = route.method.input();
    let body_text = std::str::from_utf8(body).map_err(|_| invalid("the body is not UTF-8 JSON"))?.trim();
    let mut object = match &route.body {
        BodyRule::Whole if !body_text.is_empty() => match serde_json::from_str::<Value>(body_text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(invalid("the body must be a JSON object")),
            Err(e) => return Err(invalid(format!("the body is not valid JSON: {e}"))),
        },
        BodyRule::Field(name) if !body_text.is_empty() => {
            let value: Value =
                serde_json::from_str(body_text).map_err(|e| invalid(format!("the body is not valid JSON: {e}")))?;
            let field = input.get_field_by_name(name).ok_or_else(|| invalid(format!("no body field {name}")))?;
            let mut map = Map::new();
            map.insert(field.json_name().to_owned(), value);
            map
        }
        BodyRule::None if !body_text.is_empty() => {
            return Err(invalid(format!("{} {} takes no body", route.http_method, route.template)));
        }
        _ => Map::new(),
    };

    // Path variables win over the body: the URL names the resource.
    for (path, value) in bindings {
        remove_path(&mut object, &input, path);
        set(&mut object, &input, path, value, "path", false)?;
    }

    if let Some(query) = query.filter(|q| !q.is_empty()) {
        if route.body == BodyRule::Whole {
            let first = query.split('&').next().unwrap_or_default();
            let name = first.split('=').next().unwrap_or_default();
            return Err(invalid(format!(
                "unknown query parameter {:?}: this method takes all its fields in the body",
                form_decode(name).unwrap_or_default()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key =
                form_decode(key).ok_or_else(|| invalid("a query parameter name is not valid percent-encoding"))?;
            let value = form_decode(value)
                .ok_or_else(|| invalid(format!("query parameter {key}: invalid percent-encoding")))?;
            if bindings.iter().any(|(bound, _)| *bound == key) {
                return Err(invalid(format!("query parameter {key:?} is already bound by the path")));
            }
            if let BodyRule::Field(body_field) = &route.body
                && (key == *body_field || key.starts_with(&format!("{body_field}.")))
            {
                return Err(invalid(format!("query parameter {key:?} is part of the body")));
            }
            let field = field_path(&input, &key).map_err(|_| invalid(format!("unknown query parameter {key:?}")))?;
            let repeat = !seen.insert(key.clone());
            if repeat && !field.is_list() {
                return Err(invalid(format!("query parameter {key:?} is given more than once but is not repeated")));
            }
            set(&mut object, &input, &key, &value, "query", false)?;
        }
    }

    // Track where parsing fails, so the error names the field, not just the problem.
    let mut track = serde_path_to_error::Track::new();
    let value = Value::Object(object);
    let deserializer = serde_path_to_error::Deserializer::new(&value, &mut track);
    let message = DynamicMessage::deserialize(input, deserializer).map_err(|e| {
        let path = track.path().to_string();
        let at = if path.is_empty() || path == "." { String::new() } else { format!(" at {path}") };
        invalid(format!("the request does not fit {}{at}: {e}", route.method.input().full_name()))
    })?;
    Ok(message.encode_to_vec())
}

/// Removes a body value the path also sets (the path wins).
fn remove_path(object: &mut Map<String, Value>, message: &MessageDescriptor, path: &str) {
    let Ok(field) = field_path(message, path) else { return };
    if !path.contains('.') {
        object.remove(field.json_name());
        object.remove(field.name());
    }
}

/// How responses are rendered: complete objects (fields with default values included), lowerCamelCase names,
/// 64-bit integers as strings.
fn serialize_options() -> SerializeOptions {
    SerializeOptions::new().skip_default_fields(false).use_proto_field_name(false).stringify_64_bit_integers(true)
}

/// The JSON of a response message on `route` (its `response_body` field when the rule names one).
pub fn response(route: &Route, bytes: &[u8]) -> Result<Value, TranscodeError> {
    let message =
        DynamicMessage::decode(route.method.output(), bytes).map_err(|e| TranscodeError::Response(e.to_string()))?;
    let json = message
        .serialize_with_options(serde_json::value::Serializer, &serialize_options())
        .map_err(|e| TranscodeError::Response(e.to_string()))?;
    match &route.response_body {
        None => Ok(json),
        Some(field) => {
            let json_name =
                route.method.output().get_field_by_name(field).map(|f| f.json_name().to_owned()).unwrap_or_default();
            Ok(json.get(&json_name).cloned().unwrap_or(Value::Null))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RouteTable;

    fn table() -> RouteTable {
        RouteTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    fn decode(route: &Route, bytes: &[u8]) -> Value {
        let m = DynamicMessage::decode(route.method.input(), bytes).unwrap();
        m.serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new()).unwrap()
    }

    #[test]
    fn body_star_takes_camel_and_original_names() {
        let t = table();
        let (route, bindings) = t.resolve(&http::Method::POST, "/v1/auth:refresh").unwrap();
        for body in [r#"{"refreshToken":"t1"}"#, r#"{"refresh_token":"t1"}"#] {
            let bytes = request(&route, &bindings, None, body.as_bytes()).unwrap();
            assert_eq!(decode(&route, &bytes)["refreshToken"], "t1");
        }
    }

    #[test]
    fn unknown_fields_and_parameters_are_named() {
        let t = table();
        let (route, bindings) = t.resolve(&http::Method::POST, "/v1/auth:refresh").unwrap();
        let err = request(&route, &bindings, None, br#"{"refreshToken":"t","sneaky":1}"#).unwrap_err();
        assert!(err.to_string().contains("sneaky"), "{err}");
        let err = request(&route, &bindings, Some("x=1"), b"{}").unwrap_err();
        assert!(err.to_string().contains("\"x\""), "{err}");
        let (list, b) = t.resolve(&http::Method::GET, "/v1/audit/events").unwrap();
        let err = request(&list, &b, Some("pageSize=5&colour=red"), b"").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn query_parameters_bind_with_types_and_form_decoding() {
        let t = table();
        let (list, b) = t.resolve(&http::Method::GET, "/v1/audit/events").unwrap();
        let bytes = request(
            &list,
            &b,
            Some(
                "page_size=5&action=auth.login&actor=user%3A1+2&orderAscending=true&startTime=2026-01-02T03%3A04%3A05Z",
            ),
            b"",
        )
        .unwrap();
        let json = decode(&list, &bytes);
        assert_eq!(json["pageSize"], 5);
        assert_eq!(json["actor"], "user:1 2");
        assert_eq!(json["orderAscending"], true);
        assert_eq!(json["startTime"], "2026-01-02T03:04:05Z");
        let err = request(&list, &b, Some("action=a&action=b"), b"").unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
        let err = request(&list, &b, Some("pageSize=lots"), b"").unwrap_err();
        assert!(matches!(err, TranscodeError::InvalidArgument(_)), "{err}");
        let err = request(&list, &b, None, b"{\"a\":1}").unwrap_err();
        assert!(err.to_string().contains("takes no body"), "{err}");
    }

    #[test]
    fn path_variables_bind_and_win_over_the_body() {
        let t = table();
        let (route, b) = t.resolve(&http::Method::POST, "/v1/tenants/acme/users/42:disable").unwrap();
        let bytes = request(&route, &b, None, br#"{"name":"tenants/evil/users/1","reason":"left"}"#).unwrap();
        let json = decode(&route, &bytes);
        assert_eq!(json["name"], "tenants/acme/users/42");
        assert_eq!(json["reason"], "left");
    }

    #[test]
    fn body_field_rule_binds_the_body_to_that_field() {
        let t = table();
        let (route, b) = t.resolve(&http::Method::POST, "/v1/tenants").unwrap();
        assert_eq!(route.body, BodyRule::Field("tenant".into()));
        let bytes = request(&route, &b, None, br#"{"slug":"acme","displayName":"Acme"}"#).unwrap();
        assert_eq!(decode(&route, &bytes)["tenant"]["slug"], "acme");
    }

    #[test]
    fn responses_are_complete_camel_case_objects() {
        let t = table();
        let (route, _) = t.resolve(&http::Method::POST, "/v1/auth:login").unwrap();
        let output = route.method.output();
        let message = DynamicMessage::new(output);
        let json = response(&route, &message.encode_to_vec()).unwrap();
        assert_eq!(json["accessToken"], "");
        assert_eq!(json["expiresIn"], 0, "defaults are emitted");
    }
}
