//! The audit service's migrations, recorded in their own table (`seaql_migrations_audit`) so that they compose with
//! every other service's. The first one kept its name from when `switchboard-store` held these tables: databases
//! made then have the tables already, and each statement is safe to run again.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;
use switchboard_store::schema::{TenantTable, blob, protect_tenant_tables};

pub(super) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(AuditLog)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_audit").into_iden()
    }
}

/// The audit log: hash-chained events and the latest signed checkpoint per tenant.
struct AuditLog;

impl MigrationName for AuditLog {
    fn name(&self) -> &str {
        "m20261125_000001_audit_log"
    }
}

/// The audit tables and what the tenant role may do to them: append-only even to the application.
const AUDIT_TABLES: [TenantTable<'static>; 2] = [
    TenantTable { name: "audit_events", privileges: "SELECT, INSERT", tenant_column: "tenant_id", force: true },
    TenantTable {
        name: "audit_checkpoints",
        privileges: "SELECT, INSERT, UPDATE",
        tenant_column: "tenant_id",
        force: true,
    },
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for AuditLog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let blob = blob(db);
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS audit_events (
                tenant_id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                event_id TEXT NOT NULL,
                occurred_at_us BIGINT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                resource TEXT NOT NULL,
                outcome INTEGER NOT NULL,
                details TEXT NOT NULL,
                request_id TEXT NOT NULL,
                trace_id TEXT NOT NULL,
                prev_hash {blob} NOT NULL,
                hash {blob} NOT NULL,
                PRIMARY KEY (tenant_id, seq),
                CHECK (seq >= 1)
            )"
        ))
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS audit_events_event_id ON audit_events (tenant_id, event_id)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (tenant_id, occurred_at_us)",
        )
        .await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS audit_checkpoints (
                tenant_id TEXT NOT NULL PRIMARY KEY,
                seq BIGINT NOT NULL,
                head_hash {blob} NOT NULL,
                signature {blob} NOT NULL,
                key_id TEXT NOT NULL,
                created_at_us BIGINT NOT NULL
            )"
        ))
        .await?;
        protect_tenant_tables(db, &AUDIT_TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS audit_checkpoints").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS audit_events").await?;
        Ok(())
    }
}
