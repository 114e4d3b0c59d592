//! `outbox`: events written in the same transaction as the change they report, waiting for the relay to publish
//! them. Tenant data (the tenant role may only insert); the relay reads it as the platform.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub event_id: String,
    pub topic: String,
    pub event_key: String,
    pub envelope: Vec<u8>,
    pub created_at_us: i64,
    pub sent_at_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
