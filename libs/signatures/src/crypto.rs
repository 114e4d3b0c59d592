//! The three primitives every scheme is built from: HMAC-SHA256, SHA-256 and a constant-time byte comparison.

use ring::{digest, hmac};
use subtle::ConstantTimeEq;

/// HMAC-SHA256 of the concatenation of `parts` under `key`; parts avoid copying bodies into one buffer.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    to_array(context.sign().as_ref())
}

/// SHA-256 of the concatenation of `parts` (HubSpot v1/v2 hash the secret as a prefix instead of using an HMAC).
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part);
    }
    to_array(context.finish().as_ref())
}

/// Whether `received` equals `expected`, in time independent of where they differ (the length may leak; it is
/// public anyway).
pub(crate) fn constant_time_eq(expected: &[u8], received: &[u8]) -> bool {
    expected.ct_eq(received).into()
}

fn to_array(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    // SHA-256 outputs are always 32 bytes; copying by zip keeps this panic-free regardless.
    for (slot, byte) in out.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn sha256_matches_fips_180_abc() {
        assert_eq!(
            hex::encode(sha256(&[b"a", b"bc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn comparison_needs_equal_length_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
