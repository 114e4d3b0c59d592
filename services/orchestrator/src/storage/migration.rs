//! The orchestrator's migrations, in their own table (`seaql_migrations_orchestrator`), composed with every other
//! service's by the platform.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;
use switchboard_store::schema::{TenantTable, blob, protect_tenant_tables};

pub(super) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Orchestrator), Box::new(Knowledge), Box::new(DriverLeases), Box::new(TokenReservations)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_orchestrator").into_iden()
    }
}

struct Orchestrator;

impl MigrationName for Orchestrator {
    fn name(&self) -> &str {
        "m20261130_000001_orchestrator"
    }
}

const ALL: &str = "SELECT, INSERT, UPDATE, DELETE";

/// Every table and what the tenant role may do to it.
const TABLES: [TenantTable<'static>; 6] = [
    TenantTable { name: "orchestrator_runs", privileges: ALL, tenant_column: "tenant_id", force: true },
    TenantTable { name: "orchestrator_steps", privileges: ALL, tenant_column: "tenant_id", force: true },
    // The event log is what re-attaching clients replay: appended, never changed.
    TenantTable {
        name: "orchestrator_run_events",
        privileges: "SELECT, INSERT, DELETE",
        tenant_column: "tenant_id",
        force: true,
    },
    TenantTable { name: "orchestrator_settings", privileges: ALL, tenant_column: "tenant_id", force: true },
    TenantTable { name: "orchestrator_token_usage", privileges: ALL, tenant_column: "tenant_id", force: true },
    // Read across tenants (as the owner) at start-up to resume unfinished runs: not forced.
    TenantTable { name: "orchestrator_active_runs", privileges: ALL, tenant_column: "tenant_id", force: false },
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Orchestrator {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let blob = blob(db);
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS orchestrator_runs (
                    tenant_id TEXT NOT NULL,
                    id TEXT NOT NULL,
                    question TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    intent TEXT NOT NULL,
                    model TEXT NOT NULL,
                    creator TEXT NOT NULL,
                    creator_role TEXT NOT NULL,
                    request_id TEXT NOT NULL,
                    allowed_connections TEXT NOT NULL,
                    previous_run TEXT NOT NULL,
                    plan_summary TEXT,
                    answer {blob},
                    error_code INTEGER NOT NULL,
                    error_message TEXT NOT NULL,
                    last_sequence BIGINT NOT NULL,
                    created_at_us BIGINT NOT NULL,
                    updated_at_us BIGINT NOT NULL,
                    ended_at_us BIGINT,
                    PRIMARY KEY (tenant_id, id)
                )"
            ),
            "CREATE INDEX IF NOT EXISTS orchestrator_runs_created
                ON orchestrator_runs (tenant_id, created_at_us)"
                .to_owned(),
            "CREATE INDEX IF NOT EXISTS orchestrator_runs_status ON orchestrator_runs (status)".to_owned(),
            "CREATE TABLE IF NOT EXISTS orchestrator_steps (
                tenant_id TEXT NOT NULL,
                run_id TEXT NOT NULL,
                id TEXT NOT NULL,
                position INTEGER NOT NULL,
                description TEXT NOT NULL,
                tool TEXT NOT NULL,
                connection TEXT NOT NULL,
                input_template TEXT NOT NULL,
                input TEXT,
                depends_on TEXT NOT NULL,
                needs_approval BOOLEAN NOT NULL,
                idempotency_key TEXT NOT NULL,
                status INTEGER NOT NULL,
                output TEXT,
                error_code INTEGER NOT NULL,
                error_message TEXT NOT NULL,
                audit_event_id TEXT NOT NULL,
                approved BOOLEAN NOT NULL,
                reviewer TEXT NOT NULL,
                review_comment TEXT NOT NULL,
                reviewed_at_us BIGINT,
                started_at_us BIGINT,
                ended_at_us BIGINT,
                PRIMARY KEY (tenant_id, run_id, id)
            )"
            .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS orchestrator_run_events (
                    tenant_id TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    sequence BIGINT NOT NULL,
                    event {blob} NOT NULL,
                    created_at_us BIGINT NOT NULL,
                    PRIMARY KEY (tenant_id, run_id, sequence)
                )"
            ),
            "CREATE TABLE IF NOT EXISTS orchestrator_settings (
                tenant_id TEXT NOT NULL PRIMARY KEY,
                settings TEXT NOT NULL,
                updated_at_us BIGINT NOT NULL
            )"
            .to_owned(),
            "CREATE TABLE IF NOT EXISTS orchestrator_active_runs (
                tenant_id TEXT NOT NULL,
                run_id TEXT NOT NULL,
                PRIMARY KEY (tenant_id, run_id)
            )"
            .to_owned(),
            "CREATE TABLE IF NOT EXISTS orchestrator_token_usage (
                tenant_id TEXT NOT NULL,
                month TEXT NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, month)
            )"
            .to_owned(),
        ];
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        protect_tenant_tables(db, &TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES.iter().rev() {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {}", table.name)).await?;
        }
        Ok(())
    }
}

/// The knowledge base: documents and the text of their chunks (their vectors live in the vector store).
struct Knowledge;

impl MigrationName for Knowledge {
    fn name(&self) -> &str {
        "m20261130_000002_knowledge"
    }
}

const KNOWLEDGE_TABLES: [TenantTable<'static>; 2] = [
    TenantTable { name: "orchestrator_documents", privileges: ALL, tenant_column: "tenant_id", force: true },
    TenantTable { name: "orchestrator_document_chunks", privileges: ALL, tenant_column: "tenant_id", force: true },
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Knowledge {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = [
            "CREATE TABLE IF NOT EXISTS orchestrator_documents (
                tenant_id TEXT NOT NULL,
                id TEXT NOT NULL,
                title TEXT NOT NULL,
                media_type TEXT NOT NULL,
                size_bytes BIGINT NOT NULL,
                chunk_count INTEGER NOT NULL,
                embedding_model TEXT NOT NULL,
                creator TEXT NOT NULL,
                created_at_us BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, id)
            )",
            "CREATE INDEX IF NOT EXISTS orchestrator_documents_created
                ON orchestrator_documents (tenant_id, created_at_us)",
            "CREATE TABLE IF NOT EXISTS orchestrator_document_chunks (
                tenant_id TEXT NOT NULL,
                document_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                heading TEXT NOT NULL,
                text TEXT NOT NULL,
                PRIMARY KEY (tenant_id, document_id, position)
            )",
        ];
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        protect_tenant_tables(db, &KNOWLEDGE_TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in KNOWLEDGE_TABLES.iter().rev() {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {}", table.name)).await?;
        }
        Ok(())
    }
}

/// Who drives each unfinished run: the replica holding its lease, until when. A run whose lease lapsed (its replica
/// died) or was released (its replica stopped) is adopted by the next replica that looks.
struct DriverLeases;

impl MigrationName for DriverLeases {
    fn name(&self) -> &str {
        "m20261201_000003_driver_leases"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for DriverLeases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Runs left by a version without leases have none: the first replica to look adopts them.
        for statement in [
            "ALTER TABLE orchestrator_active_runs ADD COLUMN driver TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE orchestrator_active_runs ADD COLUMN lease_until_us BIGINT NOT NULL DEFAULT 0",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for column in ["driver", "lease_until_us"] {
            db.execute_unprepared(&format!("ALTER TABLE orchestrator_active_runs DROP COLUMN {column}")).await?;
        }
        Ok(())
    }
}

/// Tokens held by model calls in flight (see `usage::reserve`).
struct TokenReservations;

impl MigrationName for TokenReservations {
    fn name(&self) -> &str {
        "m20261202_000004_token_reservations"
    }
}

const RESERVATION_TABLES: [TenantTable<'static>; 1] =
    [TenantTable { name: "orchestrator_token_reservations", privileges: ALL, tenant_column: "tenant_id", force: true }];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for TokenReservations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS orchestrator_token_reservations (
                tenant_id TEXT NOT NULL,
                id TEXT NOT NULL,
                month TEXT NOT NULL,
                tokens BIGINT NOT NULL,
                expires_at_us BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, id)
            )",
        )
        .await?;
        protect_tenant_tables(db, &RESERVATION_TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS orchestrator_token_reservations").await?;
        Ok(())
    }
}
