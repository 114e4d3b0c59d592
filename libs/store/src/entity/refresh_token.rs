//! `refresh_tokens`: one row per issued refresh token, holding only a SHA-256 of its secret. Tokens of one login
//! form a family: rotation adds a row, reuse of a spent one revokes the family.

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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
