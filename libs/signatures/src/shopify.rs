//! Shopify signatures: webhooks (`X-Shopify-Hmac-Sha256`) and OAuth callbacks (the `hmac` query parameter),
//! as shopify-api-js `lib/webhooks/validate.ts` and `lib/utils/hmac-validator.ts` define them.
//!
//! A webhook is signed with `base64(HMAC-SHA256(client secret, raw body))`. An OAuth callback is signed with the
//! hex HMAC-SHA256 of its other query parameters, sorted by key and form-url-encoded as `URLSearchParams` would
//! (`k=v` joined with `&`, spaces as `+`); it must also be recent and name a `*.myshopify.com` shop. App-proxy
//! requests (`signature`, pairs joined with no delimiter) are a different scheme and are not handled here.
//!
//! While a client secret is being rotated, deliveries can be signed with the old one for up to an hour: callers
//! try each secret in turn.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::SignatureError;
use crate::crypto::{constant_time_eq, hmac_sha256};

/// The clock tolerance of shopify-api-js (`HMAC_TIMESTAMP_PERMITTED_CLOCK_TOLERANCE_SEC`) for callbacks.
pub const CALLBACK_TOLERANCE_SECS: i64 = 90;

/// The parameters Shopify leaves out of the signed message: the signatures themselves.
const UNSIGNED_PARAMS: [&str; 2] = ["hmac", "signature"];

/// The only domain a shop may be on.
const SHOP_SUFFIX: &str = ".myshopify.com";

/// base64(HMAC-SHA256(secret, body)) — the X-Shopify-Hmac-Sha256 value.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    STANDARD.encode(hmac_sha256(secret.as_bytes(), &[body]))
}

/// Verifies an `X-Shopify-Hmac-Sha256` header value against the raw body.
pub fn verify_webhook(secret: &str, header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing("X-Shopify-Hmac-Sha256 header"));
    }
    let received = STANDARD.decode(header).map_err(|_| SignatureError::Mismatch)?;
    if constant_time_eq(&hmac_sha256(secret.as_bytes(), &[body]), &received) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// hex HMAC over the query params except `hmac` and `signature`, sorted by key, form-url-encoded `k=v` joined
/// with `&` (like URLSearchParams.toString()).
///
/// Keys are sorted by their UTF-8 bytes (shopify-api-js uses `localeCompare`, which agrees on the ASCII
/// lower-case keys Shopify sends); the sort is stable, so repeated keys keep their order.
pub fn oauth_query_hmac(secret: &str, params: &[(String, String)]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[signed_query(params).as_bytes()]))
}

/// Verifies an OAuth callback's query params (hmac present and matching, `timestamp` within tolerance of
/// now_unix, `shop` a valid shop domain).
///
/// Parameters that decide the verdict (`hmac`, `timestamp`, `shop`) must appear once: a repeated one is
/// rejected rather than guessing which copy the signer meant.
pub fn verify_oauth_callback(secret: &str, params: &[(String, String)], now_unix: i64) -> Result<(), SignatureError> {
    let hmac = single_param(params, "hmac")?.ok_or(SignatureError::Missing("hmac query parameter"))?;
    let received = hex::decode(hmac).map_err(|_| SignatureError::Mismatch)?;
    let expected = hmac_sha256(secret.as_bytes(), &[signed_query(params).as_bytes()]);
    if !constant_time_eq(&expected, &received) {
        return Err(SignatureError::Mismatch);
    }
    let timestamp = single_param(params, "timestamp")?.ok_or(SignatureError::Missing("timestamp query parameter"))?;
    let timestamp = timestamp.parse::<i64>().map_err(|_| {
        SignatureError::Malformed(format!("timestamp query parameter '{timestamp}' is not a unix timestamp"))
    })?;
    crate::check_age(now_unix.saturating_sub(timestamp), CALLBACK_TOLERANCE_SECS)?;
    let shop = single_param(params, "shop")?.ok_or(SignatureError::Missing("shop query parameter"))?;
    if !is_valid_shop_domain(shop) {
        return Err(SignatureError::Malformed(format!(
            "shop query parameter '{shop}' is not a shop domain; expected '<name>.myshopify.com'"
        )));
    }
    Ok(())
}

/// `name.myshopify.com` where name is `[a-zA-Z0-9][a-zA-Z0-9-]*` (no dots, no scheme, no port, no path).
pub fn is_valid_shop_domain(shop: &str) -> bool {
    let Some(name) = shop.strip_suffix(SHOP_SUFFIX) else {
        return false;
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The message Shopify signs: every parameter but the signatures, sorted by key, form-url-encoded.
fn signed_query(params: &[(String, String)]) -> String {
    let mut signed: Vec<&(String, String)> =
        params.iter().filter(|(key, _)| !UNSIGNED_PARAMS.contains(&key.as_str())).collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in signed {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

/// The value of `name` if it appears at most once.
fn single_param<'a>(params: &'a [(String, String)], name: &'static str) -> Result<Option<&'a str>, SignatureError> {
    let mut values = params.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(SignatureError::Malformed(format!("query parameter '{name}' appears more than once")));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    const DOCS_QUERY: &str = "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173";

    #[test]
    fn webhook_signature_reproduces_the_sdk_vector() {
        assert_eq!(
            webhook_signature("test_secret_key", br#"{"foo": "bar"}"#),
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        );
    }

    #[test]
    fn webhook_verification() {
        let body = br#"{"foo": "bar"}"#;
        let header = webhook_signature("test_secret_key", body);
        assert_eq!(verify_webhook("test_secret_key", &header, body), Ok(()));
        assert_eq!(verify_webhook("test_secret_key", &header, br#"{"foo":  "bar"}"#), Err(SignatureError::Mismatch));
        assert_eq!(verify_webhook("other", &header, body), Err(SignatureError::Mismatch));
        assert_eq!(verify_webhook("test_secret_key", "not base64!", body), Err(SignatureError::Mismatch));
        assert_eq!(verify_webhook("test_secret_key", "AAAA", body), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_webhook("test_secret_key", " ", body),
            Err(SignatureError::Missing("X-Shopify-Hmac-Sha256 header"))
        );
    }

    #[test]
    fn oauth_hmac_reproduces_the_docs_example() {
        assert_eq!(
            oauth_query_hmac("hush", &params(DOCS_QUERY)),
            "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"
        );
    }

    #[test]
    fn the_signed_query_is_sorted_encoded_and_omits_signatures() {
        let query = params("timestamp=1&signature=x&host=a+b%2Fc&hmac=y&code=%C3%A9&shop=s.myshopify.com");
        assert_eq!(signed_query(&query), "code=%C3%A9&host=a+b%2Fc&shop=s.myshopify.com&timestamp=1");
    }

    #[test]
    fn oauth_callback_verification() {
        assert_eq!(verify_oauth_callback("hush", &params(DOCS_QUERY), 1_337_178_173), Ok(()));
        assert_eq!(verify_oauth_callback("hush", &params(DOCS_QUERY), 1_337_178_173 + 90), Ok(()));
        assert_eq!(
            verify_oauth_callback("hush", &params(DOCS_QUERY), 1_337_178_173 + 91),
            Err(SignatureError::Stale { age_secs: 91, tolerance_secs: CALLBACK_TOLERANCE_SECS })
        );
        assert_eq!(verify_oauth_callback("wrong", &params(DOCS_QUERY), 1_337_178_173), Err(SignatureError::Mismatch));
        let swapped = DOCS_QUERY.replace("some-shop", "evil-shop");
        assert_eq!(verify_oauth_callback("hush", &params(&swapped), 1_337_178_173), Err(SignatureError::Mismatch));
    }

    #[test]
    fn oauth_callback_requires_its_parameters() {
        let mut query = params("code=a&shop=x.myshopify.com&state=s");
        assert_eq!(verify_oauth_callback("k", &query, 0), Err(SignatureError::Missing("hmac query parameter")));
        query.push(("hmac".into(), oauth_query_hmac("k", &query)));
        assert_eq!(verify_oauth_callback("k", &query, 0), Err(SignatureError::Missing("timestamp query parameter")));

        let mut query = params("timestamp=now&shop=x.myshopify.com");
        query.push(("hmac".into(), oauth_query_hmac("k", &query)));
        assert!(matches!(verify_oauth_callback("k", &query, 0), Err(SignatureError::Malformed(_))));

        let mut query = params("timestamp=10");
        query.push(("hmac".into(), oauth_query_hmac("k", &query)));
        assert_eq!(verify_oauth_callback("k", &query, 10), Err(SignatureError::Missing("shop query parameter")));
    }

    #[test]
    fn a_signed_but_foreign_shop_is_rejected() {
        let mut query = params("shop=evil.example.com&timestamp=10");
        query.push(("hmac".into(), oauth_query_hmac("k", &query)));
        let error = verify_oauth_callback("k", &query, 10);
        assert!(matches!(&error, Err(SignatureError::Malformed(m)) if m.contains("evil.example.com")), "{error:?}");
    }

    #[test]
    fn repeated_deciding_parameters_are_rejected() {
        let mut query = params("shop=a.myshopify.com&timestamp=10&timestamp=11");
        query.push(("hmac".into(), oauth_query_hmac("k", &query)));
        assert!(matches!(verify_oauth_callback("k", &query, 10), Err(SignatureError::Malformed(_))));
        query.push(("hmac".into(), "00".into()));
        assert!(matches!(verify_oauth_callback("k", &query, 10), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn undecodable_hmac_is_a_mismatch() {
        let query = params("hmac=xyz&shop=a.myshopify.com&timestamp=10");
        assert_eq!(verify_oauth_callback("k", &query, 10), Err(SignatureError::Mismatch));
    }

    #[test]
    fn shop_domains() {
        for shop in ["some-shop.myshopify.com", "A1.myshopify.com", "0.myshopify.com", "a--b.myshopify.com"] {
            assert!(is_valid_shop_domain(shop), "{shop}");
        }
        for shop in [
            "",
            ".myshopify.com",
            "-shop.myshopify.com",
            "a.b.myshopify.com",
            "shop.myshopify.com.evil.com",
            "https://shop.myshopify.com",
            "shop.myshopify.com:443",
            "shop.myshopify.com/admin",
            "shop_1.myshopify.com",
            "shop.myshopify.io",
            "shop.MYSHOPIFY.com",
            "shöp.myshopify.com",
            "shop .myshopify.com",
        ] {
            assert!(!is_valid_shop_domain(shop), "{shop}");
        }
    }
}
