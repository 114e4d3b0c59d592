//! The store's own suite, on SQLite and PostgreSQL: a table a service declares on top of the store (here `notes`,
//! with its own entity and migrator, as the connectors or the orchestrator would) is tenant-scoped by construction,
//! held to its tenant by row-level security on PostgreSQL, and migrated by composition; tenant locks serialize;
//! `TenantScope::all` reads every column type as sea-orm does (`typed`).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod notes {
    //! A service-owned table, declared outside `switchboard-store` the way services declare theirs.

    use sea_orm::entity::prelude::*;
    use sea_orm_migration::prelude::*;
    use switchboard_store::schema::{TenantTable, protect_tenant_tables};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "test_notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);

    pub struct Migrator;

    impl MigratorTrait for Migrator {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(CreateNotes), Box::new(crate::typed::CreateTyped)]
        }

        fn migration_table_name() -> DynIden {
            Alias::new("seaql_migrations_notes").into_iden()
        }
    }

    struct CreateNotes;

    impl MigrationName for CreateNotes {
        fn name(&self) -> &str {
            "m20261130_000001_notes"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for CreateNotes {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let db = manager.get_connection();
            db.execute_unprepared(
                "CREATE TABLE IF NOT EXISTS test_notes (tenant_id TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, \
                 PRIMARY KEY (tenant_id, id))",
            )
            .await?;
            let table = TenantTable {
                name: "test_notes",
                privileges: "SELECT, INSERT, UPDATE, DELETE",
                tenant_column: "tenant_id",
                force: true,
            };
            protect_tenant_tables(db, &[table]).await
        }

        async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
            Ok(())
        }
    }
}

mod typed {
    //! A table with a column of every type the store's direct SQLite reads decode, nullable and not.

    use sea_orm::entity::prelude::*;
    use sea_orm_migration::prelude::*;
    use switchboard_store::schema::{TenantTable, protect_tenant_tables};

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "test_typed")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub small: Option<i16>,
        pub big: i64,
        pub flag: bool,
        pub ratio: Option<f64>,
        pub label: Option<String>,
        pub data: Option<Vec<u8>>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    switchboard_store::tenant_owned!(TenantId);

    /// The same table with `label` read as JSON: a column type the direct reads leave to sqlx.
    pub mod as_json {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "test_typed")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub tenant_id: String,
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: i32,
            pub label: Option<Json>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}

        switchboard_store::tenant_owned!(TenantId);
    }

    /// Applied by `notes::Migrator`, beside the notes table.
    pub struct CreateTyped;

    impl MigrationName for CreateTyped {
        fn name(&self) -> &str {
            "m20261202_000001_typed"
        }
    }

    #[sea_orm_migration::async_trait::async_trait]
    impl MigrationTrait for CreateTyped {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let db = manager.get_connection();
            let bytes = if db.get_database_backend() == sea_orm::DbBackend::Postgres { "BYTEA" } else { "BLOB" };
            db.execute_unprepared(&format!(
                "CREATE TABLE IF NOT EXISTS test_typed (tenant_id TEXT NOT NULL, id INTEGER NOT NULL, \
                 small SMALLINT, big BIGINT NOT NULL, flag BOOLEAN NOT NULL, ratio DOUBLE PRECISION, label TEXT, \
                 data {bytes}, PRIMARY KEY (tenant_id, id))"
            ))
            .await?;
            let table = TenantTable {
                name: "test_typed",
                privileges: "SELECT, INSERT, UPDATE, DELETE",
                tenant_column: "tenant_id",
                force: true,
            };
            protect_tenant_tables(db, &[table]).await
        }

        async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
            Ok(())
        }
    }
}

mod suite {
    use std::time::Duration;

    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, Set};
    use switchboard_store::{Backend, TenantId};
    use switchboard_test_support::{TestDb, test_store};

    use crate::{notes, typed};

    fn note(tenant: &str, id: &str, body: &str) -> notes::ActiveModel {
        notes::ActiveModel { tenant_id: Set(tenant.into()), id: Set(id.into()), body: Set(body.into()) }
    }

    /// Rows written through a scope carry its tenant whatever the caller put there; reads, updates and deletes see
    /// only that tenant's rows; on PostgreSQL even a raw, unfiltered query in the scope does.
    pub async fn service_tables_are_tenant_scoped(db: TestDb) {
        let dir = tempfile::tempdir().unwrap();
        let test = test_store(db, dir.path()).await;
        let store = &test.store;
        store.migrate::<notes::Migrator>().await.unwrap();
        store.migrate::<notes::Migrator>().await.unwrap(); // composed and applied again: nothing to do
        let (a, b) = (TenantId::generate(), TenantId::generate());

        let scope = store.tenant(a).await.unwrap();
        // A repository bug writing another tenant's id: the scope writes its own instead.
        scope.insert([note(&b.to_string(), "1", "mine"), note("", "2", "also mine")]).await.unwrap();
        scope.commit().await.unwrap();
        let scope = store.tenant(b).await.unwrap();
        scope.insert([note(&b.to_string(), "1", "b's")]).await.unwrap();
        scope.commit().await.unwrap();

        let scope = store.tenant(a).await.unwrap();
        let mine = scope.select::<notes::Entity>().all(scope.connection()).await.unwrap();
        assert_eq!(mine.len(), 2);
        assert!(mine.iter().all(|n| n.tenant_id == a.to_string()));
        scope
            .update_many::<notes::Entity>()
            .col_expr(notes::Column::Body, Expr::value("edited"))
            .filter(notes::Column::Id.eq("1"))
            .exec(scope.connection())
            .await
            .unwrap();
        let deleted = scope.delete_many::<notes::Entity>().exec(scope.connection()).await.unwrap();
        assert_eq!(deleted.rows_affected, 2, "only a's rows");
        let unfiltered = scope.unfiltered_row_count("test_notes").await.unwrap();
        if store.backend() == Backend::Postgres {
            assert_eq!(unfiltered, 0, "row-level security hides b's row even from an unfiltered query");
        } else {
            assert_eq!(unfiltered, 1, "SQLite has no RLS: isolation rests on the scope's filters");
        }
        scope.commit().await.unwrap();

        let scope = store.tenant(b).await.unwrap();
        let theirs = scope.select::<notes::Entity>().all(scope.connection()).await.unwrap();
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0].body, "b's", "a's update touched nothing of b's");
        drop(scope);
        test.cleanup().await;
    }

    /// A read scope sees its tenant's committed rows only (RLS too on PostgreSQL), never waits for a writer that
    /// holds its transaction open, and cannot write.
    pub async fn read_scopes_read_only_their_tenant(db: TestDb) {
        let dir = tempfile::tempdir().unwrap();
        let test = test_store(db, dir.path()).await;
        let store = &test.store;
        store.migrate::<notes::Migrator>().await.unwrap();
        let (a, b) = (TenantId::generate(), TenantId::generate());
        for (tenant, body) in [(a, "a's"), (b, "b's")] {
            let scope = store.tenant(tenant).await.unwrap();
            scope.insert([note("", "1", body)]).await.unwrap();
            scope.commit().await.unwrap();
        }

        // A writer holds its transaction (and on SQLite the write lock) with an uncommitted row.
        let writer = store.tenant(a).await.unwrap();
        writer.insert([note("", "2", "uncommitted")]).await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), store.tenant_read(a)).await.expect("no wait").unwrap();
        let seen = read.select::<notes::Entity>().all(read.connection()).await.unwrap();
        assert_eq!(seen.len(), 1, "only the committed row: {seen:?}");
        assert_eq!(seen[0].body, "a's");
        if store.backend() == Backend::Postgres {
            assert_eq!(read.unfiltered_row_count("test_notes").await.unwrap(), 1, "RLS holds in read scopes");
        }
        let write = read.insert([note("", "3", "through a read scope")]).await;
        assert!(write.is_err(), "a read scope cannot write");
        drop(read);
        writer.commit().await.unwrap();

        let read = store.tenant_read(a).await.unwrap();
        assert_eq!(read.select::<notes::Entity>().all(read.connection()).await.unwrap().len(), 2, "now committed");
        drop(read);
        test.cleanup().await;
    }

    /// Through `TenantScope::all`: on SQLite's read scopes, on the calling thread (the other tests read through sqlx).
    async fn notes_seen(scope: &switchboard_store::TenantScope) -> usize {
        scope.all(scope.select::<notes::Entity>()).await.unwrap().len()
    }

    /// Each statement of a read scope sees what was committed when it started (read committed, on both backends),
    /// and scope after scope, more of them than SQLite has readers, hands its connection back fit for the next:
    /// after a failed statement, after none at all, and while other scopes hold theirs.
    pub async fn read_scopes_see_each_commit_and_hand_back_their_connections(db: TestDb) {
        let dir = tempfile::tempdir().unwrap();
        let test = test_store(db, dir.path()).await;
        let store = &test.store;
        store.migrate::<notes::Migrator>().await.unwrap();
        let tenant = TenantId::generate();
        let write = |id: String| async move {
            let scope = store.tenant(tenant).await.unwrap();
            scope.insert([note("", &id, "x")]).await.unwrap();
            scope.commit().await.unwrap();
        };

        let read = store.tenant_read(tenant).await.unwrap();
        assert_eq!(notes_seen(&read).await, 0);
        write("0".into()).await;
        assert_eq!(notes_seen(&read).await, 1, "the second statement sees the commit made after the first");
        drop(read);

        let held: Vec<_> = held_scopes(store, tenant, 3).await;
        for i in 1..=20 {
            let read = store.tenant_read(tenant).await.unwrap();
            assert_eq!(notes_seen(&read).await, i, "scope {i}");
            if i % 3 == 0 {
                let failed = read.connection().execute_unprepared("SELEC nonsense").await;
                assert!(failed.is_err(), "not SQL");
            }
            drop(read);
            drop(store.tenant_read(tenant).await.unwrap()); // ran nothing
            write(i.to_string()).await;
        }
        for scope in &held {
            assert_eq!(notes_seen(scope).await, 21, "held scopes read on");
        }
        drop(held);
        test.cleanup().await;
    }

    async fn held_scopes(
        store: &switchboard_store::Store,
        tenant: TenantId,
        n: usize,
    ) -> Vec<switchboard_store::TenantScope> {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(store.tenant_read(tenant).await.unwrap());
        }
        held
    }

    fn typed_rows(tenant: &str) -> Vec<typed::Model> {
        let row = |id, small, big, flag, ratio, label: Option<&str>, data: Option<&[u8]>| typed::Model {
            tenant_id: tenant.to_owned(),
            id,
            small,
            big,
            flag,
            ratio,
            label: label.map(str::to_owned),
            data: data.map(<[u8]>::to_vec),
        };
        vec![
            row(-7, Some(i16::MIN), i64::MAX, true, Some(0.1), Some("zürich \"quoted\" ✓"), Some(&[0, 255, 10])),
            row(1, None, i64::MIN, false, None, None, None),
            row(i32::MAX, Some(i16::MAX), 0, true, Some(-2.0), Some(""), Some(&[])),
        ]
    }

    /// `TenantScope::all` reads what sea-orm's own `all` reads, value for value, in every kind of scope: on SQLite's
    /// read scopes it decodes rows itself, so every column type it maps is checked here, NULL or not, at the ends of
    /// its range, with filters binding each type; an entity with a type it does not map reads through sqlx.
    pub async fn scope_reads_match_sea_orm(db: TestDb) {
        use sea_orm::{QueryOrder, QuerySelect};

        let dir = tempfile::tempdir().unwrap();
        let test = test_store(db, dir.path()).await;
        let store = &test.store;
        store.migrate::<notes::Migrator>().await.unwrap();
        let (a, b) = (TenantId::generate(), TenantId::generate());
        for tenant in [a, b] {
            let scope = store.tenant(tenant).await.unwrap();
            let rows = typed_rows(&tenant.to_string()).into_iter().map(typed::ActiveModel::from);
            scope.insert(rows).await.unwrap();
            scope.commit().await.unwrap();
        }
        let expected = typed_rows(&a.to_string());
        let by_id = |ids: &[i32]| expected.iter().filter(|r| ids.contains(&r.id)).cloned().collect::<Vec<_>>();

        for read in [store.tenant_read(a).await.unwrap(), store.tenant(a).await.unwrap()] {
            let all = || read.select::<typed::Entity>().order_by_asc(typed::Column::Id);
            let direct = read.all(all()).await.unwrap();
            assert_eq!(direct, expected);
            assert_eq!(direct, all().all(read.connection()).await.unwrap(), "as sea-orm reads it");
            let filtered = [
                (all().filter(typed::Column::Flag.eq(true)), vec![-7, i32::MAX]),
                (all().filter(typed::Column::Big.eq(i64::MIN)), vec![1]),
                (all().filter(typed::Column::Small.lt(0i16)), vec![-7]),
                (all().filter(typed::Column::Label.eq("")), vec![i32::MAX]),
                (all().filter(typed::Column::Data.eq(vec![0u8, 255, 10])), vec![-7]),
                (all().filter(typed::Column::Ratio.lt(0.0)), vec![i32::MAX]),
                (all().filter(typed::Column::Label.is_null()), vec![1]),
                (all().filter(typed::Column::Id.gt(0)).limit(1), vec![1]),
            ];
            for (select, ids) in filtered {
                assert_eq!(read.all(select).await.unwrap(), by_id(&ids), "rows {ids:?}");
            }
            let json = read.all(read.select::<typed::as_json::Entity>().filter(typed::Column::Id.eq(-7))).await;
            assert!(json.is_err(), "a label that is not JSON fails as it does through sea-orm: {json:?}");
            let json = read.select::<typed::as_json::Entity>().filter(typed::Column::Id.eq(1));
            assert_eq!(read.all(json).await.unwrap()[0].label, None, "read through sqlx");
        }
        test.cleanup().await;
    }

    /// A tenant lock holds until its transaction ends, across connections: a second taker waits.
    pub async fn tenant_locks_serialize(db: TestDb) {
        let dir = tempfile::tempdir().unwrap();
        let test = test_store(db, dir.path()).await;
        let tenant = TenantId::generate();
        let first = test.store.tenant(tenant).await.unwrap();
        first.lock("owners").await.unwrap();
        let store = test.store.clone();
        let second = tokio::spawn(async move {
            let scope = store.tenant(tenant).await.unwrap();
            scope.lock("owners").await.unwrap();
            scope.commit().await.unwrap();
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the second taker waits while the first holds the lock");
        first.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), second).await.unwrap().unwrap();
        // Another tenant's lock of the same name is another lock.
        let other = test.store.tenant(TenantId::generate()).await.unwrap();
        if test.store.backend() == Backend::Postgres {
            let held = test.store.tenant(tenant).await.unwrap();
            held.lock("owners").await.unwrap();
            tokio::time::timeout(Duration::from_secs(2), other.lock("owners")).await.unwrap().unwrap();
            held.commit().await.unwrap();
        }
        drop(other);
        test.cleanup().await;
    }
}

switchboard_test_support::on_both_databases!(
    service_tables_are_tenant_scoped,
    read_scopes_read_only_their_tenant,
    read_scopes_see_each_commit_and_hand_back_their_connections,
    scope_reads_match_sea_orm,
    tenant_locks_serialize
);

/// Two processes on one SQLite file (`serve audit` and `serve gateway` beside each other): a scope that reads, then
/// writes after the other process committed, still commits. A deferred transaction would fail there with
/// SQLITE_BUSY_SNAPSHOT; the store's scopes take the write lock up front, so the other writer waits instead.
#[tokio::test]
async fn two_processes_share_a_sqlite_file() {
    use std::time::Duration;

    use sea_orm::Set;
    use switchboard_store::{Store, StoreConfig, TenantId};

    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::sqlite_in(dir.path());
    let (first, second) = (Store::open(&config).await.unwrap(), Store::open(&config).await.unwrap());
    first.migrate::<notes::Migrator>().await.unwrap();
    let tenant = TenantId::generate();
    let note =
        |id: &str| notes::ActiveModel { tenant_id: Set(String::new()), id: Set(id.into()), body: Set("b".into()) };

    let reader = first.tenant(tenant).await.unwrap();
    let seen = reader.select::<notes::Entity>().all(reader.connection()).await.unwrap();
    assert!(seen.is_empty());
    let other = tokio::spawn(async move {
        let scope = second.tenant(tenant).await.unwrap();
        scope.insert([note("from the other process")]).await.unwrap();
        scope.commit().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    reader.insert([note("after reading")]).await.expect("no SQLITE_BUSY_SNAPSHOT");
    reader.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), other).await.unwrap().unwrap();

    let scope = first.tenant(tenant).await.unwrap();
    assert_eq!(scope.select::<notes::Entity>().all(scope.connection()).await.unwrap().len(), 2);
}

/// The SQLite this build links plans a statement once, whatever values are bound to it (`.cargo/config.toml`):
/// otherwise every query with a bound `LIMIT` is parsed and planned again on each execution, statement cache or
/// not. Fails when the crate is built without the repository's cargo configuration.
#[tokio::test]
async fn sqlite_keeps_its_query_plans_across_bindings() {
    use sea_orm::{ConnectionTrait, Statement};
    use switchboard_store::{Store, StoreConfig, TenantId};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::sqlite_in(dir.path())).await.unwrap();
    let sql = "SELECT sqlite_compileoption_used('ENABLE_QPSG') AS qpsg";
    let statement = || Statement::from_string(sea_orm::DbBackend::Sqlite, sql);
    let writer = store.global().query_one_raw(statement()).await.unwrap().unwrap();
    assert_eq!(writer.try_get::<i32>("", "qpsg").unwrap(), 1, "SQLite built without SQLITE_ENABLE_QPSG");
    let scope = store.tenant_read(TenantId::generate()).await.unwrap();
    let reader = scope.connection().query_one_raw(statement()).await.unwrap().unwrap();
    assert_eq!(reader.try_get::<i32>("", "qpsg").unwrap(), 1);
}
