//! What a service needs to own tables of its own on top of this crate: the tenant role and row-level-security
//! helpers for its migrations, and [`TenantOwned`] for its entities, so that its repositories reach rows only through
//! a [`crate::TenantScope`] (see [`crate::TenantScope::select`]).
//!
//! A service declares its tables in its own crate: entities that implement [`TenantOwned`], a sea-orm-migration
//! `MigratorTrait` with a migrations table of its own (`seaql_migrations_<service>`), and repositories over the scope.
//! The binary applies each service's migrator with [`crate::Store::migrate`]; this crate never learns of them.

use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

/// The role tenant transactions switch to on PostgreSQL: row-level security applies to it.
pub const TENANT_ROLE: &str = "switchboard_tenant";

/// An entity whose rows each belong to one tenant.
pub trait TenantOwned: EntityTrait {
    /// The column holding the tenant id (the canonical UUID text).
    fn tenant_column() -> Self::Column;
}

/// Declares the sea-orm entity of the enclosing module tenant-owned, by its column holding the tenant id:
/// `switchboard_store::tenant_owned!(TenantId);` beside the entity's `Model`.
#[macro_export]
macro_rules! tenant_owned {
    ($column:ident) => {
        impl $crate::TenantOwned for Entity {
            fn tenant_column() -> Column {
                Column::$column
            }
        }
    };
}

/// Creates the tenant role (once per cluster) and lets the connecting user switch to it, on PostgreSQL; nothing on
/// SQLite. Safe to run from every service's migrations.
pub async fn create_tenant_role<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
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

/// One table of tenant rows, as the second wall sees it.
#[derive(Debug, Clone, Copy)]
pub struct TenantTable<'a> {
    /// The table.
    pub name: &'a str,
    /// What the tenant role may do to it (`"SELECT, INSERT"` for append-only rows).
    pub privileges: &'a str,
    /// The column holding the tenant id.
    pub tenant_column: &'a str,
    /// Whether the policy binds the table's owner too. True for tenant data; false for a table the platform also
    /// reads across tenants as the owner (the tenant registry, found by slug at login).
    pub force: bool,
}

/// The second wall on PostgreSQL: grants the tenant role `privileges` on each table and lets it see only rows whose
/// tenant column equals the transaction's `switchboard.tenant_id` setting. Nothing on SQLite.
pub async fn protect_tenant_tables<C: ConnectionTrait>(db: &C, tables: &[TenantTable<'_>]) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    create_tenant_role(db).await?;
    for table in tables {
        let TenantTable { name, privileges, tenant_column, force } = table;
        let force = if *force { "FORCE" } else { "NO FORCE" };
        db.execute_unprepared(&format!(
            "GRANT {privileges} ON {name} TO {TENANT_ROLE};
             ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {name} {force} ROW LEVEL SECURITY;
             DROP POLICY IF EXISTS tenant_isolation ON {name};
             CREATE POLICY tenant_isolation ON {name}
                USING ({tenant_column} = current_setting('switchboard.tenant_id', true))
                WITH CHECK ({tenant_column} = current_setting('switchboard.tenant_id', true));"
        ))
        .await?;
    }
    Ok(())
}

/// The type of binary columns on this backend (`BYTEA` or `BLOB`).
pub fn blob<C: ConnectionTrait>(db: &C) -> &'static str {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "BYTEA",
        _ => "BLOB",
    }
}
