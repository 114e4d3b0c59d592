//! The gateway's sea-orm entities. Timestamps are microseconds since the Unix epoch.

/// `tenants`: the registry of tenants. A tenant's own row is reached in its scope; logins find it by slug.
pub(crate) mod tenant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub slug: String,
        pub display_name: String,
        pub rate_limit_per_minute: i32,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(Id);
}

/// `users`: people who log in, per tenant.
pub(crate) mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub email: String,
        pub display_name: String,
        pub password_hash: String,
        pub role: String,
        pub disabled: bool,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `refresh_tokens`: one row per issued refresh token, holding only a SHA-256 of its secret. Tokens of one login
/// form a family (a session): rotation adds a row, reuse of a spent one revokes the family.
pub(crate) mod refresh_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub family_id: String,
        pub user_id: String,
        pub secret_hash: Vec<u8>,
        pub created_at_us: i64,
        pub expires_at_us: i64,
        pub used_at_us: Option<i64>,
        pub revoked_at_us: Option<i64>,
        pub session_started_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}
