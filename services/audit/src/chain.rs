//! The bytes the chain is built from, so that anyone holding an export of the log can re-verify it.
//!
//! `hash(entry) = SHA-256(prev_hash || canonical(entry))`, with `prev_hash` = 32 zero bytes for seq 1, where
//! `canonical(entry)` is the ASCII tag `switchboard.audit.v1` followed by, in order: tenant id, seq, event id,
//! occurred-at, actor, action, resource, outcome, details (canonical JSON: sorted keys, no spaces), request id
//! and trace id. Strings are a 4-byte big-endian length then UTF-8 bytes; seq and occurred-at (µs since epoch)
//! are 8-byte big-endian signed; outcome is 4-byte big-endian signed. Lengths make the encoding unambiguous:
//! no two different entries share canonical bytes.
//!
//! A checkpoint signs `checkpoint_message(tenant, seq, head_hash)`: the tag `switchboard.audit.checkpoint.v1`,
//! then the tenant id (length-prefixed), seq (8 bytes BE) and the 32-byte head hash.

use crate::storage::AuditRecord;
use ring::digest;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The fields of an entry that the hash covers.
#[derive(Debug, Clone, Copy)]
pub struct EntryFields<'a> {
    /// Tenant id (UUID text).
    pub tenant_id: &'a str,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Event id (UUID text).
    pub event_id: &'a str,
    /// When it happened, µs since the Unix epoch.
    pub occurred_at_us: i64,
    /// Who acted.
    pub actor: &'a str,
    /// What was done.
    pub action: &'a str,
    /// What it was done to.
    pub resource: &'a str,
    /// `switchboard.audit.v1.Outcome` value.
    pub outcome: i32,
    /// Canonical JSON of the details.
    pub details: &'a str,
    /// Request id.
    pub request_id: &'a str,
    /// Trace id (32 hex digits).
    pub trace_id: &'a str,
}

impl<'a> From<&'a AuditRecord> for EntryFields<'a> {
    fn from(r: &'a AuditRecord) -> Self {
        Self {
            tenant_id: &r.tenant_id,
            seq: r.seq,
            event_id: &r.event_id,
            occurred_at_us: r.occurred_at_us,
            actor: &r.actor,
            action: &r.action,
            resource: &r.resource,
            outcome: r.outcome,
            details: &r.details,
            request_id: &r.request_id,
            trace_id: &r.trace_id,
        }
    }
}

fn put_str(ctx: &mut digest::Context, s: &str) {
    // Every field is far below 4 GiB (requests are capped at 4 MiB), so the length always fits.
    ctx.update(&(s.len() as u32).to_be_bytes());
    ctx.update(s.as_bytes());
}

/// `SHA-256(prev_hash || canonical(entry))`.
pub fn entry_hash(prev_hash: &[u8], e: &EntryFields<'_>) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev_hash);
    ctx.update(b"switchboard.audit.v1");
    put_str(&mut ctx, e.tenant_id);
    ctx.update(&e.seq.to_be_bytes());
    put_str(&mut ctx, e.event_id);
    ctx.update(&e.occurred_at_us.to_be_bytes());
    put_str(&mut ctx, e.actor);
    put_str(&mut ctx, e.action);
    put_str(&mut ctx, e.resource);
    ctx.update(&e.outcome.to_be_bytes());
    put_str(&mut ctx, e.details);
    put_str(&mut ctx, e.request_id);
    put_str(&mut ctx, e.trace_id);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The message a checkpoint signs.
pub fn checkpoint_message(tenant_id: &str, seq: i64, head_hash: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + 4 + tenant_id.len() + 8 + head_hash.len());
    m.extend_from_slice(b"switchboard.audit.checkpoint.v1");
    m.extend_from_slice(&(tenant_id.len() as u32).to_be_bytes());
    m.extend_from_slice(tenant_id.as_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(head_hash);
    m
}

/// Where verification of a chain stands after some entries.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: Vec<u8>,
    checked: i64,
    failure: Option<(i64, String)>,
    /// Hash of the entry at `watch_seq`, once seen.
    watched: Option<Vec<u8>>,
    watch_seq: i64,
}

impl ChainVerifier {
    /// Starts at seq 1; remembers the hash of entry `watch_seq` (the checkpoint's) when it passes.
    pub fn new(watch_seq: i64) -> Self {
        Self { expected_seq: 1, prev_hash: GENESIS_HASH.to_vec(), checked: 0, failure: None, watched: None, watch_seq }
    }

    /// Checks the next entries (in seq order). Stops at the first failure; later calls are then no-ops.
    pub fn feed(&mut self, records: &[AuditRecord]) {
        for record in records {
            if self.failure.is_some() {
                return;
            }
            if record.seq < self.expected_seq {
                self.fail(
                    record.seq.max(0),
                    format!(
                        "entry {} is not part of the chain: sequence numbers start at 1 (a row was inserted)",
                        record.seq
                    ),
                );
                return;
            }
            if record.seq > self.expected_seq {
                self.fail(
                    self.expected_seq,
                    format!(
                        "entry {} is missing: the next stored entry is {} (deleted from the log)",
                        self.expected_seq, record.seq
                    ),
                );
                return;
            }
            if record.prev_hash != self.prev_hash {
                self.fail(
                    record.seq,
                    format!("entry {} does not link to the hash of entry {}", record.seq, record.seq - 1),
                );
                return;
            }
            let computed = entry_hash(&self.prev_hash, &EntryFields::from(record));
            if record.hash.as_slice() != computed.as_slice() {
                self.fail(
                    record.seq,
                    format!("entry {} does not match its hash (its contents were changed)", record.seq),
                );
                return;
            }
            if record.seq == self.watch_seq {
                self.watched = Some(record.hash.clone());
            }
            self.prev_hash = record.hash.clone();
            self.expected_seq += 1;
            self.checked += 1;
        }
    }

    /// Records a failure found outside the entries themselves (checkpoint checks).
    pub fn fail(&mut self, seq: i64, reason: String) {
        if self.failure.is_none() {
            self.failure = Some((seq, reason));
        }
    }

    /// The first failure: (seq, reason).
    pub fn failure(&self) -> Option<&(i64, String)> {
        self.failure.as_ref()
    }

    /// Entries that verified.
    pub fn checked(&self) -> i64 {
        self.checked
    }

    /// Seq of the last verified entry (0 when none).
    pub fn head_seq(&self) -> i64 {
        self.expected_seq - 1
    }

    /// Hash of the last verified entry (genesis when none).
    pub fn head_hash(&self) -> &[u8] {
        &self.prev_hash
    }

    /// Hash of the watched entry, if it was reached.
    pub fn watched_hash(&self) -> Option<&[u8]> {
        self.watched.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, prev: &[u8], action: &str) -> AuditRecord {
        let mut r = AuditRecord {
            tenant_id: "t".into(),
            seq,
            event_id: format!("e{seq}"),
            occurred_at_us: 1_700_000_000_000_000 + seq,
            actor: "user:1".into(),
            action: action.into(),
            resource: String::new(),
            outcome: 1,
            details: "{}".into(),
            request_id: "r".into(),
            trace_id: "0".repeat(32),
            prev_hash: prev.to_vec(),
            hash: Vec::new(),
        };
        r.hash = entry_hash(prev, &EntryFields::from(&r)).to_vec();
        r
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_vec();
        (1..=n)
            .map(|seq| {
                let r = record(seq, &prev, "a");
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let mut v = ChainVerifier::new(3);
        v.feed(&chain(5));
        assert!(v.failure().is_none());
        assert_eq!((v.checked(), v.head_seq()), (5, 5));
        assert!(v.watched_hash().is_some());
    }

    #[test]
    fn an_edit_a_gap_and_a_relink_are_each_named() {
        let mut edited = chain(5);
        edited[2].action = "b".into();
        let mut v = ChainVerifier::new(5);
        v.feed(&edited);
        assert_eq!(v.failure().unwrap().0, 3);

        let mut gap = chain(5);
        gap.remove(1);
        let mut v = ChainVerifier::new(5);
        v.feed(&gap);
        assert_eq!(v.failure().unwrap().0, 2);

        let mut relinked = chain(5);
        relinked[3].prev_hash = vec![1; 32];
        let mut v = ChainVerifier::new(5);
        v.feed(&relinked);
        assert_eq!(v.failure().unwrap().0, 4);
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let a = EntryFields {
            tenant_id: "t",
            seq: 1,
            event_id: "e",
            occurred_at_us: 0,
            actor: "ab",
            action: "c",
            resource: "",
            outcome: 0,
            details: "{}",
            request_id: "",
            trace_id: "",
        };
        let b = EntryFields { actor: "a", action: "bc", ..a };
        assert_ne!(entry_hash(&GENESIS_HASH, &a), entry_hash(&GENESIS_HASH, &b));
    }
}
