//! Typed domain identifiers, parsed once at the boundary and never passed around as raw strings after it.
//!
//! This crate owns only the identifier types and their parsing rules; it knows nothing of gRPC metadata (see
//! `switchboard-mesh`) or storage (see `switchboard-store`).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be a UUID (like 0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b), got {shown:?}")]
pub struct InvalidId {
    kind: &'static str,
    shown: String,
}

impl InvalidId {
    fn new(kind: &'static str, input: &str) -> Self {
        // Echo at most a short prefix: the input may be hostile or huge.
        let shown: String = input.chars().take(64).collect();
        Self { kind, shown }
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (time-ordered, v7) identifier.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// From the 16 bytes of a UUID.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the canonical hyphenated form: one spelling per id keeps keys and logs comparable.
                if s.len() != 36 {
                    return Err(InvalidId::new($kind, s));
                }
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId::new($kind, s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// The tenant (one business) that owns a piece of data. Every tenant-scoped query needs one.
    TenantId,
    "tenant id"
);
uuid_id!(
    /// A user within a tenant.
    UserId,
    "user id"
);
uuid_id!(
    /// A unique event id (audit entries, bus envelopes); consumers deduplicate on it.
    EventId,
    "event id"
);
uuid_id!(
    /// A tenant's link to one account at a provider (`connections/{id}`).
    ConnectionId,
    "connection id"
);
uuid_id!(
    /// One run of copying a connection's records (`connections/{connection}/syncs/{id}`).
    SyncId,
    "sync id"
);
uuid_id!(
    /// A received provider webhook event (`webhookEvents/{id}`).
    WebhookEventId,
    "webhook event id"
);

/// What a user may do in their tenant. Each role includes everything the roles below it may do:
/// `Owner > Admin > Member > Viewer` (the order of this enum's comparison, greatest first).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    /// Reads only: connections, records, runs and the audit log.
    Viewer,
    /// Asks questions, runs syncs, invokes actions and approves steps of their own runs.
    Member,
    /// Manages users, connections and tenant settings; approves any run step.
    Admin,
    /// Everything an admin may do, plus granting the owner role and managing other owners.
    Owner,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];

    /// The lowercase name stored and carried in `x-user-role` (`owner`, `admin`, `member`, `viewer`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    /// Whether this role includes `required` (an owner may do what a viewer may).
    pub fn includes(self, required: Role) -> bool {
        self >= required
    }
}

impl PartialOrd for Role {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Role {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

/// Why a string is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be owner, admin, member or viewer, got {0:?}")]
pub struct InvalidRole(String);

impl FromStr for Role {
    type Err = InvalidRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| InvalidRole(s.chars().take(32).collect()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Now, in microseconds since the Unix epoch: the unit every stored timestamp uses.
pub fn now_unix_micros() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

/// A request id as carried in `x-request-id`: 1 to 128 characters of `[A-Za-z0-9._:-]`.
///
/// Clients may supply their own (for correlation with their logs); anything else is replaced by a generated one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// Longest accepted request id.
    pub const MAX_LEN: usize = 128;

    /// A new random request id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7().simple().to_string())
    }

    /// Accepts a well-formed client-supplied id.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        ok.then(|| Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(Role::Owner.includes(Role::Viewer) && Role::Owner.includes(Role::Owner));
        assert!(Role::Admin.includes(Role::Member) && !Role::Admin.includes(Role::Owner));
        assert!(!Role::Viewer.includes(Role::Member));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("Owner".parse::<Role>().is_err() && "root".parse::<Role>().is_err());
    }

    #[test]
    fn tenant_id_round_trips_and_rejects_other_spellings() {
        let id = TenantId::generate();
        assert_eq!(id.to_string().parse::<TenantId>().unwrap(), id);
        let simple = id.as_uuid().simple().to_string();
        assert!(simple.parse::<TenantId>().is_err(), "non-hyphenated form is refused");
        let err = "acme".parse::<TenantId>().unwrap_err();
        assert!(err.to_string().contains("tenant id must be a UUID"));
    }

    #[test]
    fn request_id_accepts_only_safe_characters() {
        assert!(RequestId::parse("req-1.2_3:4").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse("new\nline").is_none());
        assert!(RequestId::parse(&"a".repeat(129)).is_none());
        assert!(RequestId::parse(&"a".repeat(128)).is_some());
    }
}
