//! Stored records to contract messages, and resource names (`tenants/{tenant}`, `tenants/{tenant}/users/{user}`).

use prost_types::Timestamp;
use switchboard_proto::auth::v1 as pb;
use switchboard_types::Role;

use crate::accounts::{Tenant, User};

pub(crate) fn timestamp(us: i64) -> Timestamp {
    Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

/// The contract's role for a role.
pub(crate) fn role_to_pb(role: Role) -> pb::Role {
    match role {
        Role::Owner => pb::Role::Owner,
        Role::Admin => pb::Role::Admin,
        Role::Member => pb::Role::Member,
        Role::Viewer => pb::Role::Viewer,
    }
}

/// A role from the contract's number; `None` for ROLE_UNSPECIFIED or an unknown number.
pub(crate) fn role_from_pb(role: i32) -> Option<Role> {
    match pb::Role::try_from(role).ok()? {
        pb::Role::Owner => Some(Role::Owner),
        pb::Role::Admin => Some(Role::Admin),
        pb::Role::Member => Some(Role::Member),
        pb::Role::Viewer => Some(Role::Viewer),
        pb::Role::Unspecified => None,
    }
}

pub(crate) fn tenant(t: &Tenant) -> pb::Tenant {
    pb::Tenant {
        name: format!("tenants/{}", t.id),
        id: t.id.to_string(),
        slug: t.slug.clone(),
        display_name: t.display_name.clone(),
        state: pb::TenantState::Active as i32,
        rate_limit_per_minute: t.rate_limit_per_minute,
        create_time: Some(timestamp(t.created_at_us)),
        update_time: None,
    }
}

pub(crate) fn user(u: &User) -> pb::User {
    pb::User {
        name: format!("tenants/{}/users/{}", u.tenant, u.id),
        id: u.id.to_string(),
        tenant_id: u.tenant.to_string(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        role: role_to_pb(u.role) as i32,
        state: if u.disabled { pb::UserState::Disabled } else { pb::UserState::Active } as i32,
        create_time: Some(timestamp(u.created_at_us)),
        update_time: None,
        last_login_time: None,
    }
}

/// `tenants/{tenant}` → the tenant part (an id or a slug).
pub(crate) fn tenant_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("tenants/")?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// `tenants/{tenant}/users/{user}` → (tenant, user).
pub(crate) fn user_of(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("tenants/")?;
    let (tenant, user) = rest.split_once("/users/")?;
    (!tenant.is_empty() && !user.is_empty() && !tenant.contains('/') && !user.contains('/')).then_some((tenant, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_parse_strictly() {
        assert_eq!(tenant_of("tenants/acme"), Some("acme"));
        assert_eq!(tenant_of("tenants/"), None);
        assert_eq!(tenant_of("tenants/a/b"), None);
        assert_eq!(user_of("tenants/acme/users/42"), Some(("acme", "42")));
        assert_eq!(user_of("tenants/acme/users/"), None);
        assert_eq!(user_of("tenants//users/42"), None);
        assert_eq!(user_of("users/42"), None);
    }
}
