//! Envelope authenticity: every message the platform publishes carries an HMAC-SHA256 tag in its
//! `x-envelope-mac` header, and every consumer drops (and counts) a message whose tag is missing or wrong. Anyone
//! who can reach the broker could otherwise publish an `audit.event.v1` naming any tenant, and the audit service
//! would append and sign it.
//!
//! [`SignedBus`] wraps any [`EventBus`]: it signs what it publishes and hands its subscribers only verified
//! deliveries, so the outbox relay and every consumer get this by construction. The keys ([`EnvelopeKeys`]) come
//! from configuration: a file of `<kid> <base64url key>` lines, the first of which signs and all of which verify,
//! so a key can be rotated in (add it second, then move it first once every process has it) and out. The embedded
//! default generates one into the data dir.
//!
//! The tag covers the topic, the key, every header but the tag itself (sorted by name) and the payload, each
//! length-prefixed, so no field can be moved into another.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use crate::{BusFuture, Delivery, EventBus, EventsError, Outgoing, Subscription};

/// The header holding `<kid>.<base64url tag>`.
pub const MAC_HEADER: &str = "x-envelope-mac";
/// Shortest key accepted.
const MIN_KEY_BYTES: usize = 32;

/// The keys that sign and verify envelopes.
#[derive(Clone)]
pub struct EnvelopeKeys {
    signing: (String, hmac::Key),
    verifying: BTreeMap<String, hmac::Key>,
}

impl std::fmt::Debug for EnvelopeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys themselves.
        f.debug_struct("EnvelopeKeys")
            .field("signing", &self.signing.0)
            .field("verifying", &self.verifying.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EnvelopeKeys {
    /// Keys from the text of a keys file: one `<kid> <base64url key>` per line (`#` comments and blank lines
    /// allowed); the first signs.
    pub fn parse(text: &str) -> Result<Self, EventsError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &str| EventsError::Invalid(format!("event keys, line {n}: {what}"));
            let (kid, encoded) = line.split_once(char::is_whitespace).ok_or_else(|| bad("expected `<kid> <key>`"))?;
            if kid.is_empty() || kid.contains('.') || !kid.is_ascii() {
                return Err(bad("a kid is ASCII without dots"));
            }
            let secret = URL_SAFE_NO_PAD.decode(encoded.trim()).map_err(|_| bad("the key is not base64url"))?;
            if secret.len() < MIN_KEY_BYTES {
                return Err(bad(&format!("the key is shorter than {MIN_KEY_BYTES} bytes")));
            }
            keys.push((kid.to_owned(), hmac::Key::new(hmac::HMAC_SHA256, &secret)));
        }
        let Some(signing) = keys.first().cloned() else {
            return Err(EventsError::Invalid("event keys: no key given".into()));
        };
        Ok(Self { signing, verifying: keys.into_iter().collect() })
    }

    /// Keys from `path`, generating a file with one fresh key (mode 0600) when there is none.
    pub fn load_or_create(path: &Path) -> Result<Self, EventsError> {
        let error = |e: std::io::Error| EventsError::Invalid(format!("event keys {}: {e}", path.display()));
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let text = Self::generate_line()?;
                if let Some(dir) = path.parent() {
                    switchboard_mesh::pki::create_private_dir(dir).map_err(error)?;
                }
                let mut file =
                    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(error)?;
                file.write_all(text.as_bytes()).map_err(error)?;
                Self::parse(&text)
            }
            Err(e) => Err(error(e)),
        }
    }

    /// A keys-file line with a fresh random key.
    pub fn generate_line() -> Result<String, EventsError> {
        use ring::rand::SecureRandom;
        let mut secret = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| EventsError::Invalid("no randomness available for an event key".into()))?;
        let kid = format!("e{}", switchboard_types::now_unix_micros() / 1_000_000);
        Ok(format!("{kid} {}\n", URL_SAFE_NO_PAD.encode(secret)))
    }

    /// The tag of a message, as the header carries it.
    fn sign(&self, topic: &str, key: &str, headers: &BTreeMap<String, String>, payload: &[u8]) -> String {
        let (kid, secret) = &self.signing;
        let tag = hmac::sign(secret, &signed_bytes(topic, key, headers, payload));
        format!("{kid}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Whether `delivery` carries a valid tag from one of the keys (compared in constant time by ring).
    fn verify(&self, delivery: &Delivery) -> Result<(), &'static str> {
        let Some(header) = delivery.headers.get(MAC_HEADER) else { return Err("unsigned") };
        let (kid, encoded) = header.split_once('.').ok_or("malformed tag")?;
        let key = self.verifying.get(kid).ok_or("unknown key")?;
        let tag = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| "malformed tag")?;
        let bytes = signed_bytes(&delivery.topic, &delivery.key, &delivery.headers, &delivery.payload);
        hmac::verify(key, &bytes, &tag).map_err(|_| "bad tag")
    }
}

/// What the tag covers: every field length-prefixed, headers sorted by name, the tag header left out.
fn signed_bytes(topic: &str, key: &str, headers: &BTreeMap<String, String>, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(payload.len() + 256);
    let mut field = |b: &[u8]| {
        bytes.extend_from_slice(&(b.len() as u64).to_be_bytes());
        bytes.extend_from_slice(b);
    };
    field(b"switchboard-envelope-v1");
    field(topic.as_bytes());
    field(key.as_bytes());
    for (name, value) in headers.iter().filter(|(name, _)| name.as_str() != MAC_HEADER) {
        field(name.as_bytes());
        field(value.as_bytes());
    }
    field(payload);
    bytes
}

/// An [`EventBus`] that signs what it publishes and delivers only what verifies. See the module docs.
pub struct SignedBus {
    inner: Arc<dyn EventBus>,
    keys: Arc<EnvelopeKeys>,
    metrics: switchboard_telemetry::Metrics,
}

impl std::fmt::Debug for SignedBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedBus").field("bus", &self.inner.name()).field("keys", &self.keys).finish()
    }
}

impl SignedBus {
    /// `inner`, signing and verifying with `keys`; messages dropped for their tag are counted in `metrics`
    /// (`switchboard_events_rejected_total`).
    pub fn new(inner: Arc<dyn EventBus>, keys: EnvelopeKeys, metrics: switchboard_telemetry::Metrics) -> Self {
        Self { inner, keys: Arc::new(keys), metrics }
    }
}

impl EventBus for SignedBus {
    fn ensure_topics<'a>(&'a self, topics: &'a [&'a str]) -> BusFuture<'a, ()> {
        self.inner.ensure_topics(topics)
    }

    fn publish<'a>(&'a self, topic: &'a str, messages: &'a [Outgoing]) -> BusFuture<'a, ()> {
        let signed: Vec<Outgoing> = messages
            .iter()
            .map(|m| {
                let mut m = m.clone();
                m.headers.remove(MAC_HEADER);
                let tag = self.keys.sign(topic, &m.key, &m.headers, &m.payload);
                m.headers.insert(MAC_HEADER.to_owned(), tag);
                m
            })
            .collect();
        Box::pin(async move { self.inner.publish(topic, &signed).await })
    }

    fn subscribe<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Box<dyn Subscription>> {
        Box::pin(async move {
            let inner = self.inner.subscribe(topic, group).await?;
            let verified: Box<dyn Subscription> =
                Box::new(Verified { inner, keys: self.keys.clone(), metrics: self.metrics.clone() });
            Ok(verified)
        })
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn consumer_lag<'a>(&'a self, topic: &'a str, group: &'a str) -> BusFuture<'a, Option<u64>> {
        self.inner.consumer_lag(topic, group)
    }
}

/// A subscription handing out only deliveries whose tag verifies.
struct Verified {
    inner: Box<dyn Subscription>,
    keys: Arc<EnvelopeKeys>,
    metrics: switchboard_telemetry::Metrics,
}

impl Subscription for Verified {
    fn next_batch(&mut self, max: usize) -> BusFuture<'_, Vec<Delivery>> {
        Box::pin(async move {
            loop {
                let batch = self.inner.next_batch(max).await?;
                let mut good = Vec::with_capacity(batch.len());
                for delivery in &batch {
                    match self.keys.verify(delivery) {
                        Ok(()) => good.push(delivery.clone()),
                        Err(why) => {
                            self.metrics.event_rejected(why);
                            tracing::warn!(
                                topic = %delivery.topic, partition = delivery.partition, offset = delivery.offset,
                                reason = why, "dropping a message that does not carry the platform's signature"
                            );
                        }
                    }
                }
                if !good.is_empty() {
                    // A dropped message after the last good one stays uncommitted; it comes back only after a
                    // restart, and is dropped again then.
                    return Ok(good);
                }
                // Nothing in the batch is ours: step past it, so that forgeries cannot stall the group.
                self.inner.commit(&batch).await?;
            }
        })
    }

    fn commit<'a>(&'a mut self, deliveries: &'a [Delivery]) -> BusFuture<'a, ()> {
        self.inner.commit(deliveries)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    fn delivery(keys: &EnvelopeKeys, payload: &[u8]) -> Delivery {
        let mut headers = BTreeMap::from([("x-tenant-id".to_owned(), "t1".to_owned())]);
        headers.insert(MAC_HEADER.into(), keys.sign("audit.events", "k", &headers, payload));
        Delivery {
            topic: "audit.events".into(),
            partition: 0,
            offset: 1,
            key: "k".into(),
            payload: bytes::Bytes::copy_from_slice(payload),
            headers,
        }
    }

    /// A keys-file line with kid `kid` and a fresh key.
    fn line(kid: &str) -> String {
        let generated = EnvelopeKeys::generate_line().unwrap();
        let key = generated.split_whitespace().nth(1).unwrap().to_owned();
        format!("{kid} {key}\n")
    }

    #[test]
    fn tags_cover_every_field() {
        let keys = EnvelopeKeys::parse(&line("a")).unwrap();
        let good = delivery(&keys, b"payload");
        assert!(keys.verify(&good).is_ok());
        let tampers: [fn(&mut Delivery); 5] = [
            |d| d.payload = bytes::Bytes::from_static(b"payloae"),
            |d| d.topic = "other.topic".into(),
            |d| d.key = "other".into(),
            |d| {
                d.headers.insert("x-tenant-id".into(), "t2".into());
            },
            |d| {
                d.headers.remove(MAC_HEADER);
            },
        ];
        for tamper in tampers {
            let mut forged = good.clone();
            tamper(&mut forged);
            assert!(keys.verify(&forged).is_err(), "{forged:?}");
        }
        assert!(EnvelopeKeys::parse("k c2hvcnQ").is_err(), "short keys are refused");
        assert!(EnvelopeKeys::parse("# nothing\n").is_err());
    }

    #[test]
    fn keys_rotate_in_and_out() {
        let (a, b) = (line("a"), line("b"));
        let old = EnvelopeKeys::parse(&a).unwrap();
        let rotating =
            EnvelopeKeys::parse(&format!("{b}# the previous key, until its messages are consumed\n{a}")).unwrap();
        let retired = EnvelopeKeys::parse(&b).unwrap();
        let from_old = delivery(&old, b"x");
        let from_new = delivery(&rotating, b"x");
        assert!(from_new.headers[MAC_HEADER].starts_with("b."), "the first key signs");
        assert!(rotating.verify(&from_old).is_ok() && rotating.verify(&from_new).is_ok());
        assert!(retired.verify(&from_old).is_err(), "a retired key verifies nothing");
        assert!(old.verify(&from_new).is_err(), "an unknown kid is refused");
    }
}
