//! ListEvents page tokens: opaque to clients, bound to the filters they were issued for.
//!
//! A token is base64url(`v1:<last seq>:<filter fingerprint>`). The fingerprint stops a token from one query
//! being replayed against another, which would silently skip or repeat entries.

use crate::storage::AuditFilter;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::AuditError;

/// 16 hex digits of SHA-256 over the filters and order.
pub(crate) fn fingerprint(filter: &AuditFilter, ascending: bool) -> String {
    let text = format!("{:?}|{:?}|{:?}|{:?}|{ascending}", filter.start_us, filter.end_us, filter.actor, filter.action);
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hex::encode(&digest.as_ref()[..8])
}

pub(crate) fn encode(last_seq: i64, fingerprint: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{last_seq}:{fingerprint}"))
}

/// The seq to continue from, or INVALID_ARGUMENT naming what is wrong.
pub(crate) fn decode(token: &str, fingerprint: &str) -> Result<i64, AuditError> {
    let malformed = || {
        AuditError::InvalidArgument(
            "page_token is malformed: pass the next_page_token of a previous ListEvents call unchanged".into(),
        )
    };
    if token.len() > 128 {
        return Err(malformed());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let mut parts = text.split(':');
    let (Some("v1"), Some(seq), Some(print), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    let seq: i64 = seq.parse().map_err(|_| malformed())?;
    if seq < 0 {
        return Err(malformed());
    }
    if print != fingerprint {
        return Err(AuditError::InvalidArgument(
            "page_token was issued for different filters or order: repeat the original filters, or start over \
             without a page_token"
                .into(),
        ));
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_filters() {
        let f = AuditFilter { action: Some("auth.login".into()), ..Default::default() };
        let print = fingerprint(&f, false);
        assert_eq!(decode(&encode(42, &print), &print).unwrap(), 42);
        let other = fingerprint(&AuditFilter::default(), false);
        assert!(decode(&encode(42, &print), &other).unwrap_err().to_string().contains("different filters"));
        for bad in ["", "!!!", "djE6", &URL_SAFE_NO_PAD.encode("v1:x:y"), &URL_SAFE_NO_PAD.encode("v2:1:y")] {
            assert!(decode(bad, &print).is_err(), "{bad:?}");
        }
    }
}
