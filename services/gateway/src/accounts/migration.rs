//! The gateway's migrations, recorded in their own table (`seaql_migrations_gateway`) so that they compose with every
//! other service's. The first one kept its name from when `switchboard-store` held these tables: databases made
//! then have the tables already, and each statement is safe to run again.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;
use switchboard_store::schema::{TenantTable, blob, protect_tenant_tables};

pub(super) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Identity), Box::new(Sessions)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_gateway").into_iden()
    }
}

/// Users and refresh tokens are tenant data, bound for the owner too.
fn tenant_rows(name: &str) -> TenantTable<'_> {
    TenantTable { name, privileges: "SELECT, INSERT, UPDATE", tenant_column: "tenant_id", force: true }
}

/// Tenants, users and refresh tokens.
struct Identity;

impl MigrationName for Identity {
    fn name(&self) -> &str {
        "m20261125_000002_identity"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Identity {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let (blob, boolean) = (blob(db), "BOOLEAN");
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS tenants (
                id TEXT NOT NULL PRIMARY KEY,
                slug TEXT NOT NULL UNIQUE,
                display_name TEXT NOT NULL,
                rate_limit_per_minute INTEGER NOT NULL,
                created_at_us BIGINT NOT NULL
            )",
        )
        .await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS users (
                tenant_id TEXT NOT NULL,
                id TEXT NOT NULL,
                email TEXT NOT NULL,
                display_name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL,
                disabled {boolean} NOT NULL,
                created_at_us BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, id),
                UNIQUE (tenant_id, email)
            )"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS refresh_tokens (
                tenant_id TEXT NOT NULL,
                id TEXT NOT NULL,
                family_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                secret_hash {blob} NOT NULL,
                created_at_us BIGINT NOT NULL,
                expires_at_us BIGINT NOT NULL,
                used_at_us BIGINT,
                revoked_at_us BIGINT,
                PRIMARY KEY (tenant_id, id)
            )"
        ))
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (tenant_id, family_id)",
        )
        .await?;
        protect_tenant_tables(db, &[tenant_rows("users"), tenant_rows("refresh_tokens")]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["refresh_tokens", "users", "tenants"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        Ok(())
    }
}

/// Absolute session lifetimes (each refresh token remembers when its session began), and tenant settings written
/// inside the tenant's own transaction (so a change and its audit record commit together): the registry is
/// readable by every tenant scope only for its own row; the owner still reads it whole (logins find tenants by
/// slug).
struct Sessions;

impl MigrationName for Sessions {
    fn name(&self) -> &str {
        "m20261130_000001_sessions"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Sessions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if !manager.has_column("refresh_tokens", "session_started_at_us").await? {
            db.execute_unprepared(
                "ALTER TABLE refresh_tokens ADD COLUMN session_started_at_us BIGINT NOT NULL DEFAULT 0",
            )
            .await?;
            // Sessions begun before this column: count from their newest token, the best record there is.
            db.execute_unprepared(
                "UPDATE refresh_tokens SET session_started_at_us = created_at_us WHERE session_started_at_us = 0",
            )
            .await?;
        }
        let registry =
            TenantTable { name: "tenants", privileges: "SELECT, INSERT, UPDATE", tenant_column: "id", force: false };
        protect_tenant_tables(db, &[registry]).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
