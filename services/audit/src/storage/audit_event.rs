//! `audit_events`: one row per entry of a tenant's hash chain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub event_id: String,
    pub occurred_at_us: i64,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub outcome: i32,
    pub details: String,
    pub request_id: String,
    pub trace_id: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

switchboard_store::tenant_owned!(TenantId);
