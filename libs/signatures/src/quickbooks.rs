//! QuickBooks Online webhook signatures (`intuit-signature`), as the Java and .NET SDKs'
//! `WebhooksService.verifyPayload` define them: `base64(HMAC-SHA256(verifier token, raw body))`.
//!
//! The scheme carries no timestamp, so it gives no replay protection: callers dedupe on the event ids. It is the
//! same for the legacy `{"eventNotifications":[…]}` bodies and the CloudEvents arrays.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::SignatureError;
use crate::crypto::{constant_time_eq, hmac_sha256};

/// The `intuit-signature` header value for `body`, signed with the app's webhook verifier token.
pub fn sign(verifier_token: &str, body: &[u8]) -> String {
    STANDARD.encode(hmac_sha256(verifier_token.as_bytes(), &[body]))
}

/// Verifies an `intuit-signature` header value against the raw body.
pub fn verify(verifier_token: &str, header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing("intuit-signature header"));
    }
    let received = STANDARD.decode(header).map_err(|_| SignatureError::Mismatch)?;
    if constant_time_eq(&hmac_sha256(verifier_token.as_bytes(), &[body]), &received) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "b5771f19b12ddb4bcdb9f08bdc50bc63878a";
    const BODY: &[u8] = br#"{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer","id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}"#;

    #[test]
    fn sign_reproduces_the_java_sdk_vector() {
        assert_eq!(sign(TOKEN, BODY), "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=");
    }

    #[test]
    fn verification() {
        assert_eq!(verify(TOKEN, "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=", BODY), Ok(()));
        assert_eq!(verify(TOKEN, "1234", BODY), Err(SignatureError::Mismatch));
        assert_eq!(verify(TOKEN, "%%%", BODY), Err(SignatureError::Mismatch));
        assert_eq!(verify("other", &sign(TOKEN, BODY), BODY), Err(SignatureError::Mismatch));
        assert_eq!(verify(TOKEN, &sign(TOKEN, BODY), b"[]"), Err(SignatureError::Mismatch));
        assert_eq!(verify(TOKEN, "", BODY), Err(SignatureError::Missing("intuit-signature header")));
    }
}
