//! Who may call which RPC: the `switchboard.auth.v1.access` option each method carries in the contracts, read once
//! into an [`AccessTable`]. The option is declared once and enforced twice: the gateway reads the public side (is a
//! token needed, which role, how large may the request be), and every service's inbound layer
//! ([`crate::inbound`]) reads the mesh side (which workloads may call, and the role of the user a call acts for).
//!
//! A method without the option can be called by no one (health checks and reflection aside, which every mesh
//! listener answers for any peer).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use switchboard_types::Role;

use crate::{Identity, MeshError};

/// Full name of the method option.
pub const ACCESS_OPTION: &str = "switchboard.auth.v1.access";
/// The platform's largest request (REST body or gRPC message) when a method declares no limit of its own.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The access rule of one method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodAccess {
    /// The least role an end user needs; `None` when end users may not call it (internal or operator-only).
    pub min_role: Option<Role>,
    /// Callable on the public port without a token.
    pub anonymous: bool,
    /// Mesh workloads allowed to call it on the serving service's listener.
    pub mesh_callers: HashSet<Identity>,
    /// Largest request on the public port, in bytes.
    pub max_request_bytes: usize,
    /// The client sends a stream of messages (otherwise exactly one).
    pub client_streaming: bool,
}

impl MethodAccess {
    /// Whether the public port offers the method (to anonymous callers or to some role).
    pub fn is_public(&self) -> bool {
        self.anonymous || self.min_role.is_some()
    }
}

/// The access rule of every method, by gRPC path (`/pkg.Service/Method`).
#[derive(Debug, Clone, Default)]
pub struct AccessTable {
    methods: HashMap<String, MethodAccess>,
}

fn invalid(method: &str, message: impl std::fmt::Display) -> MeshError {
    MeshError::Contract(format!("{method}: {ACCESS_OPTION}: {message}"))
}

impl AccessTable {
    /// The table of Switchboard's own contracts, parsed once per process.
    pub fn contracts() -> Result<&'static AccessTable, MeshError> {
        static TABLE: OnceLock<Result<AccessTable, String>> = OnceLock::new();
        TABLE
            .get_or_init(|| {
                AccessTable::from_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| MeshError::Contract(e.clone()))
    }

    /// Reads the option of every method in an encoded `FileDescriptorSet`. A malformed rule (an unknown workload, a
    /// role out of range) is an error: it is a mistake in the contracts, caught at start.
    pub fn from_descriptor_set(bytes: &[u8]) -> Result<Self, MeshError> {
        let pool = DescriptorPool::decode(bytes).map_err(|e| MeshError::Contract(format!("descriptor set: {e}")))?;
        let Some(option) = pool.get_extension_by_name(ACCESS_OPTION) else {
            return Err(MeshError::Contract(format!("{ACCESS_OPTION} is not in the descriptor set")));
        };
        let mut methods = HashMap::new();
        for service in pool.services() {
            for method in service.methods() {
                let options = method.options();
                if !options.has_extension(&option) {
                    continue;
                }
                let path = format!("/{}/{}", service.full_name(), method.name());
                let value = options.get_extension(&option);
                let rule = value.as_message().ok_or_else(|| invalid(&path, "not a message"))?;
                let mut access = parse_rule(&path, rule)?;
                access.client_streaming = method.is_client_streaming();
                methods.insert(path, access);
            }
        }
        Ok(Self { methods })
    }

    /// Sets the rule of the method at `path` (tests of the mesh build small tables this way).
    pub fn insert(&mut self, path: impl Into<String>, access: MethodAccess) {
        self.methods.insert(path.into(), access);
    }

    /// The rule of the method at `path`, if it has one.
    pub fn get(&self, path: &str) -> Option<&MethodAccess> {
        self.methods.get(path)
    }

    /// Whether the public port offers the method at `path`.
    pub fn is_public(&self, path: &str) -> bool {
        self.get(path).is_some_and(MethodAccess::is_public)
    }

    /// Whether the method at `path` may be called on the public port without a token.
    pub fn is_anonymous(&self, path: &str) -> bool {
        self.get(path).is_some_and(|a| a.anonymous)
    }

    /// The gRPC paths of every method the public port offers.
    pub fn public_methods(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().filter(|(_, a)| a.is_public()).map(|(path, _)| path.as_str())
    }
}

fn parse_rule(path: &str, rule: &DynamicMessage) -> Result<MethodAccess, MeshError> {
    let field = |name: &str| rule.get_field_by_name(name).ok_or_else(|| invalid(path, format!("no field {name}")));
    let min_role = match field("min_role")?.as_enum_number() {
        Some(0) => None,
        // The numbers of switchboard.auth.v1.Role.
        Some(1) => Some(Role::Owner),
        Some(2) => Some(Role::Admin),
        Some(3) => Some(Role::Member),
        Some(4) => Some(Role::Viewer),
        other => return Err(invalid(path, format!("min_role {other:?} is not a role"))),
    };
    let anonymous = field("anonymous")?.as_bool().unwrap_or(false);
    let mut mesh_callers = HashSet::new();
    if let Some(list) = field("mesh_callers")?.as_list() {
        for caller in list {
            let name = caller.as_str().unwrap_or_default();
            let identity = Identity::new(name).map_err(|e| invalid(path, e))?;
            if !KNOWN_WORKLOADS.contains(&identity.name()) {
                return Err(invalid(path, format!("mesh caller {name:?} is not a Switchboard workload")));
            }
            mesh_callers.insert(identity);
        }
    }
    let max_request_bytes = match field("max_request_bytes")?.as_ref() {
        Value::U32(0) => DEFAULT_MAX_REQUEST_BYTES,
        Value::U32(n) => usize::try_from(*n).unwrap_or(DEFAULT_MAX_REQUEST_BYTES).min(DEFAULT_MAX_REQUEST_BYTES),
        other => return Err(invalid(path, format!("max_request_bytes {other:?}"))),
    };
    if anonymous && min_role.is_some() {
        return Err(invalid(path, "anonymous and min_role contradict each other"));
    }
    Ok(MethodAccess { min_role, anonymous, mesh_callers, max_request_bytes, client_streaming: false })
}

/// The workloads a rule may name.
const KNOWN_WORKLOADS: [&str; 5] = ["gateway", "orchestrator", "connectors", "audit", "operator"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_declare_who_may_call() {
        let table = AccessTable::contracts().unwrap();
        let login = table.get("/switchboard.auth.v1.AuthService/Login").unwrap();
        assert!(login.anonymous && login.is_public());
        assert_eq!(login.max_request_bytes, 8192);
        let append = table.get("/switchboard.audit.v1.AuditService/AppendEvents").unwrap();
        assert!(!append.is_public(), "internal only");
        assert!(append.mesh_callers.contains(&Identity::connectors()));
        let verify = table.get("/switchboard.audit.v1.AuditService/VerifyChain").unwrap();
        assert_eq!(verify.min_role, Some(Role::Admin));
        assert!(!verify.mesh_callers.contains(&Identity::connectors()), "connectors may append, not verify");
        let create = table.get("/switchboard.auth.v1.TenantAdminService/CreateTenant").unwrap();
        assert!(!create.is_public(), "creating tenants stays with operators");
        assert_eq!(create.mesh_callers, HashSet::from([Identity::operator()]));
    }

    /// Every public method has a REST binding, and every method of the contracts has a rule: a new RPC without one
    /// would be callable by no one, which the author should decide knowingly.
    #[test]
    fn every_method_has_a_rule_and_every_public_method_a_rest_binding() {
        let table = AccessTable::contracts().unwrap();
        let pool = DescriptorPool::decode(switchboard_proto::FILE_DESCRIPTOR_SET).unwrap();
        let http = pool.get_extension_by_name("google.api.http").unwrap();
        for service in pool.services().filter(|s| s.full_name().starts_with("switchboard.")) {
            for method in service.methods() {
                let path = format!("/{}/{}", service.full_name(), method.name());
                let rule = table.get(&path).unwrap_or_else(|| panic!("{path} has no access rule"));
                if rule.is_public() {
                    assert!(method.options().has_extension(&http), "{path} is public but has no REST binding");
                }
            }
        }
    }
}
