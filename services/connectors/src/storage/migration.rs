//! The connectors service's migrations, in their own table (`seaql_migrations_connectors`), composed with every
//! other service's by the platform.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;
use switchboard_store::schema::{TenantTable, blob, protect_tenant_tables};

pub(super) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Connectors)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_connectors").into_iden()
    }
}

struct Connectors;

impl MigrationName for Connectors {
    fn name(&self) -> &str {
        "m20261130_000001_connectors"
    }
}

const ALL: &str = "SELECT, INSERT, UPDATE, DELETE";

/// Every table and what the tenant role may do to it.
const TABLES: [TenantTable<'static>; 8] = [
    TenantTable { name: "connector_connections", privileges: ALL, tenant_column: "tenant_id", force: true },
    // Read across tenants (as the owner) to route a webhook to its connection: not forced.
    TenantTable { name: "connector_accounts", privileges: ALL, tenant_column: "tenant_id", force: false },
    TenantTable { name: "connector_oauth_states", privileges: ALL, tenant_column: "tenant_id", force: true },
    TenantTable { name: "connector_records", privileges: ALL, tenant_column: "tenant_id", force: true },
    TenantTable { name: "connector_sync_cursors", privileges: ALL, tenant_column: "tenant_id", force: true },
    TenantTable { name: "connector_syncs", privileges: ALL, tenant_column: "tenant_id", force: true },
    TenantTable { name: "connector_webhook_events", privileges: ALL, tenant_column: "tenant_id", force: true },
    // Invocation results are evidence: the tenant role may add them, never change them.
    TenantTable {
        name: "connector_action_invocations",
        privileges: "SELECT, INSERT, DELETE",
        tenant_column: "tenant_id",
        force: true,
    },
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Connectors {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let blob = blob(db);
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS connector_connections (
                    tenant_id TEXT NOT NULL,
                    id TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    display_name TEXT NOT NULL,
                    account TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    error_code INTEGER NOT NULL,
                    error_message TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    creator TEXT NOT NULL,
                    auth_kind INTEGER NOT NULL,
                    secret_kek_id TEXT NOT NULL,
                    secret_key {blob} NOT NULL,
                    secret {blob} NOT NULL,
                    token_expires_at_us BIGINT,
                    credentials_version BIGINT NOT NULL,
                    created_at_us BIGINT NOT NULL,
                    updated_at_us BIGINT NOT NULL,
                    last_sync_at_us BIGINT,
                    deleted BOOLEAN NOT NULL,
                    PRIMARY KEY (tenant_id, id)
                )"
            ),
            "CREATE INDEX IF NOT EXISTS connector_connections_created
                ON connector_connections (tenant_id, created_at_us)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS connector_accounts (
                provider TEXT NOT NULL,
                account TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                PRIMARY KEY (provider, account, connection_id)
            )"
            .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS connector_oauth_states (
                    state_hash TEXT NOT NULL PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    redirect_uri TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    account TEXT NOT NULL,
                    display_name TEXT NOT NULL,
                    connection_id TEXT NOT NULL,
                    verifier_kek_id TEXT NOT NULL,
                    verifier_key {blob} NOT NULL,
                    verifier {blob} NOT NULL,
                    expires_at_us BIGINT NOT NULL,
                    used_at_us BIGINT
                )"
            ),
            "CREATE TABLE IF NOT EXISTS connector_records (
                tenant_id TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                external_id TEXT NOT NULL,
                provider TEXT NOT NULL,
                updated_at_us BIGINT NOT NULL,
                synced_at_us BIGINT NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (tenant_id, connection_id, kind, external_id)
            )"
            .to_owned(),
            "CREATE INDEX IF NOT EXISTS connector_records_kind ON connector_records (tenant_id, kind, updated_at_us)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS connector_sync_cursors (
                tenant_id TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                page_cursor TEXT NOT NULL,
                page_sync_id TEXT NOT NULL,
                page_since_us BIGINT NOT NULL,
                watermark_us BIGINT NOT NULL,
                pending_watermark_us BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, connection_id, kind)
            )"
            .to_owned(),
            "CREATE TABLE IF NOT EXISTS connector_syncs (
                tenant_id TEXT NOT NULL,
                id TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                provider TEXT NOT NULL,
                status INTEGER NOT NULL,
                record_kinds TEXT NOT NULL,
                full_sync BOOLEAN NOT NULL,
                pages BIGINT NOT NULL,
                records_fetched BIGINT NOT NULL,
                records_created BIGINT NOT NULL,
                records_updated BIGINT NOT NULL,
                records_deleted BIGINT NOT NULL,
                error_code INTEGER NOT NULL,
                error_message TEXT NOT NULL,
                actor TEXT NOT NULL,
                created_at_us BIGINT NOT NULL,
                started_at_us BIGINT,
                ended_at_us BIGINT,
                heartbeat_at_us BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, id)
            )"
            .to_owned(),
            "CREATE INDEX IF NOT EXISTS connector_syncs_connection
                ON connector_syncs (tenant_id, connection_id, created_at_us)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS connector_webhook_events (
                tenant_id TEXT NOT NULL,
                id TEXT NOT NULL,
                provider TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                provider_event_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                status INTEGER NOT NULL,
                error_message TEXT NOT NULL,
                payload TEXT NOT NULL,
                delivery_count INTEGER NOT NULL,
                received_at_us BIGINT NOT NULL,
                processed_at_us BIGINT,
                PRIMARY KEY (tenant_id, id)
            )"
            .to_owned(),
            "CREATE UNIQUE INDEX IF NOT EXISTS connector_webhook_events_dedupe
                ON connector_webhook_events (tenant_id, provider, connection_id, provider_event_id)"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS connector_action_invocations (
                tenant_id TEXT NOT NULL,
                action TEXT NOT NULL,
                idempotency_key TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                output TEXT NOT NULL,
                audit_event_id TEXT NOT NULL,
                created_at_us BIGINT NOT NULL,
                PRIMARY KEY (tenant_id, action, idempotency_key)
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
