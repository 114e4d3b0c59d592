//! The cases, each generic over the database.

use switchboard_mesh::Identity;
use switchboard_proto::audit::v1 as audit;
use switchboard_proto::audit::v1::audit_service_client::AuditServiceClient;
use switchboard_proto::auth::v1 as pb;
use switchboard_proto::auth::v1::auth_service_client::AuthServiceClient;
use switchboard_proto::auth::v1::tenant_admin_service_client::TenantAdminServiceClient;
use switchboard_test_support::{TestDb, TestPlatform};
use tonic::Code;
use tonic::transport::Channel;

pub use crate::roles::{
    each_role_reaches_only_its_rpcs, operator_actions_are_audited, tenant_admins_manage_their_own_tenant,
    the_last_owner_stays_and_role_changes_end_tokens,
};

pub const PASSWORD: &str = "correct horse battery staple";

pub fn admin(platform: &TestPlatform) -> TenantAdminServiceClient<Channel> {
    TenantAdminServiceClient::new(platform.channel_as(
        Identity::operator(),
        Identity::gateway(),
        &platform.gateway_admin_addr,
    ))
}

pub fn auth(platform: &TestPlatform) -> AuthServiceClient<Channel> {
    AuthServiceClient::new(platform.public_channel())
}

/// Creates tenant `slug` with one owner `email`; returns the tenant id.
pub async fn tenant_with_user(platform: &TestPlatform, slug: &str, email: &str) -> String {
    let mut admin = admin(platform);
    let tenant = admin
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(pb::Tenant { slug: slug.into(), display_name: format!("{slug} Inc."), ..Default::default() }),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    admin
        .create_user(pb::CreateUserRequest {
            parent: format!("tenants/{slug}"),
            email: email.into(),
            password: PASSWORD.into(),
            role: pb::Role::Owner as i32,
            display_name: "Owner".into(),
        })
        .await
        .unwrap();
    tenant.id
}

pub async fn login(platform: &TestPlatform, slug: &str, email: &str) -> pb::LoginResponse {
    auth(platform)
        .login(pb::LoginRequest { tenant: slug.into(), email: email.into(), password: PASSWORD.into() })
        .await
        .unwrap()
        .into_inner()
}

pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn refresh(platform: &TestPlatform, token: &str) -> Result<pb::RefreshResponse, tonic::Status> {
    auth(platform).refresh(pb::RefreshRequest { refresh_token: token.into() }).await.map(|r| r.into_inner())
}

async fn events_of(platform: &TestPlatform, access: &str) -> Vec<audit::AuditEvent> {
    platform.settle_audit().await;
    AuditServiceClient::new(platform.public_channel())
        .list_events(bearer(audit::ListEventsRequest { page_size: 100, ..Default::default() }, access))
        .await
        .unwrap()
        .into_inner()
        .events
}

pub async fn login_refresh_rotation_and_reuse_detection(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let tenant_id = tenant_with_user(&platform, "acme", "Owner@Acme.example").await;
    let first = login(&platform, "acme", "owner@acme.example").await;
    assert_eq!((first.token_type.as_str(), first.expires_in), ("Bearer", 900));

    let me = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &first.access_token)).await.unwrap().into_inner();
    assert_eq!(me.tenant.unwrap().id, tenant_id);
    assert_eq!(me.user.unwrap().email, "owner@acme.example", "emails are normalized");
    assert_eq!(me.roles, vec![pb::Role::Owner as i32]);

    let second = refresh(&platform, &first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token, "refresh rotates");
    let third = refresh(&platform, &second.refresh_token).await.unwrap();

    // Replaying a spent token revokes the whole family, including the newest token.
    let reuse = refresh(&platform, &first.refresh_token).await.unwrap_err();
    assert_eq!(reuse.code(), Code::Unauthenticated);
    let after = refresh(&platform, &third.refresh_token).await.unwrap_err();
    assert_eq!(after.code(), Code::Unauthenticated, "the family is revoked");

    // The revoked session's access tokens end now too, not in 15 minutes.
    let err = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &third.access_token)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let fresh = login(&platform, "acme", "owner@acme.example").await;
    let actions: Vec<String> = events_of(&platform, &fresh.access_token).await.into_iter().map(|e| e.action).collect();
    assert!(actions.contains(&"auth.login".to_string()), "{actions:?}");
    assert!(actions.contains(&"auth.refresh_token_reuse".to_string()), "{actions:?}");
    platform.stop().await;
}

pub async fn logout_revokes_the_family(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let session = login(&platform, "acme", "owner@acme.example").await;
    let other_session = login(&platform, "acme", "owner@acme.example").await;
    // Used once first, so the edge has verified it and keeps what it proved: revocation must still win.
    auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &session.access_token)).await.unwrap();
    let rotated = refresh(&platform, &session.refresh_token).await.unwrap();
    auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &rotated.access_token)).await.unwrap();
    auth(&platform).logout(pb::LogoutRequest { refresh_token: rotated.refresh_token.clone() }).await.unwrap();
    assert_eq!(refresh(&platform, &rotated.refresh_token).await.unwrap_err().code(), Code::Unauthenticated);
    // Logout ends that session's access tokens at once; the user's other session goes on.
    for token in [&session.access_token, &rotated.access_token] {
        let err = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, token)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &other_session.access_token)).await.unwrap();
    let actions: Vec<String> =
        events_of(&platform, &other_session.access_token).await.into_iter().map(|e| e.action).collect();
    assert!(actions.contains(&"auth.logout".to_string()), "{actions:?}");
    let garbage = auth(&platform).logout(pb::LogoutRequest { refresh_token: "nope".into() }).await.unwrap_err();
    assert_eq!(garbage.code(), Code::InvalidArgument);
    platform.stop().await;
}

pub async fn bad_credentials_are_uniform_and_throttled(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let mut messages = Vec::new();
    for (tenant, email, password) in [
        ("acme", "owner@acme.example", "wrong password!!"),
        ("acme", "nobody@acme.example", PASSWORD),
        ("nowhere", "owner@acme.example", PASSWORD),
    ] {
        let err = auth(&platform)
            .login(pb::LoginRequest { tenant: tenant.into(), email: email.into(), password: password.into() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        messages.push(err.message().to_owned());
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "no hint which part was wrong: {messages:?}");

    for _ in 0..5 {
        let _ = auth(&platform)
            .login(pb::LoginRequest {
                tenant: "acme".into(),
                email: "owner@acme.example".into(),
                password: "x".repeat(12),
            })
            .await;
    }
    let locked = auth(&platform)
        .login(pb::LoginRequest {
            tenant: "acme".into(),
            email: "owner@acme.example".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(locked.code(), Code::ResourceExhausted, "even the right password waits out the lockout");
    assert!(locked.message().contains("retry in"), "{}", locked.message());
    platform.stop().await;
}

pub async fn tenant_isolation_through_the_gateway(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let acme = tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let globex = tenant_with_user(&platform, "globex", "owner@globex.example").await;
    let a = login(&platform, "acme", "owner@acme.example").await;
    let b = login(&platform, "globex", "owner@globex.example").await;

    let seen_by_a = events_of(&platform, &a.access_token).await;
    assert!(!seen_by_a.is_empty());
    assert!(seen_by_a.iter().all(|e| e.tenant_id == acme), "A sees only A's events");
    let seen_by_b = events_of(&platform, &b.access_token).await;
    assert!(seen_by_b.iter().all(|e| e.tenant_id == globex));

    // Naming the other tenant explicitly is refused, whatever header spelling.
    let mut request = bearer(audit::ListEventsRequest::default(), &a.access_token);
    request.metadata_mut().insert("x-tenant-id", globex.parse().unwrap());
    let err = AuditServiceClient::new(platform.public_channel()).list_events(request).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Without a token, a forged tenant header gets nothing.
    let mut anonymous = tonic::Request::new(audit::ListEventsRequest::default());
    anonymous.metadata_mut().insert("x-tenant-id", acme.parse().unwrap());
    let err = AuditServiceClient::new(platform.public_channel()).list_events(anonymous).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // Verify runs on the caller's own chain.
    let report = AuditServiceClient::new(platform.public_channel())
        .verify_chain(bearer(audit::VerifyChainRequest {}, &a.access_token))
        .await
        .unwrap()
        .into_inner();
    assert!(report.valid);
    assert_eq!(report.checked_events, seen_by_a.len() as i64);
    platform.stop().await;
}

pub async fn internal_rpcs_are_not_public(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let a = login(&platform, "acme", "owner@acme.example").await;
    let err = AuditServiceClient::new(platform.public_channel())
        .append_events(bearer(
            audit::AppendEventsRequest {
                events: vec![audit::NewEvent { actor: "me".into(), action: "forge".into(), ..Default::default() }],
            },
            &a.access_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(err.message().contains("internal"), "{}", err.message());

    // The admin service is not on the public port, and the admin port takes operators only.
    let err = TenantAdminServiceClient::new(platform.public_channel())
        .list_tenants(bearer(pb::ListTenantsRequest::default(), &a.access_token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    let as_gateway = platform.channel_as(Identity::connectors(), Identity::gateway(), &platform.gateway_admin_addr);
    let err =
        TenantAdminServiceClient::new(as_gateway).list_tenants(pb::ListTenantsRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    platform.stop().await;
}

pub async fn tenant_administration(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    let mut admin = admin(&platform);
    let id = tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let dup = admin
        .create_tenant(pb::CreateTenantRequest {
            tenant: Some(pb::Tenant { slug: "acme".into(), ..Default::default() }),
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    for slug in ["A", "-x", "has space", ""] {
        let err = admin
            .create_tenant(pb::CreateTenantRequest {
                tenant: Some(pb::Tenant { slug: slug.into(), ..Default::default() }),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{slug:?}");
    }
    let by_slug = admin.get_tenant(pb::GetTenantRequest { name: "tenants/acme".into() }).await.unwrap().into_inner();
    let by_id = admin.get_tenant(pb::GetTenantRequest { name: format!("tenants/{id}") }).await.unwrap().into_inner();
    assert_eq!(by_slug.tenant, by_id.tenant);

    let updated = admin
        .update_tenant(pb::UpdateTenantRequest {
            tenant: Some(pb::Tenant { name: "tenants/acme".into(), rate_limit_per_minute: 500, ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["rate_limit_per_minute".into()] }),
        })
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!((updated.rate_limit_per_minute, updated.display_name.as_str()), (500, "acme Inc."));

    let weak = admin
        .create_user(pb::CreateUserRequest {
            parent: "tenants/acme".into(),
            email: "b@acme.example".into(),
            password: "short".into(),
            role: pb::Role::Member as i32,
            display_name: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(weak.code(), Code::InvalidArgument);
    let dup_user = admin
        .create_user(pb::CreateUserRequest {
            parent: "tenants/acme".into(),
            email: "OWNER@acme.example".into(),
            password: PASSWORD.into(),
            role: pb::Role::Member as i32,
            display_name: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(dup_user.code(), Code::AlreadyExists);
    let users =
        admin.list_users(pb::ListUsersRequest { parent: "tenants/acme".into(), ..Default::default() }).await.unwrap();
    assert_eq!(users.into_inner().users.len(), 1);
    let missing = admin.get_tenant(pb::GetTenantRequest { name: "tenants/nope".into() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    platform.stop().await;
}

pub async fn disabling_a_user_ends_their_sessions(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    admin(&platform)
        .create_user(pb::CreateUserRequest {
            parent: "tenants/acme".into(),
            email: "member@acme.example".into(),
            password: PASSWORD.into(),
            role: pb::Role::Member as i32,
            display_name: String::new(),
        })
        .await
        .unwrap();
    let session = login(&platform, "acme", "member@acme.example").await;
    let me = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &session.access_token)).await.unwrap().into_inner();
    let name = me.user.unwrap().name;
    admin(&platform).disable_user(pb::DisableUserRequest { name: name.clone(), reason: String::new() }).await.unwrap();
    assert_eq!(refresh(&platform, &session.refresh_token).await.unwrap_err().code(), Code::Unauthenticated);
    let err = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &session.access_token)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "the access token issued before disabling ends now");
    let err = auth(&platform)
        .login(pb::LoginRequest {
            tenant: "acme".into(),
            email: "member@acme.example".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    admin(&platform).enable_user(pb::EnableUserRequest { name }).await.unwrap();
    // Tokens carry whole seconds: wait for the next one so the new token is later than the revocation.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = login(&platform, "acme", "member@acme.example").await;
    auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &again.access_token)).await.unwrap();
    platform.stop().await;
}
