//! Transcoding rule by rule against a test contract (`tests/protos`), compiled here with the vendored protoc:
//! path templates and variables, `additional_bindings`, nested path fields, `body: "*"`, `body: "field"`, no
//! body, raw `google.api.HttpBody` bodies (in a field or as the whole message), query parameters (nested,
//! repeated, enums by name, well-known types), `response_body`, multi-segment variables with verbs, and the errors
//! for each.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod wire_json;

use std::sync::OnceLock;

use prost::Message as _;
use prost_reflect::{DynamicMessage, SerializeOptions};
use serde_json::{Value, json};
use switchboard_transcode::{RouteTable, TranscodeError, json as transcode};

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = tempfile_path();
        let status = std::process::Command::new(protoc_bin_vendored::protoc_bin_path().unwrap())
            .arg("--include_imports")
            .arg(format!("--descriptor_set_out={}", out.display()))
            .arg(format!("-I{}", here.join("tests/protos").display()))
            .arg(format!("-I{}", here.join("../../proto").display()))
            .arg(format!("-I{}", protoc_bin_vendored::include_path().unwrap().display()))
            .arg("transcode/test/v1/messaging.proto")
            .status()
            .unwrap();
        assert!(status.success(), "protoc failed");
        RouteTable::from_descriptor_set(&std::fs::read(out).unwrap()).unwrap()
    })
}

fn tempfile_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("transcode-test-{}.binpb", std::process::id()))
}

/// Resolves and transcodes; returns (rpc, request as JSON with original field names).
fn call(method: &str, path_and_query: &str, body: &str) -> Result<(String, Value), TranscodeError> {
    call_with(method, path_and_query, &http::HeaderMap::new(), body.as_bytes())
}

/// [`call`] with request headers and any bytes as the body.
fn call_with(
    method: &str,
    path_and_query: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(String, Value), TranscodeError> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let method = http::Method::from_bytes(method.as_bytes()).unwrap();
    let (route, bindings) =
        table().resolve(&method, path).ok_or_else(|| TranscodeError::InvalidArgument("no route".into()))?;
    let bytes = switchboard_transcode::request(&route, &bindings, query, headers, body)?;
    let message = DynamicMessage::decode(route.method.input(), bytes.as_slice()).unwrap();
    let json = message
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new().use_proto_field_name(true))
        .unwrap();
    Ok((route.method.name().to_owned(), json))
}

fn rejected(method: &str, path: &str, body: &str, mentions: &str) {
    match call(method, path, body) {
        Err(TranscodeError::InvalidArgument(m)) => {
            assert!(m.contains(mentions), "{path}: {m:?} should mention {mentions:?}")
        }
        other => panic!("{path} should be refused, got {other:?}"),
    }
}

#[test]
fn path_variable_and_nested_query() {
    let (rpc, req) = call("GET", "/v1/messages/123456?revision=2&sub.subfield=foo", "").unwrap();
    assert_eq!(rpc, "GetMessage");
    assert_eq!(req, json!({"message_id": "123456", "revision": "2", "sub": {"subfield": "foo"}}));
}

#[test]
fn nested_path_variable() {
    let (rpc, req) = call("GET", "/v1/nested/123456/foo", "").unwrap();
    assert_eq!(rpc, "GetNested");
    assert_eq!(req["sub"]["subfield"], "foo");
}

#[test]
fn additional_bindings_route_to_the_same_rpc() {
    let (rpc, req) = call("GET", "/v1/users/me/messages/123456", "").unwrap();
    assert_eq!((rpc.as_str(), &req["user_id"], &req["message_id"]), ("GetMessage", &json!("me"), &json!("123456")));
    let (_, req) = call("GET", "/v1/messages/123456", "").unwrap();
    assert!(req.get("user_id").is_none());
}

#[test]
fn body_field_rule() {
    let (rpc, req) = call("PUT", "/v1/messages/123456?dryRun=true", r#"{"text":"Hi!"}"#).unwrap();
    assert_eq!(rpc, "UpdateMessage");
    assert_eq!(req, json!({"message_id": "123456", "message": {"text": "Hi!"}, "dry_run": true}));
    rejected("PUT", "/v1/messages/1?message.text=x", r#"{"text":"Hi"}"#, "part of the body");
}

#[test]
fn body_star_rule_takes_everything_but_the_path() {
    let (rpc, req) =
        call("PATCH", "/v1/messages/123456", r#"{"text":"Hi!","revision":"7","metadata":{"a":[1,"b"]}}"#).unwrap();
    assert_eq!(rpc, "ReplaceMessage");
    assert_eq!(req["message_id"], "123456");
    assert_eq!(req["revision"], "7");
    assert_eq!(req["metadata"], json!({"a": [1.0, "b"]}));
    rejected("PATCH", "/v1/messages/1?text=x", "{}", "takes all its fields in the body");
}

#[test]
fn repeated_enums_and_well_known_types_from_the_query() {
    let (_, req) = call(
        "GET",
        "/v1/messages/1?tags=a&tags=b&colour=COLOUR_BLUE&since=2026-01-02T03:04:05Z&within=1.5s&mask=a.b,c&limit=5&verbose=true&ratio=0.25",
        "",
    )
    .unwrap();
    assert_eq!(req["tags"], json!(["a", "b"]));
    assert_eq!(req["colour"], "COLOUR_BLUE");
    assert_eq!(req["since"], "2026-01-02T03:04:05Z");
    assert_eq!(req["within"], "1.500s");
    assert_eq!(req["mask"], "a.b,c");
    assert_eq!(req["limit"], 5);
    assert_eq!(req["verbose"], true);
    assert_eq!(req["ratio"], 0.25);
    let (_, req) = call("GET", "/v1/messages/1?colour=2", "").unwrap();
    assert_eq!(req["colour"], "COLOUR_BLUE", "enums by number too");
}

#[test]
fn query_errors_name_the_parameter() {
    rejected("GET", "/v1/messages/1?revision=1&revision=2", "", "more than once");
    rejected("GET", "/v1/messages/1?bogus=1", "", "bogus");
    rejected("GET", "/v1/messages/1?colour=COLOUR_GREEN", "", "COLOUR_GREEN");
    rejected("GET", "/v1/messages/1?verbose=maybe", "", "true or false");
    rejected("GET", "/v1/messages/1?since=yesterday", "", "since");
    rejected("GET", "/v1/messages/1?sub=x", "", "message");
    rejected("GET", "/v1/messages/1?message_id=2", "", "already bound by the path");
    rejected("GET", "/v1/messages/1", r#"{"a":1}"#, "takes no body");
}

#[test]
fn body_errors_name_the_field() {
    rejected("PATCH", "/v1/messages/1", r#"{"txet":"typo"}"#, "txet");
    rejected("PATCH", "/v1/messages/1", r#"[1,2]"#, "JSON object");
    rejected("PATCH", "/v1/messages/1", r#"{"text":"#, "not valid JSON");
    rejected("PATCH", "/v1/messages/1", r#"{"revision":"seven"}"#, "revision");
}

#[test]
fn query_values_are_form_decoded_and_path_values_percent_decoded() {
    let (_, req) = call("GET", "/v1/messages/a%20b%2Fc+d?tags=x+y&tags=%2B", "").unwrap();
    assert_eq!(req["message_id"], "a b/c+d", "single-segment variable: %2F is data, + stays");
    assert_eq!(req["tags"], json!(["x y", "+"]), "query: + is a space, %2B a plus");
}

#[test]
fn multi_segment_variable_with_a_verb() {
    let (rpc, req) = call("POST", "/v1/shelves/s1/books/b%2F1/c:archive", "").unwrap();
    assert_eq!(rpc, "Archive");
    assert_eq!(req["name"], "shelves/s1/books/b%2F1/c", "multi-segment: %2F kept");
    assert!(call("POST", "/v1/shelves/s1:archive", "").is_err(), "the pattern needs books/");
}

#[test]
fn response_body_returns_only_that_field() {
    let (route, _) = table().resolve(&http::Method::GET, "/v1/messages/1/text").unwrap();
    let output = route.method.output();
    let mut message = DynamicMessage::new(output.clone());
    message.set_field_by_name("text", prost_reflect::Value::String("just this".into()));
    message.set_field_by_name("revision", prost_reflect::Value::I64(3));
    assert_eq!(transcode::response(&route, &message.encode_to_vec()).unwrap(), json!("just this"));
}

#[test]
fn responses_emit_defaults_camel_case_and_int64_strings() {
    let (route, _) = table().resolve(&http::Method::GET, "/v1/messages/1").unwrap();
    let mut message = DynamicMessage::new(route.method.output());
    message.set_field_by_name("message_id", prost_reflect::Value::String("1".into()));
    message.set_field_by_name("revision", prost_reflect::Value::I64(9_007_199_254_740_993));
    let json = transcode::response(&route, &message.encode_to_vec()).unwrap();
    assert_eq!(json["messageId"], "1");
    assert_eq!(json["revision"], "9007199254740993", "int64 survives JavaScript");
    assert_eq!(json["text"], "", "defaults are emitted");
    assert_eq!(json["colours"], json!([]));
}

/// The unary path writes JSON text straight from the message; it must say exactly what the document does.
#[test]
fn response_text_matches_the_response_document() {
    for path in ["/v1/messages/1", "/v1/messages/1/text"] {
        let (route, _) = table().resolve(&http::Method::GET, path).unwrap();
        let mut message = DynamicMessage::new(route.method.output());
        message.set_field_by_name("text", prost_reflect::Value::String("quote \" and é".into()));
        message.set_field_by_name("revision", prost_reflect::Value::I64(-7));
        let bytes = message.encode_to_vec();
        let text = transcode::response_bytes(&route, &bytes).unwrap();
        let parsed: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(parsed, transcode::response(&route, &bytes).unwrap(), "{path}");
    }
}

#[test]
fn methods_and_unknown_paths_do_not_match() {
    assert!(table().resolve(&http::Method::DELETE, "/v1/messages/1").is_none());
    assert!(table().resolve(&http::Method::GET, "/v1/messages").is_none());
    assert!(table().resolve(&http::Method::GET, "/v1/messages/1/").is_none());
}

fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    map
}

#[test]
fn http_body_field_takes_the_raw_bytes_and_other_fields_bind_from_the_url() {
    let body = b"\x00\x01{ \"not\": json \xff";
    let h = headers(&[("Content-Type", "application/octet-stream"), ("X-Sig", "abc"), ("Cookie", "s=1")]);
    let (rpc, req) = call_with("POST", "/v1/uploads/report?overwrite=true", &h, body).unwrap();
    assert_eq!(rpc, "Upload");
    assert_eq!(req["name"], "report");
    assert_eq!(req["overwrite"], true);
    assert_eq!(req["content"]["content_type"], "application/octet-stream");
    let data = base64_decode(req["content"]["data"].as_str().unwrap());
    assert_eq!(data, body, "byte for byte");
    assert_eq!(req["headers"], json!({"content-type": "application/octet-stream", "x-sig": "abc"}));
    rejected("POST", "/v1/uploads/a?content.content_type=x", "", "part of the body");
}

#[test]
fn http_body_as_the_whole_message() {
    let h = headers(&[("content-type", "text/csv")]);
    let (rpc, req) = call_with("PUT", "/v1/raw", &h, b"a,b\r\n1,2\r\n").unwrap();
    assert_eq!(rpc, "UploadWhole");
    assert_eq!(req["content_type"], "text/csv");
    assert_eq!(base64_decode(req["data"].as_str().unwrap()), b"a,b\r\n1,2\r\n");
    let err = call_with("PUT", "/v1/raw?x=1", &h, b"").unwrap_err();
    assert!(err.to_string().contains("takes all its fields in the body"), "{err}");
}

#[test]
fn a_json_route_never_gets_the_request_headers() {
    let h = headers(&[("x-sig", "abc")]);
    let (rpc, req) = call_with("POST", "/v1/annotations/a", &h, br#"{"headers":{"k":"v"}}"#).unwrap();
    assert_eq!(rpc, "Annotate");
    assert_eq!(req["headers"], json!({"k": "v"}), "the client's data, as sent");
}

/// Standard base64 (proto3 JSON's bytes), decoded.
fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}
