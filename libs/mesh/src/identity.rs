//! Workload identities. Each service (and the operator's CLI) holds a certificate whose URI SAN names it as
//! `spiffe://switchboard.local/<name>`; servers authorize callers by that name.

use std::fmt;

use crate::MeshError;

/// The SPIFFE trust domain of every Switchboard identity.
pub const TRUST_DOMAIN: &str = "switchboard.local";

/// A workload's name in the mesh, such as `audit` or `operator`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(String);

impl Identity {
    /// The edge.
    pub fn gateway() -> Self {
        Self("gateway".into())
    }
    /// The orchestrator.
    pub fn orchestrator() -> Self {
        Self("orchestrator".into())
    }
    /// The connectors service.
    pub fn connectors() -> Self {
        Self("connectors".into())
    }
    /// The audit service.
    pub fn audit() -> Self {
        Self("audit".into())
    }
    /// A person running `switchboard` client commands.
    pub fn operator() -> Self {
        Self("operator".into())
    }

    /// An identity from a workload name (`[a-z0-9-]{1,63}`).
    pub fn new(name: &str) -> Result<Self, MeshError> {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(name.to_owned())) } else { Err(MeshError::InvalidIdentity(name.to_owned())) }
    }

    /// Parses `spiffe://switchboard.local/<name>`; any other trust domain or shape is not ours.
    pub fn from_spiffe_uri(uri: &str) -> Option<Self> {
        let name = uri.strip_prefix("spiffe://")?.strip_prefix(TRUST_DOMAIN)?.strip_prefix('/')?;
        Self::new(name).ok()
    }

    /// The workload name; also the DNS name its server certificate is verified against.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// `spiffe://switchboard.local/<name>`.
    pub fn spiffe_uri(&self) -> String {
        format!("spiffe://{TRUST_DOMAIN}/{}", self.0)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.spiffe_uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_uri_round_trips_and_other_domains_are_refused() {
        let id = Identity::audit();
        assert_eq!(Identity::from_spiffe_uri(&id.spiffe_uri()), Some(id));
        assert_eq!(Identity::from_spiffe_uri("spiffe://evil.example/audit"), None);
        assert_eq!(Identity::from_spiffe_uri("spiffe://switchboard.local/Audit"), None);
        assert_eq!(Identity::from_spiffe_uri("spiffe://switchboard.local/a/b"), None);
        assert_eq!(Identity::from_spiffe_uri("https://switchboard.local/audit"), None);
    }
}
