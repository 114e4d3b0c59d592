//! Every case of `shared/vectors/webhooks.json` must get its expected verdict.

use std::collections::HashMap;

use serde_json::Value;
use switchboard_signatures::{SignatureError, hubspot, quickbooks, shopify, stripe};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/webhooks.json");

/// One case of the vector file, with header names lower-cased (HTTP header names are case-insensitive and the
/// file mixes `X-HubSpot-Signature-v3` with `intuit-signature`).
struct Case<'a> {
    raw: &'a Value,
    name: String,
    headers: HashMap<String, String>,
}

impl<'a> Case<'a> {
    fn new(raw: &'a Value) -> Self {
        let name = format!("{}/{}/{}", text(raw, "provider"), text(raw, "kind"), text(raw, "name"));
        let headers = raw
            .get("headers")
            .and_then(Value::as_object)
            .map(|headers| {
                headers
                    .iter()
                    .map(|(key, value)| {
                        let value = value.as_str().unwrap_or_else(|| panic!("header {key} is not a string"));
                        (key.to_ascii_lowercase(), value.to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { raw, name, headers }
    }

    fn field(&self, key: &str) -> &str {
        self.raw.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("case {}: no string '{key}'", self.name))
    }

    fn int(&self, key: &str) -> Option<i64> {
        self.raw.get(key).map(|v| v.as_i64().unwrap_or_else(|| panic!("case {}: '{key}' is not an integer", self.name)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn body(&self) -> &[u8] {
        self.field("body").as_bytes()
    }

    /// Runs the verifier the case is for.
    fn verify(&self) -> Result<(), SignatureError> {
        let secret = self.field("secret");
        match (self.field("provider"), self.field("kind")) {
            ("shopify", "webhook") => {
                shopify::verify_webhook(secret, self.header("x-shopify-hmac-sha256").unwrap_or(""), self.body())
            }
            ("shopify", "oauth-callback") => {
                let params: Vec<(String, String)> =
                    form_urlencoded::parse(self.field("query").as_bytes()).into_owned().collect();
                // The published example is years old: unless the case gives a clock, "now" is its own timestamp.
                let now = self.int("now").unwrap_or_else(|| {
                    params
                        .iter()
                        .find(|(key, _)| key == "timestamp")
                        .and_then(|(_, value)| value.parse().ok())
                        .unwrap_or_else(|| panic!("case {}: no clock and no numeric timestamp", self.name))
                });
                shopify::verify_oauth_callback(secret, &params, now)
            }
            ("stripe", "webhook") => stripe::verify(
                secret,
                self.header("stripe-signature").unwrap_or(""),
                self.body(),
                self.int("now").unwrap_or_else(|| panic!("case {}: stripe cases need 'now'", self.name)),
                self.int("tolerance_s").unwrap_or(stripe::DEFAULT_TOLERANCE_SECS),
            )
            .map(|_| ()),
            ("quickbooks", "webhook") => {
                quickbooks::verify(secret, self.header("intuit-signature").unwrap_or(""), self.body())
            }
            ("hubspot", "webhook") => {
                let headers = hubspot::Headers {
                    signature: self.header("x-hubspot-signature"),
                    signature_version: self.header("x-hubspot-signature-version"),
                    signature_v3: self.header("x-hubspot-signature-v3"),
                    request_timestamp: self.header("x-hubspot-request-timestamp"),
                };
                // v1/v2 carry no timestamp; the clock only matters to v3 cases, which all give one.
                let now_ms = self.int("now_ms").unwrap_or(0);
                hubspot::verify(secret, &headers, self.field("method"), self.field("uri"), self.body(), now_ms)
            }
            (provider, kind) => panic!("case {}: no verifier for {provider}/{kind}; extend this harness", self.name),
        }
    }
}

fn text<'v>(raw: &'v Value, key: &str) -> &'v str {
    raw.get(key).and_then(Value::as_str).unwrap_or("?")
}

fn load() -> Value {
    let json = std::fs::read_to_string(VECTORS).unwrap_or_else(|error| {
        panic!(
            "cannot read the shared signature vectors at {VECTORS}: {error}. The `shared` directory must sit beside \
             the repository checkout (…/shared next to …/main)."
        )
    });
    serde_json::from_str(&json).unwrap_or_else(|error| panic!("{VECTORS} is not valid JSON: {error}"))
}

#[test]
fn every_case_gets_its_expected_verdict() {
    let file = load();
    let cases = file.get("cases").and_then(Value::as_array).expect("the vector file has a 'cases' array");
    assert!(cases.len() >= 20, "expected the full vector file, found {} cases", cases.len());
    let mut failures = Vec::new();
    for raw in cases {
        let case = Case::new(raw);
        let expected = raw.get("valid").and_then(Value::as_bool).expect("every case has a boolean 'valid'");
        let verdict = case.verify();
        if verdict.is_ok() != expected {
            failures.push(format!("{}: expected valid={expected}, got {verdict:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn every_provider_and_kind_is_covered() {
    let file = load();
    let cases = file.get("cases").and_then(Value::as_array).expect("the vector file has a 'cases' array");
    for (provider, kind) in [
        ("shopify", "webhook"),
        ("shopify", "oauth-callback"),
        ("stripe", "webhook"),
        ("quickbooks", "webhook"),
        ("hubspot", "webhook"),
    ] {
        for valid in [true, false] {
            let present = cases.iter().any(|c| {
                text(c, "provider") == provider
                    && text(c, "kind") == kind
                    && c.get("valid").and_then(Value::as_bool) == Some(valid)
            });
            // QuickBooks and HubSpot have only valid published cases; their negatives are in the unit tests.
            if valid || matches!(provider, "shopify" | "stripe") {
                assert!(present, "no {provider}/{kind} case with valid={valid}");
            }
        }
    }
}

#[test]
fn rejected_cases_fail_for_the_right_reason() {
    let file = load();
    let cases = file.get("cases").and_then(Value::as_array).expect("the vector file has a 'cases' array");
    let reason = |name: &str| {
        let raw = cases.iter().find(|c| text(c, "name") == name).unwrap_or_else(|| panic!("no case {name}"));
        Case::new(raw).verify()
    };
    assert_eq!(reason("too-old"), Err(SignatureError::Stale { age_secs: 301, tolerance_secs: 300 }));
    assert_eq!(reason("v3-published-too-old"), Err(SignatureError::Stale { age_secs: 301, tolerance_secs: 300 }));
    assert_eq!(reason("body-changed"), Err(SignatureError::Mismatch));
    assert_eq!(reason("published-docs-example-shop-swapped"), Err(SignatureError::Mismatch));
    assert!(matches!(reason("malformed-header"), Err(SignatureError::Malformed(_))));
    assert!(matches!(reason("empty-header"), Err(SignatureError::Missing(_))));
    assert!(matches!(reason("v0-only"), Err(SignatureError::Missing(_))));
}
