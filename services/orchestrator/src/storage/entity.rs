//! The sea-orm entities of the orchestrator's tables; each is tenant-owned by its `tenant_id` column.

/// `orchestrator_runs`: one row per run, with its answer and the last sequence of its event log.
pub(crate) mod run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub question: String,
        pub status: i32,
        pub intent: String,
        pub model: String,
        pub creator: String,
        pub creator_role: String,
        pub request_id: String,
        pub allowed_connections: String,
        pub previous_run: String,
        pub plan_summary: Option<String>,
        pub answer: Option<Vec<u8>>,
        pub error_code: i32,
        pub error_message: String,
        pub last_sequence: i64,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub ended_at_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `orchestrator_steps`: the steps of each run's plan, with their state, approval and result.
pub(crate) mod step {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_steps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub position: i32,
        pub description: String,
        pub tool: String,
        pub connection: String,
        /// The planned input, references unresolved (JSON).
        pub input_template: String,
        /// The resolved input (JSON), once resolved.
        pub input: Option<String>,
        /// Ids of the steps this one depends on, space-separated.
        pub depends_on: String,
        pub needs_approval: bool,
        /// The key the step's tool call carries, chosen at planning: a resumed run repeats it, never a new one.
        pub idempotency_key: String,
        pub status: i32,
        pub output: Option<String>,
        pub error_code: i32,
        pub error_message: String,
        pub audit_event_id: String,
        pub approved: bool,
        pub reviewer: String,
        pub review_comment: String,
        pub reviewed_at_us: Option<i64>,
        pub started_at_us: Option<i64>,
        pub ended_at_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `orchestrator_run_events`: each run's event log, the encoded `AskResponse`s by sequence from 1.
pub(crate) mod run_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_run_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sequence: i64,
        pub event: Vec<u8>,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `orchestrator_settings`: each tenant's assistant settings (JSON).
pub(crate) mod settings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        pub settings: String,
        pub updated_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `orchestrator_token_usage`: model tokens used per tenant per calendar month (`YYYY-MM`, UTC).
pub(crate) mod token_usage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_token_usage")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub month: String,
        pub input_tokens: i64,
        pub output_tokens: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `orchestrator_token_reservations`: tokens held for model calls in flight, so that concurrent calls cannot together
/// spend more than the tenant's budget. Each is removed when its call's usage is recorded, or ignored after
/// `expires_at_us` when the replica making the call died.
pub(crate) mod token_reservation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_token_reservations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub month: String,
        pub tokens: i64,
        pub expires_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `orchestrator_active_runs`: runs not finished yet and the replica driving each, read across tenants to find
/// runs no replica drives.
pub(crate) mod active_run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_active_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub run_id: String,
        /// The replica holding the lease (its engine's id).
        pub driver: String,
        /// Until when (Unix µs); 0 when released.
        pub lease_until_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `orchestrator_documents`: the documents of each tenant's knowledge base (their text is in the chunks).
pub(crate) mod document {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_documents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub title: String,
        pub media_type: String,
        pub size_bytes: i64,
        pub chunk_count: i32,
        /// The embedder whose vectors index the chunks (vectors of another model are not comparable).
        pub embedding_model: String,
        pub creator: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}

/// `orchestrator_document_chunks`: the text of each document's chunks, by position from 0; what retrieval quotes.
pub(crate) mod document_chunk {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orchestrator_document_chunks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub document_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        /// The Markdown heading path the chunk sits under (`Returns > Damaged items`), or empty.
        pub heading: String,
        pub text: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);
}
