//! From a REST request to the RPC's request message, and from the response message back to JSON.
//!
//! The body is decoded straight into the request message by prost-reflect (a streaming parse: no JSON document tree
//! is built, so a body costs little more than its own size), with unknown fields denied, so every JSON rule
//! (names, 64-bit integers as strings, well-known types, enums by name) is prost-reflect's, not ours. Before that,
//! [`check_shape`] refuses bodies nested deeper than [`MAX_DEPTH`] or holding more than [`MAX_ELEMENTS`] values,
//! in one pass over the bytes with no allocation: the decoded message of a body of tiny values (`[0,0,0,…]`) is
//! many times the body's size. Path variables and query parameters are parsed the same way and merged over the
//! body, so the URL wins. Query parameters follow HTML form encoding (`+` is a space); nested fields are `a.b=1`,
//! repeated fields repeat the key, enums go by name.
//!
//! Bodies bound to a `google.api.HttpBody` are not JSON and never come here: see [`crate::http_body`].

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

/// Deepest nesting of arrays and objects a JSON body may have.
pub const MAX_DEPTH: usize = 32;
/// Most values (array elements and object members, at any depth) a JSON body may hold.
pub const MAX_ELEMENTS: usize = 20_000;

/// Refuses a JSON body nested deeper than `max_depth` or holding more than `max_elements` values, in one pass over
/// its bytes (strings and escapes skipped) and before anything is allocated for it. Malformed JSON passes here and
/// is refused by the parser with a better message.
pub fn check_shape(body: &[u8], max_depth: usize, max_elements: usize) -> Result<(), TranscodeError> {
    let (mut depth, mut elements) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(invalid(format!("the body nests deeper than {max_depth} levels")));
                }
                // The container's first value; each comma adds one more.
                elements += 1;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => elements += 1,
            _ => continue,
        }
        if elements > max_elements {
            return Err(invalid(format!("the body holds more than {max_elements} values")));
        }
    }
    Ok(())
}

/// Deserializes JSON `text` into a `descriptor` message, naming the field where it fails.
fn parse_message(descriptor: &MessageDescriptor, text: &[u8], what: &str) -> Result<DynamicMessage, TranscodeError> {
    let mut json = serde_json::Deserializer::from_slice(text);
    let mut track = serde_path_to_error::Track::new();
    let parsed =
        DynamicMessage::deserialize(descriptor.clone(), serde_path_to_error::Deserializer::new(&mut json, &mut track));
    let syntax = |e: &serde_json::Error| {
        matches!(e.classify(), serde_json::error::Category::Syntax | serde_json::error::Category::Eof)
    };
    let message = match parsed {
        Ok(message) => message,
        Err(e) if syntax(&e) => return Err(invalid(format!("{what} is not valid JSON: {e}"))),
        Err(e) => {
            let path = track.path().to_string();
            let at = if path.is_empty() || path == "." { String::new() } else { format!(" at {path}") };
            return Err(invalid(format!("{what} does not fit {}{at}: {}", descriptor.full_name(), e)));
        }
    };
    json.end().map_err(|e| invalid(format!("{what} is not valid JSON: {e}")))?;
    Ok(message)
}

/// The RPC request message, encoded, for a REST request with a JSON body (or none) on `route`. Raw bodies are
/// [`crate::http_body`]'s; [`crate::request`] picks.
pub(crate) fn request(
    route: &Route,
    bindings: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, TranscodeError> {
    let input = route.method.input();
    if std::str::from_utf8(body).is_err() {
        return Err(invalid("the body is not UTF-8 JSON"));
    }
    let body = body.trim_ascii();
    let mut message = match &route.body {
        BodyRule::Raw(_) => {
            return Err(TranscodeError::Config {
                method: route.method.full_name().to_owned(),
                message: "a raw body (google.api.HttpBody) is not JSON".into(),
            });
        }
        BodyRule::Whole if !body.is_empty() => {
            if body.first() != Some(&b'{') {
                return Err(invalid("the body must be a JSON object"));
            }
            check_shape(body, MAX_DEPTH, MAX_ELEMENTS)?;
            parse_message(&input, body, "the body")?
        }
        BodyRule::Field(name) if !body.is_empty() => {
            check_shape(body, MAX_DEPTH - 1, MAX_ELEMENTS)?;
            let field = input.get_field_by_name(name).ok_or_else(|| invalid(format!("no body field {name}")))?;
            // The body is the field's value: parse it as `{"<field>": <body>}`, still without a document tree.
            let mut wrapped = Vec::with_capacity(body.len() + field.json_name().len() + 6);
            wrapped.extend_from_slice(b"{\"");
            wrapped.extend_from_slice(field.json_name().as_bytes());
            wrapped.extend_from_slice(b"\":");
            wrapped.extend_from_slice(body);
            wrapped.push(b'}');
            parse_message(&input, &wrapped, "the body")?
        }
        BodyRule::None if !body.is_empty() => {
            return Err(invalid(format!("{} {} takes no body", route.http_method, route.template)));
        }
        _ => DynamicMessage::new(input.clone()),
    };
    merge_url(route, &mut message, bindings, query)?;
    Ok(message.encode_to_vec())
}

/// Binds path variables and query parameters into `message` (the request message of `route`, its body already
/// bound), merged over the body: the URL names the resource.
pub(crate) fn merge_url(
    route: &Route,
    message: &mut DynamicMessage,
    bindings: &[(String, String)],
    query: Option<&str>,
) -> Result<(), TranscodeError> {
    let input = route.method.input();
    let mut object = Map::new();
    for (path, value) in bindings {
        set(&mut object, &input, path, value, "path", false)?;
    }

    if let Some(query) = query.filter(|q| !q.is_empty()) {
        if route.body.is_whole() {
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
            if let Some(body_field) = route.body.field()
                && (key == body_field || key.starts_with(&format!("{body_field}.")))
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

    if !object.is_empty() {
        let url = serde_json::to_vec(&Value::Object(object)).map_err(|e| invalid(e.to_string()))?;
        let from_url = parse_message(&input, &url, "the request")?;
        // Protobuf merge: the URL's scalars replace the body's, its messages merge field by field.
        message.merge(from_url.encode_to_vec().as_slice()).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(())
}

/// How responses are rendered: complete objects (fields with default values included), lowerCamelCase names,
/// 64-bit integers as strings.
pub(crate) fn serialize_options() -> SerializeOptions {
    SerializeOptions::new().skip_default_fields(false).use_proto_field_name(false).stringify_64_bit_integers(true)
}

/// The JSON text of a response message on `route`, as [`response`] renders it: by the route's wire-to-JSON plan
/// ([`crate::wire_json`]) when it has one and the bytes suit it, else through a decoded message written straight
/// out (no JSON document in between).
pub fn response_bytes(route: &Route, bytes: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    if route.response_body.is_some() {
        // One field of the message: the document picks it out.
        return serde_json::to_vec(&response(route, bytes)?).map_err(|e| TranscodeError::Response(e.to_string()));
    }
    let mut out = Vec::with_capacity(bytes.len() * 2 + 16);
    if let Some(writer) = &route.response_json
        && writer.write(bytes, &mut out).is_ok()
    {
        return Ok(out);
    }
    let message =
        DynamicMessage::decode(route.method.output(), bytes).map_err(|e| TranscodeError::Response(e.to_string()))?;
    message
        .serialize_with_options(&mut serde_json::Serializer::new(&mut out), &serialize_options())
        .map_err(|e| TranscodeError::Response(e.to_string()))?;
    Ok(out)
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
    fn deep_or_huge_bodies_are_refused_before_parsing() {
        assert!(check_shape(br#"{"a":[1,2,{"b":"[[[[,,,,"}]}"#, 3, 10).is_ok(), "strings do not count");
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(check_shape(deep.as_bytes(), MAX_DEPTH, MAX_ELEMENTS).unwrap_err().to_string().contains("deeper"));
        let many = format!("{{\"x\":[{}0]}}", "0,".repeat(MAX_ELEMENTS));
        assert!(check_shape(many.as_bytes(), MAX_DEPTH, MAX_ELEMENTS).unwrap_err().to_string().contains("more than"));
        assert!(check_shape(br#"{"a":"\\\"[,,"}"#, 1, 2).is_ok(), "escaped quotes stay inside the string");

        let t = table();
        let (route, bindings) = t.resolve(&http::Method::POST, "/v1/auth:refresh").unwrap();
        let err = request(&route, &bindings, None, many.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
        let err = request(&route, &bindings, None, b"[0,0,0]").unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
        let err = request(&route, &bindings, None, br#"{"refreshToken":"t"} trailing"#).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
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
