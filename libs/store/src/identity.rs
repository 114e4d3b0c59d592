//! Tenants, users and refresh tokens.
//!
//! The tenant registry ([`TenantDirectory`]) is global: it is how a login finds its tenant by slug. Users and
//! refresh tokens are tenant data, reached only through a [`TenantScope`].

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::{refresh_token, tenant, user};
use crate::{StoreError, TenantId, TenantScope};

/// A tenant as stored.
pub type TenantRecord = tenant::Model;
/// A user as stored (with the password hash: never send it anywhere).
pub type UserRecord = user::Model;
/// A refresh token as stored (its secret only as a hash).
pub type RefreshTokenRecord = refresh_token::Model;

/// The registry of tenants.
#[derive(Debug)]
pub struct TenantDirectory<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> TenantDirectory<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// Registers a tenant; a taken slug or id is a [`StoreError::Conflict`].
    pub async fn create(&self, record: TenantRecord) -> Result<(), StoreError> {
        tenant::Entity::insert(record.into_active_model()).exec_without_returning(self.db).await?;
        Ok(())
    }

    /// The tenant with this slug.
    pub async fn by_slug(&self, slug: &str) -> Result<Option<TenantRecord>, StoreError> {
        Ok(tenant::Entity::find().filter(tenant::Column::Slug.eq(slug)).one(self.db).await?)
    }

    /// The tenant with this id.
    pub async fn by_id(&self, id: TenantId) -> Result<Option<TenantRecord>, StoreError> {
        Ok(tenant::Entity::find_by_id(id.to_string()).one(self.db).await?)
    }

    /// Up to `limit` tenants with slugs after `after_slug`, by slug.
    pub async fn list(&self, after_slug: Option<&str>, limit: u64) -> Result<Vec<TenantRecord>, StoreError> {
        let mut query = tenant::Entity::find().order_by_asc(tenant::Column::Slug);
        if let Some(after) = after_slug {
            query = query.filter(tenant::Column::Slug.gt(after));
        }
        Ok(query.limit(limit).all(self.db).await?)
    }

    /// Sets a tenant's display name and rate limit override (0 = platform default). False if no such tenant.
    pub async fn update(
        &self,
        id: TenantId,
        display_name: &str,
        rate_limit_per_minute: i32,
    ) -> Result<bool, StoreError> {
        let result = tenant::Entity::update_many()
            .col_expr(tenant::Column::DisplayName, Expr::value(display_name))
            .col_expr(tenant::Column::RateLimitPerMinute, Expr::value(rate_limit_per_minute))
            .filter(tenant::Column::Id.eq(id.to_string()))
            .exec(self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }
}

/// Users of one tenant.
#[derive(Debug)]
pub struct UserRepository<'a> {
    scope: &'a TenantScope,
}

impl<'a> UserRepository<'a> {
    pub(crate) fn new(scope: &'a TenantScope) -> Self {
        Self { scope }
    }

    fn scoped(&self) -> sea_orm::Select<user::Entity> {
        user::Entity::find().filter(user::Column::TenantId.eq(self.scope.tenant_key()))
    }

    /// Adds a user; a taken email is a [`StoreError::Conflict`].
    pub async fn create(&self, record: UserRecord) -> Result<(), StoreError> {
        if record.tenant_id != self.scope.tenant_key() {
            return Err(StoreError::Config("user for another tenant".into()));
        }
        user::Entity::insert(record.into_active_model()).exec_without_returning(&self.scope.tx).await?;
        Ok(())
    }

    /// The user with this (normalized) email.
    pub async fn by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.scoped().filter(user::Column::Email.eq(email)).one(&self.scope.tx).await?)
    }

    /// The user with this id.
    pub async fn by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.scoped().filter(user::Column::Id.eq(id)).one(&self.scope.tx).await?)
    }

    /// Up to `limit` users with emails after `after_email`, by email.
    pub async fn list(&self, after_email: Option<&str>, limit: u64) -> Result<Vec<UserRecord>, StoreError> {
        let mut query = self.scoped().order_by_asc(user::Column::Email);
        if let Some(after) = after_email {
            query = query.filter(user::Column::Email.gt(after));
        }
        Ok(query.limit(limit).all(&self.scope.tx).await?)
    }

    /// How many users the tenant has.
    pub async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.scoped().count(&self.scope.tx).await?)
    }

    /// Sets a user's display name and role. False if no such user.
    pub async fn update(&self, id: &str, display_name: &str, role: &str) -> Result<bool, StoreError> {
        let result = user::Entity::update_many()
            .col_expr(user::Column::DisplayName, Expr::value(display_name))
            .col_expr(user::Column::Role, Expr::value(role))
            .filter(user::Column::TenantId.eq(self.scope.tenant_key()))
            .filter(user::Column::Id.eq(id))
            .exec(&self.scope.tx)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Disables or enables a user. False if no such user.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<bool, StoreError> {
        let result = user::Entity::update_many()
            .col_expr(user::Column::Disabled, Expr::value(disabled))
            .filter(user::Column::TenantId.eq(self.scope.tenant_key()))
            .filter(user::Column::Id.eq(id))
            .exec(&self.scope.tx)
            .await?;
        Ok(result.rows_affected == 1)
    }
}

/// Refresh tokens of one tenant.
#[derive(Debug)]
pub struct RefreshTokenRepository<'a> {
    scope: &'a TenantScope,
}

impl<'a> RefreshTokenRepository<'a> {
    pub(crate) fn new(scope: &'a TenantScope) -> Self {
        Self { scope }
    }

    /// Stores a newly issued token.
    pub async fn insert(&self, record: RefreshTokenRecord) -> Result<(), StoreError> {
        if record.tenant_id != self.scope.tenant_key() {
            return Err(StoreError::Config("refresh token for another tenant".into()));
        }
        refresh_token::Entity::insert(record.into_active_model()).exec_without_returning(&self.scope.tx).await?;
        Ok(())
    }

    /// The token with this id.
    pub async fn get(&self, id: &str) -> Result<Option<RefreshTokenRecord>, StoreError> {
        Ok(refresh_token::Entity::find()
            .filter(refresh_token::Column::TenantId.eq(self.scope.tenant_key()))
            .filter(refresh_token::Column::Id.eq(id))
            .one(&self.scope.tx)
            .await?)
    }

    /// Spends a token: true only for the one caller that marks it used (compare-and-set, so two concurrent
    /// refreshes with the same token cannot both succeed).
    pub async fn spend(&self, id: &str, now_us: i64) -> Result<bool, StoreError> {
        let result = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAtUs, Expr::value(now_us))
            .filter(refresh_token::Column::TenantId.eq(self.scope.tenant_key()))
            .filter(refresh_token::Column::Id.eq(id))
            .filter(refresh_token::Column::UsedAtUs.is_null())
            .filter(refresh_token::Column::RevokedAtUs.is_null())
            .exec(&self.scope.tx)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Revokes every live token of a user (on disable); returns how many.
    pub async fn revoke_user(&self, user_id: &str, now_us: i64) -> Result<u64, StoreError> {
        let result = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAtUs, Expr::value(now_us))
            .filter(refresh_token::Column::TenantId.eq(self.scope.tenant_key()))
            .filter(refresh_token::Column::UserId.eq(user_id))
            .filter(refresh_token::Column::RevokedAtUs.is_null())
            .exec(&self.scope.tx)
            .await?;
        Ok(result.rows_affected)
    }

    /// Revokes every token of a family; returns how many were still live.
    pub async fn revoke_family(&self, family_id: &str, now_us: i64) -> Result<u64, StoreError> {
        let result = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAtUs, Expr::value(now_us))
            .filter(refresh_token::Column::TenantId.eq(self.scope.tenant_key()))
            .filter(refresh_token::Column::FamilyId.eq(family_id))
            .filter(refresh_token::Column::RevokedAtUs.is_null())
            .exec(&self.scope.tx)
            .await?;
        Ok(result.rows_affected)
    }
}
