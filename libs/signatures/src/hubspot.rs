//! HubSpot request signatures, versions 1 to 3, as HubSpot's "validating requests" page and the Node and Python
//! SDKs (`utils/signature`) define them:
//!
//! - v1 (`X-HubSpot-Signature`, webhooks API): `hex(SHA-256(client secret + raw body))`, a plain hash;
//! - v2 (`X-HubSpot-Signature`, workflow webhooks and CRM cards):
//!   `hex(SHA-256(client secret + method + URI + raw body))`;
//! - v3 (`X-HubSpot-Signature-v3`): `base64(HMAC-SHA256(client secret, method + URI + raw body + timestamp))`,
//!   where the timestamp is the `X-HubSpot-Request-Timestamp` header as written (milliseconds) and the URI has
//!   a fixed set of percent-escapes decoded first (the table in `V3_DECODED_ESCAPES`).
//!
//! The URI is the public `https` URL HubSpot called, query included; behind a proxy, callers rebuild it from
//! the forwarded headers, or every v2/v3 signature mismatches.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::SignatureError;
use crate::crypto::{constant_time_eq, hmac_sha256, sha256};

/// How far the v3 timestamp may be from now (the Node SDK's `MAX_ALLOWED_TIMESTAMP`).
pub const MAX_AGE_MS: i64 = 300_000;

/// The escapes HubSpot decodes in the URI before signing with v3; every other escape stays as sent.
const V3_DECODED_ESCAPES: [(&str, char); 12] = [
    ("3A", ':'),
    ("2F", '/'),
    ("3F", '?'),
    ("40", '@'),
    ("21", '!'),
    ("24", '$'),
    ("27", '\''),
    ("28", '('),
    ("29", ')'),
    ("2A", '*'),
    ("2C", ','),
    ("3B", ';'),
];

/// `X-HubSpot-Signature` for v1: hex SHA-256 of the secret followed by the body.
pub fn sign_v1(client_secret: &str, body: &[u8]) -> String {
    hex::encode(sha256(&[client_secret.as_bytes(), body]))
}

/// `X-HubSpot-Signature` for v2: hex SHA-256 of the secret, method, URI (exactly as called) and body.
pub fn sign_v2(client_secret: &str, method: &str, uri: &str, body: &[u8]) -> String {
    hex::encode(sha256(&[client_secret.as_bytes(), method.as_bytes(), uri.as_bytes(), body]))
}

/// `X-HubSpot-Signature-v3`: base64 HMAC-SHA256 of method, decoded URI, body and the timestamp header's text.
pub fn sign_v3(client_secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: &str) -> String {
    STANDARD.encode(v3_mac(client_secret, method, uri, body, timestamp_ms))
}

/// The headers HubSpot sends, looked up by the caller (names lower-case in the map it holds).
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    /// `x-hubspot-signature`: the v1 or v2 signature.
    pub signature: Option<&'a str>,
    /// `x-hubspot-signature-version`: `v1` or `v2`; absent means v1.
    pub signature_version: Option<&'a str>,
    /// `x-hubspot-signature-v3`: the v3 signature, which takes precedence when present.
    pub signature_v3: Option<&'a str>,
    /// `x-hubspot-request-timestamp`: milliseconds since the epoch, signed by v3.
    pub request_timestamp: Option<&'a str>,
}

/// v3 when `signature_v3` is present (timestamp required, within MAX_AGE_MS of now_ms), else v1/v2 by
/// `signature_version` (default v1).
pub fn verify(
    client_secret: &str,
    headers: &Headers<'_>,
    method: &str,
    uri: &str,
    body: &[u8],
    now_ms: i64,
) -> Result<(), SignatureError> {
    if let Some(signature) = present(headers.signature_v3) {
        let timestamp_text = present(headers.request_timestamp)
            .ok_or(SignatureError::Missing("X-HubSpot-Request-Timestamp header (required with v3 signatures)"))?;
        let timestamp = timestamp_text.parse::<i64>().map_err(|_| {
            SignatureError::Malformed(format!(
                "X-HubSpot-Request-Timestamp '{timestamp_text}' is not a millisecond unix timestamp"
            ))
        })?;
        let received = STANDARD.decode(signature).map_err(|_| SignatureError::Mismatch)?;
        if !constant_time_eq(&v3_mac(client_secret, method, uri, body, timestamp_text), &received) {
            return Err(SignatureError::Mismatch);
        }
        return check_age_ms(now_ms.saturating_sub(timestamp));
    }
    let signature = present(headers.signature).ok_or(SignatureError::Missing("X-HubSpot-Signature header"))?;
    let expected = match present(headers.signature_version) {
        None => sha256(&[client_secret.as_bytes(), body]),
        Some(version) if version.eq_ignore_ascii_case("v1") => sha256(&[client_secret.as_bytes(), body]),
        Some(version) if version.eq_ignore_ascii_case("v2") => {
            sha256(&[client_secret.as_bytes(), method.as_bytes(), uri.as_bytes(), body])
        }
        Some(version) => {
            return Err(SignatureError::Malformed(format!(
                "X-HubSpot-Signature-Version '{version}' is not supported; expected v1 or v2 \
                 (v3 signatures come in X-HubSpot-Signature-v3)"
            )));
        }
    };
    let received = hex::decode(signature).map_err(|_| SignatureError::Mismatch)?;
    if constant_time_eq(&expected, &received) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// The URI as HubSpot signs it for v3: only the escapes of its table are decoded (hex digits in either case);
/// others, and malformed `%` sequences, stay as sent.
pub(crate) fn decode_v3_uri(uri: &str) -> String {
    let mut decoded = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(percent) = rest.find('%') {
        decoded.push_str(&rest[..percent]);
        let escape = &rest[percent..];
        let replacement = escape.get(1..3).and_then(|digits| {
            V3_DECODED_ESCAPES.iter().find(|(code, _)| code.eq_ignore_ascii_case(digits)).map(|(_, c)| *c)
        });
        match replacement {
            Some(c) => {
                decoded.push(c);
                // The two bytes after '%' matched ASCII hex digits, so index 3 is a character boundary.
                rest = escape.get(3..).unwrap_or_default();
            }
            None => {
                decoded.push('%');
                rest = escape.get(1..).unwrap_or_default();
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

fn v3_mac(client_secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: &str) -> [u8; 32] {
    let uri = decode_v3_uri(uri);
    hmac_sha256(client_secret.as_bytes(), &[method.as_bytes(), uri.as_bytes(), body, timestamp_ms.as_bytes()])
}

/// An absent header and an empty one are the same to a verifier.
fn present(header: Option<&str>) -> Option<&str> {
    header.map(str::trim).filter(|value| !value.is_empty())
}

/// Checks the age in milliseconds; the error reports whole seconds, rounded away from zero so a request 1 ms
/// too old never reads as exactly at the limit.
fn check_age_ms(age_ms: i64) -> Result<(), SignatureError> {
    if age_ms.unsigned_abs() <= MAX_AGE_MS.unsigned_abs() {
        return Ok(());
    }
    let rounding = if age_ms % 1000 == 0 { 0 } else { age_ms.signum() };
    Err(SignatureError::Stale { age_secs: age_ms / 1000 + rounding, tolerance_secs: MAX_AGE_MS / 1000 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URI: &str = "https://www.example.com/webhook_uri";
    const V1_BODY: &[u8] = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
    const V3_BODY: &[u8] = b"{'example_field':'example_value'}";

    fn v1_headers(signature: &str) -> Headers<'_> {
        Headers { signature: Some(signature), ..Headers::default() }
    }

    #[test]
    fn sign_reproduces_the_published_vectors() {
        assert_eq!(sign_v1(SECRET, V1_BODY), "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de");
        assert_eq!(
            sign_v2(SECRET, "POST", URI, br#"{"example_field":"example_value"}"#),
            "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
        );
        assert_eq!(
            sign_v3(SECRET, "POST", URI, V3_BODY, "1693657560000"),
            "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
        );
    }

    #[test]
    fn v1_is_the_default_version() {
        let signature = sign_v1(SECRET, V1_BODY);
        assert_eq!(verify(SECRET, &v1_headers(&signature), "POST", URI, V1_BODY, 0), Ok(()));
        let explicit = Headers { signature_version: Some("v1"), ..v1_headers(&signature) };
        assert_eq!(verify(SECRET, &explicit, "POST", URI, V1_BODY, 0), Ok(()));
        assert_eq!(verify(SECRET, &v1_headers(&signature), "POST", URI, b"[]", 0), Err(SignatureError::Mismatch));
    }

    #[test]
    fn v2_signs_method_and_uri() {
        let signature = sign_v2(SECRET, "POST", URI, b"{}");
        let headers = Headers { signature_version: Some("v2"), ..v1_headers(&signature) };
        assert_eq!(verify(SECRET, &headers, "POST", URI, b"{}", 0), Ok(()));
        assert_eq!(verify(SECRET, &headers, "GET", URI, b"{}", 0), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(SECRET, &headers, "POST", "http://www.example.com/webhook_uri", b"{}", 0),
            Err(SignatureError::Mismatch)
        );
        // A v2 signature checked as v1 does not match.
        assert_eq!(verify(SECRET, &v1_headers(&signature), "POST", URI, b"{}", 0), Err(SignatureError::Mismatch));
    }

    #[test]
    fn v3_takes_precedence_and_checks_the_clock() {
        let signature = sign_v3(SECRET, "POST", URI, V3_BODY, "1693657560000");
        let headers = Headers {
            signature: Some("ignored"),
            signature_version: Some("v1"),
            signature_v3: Some(&signature),
            request_timestamp: Some("1693657560000"),
        };
        assert_eq!(verify(SECRET, &headers, "POST", URI, V3_BODY, 1_693_657_560_000 + MAX_AGE_MS), Ok(()));
        assert_eq!(verify(SECRET, &headers, "POST", URI, V3_BODY, 1_693_657_560_000 - MAX_AGE_MS), Ok(()));
        assert_eq!(
            verify(SECRET, &headers, "POST", URI, V3_BODY, 1_693_657_560_000 + MAX_AGE_MS + 1),
            Err(SignatureError::Stale { age_secs: 301, tolerance_secs: 300 })
        );
        assert_eq!(
            verify(SECRET, &headers, "POST", URI, V3_BODY, 1_693_657_560_000 - 400_000),
            Err(SignatureError::Stale { age_secs: -400, tolerance_secs: 300 })
        );
    }

    #[test]
    fn v3_signs_the_timestamp_text() {
        let signature = sign_v3(SECRET, "POST", URI, V3_BODY, "1693657560000");
        let headers =
            Headers { signature_v3: Some(&signature), request_timestamp: Some("1693657560001"), ..Headers::default() };
        assert_eq!(verify(SECRET, &headers, "POST", URI, V3_BODY, 1_693_657_560_000), Err(SignatureError::Mismatch));
    }

    #[test]
    fn v3_requires_a_numeric_timestamp() {
        let headers = Headers { signature_v3: Some("AAAA"), ..Headers::default() };
        assert!(matches!(
            verify(SECRET, &headers, "POST", URI, V3_BODY, 0),
            Err(SignatureError::Missing(name)) if name.contains("X-HubSpot-Request-Timestamp")
        ));
        let headers = Headers { signature_v3: Some("AAAA"), request_timestamp: Some("soon"), ..Headers::default() };
        assert!(matches!(verify(SECRET, &headers, "POST", URI, V3_BODY, 0), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn missing_unknown_and_undecodable_signatures() {
        assert_eq!(
            verify(SECRET, &Headers::default(), "POST", URI, V1_BODY, 0),
            Err(SignatureError::Missing("X-HubSpot-Signature header"))
        );
        let empty_v3 = Headers { signature_v3: Some(""), ..Headers::default() };
        assert_eq!(
            verify(SECRET, &empty_v3, "POST", URI, V1_BODY, 0),
            Err(SignatureError::Missing("X-HubSpot-Signature header"))
        );
        let unknown = Headers { signature_version: Some("v9"), ..v1_headers("00") };
        assert!(
            matches!(verify(SECRET, &unknown, "POST", URI, V1_BODY, 0), Err(SignatureError::Malformed(m)) if m.contains("v9"))
        );
        assert_eq!(verify(SECRET, &v1_headers("not hex"), "POST", URI, V1_BODY, 0), Err(SignatureError::Mismatch));
        let bad_v3 = Headers { signature_v3: Some("***"), request_timestamp: Some("1"), ..Headers::default() };
        assert_eq!(verify(SECRET, &bad_v3, "POST", URI, V1_BODY, 1), Err(SignatureError::Mismatch));
    }

    #[test]
    fn only_the_table_escapes_are_decoded() {
        assert_eq!(decode_v3_uri("https://h/p?a=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B"), "https://h/p?a=:/?@!$'()*,;");
        assert_eq!(decode_v3_uri("/p?a=%3a%2c"), "/p?a=:,");
        assert_eq!(decode_v3_uri("/p?a=%20%25%3D%26"), "/p?a=%20%25%3D%26");
        assert_eq!(decode_v3_uri("/p?a=%253A"), "/p?a=%253A");
        assert_eq!(decode_v3_uri("%"), "%");
        assert_eq!(decode_v3_uri("a%3"), "a%3");
        assert_eq!(decode_v3_uri("a%é3A%3A"), "a%é3A:");
        assert_eq!(decode_v3_uri("caf\u{e9}%40"), "caf\u{e9}@");
    }
}
