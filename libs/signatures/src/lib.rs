//! Provider signature schemes: how Stripe, Shopify, QuickBooks Online and HubSpot sign the webhooks (and, for
//! Shopify, the OAuth callbacks) they send, so that the connectors service can verify them and the sandbox's fake
//! providers can produce them.
//!
//! One module per provider, each a pair of pure functions: `sign` builds the exact header value the provider sends,
//! `verify` checks one against the raw request body (and the clock, for schemes that carry a timestamp). Every
//! comparison of a computed MAC with a received one is constant-time. Clocks are passed in (`now_unix`, `now_ms`)
//! rather than read, so callers and tests decide what "now" is.
//!
//! This crate does not read HTTP requests, look headers up, store secrets or parse payloads: callers hand it the
//! raw body bytes and the header values, and parse the JSON only after verification succeeds. The algorithms and
//! their sources are in `shared/reference/providers.md` (§2.1, §2.8, §3.9, §4.7, §5.7).

mod crypto;
pub mod hubspot;
pub mod quickbooks;
pub mod shopify;
pub mod stripe;

/// Why a signature was rejected.
///
/// Undecodable signature values (bad hex or base64) are reported as [`SignatureError::Mismatch`]: to the sender
/// they are simply wrong signatures. [`SignatureError::Malformed`] is kept for structure the scheme itself defines
/// (a `Stripe-Signature` pair without `=`, a timestamp that is not a number, an invalid shop domain).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// A header or parameter the scheme requires is absent or empty; the message names it.
    #[error("missing {0}: the request does not carry the provider's signature; check the sender is the provider")]
    Missing(&'static str),
    /// The signature data is present but not in the shape the scheme defines.
    #[error("malformed signature data: {0}")]
    Malformed(String),
    /// No signature matches the body: the secret is wrong or the body was altered on the way.
    #[error(
        "signature mismatch: check the signing secret configured for this endpoint, and that the raw, \
         unmodified request body (and, for HubSpot v2/v3, the exact public URL) is what gets verified"
    )]
    Mismatch,
    /// The signature is valid but its timestamp is too far from now: a replay, or a skewed clock.
    #[error(
        "signature timestamp is {age_secs} s from now (negative: in the future), beyond the tolerance of \
         {tolerance_secs} s: a replayed request or a wrong clock; check this server's time"
    )]
    Stale {
        /// Seconds between the signed timestamp and now; negative when the timestamp is in the future.
        age_secs: i64,
        /// The largest accepted absolute age.
        tolerance_secs: i64,
    },
}

/// Checks `|age| <= tolerance` without overflowing on hostile timestamps.
fn check_age(age_secs: i64, tolerance_secs: i64) -> Result<(), SignatureError> {
    if tolerance_secs >= 0 && age_secs.unsigned_abs() <= tolerance_secs.unsigned_abs() {
        Ok(())
    } else {
        Err(SignatureError::Stale { age_secs, tolerance_secs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_is_checked_in_both_directions() {
        assert_eq!(check_age(300, 300), Ok(()));
        assert_eq!(check_age(-300, 300), Ok(()));
        assert_eq!(check_age(301, 300), Err(SignatureError::Stale { age_secs: 301, tolerance_secs: 300 }));
        assert_eq!(check_age(-301, 300), Err(SignatureError::Stale { age_secs: -301, tolerance_secs: 300 }));
        assert!(check_age(i64::MIN, 300).is_err());
        assert!(check_age(0, -1).is_err());
    }

    #[test]
    fn messages_name_what_to_fix() {
        assert!(SignatureError::Missing("Stripe-Signature header").to_string().contains("Stripe-Signature header"));
        let stale = SignatureError::Stale { age_secs: 400, tolerance_secs: 300 }.to_string();
        assert!(stale.contains("400 s") && stale.contains("300 s"), "{stale}");
        assert!(SignatureError::Mismatch.to_string().contains("secret"));
    }
}
