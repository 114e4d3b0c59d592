//! Properties over generated inputs: whatever a provider signs verifies, and any change to the secret, the body
//! or the signature makes it fail.

use switchboard_signatures::{SignatureError, hubspot, quickbooks, shopify, stripe};

const ROUNDS: usize = 200;

/// xorshift64*: deterministic, so a failure names a round that reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn text(&mut self, min_len: usize, max_len: usize) -> String {
        const CHARS: &[char] =
            &['a', 'Z', '0', '9', '_', '-', ' ', '=', '&', '%', '+', '/', ':', '?', 'é', '€', '"', ',', '.'];
        let len = min_len + self.below(max_len - min_len + 1);
        (0..len).map(|_| CHARS[self.below(CHARS.len())]).collect()
    }
}

/// `body` with one bit flipped, or one byte appended to an empty body.
fn tampered(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    if out.is_empty() {
        out.push(b' ');
    } else {
        let at = rng.below(out.len());
        out[at] ^= 1 << rng.below(8);
    }
    out
}

/// `signature` with one character replaced by a different one of the same alphabet.
fn tampered_signature(rng: &mut Rng, signature: &str, alphabet: &str) -> String {
    let mut chars: Vec<char> = signature.chars().collect();
    let at = rng.below(chars.len());
    let replacement = alphabet.chars().find(|c| *c != chars[at]).expect("alphabet has two characters");
    chars[at] = replacement;
    chars.into_iter().collect()
}

#[test]
fn stripe_round_trip_and_tamper() {
    let mut rng = Rng(0x5EED_0001);
    for round in 0..ROUNDS {
        let secret = format!("whsec_{}", rng.text(1, 40));
        let body = rng.bytes(300);
        let timestamp = 1_600_000_000 + rng.below(100_000_000) as i64;
        let skew = rng.below(601) as i64 - 300;
        let header = stripe::sign(&secret, timestamp, &body);
        assert_eq!(stripe::verify(&secret, &header, &body, timestamp + skew, 300), Ok(timestamp), "round {round}");
        assert_eq!(
            stripe::verify(&secret, &header, &tampered(&mut rng, &body), timestamp, 300),
            Err(SignatureError::Mismatch),
            "round {round}"
        );
        assert_eq!(
            stripe::verify(&format!("{secret}x"), &header, &body, timestamp, 300),
            Err(SignatureError::Mismatch),
            "round {round}"
        );
        let signature = header.split_once(",v1=").map(|(_, s)| s).expect("sign writes a v1");
        let forged = format!("t={timestamp},v1={}", tampered_signature(&mut rng, signature, "0123456789abcdef"));
        assert_eq!(stripe::verify(&secret, &forged, &body, timestamp, 300), Err(SignatureError::Mismatch));
        // Rolling secrets: a header carrying an old and a new signature verifies under either secret.
        let rolled = format!("{header},v1={}", signature.chars().rev().collect::<String>());
        assert_eq!(stripe::verify(&secret, &rolled, &body, timestamp, 300), Ok(timestamp));
    }
}

#[test]
fn shopify_webhook_round_trip_and_tamper() {
    let mut rng = Rng(0x5EED_0002);
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for round in 0..ROUNDS {
        let secret = rng.text(1, 40);
        let body = rng.bytes(300);
        let header = shopify::webhook_signature(&secret, &body);
        assert_eq!(shopify::verify_webhook(&secret, &header, &body), Ok(()), "round {round}");
        assert_eq!(
            shopify::verify_webhook(&secret, &header, &tampered(&mut rng, &body)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(shopify::verify_webhook(&format!("{secret}x"), &header, &body), Err(SignatureError::Mismatch));
        // The last character of a 32-byte base64 value is followed by '='; replace one of the first 42.
        let (head, tail) = header.split_at(42);
        let forged = format!("{}{tail}", tampered_signature(&mut rng, head, alphabet));
        assert_eq!(shopify::verify_webhook(&secret, &forged, &body), Err(SignatureError::Mismatch), "round {round}");
    }
}

#[test]
fn shopify_oauth_round_trip_and_tamper() {
    let mut rng = Rng(0x5EED_0003);
    for round in 0..ROUNDS {
        let secret = rng.text(1, 40);
        let timestamp = 1_600_000_000 + rng.below(100_000_000) as i64;
        let mut params = vec![
            ("shop".to_owned(), format!("shop{round}.myshopify.com")),
            ("timestamp".to_owned(), timestamp.to_string()),
            ("code".to_owned(), rng.text(0, 20)),
            ("state".to_owned(), rng.text(0, 20)),
            ("host".to_owned(), rng.text(0, 20)),
        ];
        // The order the parameters arrive in does not matter.
        let shift = rng.below(params.len());
        params.rotate_left(shift);
        let hmac = shopify::oauth_query_hmac(&secret, &params);
        params.insert(rng.below(params.len() + 1), ("hmac".to_owned(), hmac));
        let now = timestamp + rng.below(181) as i64 - 90;
        assert_eq!(shopify::verify_oauth_callback(&secret, &params, now), Ok(()), "round {round}");
        assert_eq!(shopify::verify_oauth_callback(&format!("{secret}x"), &params, now), Err(SignatureError::Mismatch));

        let mut changed = params.clone();
        let victim = changed.iter_mut().find(|(key, _)| key == "state").expect("state is present");
        victim.1.push('x');
        assert_eq!(shopify::verify_oauth_callback(&secret, &changed, now), Err(SignatureError::Mismatch));

        let mut extra = params.clone();
        extra.push(("extra".to_owned(), "1".to_owned()));
        assert_eq!(shopify::verify_oauth_callback(&secret, &extra, now), Err(SignatureError::Mismatch));

        assert!(matches!(
            shopify::verify_oauth_callback(&secret, &params, timestamp + 91),
            Err(SignatureError::Stale { .. })
        ));
    }
}

#[test]
fn quickbooks_round_trip_and_tamper() {
    let mut rng = Rng(0x5EED_0004);
    for round in 0..ROUNDS {
        let token = rng.text(1, 40);
        let body = rng.bytes(300);
        let header = quickbooks::sign(&token, &body);
        assert_eq!(quickbooks::verify(&token, &header, &body), Ok(()), "round {round}");
        assert_eq!(quickbooks::verify(&token, &header, &tampered(&mut rng, &body)), Err(SignatureError::Mismatch));
        assert_eq!(quickbooks::verify(&format!("{token}x"), &header, &body), Err(SignatureError::Mismatch));
    }
}

#[test]
fn hubspot_round_trip_and_tamper() {
    let mut rng = Rng(0x5EED_0005);
    for round in 0..ROUNDS {
        let secret = rng.text(1, 40);
        let body = rng.bytes(300);
        let uri = format!("https://example.com/hook?{}", rng.text(0, 30));
        let method = ["POST", "GET", "PUT"][rng.below(3)];
        let wrong_method = if method == "POST" { "GET" } else { "POST" };

        let v1 = hubspot::sign_v1(&secret, &body);
        let headers = hubspot::Headers { signature: Some(&v1), ..hubspot::Headers::default() };
        assert_eq!(hubspot::verify(&secret, &headers, method, &uri, &body, 0), Ok(()), "round {round}");
        assert_eq!(
            hubspot::verify(&secret, &headers, method, &uri, &tampered(&mut rng, &body), 0),
            Err(SignatureError::Mismatch)
        );

        let v2 = hubspot::sign_v2(&secret, method, &uri, &body);
        let headers =
            hubspot::Headers { signature: Some(&v2), signature_version: Some("v2"), ..hubspot::Headers::default() };
        assert_eq!(hubspot::verify(&secret, &headers, method, &uri, &body, 0), Ok(()), "round {round}");
        assert_eq!(hubspot::verify(&secret, &headers, wrong_method, &uri, &body, 0), Err(SignatureError::Mismatch));
        assert_eq!(
            hubspot::verify(&secret, &headers, method, &format!("{uri}x"), &body, 0),
            Err(SignatureError::Mismatch)
        );

        let timestamp = 1_600_000_000_000 + rng.below(1_000_000_000) as i64;
        let timestamp_text = timestamp.to_string();
        let v3 = hubspot::sign_v3(&secret, method, &uri, &body, &timestamp_text);
        let headers = hubspot::Headers {
            signature_v3: Some(&v3),
            request_timestamp: Some(&timestamp_text),
            ..hubspot::Headers::default()
        };
        let now = timestamp + rng.below(600_001) as i64 - 300_000;
        assert_eq!(hubspot::verify(&secret, &headers, method, &uri, &body, now), Ok(()), "round {round}");
        assert_eq!(
            hubspot::verify(&secret, &headers, method, &uri, &tampered(&mut rng, &body), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            hubspot::verify(&format!("{secret}x"), &headers, method, &uri, &body, now),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            hubspot::verify(&secret, &headers, method, &uri, &body, timestamp + hubspot::MAX_AGE_MS + 1),
            Err(SignatureError::Stale { .. })
        ));
    }
}

#[test]
fn hubspot_v3_signs_the_decoded_uri() {
    let encoded = "https://example.com/hook?a=%3A%2C%40&b=%20";
    let decoded = "https://example.com/hook?a=:,@&b=%20";
    assert_eq!(hubspot::sign_v3("s", "POST", encoded, b"{}", "1"), hubspot::sign_v3("s", "POST", decoded, b"{}", "1"));
    assert_ne!(
        hubspot::sign_v3("s", "POST", encoded, b"{}", "1"),
        hubspot::sign_v3("s", "POST", "https://example.com/hook?a=:,@&b= ", b"{}", "1")
    );
}
