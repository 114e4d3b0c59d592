//! Roles and rights: what each role may call at the edge, tenant administration by a tenant's own owners and admins
//! on the public port, the last-owner rule, role changes that end tokens at once, and operator actions in the
//! tenant's audit log. Cases run on SQLite and PostgreSQL.

use serde_json::json;
use switchboard_proto::audit::v1 as audit;
use switchboard_proto::audit::v1::audit_service_client::AuditServiceClient;
use switchboard_proto::auth::v1 as pb;
use switchboard_proto::auth::v1::tenant_admin_service_client::TenantAdminServiceClient;
use switchboard_test_support::{TestDb, TestPlatform};
use tonic::Code;

use crate::suite::{PASSWORD, admin, auth, bearer, login, tenant_with_user};

/// Creates a user of `role` in tenant `slug` through the operators' admin port; returns its resource name.
async fn user(platform: &TestPlatform, slug: &str, email: &str, role: pb::Role) -> String {
    admin(platform)
        .create_user(pb::CreateUserRequest {
            parent: format!("tenants/{slug}"),
            email: email.into(),
            password: PASSWORD.into(),
            role: role as i32,
            display_name: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
        .name
}

fn public_admin(platform: &TestPlatform) -> TenantAdminServiceClient<tonic::transport::Channel> {
    TenantAdminServiceClient::new(platform.public_channel())
}

fn role_update(name: &str, role: pb::Role) -> pb::UpdateUserRequest {
    pb::UpdateUserRequest {
        user: Some(pb::User { name: name.into(), role: role as i32, ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["role".into()] }),
    }
}

/// Each RPC's least role holds at the edge: a viewer reads the audit log but may not re-verify the whole chain,
/// and members may not administer users.
pub async fn each_role_reaches_only_its_rpcs(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    user(&platform, "acme", "viewer@acme.example", pb::Role::Viewer).await;
    user(&platform, "acme", "member@acme.example", pb::Role::Member).await;
    let viewer = login(&platform, "acme", "viewer@acme.example").await.access_token;
    let member = login(&platform, "acme", "member@acme.example").await.access_token;
    let owner = login(&platform, "acme", "owner@acme.example").await.access_token;

    let mut audit_client = AuditServiceClient::new(platform.public_channel());
    audit_client.list_events(bearer(audit::ListEventsRequest::default(), &viewer)).await.unwrap();
    let err = audit_client.verify_chain(bearer(audit::VerifyChainRequest {}, &viewer)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("admin role") && err.message().contains("viewer"), "{}", err.message());
    audit_client.verify_chain(bearer(audit::VerifyChainRequest {}, &owner)).await.unwrap();

    let err = public_admin(&platform)
        .list_users(bearer(pb::ListUsersRequest { parent: "tenants/acme".into(), ..Default::default() }, &member))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // The same over REST: 403 with the reason.
    let addr = platform.gateway_addr.clone();
    tokio::task::spawn_blocking(move || {
        let request = format!(
            "POST /v1/audit:verify HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {viewer}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        let (code, _, _) = crate::http::exchange(&addr, request.as_bytes());
        assert_eq!(code, 403);
    })
    .await
    .unwrap();
    platform.stop().await;
}

/// Owners and admins manage their own tenant's users on the public port; no one reaches another tenant, admins
/// cannot make or change owners, and creating tenants stays with operators.
pub async fn tenant_admins_manage_their_own_tenant(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    tenant_with_user(&platform, "globex", "owner@globex.example").await;
    let owner_name = {
        let owner = login(&platform, "acme", "owner@acme.example").await.access_token;
        auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &owner)).await.unwrap().into_inner().user.unwrap().name
    };
    user(&platform, "acme", "admin@acme.example", pb::Role::Admin).await;
    let admin_token = login(&platform, "acme", "admin@acme.example").await.access_token;
    let mut client = public_admin(&platform);

    // An admin creates a member in their own tenant, and lists the team.
    let created = client
        .create_user(bearer(
            pb::CreateUserRequest {
                parent: "tenants/acme".into(),
                email: "new@acme.example".into(),
                password: PASSWORD.into(),
                role: pb::Role::Member as i32,
                display_name: "New".into(),
            },
            &admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    let team = client
        .list_users(bearer(pb::ListUsersRequest { parent: "tenants/acme".into(), ..Default::default() }, &admin_token))
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(team.len(), 3);

    // Not another tenant's, whether it exists or not; not the owner role; not an owner.
    for parent in ["tenants/globex", "tenants/no-such-tenant"] {
        let err = client
            .list_users(bearer(pb::ListUsersRequest { parent: parent.into(), ..Default::default() }, &admin_token))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{parent}");
    }
    let err = client.update_user(bearer(role_update(&created.name, pb::Role::Owner), &admin_token)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "only owners make owners");
    let err = client
        .disable_user(bearer(pb::DisableUserRequest { name: owner_name.clone(), reason: String::new() }, &admin_token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "admins do not manage owners");
    let err = client
        .update_tenant(bearer(
            pb::UpdateTenantRequest {
                tenant: Some(pb::Tenant {
                    name: "tenants/acme".into(),
                    rate_limit_per_minute: 100_000,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["rate_limit_per_minute".into()] }),
            },
            &admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "rate limits are the operators'");

    // Creating or listing tenants is not offered on the public port at all.
    let err = client
        .create_tenant(bearer(
            pb::CreateTenantRequest { tenant: Some(pb::Tenant { slug: "evil".into(), ..Default::default() }) },
            &admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    // Over REST too, with the resource name's slug.
    let addr = platform.gateway_addr.clone();
    let token = admin_token.clone();
    tokio::task::spawn_blocking(move || {
        let body = json!({"email": "rest@acme.example", "password": PASSWORD, "role": "ROLE_VIEWER"}).to_string();
        let request = format!(
            "POST /v1/tenants/acme/users HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let (code, _, body) = crate::http::exchange(&addr, request.as_bytes());
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    })
    .await
    .unwrap();
    platform.stop().await;
}

/// The last active owner can be neither demoted nor disabled; with a second owner, either can be. A role change
/// ends the user's access tokens at once.
pub async fn the_last_owner_stays_and_role_changes_end_tokens(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let first = login(&platform, "acme", "owner@acme.example").await.access_token;
    let first_name =
        auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &first)).await.unwrap().into_inner().user.unwrap().name;
    let mut operator = admin(&platform);
    for refused in [
        operator.update_user(role_update(&first_name, pb::Role::Admin)).await.unwrap_err(),
        operator
            .disable_user(pb::DisableUserRequest { name: first_name.clone(), reason: String::new() })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert!(refused.message().contains("last active owner"), "{}", refused.message());
    }
    // The owner cannot demote themselves on the public port either.
    let err = public_admin(&platform).update_user(bearer(role_update(&first_name, pb::Role::Admin), &first)).await;
    assert_eq!(err.unwrap_err().code(), Code::FailedPrecondition);

    let second_name = user(&platform, "acme", "second@acme.example", pb::Role::Owner).await;
    let second = login(&platform, "acme", "second@acme.example").await.access_token;
    public_admin(&platform).update_user(bearer(role_update(&first_name, pb::Role::Viewer), &second)).await.unwrap();
    let ended = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &first)).await.unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated, "a token issued with the old role ends at once");
    // Now the second is the last owner.
    let err = operator.disable_user(pb::DisableUserRequest { name: second_name, reason: String::new() }).await;
    assert_eq!(err.unwrap_err().code(), Code::FailedPrecondition);

    // The demoted user's next token carries the new role.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = login(&platform, "acme", "owner@acme.example").await.access_token;
    let me = auth(&platform).who_am_i(bearer(pb::WhoAmIRequest {}, &again)).await.unwrap().into_inner();
    assert_eq!(me.roles, vec![pb::Role::Viewer as i32]);
    platform.stop().await;
}

/// What operators do on the admin port lands in the tenant's audit log, written with the change.
pub async fn operator_actions_are_audited(db: TestDb) {
    let platform = TestPlatform::start(db).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let member = user(&platform, "acme", "member@acme.example", pb::Role::Member).await;
    admin(&platform).update_user(role_update(&member, pb::Role::Viewer)).await.unwrap();
    admin(&platform)
        .disable_user(pb::DisableUserRequest { name: member.clone(), reason: String::new() })
        .await
        .unwrap();
    platform.settle_audit().await;
    let owner = login(&platform, "acme", "owner@acme.example").await.access_token;
    let events = AuditServiceClient::new(platform.public_channel())
        .list_events(bearer(audit::ListEventsRequest { order_ascending: true, ..Default::default() }, &owner))
        .await
        .unwrap()
        .into_inner()
        .events;
    let by_operator: Vec<(&str, &str)> =
        events.iter().filter(|e| e.actor == "operator").map(|e| (e.action.as_str(), e.resource.as_str())).collect();
    let actions: Vec<&str> = by_operator.iter().map(|(a, _)| *a).collect();
    assert_eq!(actions, ["tenant.create", "user.create", "user.create", "user.update", "user.disable"], "{events:?}");
    let member_id = member.rsplit('/').next().unwrap();
    assert!(by_operator[4].1.ends_with(member_id), "{by_operator:?}");
    let update = events.iter().find(|e| e.action == "user.update").unwrap();
    let details = update.details.as_ref().unwrap();
    let field = |k: &str| match &details.fields[k].kind {
        Some(prost_types::value::Kind::StringValue(s)) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!((field("role_before"), field("role")), ("member".into(), "viewer".into()));
    platform.stop().await;
}
