//! Stripe webhook signatures (`Stripe-Signature`), as stripe-go `webhook/client.go` and stripe-node
//! `Webhooks.ts` define them.
//!
//! The header is a comma-separated list of `key=value` pairs: one `t=<unix seconds>`, one or more
//! `v1=<hex HMAC-SHA256>` and possibly `v0=` or other schemes, which are ignored. The MAC is computed with the
//! whole endpoint secret (`whsec_…`, not base64-decoded) as the key over `"<t>.<raw body>"`. Several `v1` values
//! appear while a secret is being rolled; the header is valid if any of them matches. Unlike the SDKs, which only
//! reject timestamps too far in the past, [`verify`] also rejects timestamps too far in the future.

use crate::SignatureError;
use crate::crypto::{constant_time_eq, hmac_sha256};

/// The tolerance Stripe's SDKs use between the signed timestamp and now.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The `Stripe-Signature` header value `t=<timestamp>,v1=<hex hmac-sha256(secret, "<t>.<body>")>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, &timestamp.to_string(), body)))
}

/// Verifies: parses t= and every v1= (ignores v0 and unknown schemes; valid if ANY v1 matches), checks
/// |now - t| <= tolerance. Returns the timestamp.
///
/// The signature is checked before the clock, so only a correctly signed request learns it is stale.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing("Stripe-Signature header"));
    }
    let mut timestamp: Option<(&str, i64)> = None;
    let mut candidates = Vec::new();
    for pair in header.split(',') {
        let pair = pair.trim();
        let Some((key, value)) = pair.split_once('=') else {
            return Err(SignatureError::Malformed(format!(
                "Stripe-Signature entry '{pair}' is not a key=value pair; expected 't=<timestamp>,v1=<hex>'"
            )));
        };
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed("Stripe-Signature has more than one t= entry".into()));
                }
                let parsed = value.parse::<i64>().map_err(|_| {
                    SignatureError::Malformed(format!("Stripe-Signature t='{value}' is not a unix timestamp"))
                })?;
                timestamp = Some((value, parsed));
            }
            // Undecodable or wrong-length values are ignored, as in the SDKs: another v1 may still match.
            "v1" => {
                if let Ok(bytes) = hex::decode(value)
                    && bytes.len() == 32
                {
                    candidates.push(bytes);
                }
            }
            _ => {}
        }
    }
    let Some((timestamp_text, timestamp)) = timestamp else {
        return Err(SignatureError::Missing("t= timestamp in the Stripe-Signature header"));
    };
    if candidates.is_empty() {
        return Err(SignatureError::Missing("v1= signature in the Stripe-Signature header"));
    }
    let expected = mac(secret, timestamp_text, body);
    // Fold over every candidate rather than stopping at the first match, so timing says nothing about which one.
    let matched = candidates.iter().fold(false, |found, candidate| constant_time_eq(&expected, candidate) | found);
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    crate::check_age(now_unix.saturating_sub(timestamp), tolerance_secs)?;
    Ok(timestamp)
}

/// The MAC over the timestamp exactly as written in the header, so a re-formatted number cannot match.
fn mac(secret: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b".", body])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_test_webhook","object":"event"}"#;
    const SIGNATURE: &str = "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990";

    #[test]
    fn sign_reproduces_the_computed_vector() {
        assert_eq!(sign(SECRET, 1_700_000_000, BODY), format!("t=1700000000,v1={SIGNATURE}"));
    }

    #[test]
    fn verify_returns_the_timestamp() {
        let header = sign(SECRET, 1_700_000_000, BODY);
        assert_eq!(verify(SECRET, &header, BODY, 1_700_000_010, DEFAULT_TOLERANCE_SECS), Ok(1_700_000_000));
    }

    #[test]
    fn any_v1_may_match_and_others_are_ignored() {
        let header = format!("t=1700000000,v0={SIGNATURE},v1=zz,v1={},v1={SIGNATURE},scheme=x", "ab".repeat(32));
        assert_eq!(verify(SECRET, &header, BODY, 1_700_000_000, 300), Ok(1_700_000_000));
        let spaced = format!(" t=1700000000 , v1={SIGNATURE} ");
        assert_eq!(verify(SECRET, &spaced, BODY, 1_700_000_000, 300), Ok(1_700_000_000));
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let header = format!("t=1700000000,v1={}", SIGNATURE.to_uppercase());
        assert_eq!(verify(SECRET, &header, BODY, 1_700_000_000, 300), Ok(1_700_000_000));
    }

    #[test]
    fn missing_parts_are_named() {
        assert_eq!(verify(SECRET, "", BODY, 0, 300), Err(SignatureError::Missing("Stripe-Signature header")));
        assert_eq!(
            verify(SECRET, &format!("v1={SIGNATURE}"), BODY, 0, 300),
            Err(SignatureError::Missing("t= timestamp in the Stripe-Signature header"))
        );
        assert_eq!(
            verify(SECRET, &format!("t=1700000000,v0={SIGNATURE}"), BODY, 1_700_000_000, 300),
            Err(SignatureError::Missing("v1= signature in the Stripe-Signature header"))
        );
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for header in ["v1,t=1", "t=abc,v1=00", "t=1,t=1,v1=00", "garbage"] {
            assert!(matches!(verify(SECRET, header, BODY, 1, 300), Err(SignatureError::Malformed(_))), "{header}");
        }
    }

    #[test]
    fn wrong_secret_or_body_or_timestamp_mismatch() {
        let header = sign(SECRET, 1_700_000_000, BODY);
        assert_eq!(verify("whsec_other", &header, BODY, 1_700_000_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(SECRET, &header, b"{}", 1_700_000_000, 300), Err(SignatureError::Mismatch));
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(verify(SECRET, &moved, BODY, 1_700_000_000, 300), Err(SignatureError::Mismatch));
        // The same instant written differently is a different signed message.
        let padded = header.replace("t=1700000000", "t=01700000000");
        assert_eq!(verify(SECRET, &padded, BODY, 1_700_000_000, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn the_clock_is_checked_both_ways() {
        let header = sign(SECRET, 1_700_000_000, BODY);
        assert_eq!(verify(SECRET, &header, BODY, 1_700_000_300, 300), Ok(1_700_000_000));
        assert_eq!(
            verify(SECRET, &header, BODY, 1_700_000_301, 300),
            Err(SignatureError::Stale { age_secs: 301, tolerance_secs: 300 })
        );
        assert_eq!(
            verify(SECRET, &header, BODY, 1_699_999_000, 300),
            Err(SignatureError::Stale { age_secs: -1000, tolerance_secs: 300 })
        );
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let header = sign(SECRET, i64::MIN, BODY);
        assert!(matches!(verify(SECRET, &header, BODY, i64::MAX, 300), Err(SignatureError::Stale { .. })));
    }
}
