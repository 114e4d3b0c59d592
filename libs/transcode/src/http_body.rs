//! Routes whose body binds to a `google.api.HttpBody` ([`BodyRule::Raw`]), as grpc-gateway and ESP do it: the body
//! is not JSON to parse but bytes to pass on. The HttpBody (the rule's body field, or with `body: "*"` the request
//! message itself) gets the request's bytes in `data` exactly as they arrived (no UTF-8 check, no trimming, no
//! re-encoding: a signature computed over them still verifies) and its `Content-Type` header, verbatim, in
//! `content_type` (empty when there is none). Path variables and query parameters bind as on any route
//! ([`crate::json`]).
//!
//! **Headers.** When such a request message also has a top-level `map<string, string> headers` field (webhooks:
//! providers sign with `stripe-signature`, `x-shopify-hmac-sha256`, ...), that field receives the request's
//! headers: names lower-cased, repeated headers joined with `", "` in the order received, values that are not
//! UTF-8 converted lossily. Withheld are the credentials meant for whoever serves the request (`authorization`,
//! `cookie`, `proxy-authorization`) and the hop-by-hop headers, which describe the connection, not the message
//! (RFC 9110 §7.6.1: `connection` and every header it names, `keep-alive`, `proxy-connection`, `te`, `trailer`,
//! `transfer-encoding`, `upgrade`). Only raw-body routes get headers: on a JSON route a `headers` field is data the
//! client writes like any other.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost::Message;
use prost::bytes::Bytes;
use prost_reflect::{DynamicMessage, Kind, MapKey, MessageDescriptor, Value};

use crate::TranscodeError;
use crate::routes::{BodyRule, RawBody, Route};

/// The message a raw body binds to.
const HTTP_BODY: &str = "google.api.HttpBody";
/// The request field that receives the request's headers on a raw-body route.
const HEADERS_FIELD: &str = "headers";
/// Headers never copied into the request message: credentials, then hop-by-hop headers.
const WITHHELD: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `message` is `google.api.HttpBody`.
pub(crate) fn is_http_body(message: &MessageDescriptor) -> bool {
    message.full_name() == HTTP_BODY
}

/// Whether `input` has a top-level `map<string, string> headers` field.
pub(crate) fn has_headers(input: &MessageDescriptor) -> bool {
    input.get_field_by_name(HEADERS_FIELD).is_some_and(|field| match field.kind() {
        Kind::Message(entry) if field.is_map() => {
            entry.map_entry_key_field().kind() == Kind::String && entry.map_entry_value_field().kind() == Kind::String
        }
        _ => false,
    })
}

/// The request headers the message receives (see the module docs), by name.
pub fn forwarded_headers(headers: &http::HeaderMap) -> BTreeMap<String, String> {
    // Names are lower-case in a HeaderMap already; those a `Connection` header names may not be.
    let named_by_connection: BTreeSet<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    headers
        .keys()
        .filter(|name| !WITHHELD.contains(&name.as_str()) && !named_by_connection.contains(name.as_str()))
        .map(|name| {
            let values: Vec<String> =
                headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
            (name.as_str().to_owned(), values.join(", "))
        })
        .collect()
}

/// The RPC request message, encoded, for a REST request on a raw-body `route`.
pub(crate) fn request(
    route: &Route,
    bindings: &[(String, String)],
    query: Option<&str>,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, TranscodeError> {
    let config = |message: String| TranscodeError::Config { method: route.method.full_name().to_owned(), message };
    let BodyRule::Raw(RawBody { field, with_headers }) = &route.body else {
        return Err(config("the body is not a google.api.HttpBody".into()));
    };
    let content_type = match headers.get(http::header::CONTENT_TYPE) {
        None => String::new(),
        Some(value) => value
            .to_str()
            .map_err(|_| TranscodeError::InvalidArgument("the Content-Type header is not ASCII text".into()))?
            .to_owned(),
    };
    let http_body = |descriptor: MessageDescriptor| -> Result<DynamicMessage, TranscodeError> {
        let mut message = DynamicMessage::new(descriptor);
        message
            .try_set_field_by_name("content_type", Value::String(content_type.clone()))
            .and_then(|()| message.try_set_field_by_name("data", Value::Bytes(Bytes::copy_from_slice(body))))
            .map_err(|e| config(e.to_string()))?;
        Ok(message)
    };
    let input = route.method.input();
    let mut message = match field {
        None => http_body(input)?,
        Some(name) => {
            let field = input.get_field_by_name(name).ok_or_else(|| config(format!("no body field {name}")))?;
            let Kind::Message(descriptor) = field.kind() else {
                return Err(config(format!("body field {name} is not a message")));
            };
            let mut message = DynamicMessage::new(input);
            message.try_set_field(&field, Value::Message(http_body(descriptor)?)).map_err(|e| config(e.to_string()))?;
            if *with_headers {
                let map: HashMap<MapKey, Value> = forwarded_headers(headers)
                    .into_iter()
                    .map(|(name, value)| (MapKey::String(name), Value::String(value)))
                    .collect();
                message.try_set_field_by_name(HEADERS_FIELD, Value::Map(map)).map_err(|e| config(e.to_string()))?;
            }
            message
        }
    };
    crate::json::merge_url(route, &mut message, bindings, query)?;
    Ok(message.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RouteTable;

    fn webhook() -> (std::sync::Arc<Route>, Vec<(String, String)>) {
        let table = RouteTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET).unwrap();
        table.resolve(&http::Method::POST, "/v1/webhooks/stripe").unwrap()
    }

    fn headers(pairs: &[(&str, &[u8])]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    /// The webhook request the bytes decode to, by the generated type.
    fn decode(bytes: &[u8]) -> switchboard_proto::connectors::v1::ReceiveWebhookRequest {
        prost::Message::decode(bytes).unwrap()
    }

    #[test]
    fn the_body_goes_to_data_byte_for_byte() {
        let (route, bindings) = webhook();
        let bodies: [&[u8]; 4] = [
            b"\xff\xfe\x00not utf-8\x80",
            b" \r\n{ \"id\" :\"evt_1\",\t\"amount\":1.50 ,\"n\":1e2 }\n\n ",
            br#"{"a":"\u00e9","b":"\/"}"#,
            b"",
        ];
        for body in bodies {
            let h = headers(&[("content-type", b"application/json; charset=utf-8")]);
            let request = decode(&crate::request(&route, &bindings, None, &h, body).unwrap());
            let http_body = request.body.unwrap();
            assert_eq!(http_body.data, body, "not parsed, trimmed or re-encoded");
            assert_eq!(http_body.content_type, "application/json; charset=utf-8");
            assert_eq!(request.provider, "stripe", "path variables still bind");
        }
    }

    #[test]
    fn content_type_is_verbatim_or_empty() {
        let (route, bindings) = webhook();
        let h = headers(&[("content-type", b"application/x-www-form-urlencoded;Charset=UTF-8")]);
        let request = decode(&crate::request(&route, &bindings, None, &h, b"a=1&b=2").unwrap());
        assert_eq!(request.body.unwrap().content_type, "application/x-www-form-urlencoded;Charset=UTF-8");
        let request = decode(&crate::request(&route, &bindings, None, &http::HeaderMap::new(), b"x").unwrap());
        assert_eq!(request.body.unwrap().content_type, "");
        let h = headers(&[("content-type", b"text/plain; name=\xe9")]);
        let err = crate::request(&route, &bindings, None, &h, b"x").unwrap_err();
        assert!(matches!(err, TranscodeError::InvalidArgument(_)), "{err}");
    }

    #[test]
    fn headers_are_lower_cased_and_repeats_joined() {
        let (route, bindings) = webhook();
        let h = headers(&[
            ("Stripe-Signature", b"t=1,v1=abc"),
            ("X-Custom", b"one"),
            ("x-custom", b"two"),
            ("content-type", b"application/json"),
            ("user-agent", b"Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
            ("x-odd", b"caf\xe9"),
        ]);
        let request = decode(&crate::request(&route, &bindings, None, &h, b"{}").unwrap());
        let expected: HashMap<String, String> = [
            ("stripe-signature", "t=1,v1=abc"),
            ("x-custom", "one, two"),
            ("content-type", "application/json"),
            ("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
            ("x-odd", "caf\u{fffd}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(request.headers, expected);
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_are_withheld() {
        let h = headers(&[
            ("authorization", b"Bearer secret"),
            ("cookie", b"session=secret"),
            ("proxy-authorization", b"Basic c2VjcmV0"),
            ("connection", b"keep-alive, X-Hop"),
            ("keep-alive", b"timeout=5"),
            ("x-hop", b"per connection"),
            ("te", b"trailers"),
            ("transfer-encoding", b"chunked"),
            ("upgrade", b"h2c"),
            ("proxy-connection", b"keep-alive"),
            ("trailer", b"x-checksum"),
            ("x-shopify-hmac-sha256", b"c2lnbmF0dXJl"),
        ]);
        let forwarded = forwarded_headers(&h);
        assert_eq!(forwarded.keys().collect::<Vec<_>>(), ["x-shopify-hmac-sha256"]);

        let (route, bindings) = webhook();
        let request = decode(&crate::request(&route, &bindings, None, &h, b"{}").unwrap());
        assert_eq!(request.headers.len(), 1, "{:?}", request.headers);
    }

    #[test]
    fn query_parameters_cannot_reach_the_body_or_the_headers() {
        let (route, bindings) = webhook();
        let h = http::HeaderMap::new();
        for (query, mentions) in
            [("body.data=eA", "part of the body"), ("headers=x", "headers"), ("colour=red", "colour")]
        {
            let err = crate::request(&route, &bindings, Some(query), &h, b"{}").unwrap_err();
            assert!(err.to_string().contains(mentions), "{query}: {err}");
        }
    }
}
