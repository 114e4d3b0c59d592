//! gRPC reflection (v1 and v1alpha, what grpcurl speaks) on the public port, describing exactly what the public
//! port serves: the contracts with every RPC the port does not offer removed (internal ones such as
//! `AuditService/AppendEvents`, operator-only ones such as `TenantAdminService/CreateTenant`), services left
//! without RPCs removed, the files nothing public needs (event payloads) left out, and the messages of the removed
//! RPCs dropped. The edge requires a valid access token for it, like any other call.

use std::collections::{BTreeSet, HashSet};

use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};
use switchboard_mesh::access::AccessTable;

/// The contracts as the public port offers them, encoded.
pub(crate) fn public_descriptor_set(contracts: &[u8], access: &AccessTable) -> Result<Vec<u8>, String> {
    let set = FileDescriptorSet::decode(contracts).map_err(|e| format!("descriptor set: {e}"))?;
    let mut roots: BTreeSet<String> = BTreeSet::new();
    let mut files: Vec<FileDescriptorProto> = Vec::new();
    for mut file in set.file {
        let package = file.package().to_owned();
        for service in &mut file.service {
            let service_name = format!("{package}.{}", service.name());
            service.method.retain(|m| access.is_public(&format!("/{service_name}/{}", m.name())));
            for method in &service.method {
                roots.insert(trim_dot(method.input_type()));
                roots.insert(trim_dot(method.output_type()));
            }
        }
        file.service.retain(|s| !s.method.is_empty());
        // Extensions stay whole (the access option itself describes the public methods' rules).
        for extension in &file.extension {
            roots.insert(trim_dot(extension.type_name()));
        }
        files.push(file);
    }

    // Every type the kept RPCs reach, through message fields, transitively.
    let reached = reachable(&files, roots);
    for file in &mut files {
        if file.package().starts_with("switchboard.") {
            let package = file.package().to_owned();
            file.message_type.retain(|m| reached.contains(&format!("{package}.{}", m.name())));
            file.enum_type.retain(|e| reached.contains(&format!("{package}.{}", e.name())));
        }
    }

    // The files with a kept service, and every file they import.
    let mut needed: HashSet<String> = files.iter().filter(|f| !f.service.is_empty()).map(|f| f.name().into()).collect();
    loop {
        let more: Vec<String> = files
            .iter()
            .filter(|f| needed.contains(f.name()))
            .flat_map(|f| f.dependency.iter().cloned())
            .filter(|d| !needed.contains(d))
            .collect();
        if more.is_empty() {
            break;
        }
        needed.extend(more);
    }
    files.retain(|f| needed.contains(f.name()));
    Ok(FileDescriptorSet { file: files }.encode_to_vec())
}

fn trim_dot(name: &str) -> String {
    name.trim_start_matches('.').to_owned()
}

/// The full names of the messages and enums reachable from `roots` through fields.
fn reachable(files: &[FileDescriptorProto], roots: BTreeSet<String>) -> HashSet<String> {
    let mut messages = std::collections::HashMap::new();
    for file in files {
        for message in &file.message_type {
            index(&format!("{}.{}", file.package(), message.name()), message, &mut messages);
        }
    }
    let mut reached = HashSet::new();
    let mut queue: Vec<String> = roots.into_iter().collect();
    while let Some(name) = queue.pop() {
        if !reached.insert(name.clone()) {
            continue;
        }
        if let Some(message) = messages.get(&name) {
            for field in &message.field {
                if !field.type_name().is_empty() {
                    queue.push(trim_dot(field.type_name()));
                }
            }
        }
        // A nested type's outer message must stay for the name to resolve.
        if let Some((outer, _)) = name.rsplit_once('.')
            && messages.contains_key(outer)
        {
            queue.push(outer.to_owned());
        }
    }
    reached
}

fn index<'a>(
    name: &str,
    message: &'a DescriptorProto,
    out: &mut std::collections::HashMap<String, &'a DescriptorProto>,
) {
    out.insert(name.to_owned(), message);
    for nested in &message.nested_type {
        index(&format!("{name}.{}", nested.name()), nested, out);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn only_what_the_public_port_serves_is_described() {
        let access = AccessTable::contracts().unwrap();
        let bytes = public_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET, access).unwrap();
        let pool = prost_reflect::DescriptorPool::decode(bytes.as_slice()).unwrap();
        let audit = pool.get_service_by_name("switchboard.audit.v1.AuditService").unwrap();
        let methods: Vec<String> = audit.methods().map(|m| m.name().to_owned()).collect();
        assert!(methods.contains(&"ListEvents".to_owned()) && !methods.contains(&"AppendEvents".to_owned()));
        assert!(pool.get_message_by_name("switchboard.audit.v1.AppendEventsRequest").is_none());
        let admin = pool.get_service_by_name("switchboard.auth.v1.TenantAdminService").unwrap();
        assert!(admin.methods().all(|m| m.name() != "CreateTenant" && m.name() != "ListTenants"));
        assert!(pool.get_message_by_name("switchboard.events.v1.EventEnvelope").is_none(), "event payloads");
        assert!(pool.get_message_by_name("google.rpc.Status").is_some(), "imports resolve");
    }
}
