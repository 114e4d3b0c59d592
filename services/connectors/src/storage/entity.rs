//! The sea-orm entities of the connectors service's tables; each is tenant-owned by its `tenant_id` column.

/// `connector_connections`: one row per connection, with its sealed credentials.
pub(crate) mod connection {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_connections")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub provider: String,
        pub display_name: String,
        pub account: String,
        pub status: i32,
        pub error_code: i32,
        pub error_message: String,
        pub scopes: String,
        pub creator: String,
        pub auth_kind: i32,
        pub secret_kek_id: String,
        pub secret_key: Vec<u8>,
        pub secret: Vec<u8>,
        pub token_expires_at_us: Option<i64>,
        pub credentials_version: i64,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub last_sync_at_us: Option<i64>,
        pub deleted: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `connector_accounts`: provider account → connection, read across tenants to route webhooks.
pub(crate) mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub account: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub connection_id: String,
        pub tenant_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `connector_oauth_states`: pending authorizations, keyed by the SHA-256 of their state.
pub(crate) mod oauth_state {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_oauth_states")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub state_hash: String,
        pub tenant_id: String,
        pub id: String,
        pub user_id: String,
        pub provider: String,
        pub redirect_uri: String,
        pub scopes: String,
        pub account: String,
        pub display_name: String,
        pub connection_id: String,
        pub verifier_kek_id: String,
        pub verifier_key: Vec<u8>,
        pub verifier: Vec<u8>,
        pub expires_at_us: i64,
        pub used_at_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `connector_records`: normalized provider records.
pub(crate) mod record {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_records")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub connection_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub external_id: String,
        pub provider: String,
        pub updated_at_us: i64,
        pub synced_at_us: i64,
        pub data: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `connector_sync_cursors`: where each (connection, kind) sync stands.
pub(crate) mod sync_cursor {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_sync_cursors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub connection_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        /// The page cursor of a sync in progress ("" when none is).
        pub page_cursor: String,
        /// The sync id that page cursor belongs to.
        pub page_sync_id: String,
        /// The lower bound the in-progress sync fetches from (µs; 0 = everything).
        pub page_since_us: i64,
        /// Newest provider change time seen by the last completed pass (µs), the next incremental's lower bound.
        pub watermark_us: i64,
        /// The newest change time seen so far by the pass in progress.
        pub pending_watermark_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `connector_syncs`: one row per sync run.
pub(crate) mod sync {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_syncs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub connection_id: String,
        pub provider: String,
        pub status: i32,
        pub record_kinds: String,
        pub full_sync: bool,
        pub pages: i64,
        pub records_fetched: i64,
        pub records_created: i64,
        pub records_updated: i64,
        pub records_deleted: i64,
        pub error_code: i32,
        pub error_message: String,
        pub actor: String,
        pub created_at_us: i64,
        pub started_at_us: Option<i64>,
        pub ended_at_us: Option<i64>,
        /// When the process running it last showed it was alive (each page); a stale one is taken over.
        pub heartbeat_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `connector_webhook_events`: one row per provider event (not per delivery).
pub(crate) mod webhook_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_webhook_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub provider: String,
        pub connection_id: String,
        pub provider_event_id: String,
        pub event_type: String,
        pub status: i32,
        pub error_message: String,
        pub payload: String,
        pub delivery_count: i32,
        pub received_at_us: i64,
        pub processed_at_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `connector_action_invocations`: results of actions by idempotency key, so a retry acts once.
pub(crate) mod invocation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "connector_action_invocations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub action: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub idempotency_key: String,
        pub connection_id: String,
        pub output: String,
        pub audit_event_id: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}
