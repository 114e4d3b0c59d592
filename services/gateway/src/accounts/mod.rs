//! The gateway's tables, which it owns: the tenant registry, users and refresh tokens, with their migrations
//! ([`migrate`]) and typed repositories on `switchboard-store`'s tenant scope. Records come out typed (`TenantId`,
//! `UserId`, `Role`): a stored value that does not parse is an error here, never a string a caller re-parses.
//!
//! - [`TenantDirectory`]: the registry read across tenants (a login finds its tenant by slug; operators list).
//! - [`AccountsScope`] on a [`TenantScope`]: the tenant's own row ([`TenantSettings`]), its [`Users`] and its
//!   [`RefreshTokens`], all inside the tenant's transaction, so a change and the audit record that reports it
//!   commit together.

mod entity;
mod migration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use switchboard_store::{Store, StoreError, TenantId, TenantScope};
use switchboard_types::{Role, UserId};

use self::entity::{refresh_token, tenant, user};

/// Creates (or brings up to date) the gateway's tables.
pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate::<migration::Migrator>().await
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Config(format!("stored {what} {value:?} does not parse"))
}

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tenant {
    pub(crate) id: TenantId,
    pub(crate) slug: String,
    pub(crate) display_name: String,
    /// Requests per minute, 0 for the platform default.
    pub(crate) rate_limit_per_minute: i32,
    pub(crate) created_at_us: i64,
}

impl TryFrom<tenant::Model> for Tenant {
    type Error = StoreError;

    fn try_from(m: tenant::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: m.id.parse().map_err(|_| corrupt("tenant id", &m.id))?,
            slug: m.slug,
            display_name: m.display_name,
            rate_limit_per_minute: m.rate_limit_per_minute,
            created_at_us: m.created_at_us,
        })
    }
}

/// A user (with the password hash: never send it anywhere).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) tenant: TenantId,
    pub(crate) id: UserId,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) password_hash: String,
    pub(crate) role: Role,
    pub(crate) disabled: bool,
    pub(crate) created_at_us: i64,
}

impl TryFrom<user::Model> for User {
    type Error = StoreError;

    fn try_from(m: user::Model) -> Result<Self, StoreError> {
        Ok(Self {
            tenant: m.tenant_id.parse().map_err(|_| corrupt("tenant id", &m.tenant_id))?,
            id: m.id.parse().map_err(|_| corrupt("user id", &m.id))?,
            email: m.email,
            display_name: m.display_name,
            password_hash: m.password_hash,
            role: m.role.parse().map_err(|_| corrupt("role", &m.role))?,
            disabled: m.disabled,
            created_at_us: m.created_at_us,
        })
    }
}

/// A refresh token as stored: its secret only as a hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RefreshToken {
    pub(crate) id: String,
    /// The session (family) it belongs to.
    pub(crate) family: String,
    pub(crate) user: UserId,
    pub(crate) secret_hash: Vec<u8>,
    pub(crate) created_at_us: i64,
    pub(crate) expires_at_us: i64,
    pub(crate) used_at_us: Option<i64>,
    pub(crate) revoked_at_us: Option<i64>,
    /// When the session began (the login): its absolute lifetime counts from here.
    pub(crate) session_started_at_us: i64,
}

impl TryFrom<refresh_token::Model> for RefreshToken {
    type Error = StoreError;

    fn try_from(m: refresh_token::Model) -> Result<Self, StoreError> {
        Ok(Self {
            user: m.user_id.parse().map_err(|_| corrupt("user id", &m.user_id))?,
            id: m.id,
            family: m.family_id,
            secret_hash: m.secret_hash,
            created_at_us: m.created_at_us,
            expires_at_us: m.expires_at_us,
            used_at_us: m.used_at_us,
            revoked_at_us: m.revoked_at_us,
            session_started_at_us: m.session_started_at_us,
        })
    }
}

fn typed<M, T: TryFrom<M, Error = StoreError>>(rows: Vec<M>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// The registry of tenants, read across tenants.
#[derive(Debug)]
pub(crate) struct TenantDirectory<'a> {
    store: &'a Store,
}

impl<'a> TenantDirectory<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// The tenant with this slug.
    pub(crate) async fn by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        let found = tenant::Entity::find().filter(tenant::Column::Slug.eq(slug)).one(self.store.global()).await?;
        found.map(Tenant::try_from).transpose()
    }

    /// The tenant with this id.
    pub(crate) async fn by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        let found = tenant::Entity::find_by_id(id.to_string()).one(self.store.global()).await?;
        found.map(Tenant::try_from).transpose()
    }

    /// A tenant by id or slug (resource names accept either).
    pub(crate) async fn by_key(&self, key: &str) -> Result<Option<Tenant>, StoreError> {
        match key.parse::<TenantId>() {
            Ok(id) => self.by_id(id).await,
            Err(_) => self.by_slug(key).await,
        }
    }

    /// Up to `limit` tenants with slugs after `after_slug`, by slug.
    pub(crate) async fn list(&self, after_slug: Option<&str>, limit: u64) -> Result<Vec<Tenant>, StoreError> {
        let mut query = tenant::Entity::find().order_by_asc(tenant::Column::Slug);
        if let Some(after) = after_slug {
            query = query.filter(tenant::Column::Slug.gt(after));
        }
        typed(query.limit(limit).all(self.store.global()).await?)
    }
}

/// The gateway's repositories of a tenant scope: `scope.users()`, ...
pub(crate) trait AccountsScope {
    /// The tenant's own registry row.
    fn tenant_settings(&self) -> TenantSettings<'_>;
    /// The tenant's users.
    fn users(&self) -> Users<'_>;
    /// The tenant's refresh tokens.
    fn refresh_tokens(&self) -> RefreshTokens<'_>;
}

impl AccountsScope for TenantScope {
    fn tenant_settings(&self) -> TenantSettings<'_> {
        TenantSettings { scope: self }
    }

    fn users(&self) -> Users<'_> {
        Users { scope: self }
    }

    fn refresh_tokens(&self) -> RefreshTokens<'_> {
        RefreshTokens { scope: self }
    }
}

/// The scope's tenant's own registry row.
#[derive(Debug)]
pub(crate) struct TenantSettings<'a> {
    scope: &'a TenantScope,
}

impl TenantSettings<'_> {
    /// Registers the scope's tenant; a taken slug is a [`StoreError::Conflict`].
    pub(crate) async fn create(
        &self,
        slug: &str,
        display_name: &str,
        rate_limit: i32,
        now_us: i64,
    ) -> Result<(), StoreError> {
        let row = tenant::ActiveModel {
            id: Set(self.scope.tenant_key()),
            slug: Set(slug.to_owned()),
            display_name: Set(display_name.to_owned()),
            rate_limit_per_minute: Set(rate_limit),
            created_at_us: Set(now_us),
        };
        self.scope.insert([row]).await
    }

    /// The row.
    pub(crate) async fn get(&self) -> Result<Option<Tenant>, StoreError> {
        let found = self.scope.select::<tenant::Entity>().one(self.scope.connection()).await?;
        found.map(Tenant::try_from).transpose()
    }

    /// Sets the display name and rate limit override (0 = platform default).
    pub(crate) async fn update(&self, display_name: &str, rate_limit_per_minute: i32) -> Result<(), StoreError> {
        self.scope
            .update_many::<tenant::Entity>()
            .col_expr(tenant::Column::DisplayName, Expr::value(display_name))
            .col_expr(tenant::Column::RateLimitPerMinute, Expr::value(rate_limit_per_minute))
            .exec(self.scope.connection())
            .await?;
        Ok(())
    }
}

/// Users of one tenant.
#[derive(Debug)]
pub(crate) struct Users<'a> {
    scope: &'a TenantScope,
}

/// A new user.
#[derive(Debug)]
pub(crate) struct NewUser<'a> {
    pub(crate) id: UserId,
    pub(crate) email: &'a str,
    pub(crate) display_name: &'a str,
    pub(crate) password_hash: &'a str,
    pub(crate) role: Role,
    pub(crate) created_at_us: i64,
}

impl Users<'_> {
    /// Adds a user; a taken email is a [`StoreError::Conflict`].
    pub(crate) async fn create(&self, new: NewUser<'_>) -> Result<(), StoreError> {
        let row = user::ActiveModel {
            tenant_id: Set(self.scope.tenant_key()),
            id: Set(new.id.to_string()),
            email: Set(new.email.to_owned()),
            display_name: Set(new.display_name.to_owned()),
            password_hash: Set(new.password_hash.to_owned()),
            role: Set(new.role.as_str().to_owned()),
            disabled: Set(false),
            created_at_us: Set(new.created_at_us),
        };
        self.scope.insert([row]).await
    }

    /// The user with this (normalized) email.
    pub(crate) async fn by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let found = self
            .scope
            .select::<user::Entity>()
            .filter(user::Column::Email.eq(email))
            .one(self.scope.connection())
            .await?;
        found.map(User::try_from).transpose()
    }

    /// The user with this id.
    pub(crate) async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let found = self
            .scope
            .select::<user::Entity>()
            .filter(user::Column::Id.eq(id.to_string()))
            .one(self.scope.connection())
            .await?;
        found.map(User::try_from).transpose()
    }

    /// Up to `limit` users with emails after `after_email`, by email.
    pub(crate) async fn list(&self, after_email: Option<&str>, limit: u64) -> Result<Vec<User>, StoreError> {
        let mut query = self.scope.select::<user::Entity>().order_by_asc(user::Column::Email);
        if let Some(after) = after_email {
            query = query.filter(user::Column::Email.gt(after));
        }
        typed(query.limit(limit).all(self.scope.connection()).await?)
    }

    /// How many active (not disabled) owners the tenant has. Call [`TenantScope::lock`] on `"owners"` first when
    /// the answer decides a change, so two changes cannot each leave the other the last owner.
    pub(crate) async fn active_owners(&self) -> Result<u64, StoreError> {
        Ok(self
            .scope
            .select::<user::Entity>()
            .filter(user::Column::Role.eq(Role::Owner.as_str()))
            .filter(user::Column::Disabled.eq(false))
            .count(self.scope.connection())
            .await?)
    }

    /// Sets a user's display name and role.
    pub(crate) async fn update(&self, id: UserId, display_name: &str, role: Role) -> Result<(), StoreError> {
        self.scope
            .update_many::<user::Entity>()
            .col_expr(user::Column::DisplayName, Expr::value(display_name))
            .col_expr(user::Column::Role, Expr::value(role.as_str()))
            .filter(user::Column::Id.eq(id.to_string()))
            .exec(self.scope.connection())
            .await?;
        Ok(())
    }

    /// Disables or enables a user.
    pub(crate) async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<(), StoreError> {
        self.scope
            .update_many::<user::Entity>()
            .col_expr(user::Column::Disabled, Expr::value(disabled))
            .filter(user::Column::Id.eq(id.to_string()))
            .exec(self.scope.connection())
            .await?;
        Ok(())
    }
}

/// Refresh tokens of one tenant.
#[derive(Debug)]
pub(crate) struct RefreshTokens<'a> {
    scope: &'a TenantScope,
}

impl RefreshTokens<'_> {
    /// Stores a newly issued token.
    pub(crate) async fn insert(&self, token: RefreshToken) -> Result<(), StoreError> {
        let row = refresh_token::ActiveModel {
            tenant_id: Set(self.scope.tenant_key()),
            id: Set(token.id),
            family_id: Set(token.family),
            user_id: Set(token.user.to_string()),
            secret_hash: Set(token.secret_hash),
            created_at_us: Set(token.created_at_us),
            expires_at_us: Set(token.expires_at_us),
            used_at_us: Set(token.used_at_us),
            revoked_at_us: Set(token.revoked_at_us),
            session_started_at_us: Set(token.session_started_at_us),
        };
        self.scope.insert([row]).await
    }

    /// The token with this id.
    pub(crate) async fn get(&self, id: &str) -> Result<Option<RefreshToken>, StoreError> {
        let found = self
            .scope
            .select::<refresh_token::Entity>()
            .filter(refresh_token::Column::Id.eq(id))
            .one(self.scope.connection())
            .await?;
        found.map(RefreshToken::try_from).transpose()
    }

    /// Spends a token: true only for the one caller that marks it used (compare-and-set, so two concurrent
    /// refreshes with the same token cannot both succeed).
    pub(crate) async fn spend(&self, id: &str, now_us: i64) -> Result<bool, StoreError> {
        let result = self
            .scope
            .update_many::<refresh_token::Entity>()
            .col_expr(refresh_token::Column::UsedAtUs, Expr::value(now_us))
            .filter(refresh_token::Column::Id.eq(id))
            .filter(refresh_token::Column::UsedAtUs.is_null())
            .filter(refresh_token::Column::RevokedAtUs.is_null())
            .exec(self.scope.connection())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Revokes every live token of a user (on disable); returns how many.
    pub(crate) async fn revoke_user(&self, user: UserId, now_us: i64) -> Result<u64, StoreError> {
        let result = self
            .scope
            .update_many::<refresh_token::Entity>()
            .col_expr(refresh_token::Column::RevokedAtUs, Expr::value(now_us))
            .filter(refresh_token::Column::UserId.eq(user.to_string()))
            .filter(refresh_token::Column::RevokedAtUs.is_null())
            .exec(self.scope.connection())
            .await?;
        Ok(result.rows_affected)
    }

    /// Revokes every token of a family; returns how many were still live.
    pub(crate) async fn revoke_family(&self, family: &str, now_us: i64) -> Result<u64, StoreError> {
        let result = self
            .scope
            .update_many::<refresh_token::Entity>()
            .col_expr(refresh_token::Column::RevokedAtUs, Expr::value(now_us))
            .filter(refresh_token::Column::FamilyId.eq(family))
            .filter(refresh_token::Column::RevokedAtUs.is_null())
            .exec(self.scope.connection())
            .await?;
        Ok(result.rows_affected)
    }
}
