//! Schema migrations, applied at start-up by [`crate::Store::open`]. sea-orm-migration records what ran, so
//! applying them again is a no-op; each statement is also written to be safe if re-run by hand.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

/// The role tenant transactions switch to on PostgreSQL: row-level security applies to it.
pub(crate) const TENANT_ROLE: &str = "switchboard_tenant";

pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(AuditLog), Box::new(Identity), Box::new(Events)]
    }
}

/// The audit log: hash-chained events and the latest signed checkpoint per tenant.
struct AuditLog;

impl MigrationName for AuditLog {
    fn name(&self) -> &str {
        "m20261125_000001_audit_log"
    }
}

/// Tenant tables of the audit log and what the tenant role may do to them: append-only even to the application.
const AUDIT_TABLES: [(&str, &str); 2] =
    [("audit_events", "SELECT, INSERT"), ("audit_checkpoints", "SELECT, INSERT, UPDATE")];

/// Tenant tables of the identity migration.
const IDENTITY_TABLES: [(&str, &str); 2] =
    [("users", "SELECT, INSERT, UPDATE"), ("refresh_tokens", "SELECT, INSERT, UPDATE")];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for AuditLog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let blob = match db.get_database_backend() {
            DbBackend::Postgres => "BYTEA",
            _ => "BLOB",
        };
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
        if db.get_database_backend() == DbBackend::Postgres {
            create_tenant_role(db).await?;
            enable_row_level_security(db, &AUDIT_TABLES).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS audit_checkpoints").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS audit_events").await?;
        Ok(())
    }
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
        let (blob, boolean) = match db.get_database_backend() {
            DbBackend::Postgres => ("BYTEA", "BOOLEAN"),
            _ => ("BLOB", "BOOLEAN"),
        };
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
        if db.get_database_backend() == DbBackend::Postgres {
            create_tenant_role(db).await?;
            enable_row_level_security(db, &IDENTITY_TABLES).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["refresh_tokens", "users", "tenants"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        Ok(())
    }
}

/// The transactional outbox, the embedded event log with its consumer offsets, and leases.
struct Events;

impl MigrationName for Events {
    fn name(&self) -> &str {
        "m20261125_000003_events"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Events {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Offsets must never be reused after old rows are pruned: AUTOINCREMENT on SQLite, an identity on PostgreSQL.
        let (blob, serial) = match db.get_database_backend() {
            DbBackend::Postgres => ("BYTEA", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
            _ => ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        };
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS outbox (
                id {serial},
                tenant_id TEXT NOT NULL,
                event_id TEXT NOT NULL,
                topic TEXT NOT NULL,
                event_key TEXT NOT NULL,
                envelope {blob} NOT NULL,
                created_at_us BIGINT NOT NULL,
                sent_at_us BIGINT
            )"
        ))
        .await?;
        db.execute_unprepared("CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE sent_at_us IS NULL")
            .await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS event_log (
                id {serial},
                topic TEXT NOT NULL,
                event_key TEXT NOT NULL,
                payload {blob} NOT NULL,
                headers TEXT NOT NULL,
                appended_at_us BIGINT NOT NULL
            )"
        ))
        .await?;
        db.execute_unprepared("CREATE INDEX IF NOT EXISTS event_log_topic ON event_log (topic, id)").await?;
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS event_offsets (
                consumer_group TEXT NOT NULL,
                topic TEXT NOT NULL,
                committed BIGINT NOT NULL,
                PRIMARY KEY (consumer_group, topic)
            )",
        )
        .await?;
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS leases (
                name TEXT NOT NULL PRIMARY KEY,
                holder TEXT NOT NULL,
                expires_at_us BIGINT NOT NULL
            )",
        )
        .await?;
        if db.get_database_backend() == DbBackend::Postgres {
            create_tenant_role(db).await?;
            // Tenants may only add to the outbox. Not FORCEd: the relay reads every tenant's rows as the owner.
            db.execute_unprepared(&format!(
                "GRANT INSERT ON outbox TO {TENANT_ROLE};
                 DO $$ BEGIN
                    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO {TENANT_ROLE}', pg_get_serial_sequence('outbox', 'id'));
                 END $$;
                 ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
                 DROP POLICY IF EXISTS tenant_isolation ON outbox;
                 CREATE POLICY tenant_isolation ON outbox
                    USING (tenant_id = current_setting('switchboard.tenant_id', true))
                    WITH CHECK (tenant_id = current_setting('switchboard.tenant_id', true));"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in ["leases", "event_offsets", "event_log", "outbox"] {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        Ok(())
    }
}

/// The role tenant transactions run as on PostgreSQL, granted to the connecting user so it can `SET ROLE`.
async fn create_tenant_role(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    // Roles are cluster-wide: another database (or a concurrent migration) may have created it already.
    db.execute_unprepared(&format!(
        "DO $$ BEGIN
            CREATE ROLE {TENANT_ROLE} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "DO $$ BEGIN
            EXECUTE format('GRANT {TENANT_ROLE} TO %I', current_user);
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO {TENANT_ROLE}', current_schema());
        EXCEPTION WHEN others THEN
            RAISE WARNING 'could not grant {TENANT_ROLE}: %', SQLERRM;
        END $$"
    ))
    .await?;
    Ok(())
}

/// The second wall on PostgreSQL: tenant transactions run as [`TENANT_ROLE`], which sees only rows whose
/// `tenant_id` equals the transaction's `switchboard.tenant_id` setting. FORCE makes it hold for the owner too.
async fn enable_row_level_security(db: &SchemaManagerConnection<'_>, tables: &[(&str, &str)]) -> Result<(), DbErr> {
    for (table, privileges) in tables {
        db.execute_unprepared(&format!(
            "GRANT {privileges} ON {table} TO {TENANT_ROLE};
             ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
             DROP POLICY IF EXISTS tenant_isolation ON {table};
             CREATE POLICY tenant_isolation ON {table}
                USING (tenant_id = current_setting('switchboard.tenant_id', true))
                WITH CHECK (tenant_id = current_setting('switchboard.tenant_id', true));"
        ))
        .await?;
    }
    Ok(())
}
