//! `event_offsets`: how far each consumer group has committed in each topic of the embedded log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_offsets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub consumer_group: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub topic: String,
    /// The last offset (row id) the group has processed.
    pub committed: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
