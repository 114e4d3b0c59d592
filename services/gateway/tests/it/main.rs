//! The gateway over real sockets: login, refresh rotation and reuse detection, logout, the JWT attacks, tenant
//! isolation through forwarding, tenant administration, and provider webhooks. Cases run on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod console;
mod hardening;
mod http;
mod jwt;
mod metrics;
mod ratelimit;
mod rest;
mod roles;
mod sessions;
mod suite;
mod web_client;
mod webhooks;

switchboard_test_support::on_both_databases!(
    login_refresh_rotation_and_reuse_detection,
    logout_revokes_the_family,
    bad_credentials_are_uniform_and_throttled,
    tenant_isolation_through_the_gateway,
    internal_rpcs_are_not_public,
    tenant_administration,
    disabling_a_user_ends_their_sessions,
    each_role_reaches_only_its_rpcs,
    tenant_admins_manage_their_own_tenant,
    the_last_owner_stays_and_role_changes_end_tokens,
    operator_actions_are_audited,
);
