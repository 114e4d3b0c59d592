//! The connectors service's tables, which it owns, and their repository over a [`TenantScope`]: every query here
//! is filtered on the scope's tenant (and on PostgreSQL held to it by row-level security). The one read across
//! tenants is [`accounts_for`], which routes a verified webhook to the connections of the account it names.

mod entity;
mod migration;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use switchboard_store::{Store, StoreError, TenantScope};
use switchboard_types::{ConnectionId, SyncId, TenantId};

pub(crate) use self::entity::connection::Model as ConnectionRow;
pub(crate) use self::entity::oauth_state::Model as OAuthStateRow;
pub(crate) use self::entity::record::Model as RecordRow;
pub(crate) use self::entity::sync::Model as SyncRow;
pub(crate) use self::entity::sync_cursor::Model as CursorRow;
pub(crate) use self::entity::webhook_event::Model as WebhookEventRow;
use self::entity::{account, connection, invocation, oauth_state, record, sync, sync_cursor, webhook_event};

/// Creates (or brings up to date) the connectors service's tables.
pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate::<migration::Migrator>().await
}

/// The connections (tenant, connection) whose provider account is `account`: a read across tenants, for routing
/// a verified webhook.
pub(crate) async fn accounts_for(
    store: &Store,
    provider: &str,
    account: &str,
) -> Result<Vec<(TenantId, ConnectionId)>, StoreError> {
    let rows = account::Entity::find()
        .filter(account::Column::Provider.eq(provider))
        .filter(account::Column::Account.eq(account))
        .all(store.global())
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.tenant_id.parse().ok()?, row.connection_id.parse().ok()?)))
        .collect())
}

/// Every tenant with a connection: a read across tenants, for KEK rotation.
pub(crate) async fn tenants_with_connections(store: &Store) -> Result<Vec<TenantId>, StoreError> {
    let rows: Vec<String> = account::Entity::find()
        .select_only()
        .column(account::Column::TenantId)
        .distinct()
        .into_tuple()
        .all(store.global())
        .await?;
    Ok(rows.into_iter().filter_map(|t| t.parse().ok()).collect())
}

/// The rows after `after` in a listing ordered newest first by (`time` desc, `id` desc): the next page.
fn newest_first_after<C: ColumnTrait>(time: C, id: C, after: (i64, String)) -> sea_orm::Condition {
    let (time_value, id_value) = after;
    sea_orm::Condition::any()
        .add(time.lt(time_value))
        .add(sea_orm::Condition::all().add(time.eq(time_value)).add(id.lt(id_value)))
}

/// Counts of what a page upsert did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Upserted {
    pub(crate) created: i64,
    pub(crate) updated: i64,
}

/// Sync progress to add to a sync's counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Progress {
    pub(crate) pages: i64,
    pub(crate) fetched: i64,
    pub(crate) created: i64,
    pub(crate) updated: i64,
}

/// The repository: `Repo::new(&scope)`.
#[derive(Debug)]
pub(crate) struct Repo<'a> {
    scope: &'a TenantScope,
}

impl<'a> Repo<'a> {
    pub(crate) fn new(scope: &'a TenantScope) -> Self {
        Self { scope }
    }

    fn db(&self) -> &switchboard_store::ScopeConnection {
        self.scope.connection()
    }

    // === connections ===

    pub(crate) async fn insert_connection(&self, row: ConnectionRow) -> Result<(), StoreError> {
        let mapping = account::ActiveModel {
            provider: Set(row.provider.clone()),
            account: Set(row.account.clone()),
            connection_id: Set(row.id.clone()),
            tenant_id: Set(String::new()),
        };
        let row: connection::ActiveModel = row.into();
        self.scope.insert([row]).await?;
        self.scope.insert([mapping]).await
    }

    pub(crate) async fn connection(&self, id: ConnectionId) -> Result<Option<ConnectionRow>, StoreError> {
        Ok(self
            .scope
            .select::<connection::Entity>()
            .filter(connection::Column::Id.eq(id.to_string()))
            .filter(connection::Column::Deleted.eq(false))
            .one(self.db())
            .await?)
    }

    /// Newest first, after `(created_at_us, id)` of the previous page.
    pub(crate) async fn connections(
        &self,
        provider: Option<&str>,
        status: Option<i32>,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<ConnectionRow>, StoreError> {
        use connection::Column as C;
        let mut query = self.scope.select::<connection::Entity>().filter(C::Deleted.eq(false));
        if let Some(provider) = provider {
            query = query.filter(C::Provider.eq(provider));
        }
        if let Some(status) = status {
            query = query.filter(C::Status.eq(status));
        }
        if let Some(after) = after {
            query = query.filter(newest_first_after(C::CreatedAtUs, C::Id, after));
        }
        Ok(query.order_by_desc(C::CreatedAtUs).order_by_desc(C::Id).limit(limit).all(self.db()).await?)
    }

    /// Replaces the connection's credentials if they are still at `version`; false when another writer changed
    /// them first.
    pub(crate) async fn replace_credentials(
        &self,
        id: ConnectionId,
        version: i64,
        sealed: &crate::vault::Sealed,
        expires_at_us: Option<i64>,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        use connection::Column as C;
        let result = self
            .scope
            .update_many::<connection::Entity>()
            .col_expr(C::SecretKekId, Expr::value(sealed.kek_id.clone()))
            .col_expr(C::SecretKey, Expr::value(sealed.wrapped_key.clone()))
            .col_expr(C::Secret, Expr::value(sealed.ciphertext.clone()))
            .col_expr(C::TokenExpiresAtUs, Expr::value(expires_at_us))
            .col_expr(C::CredentialsVersion, Expr::value(version + 1))
            .col_expr(C::Status, Expr::value(switchboard_proto::connectors::v1::ConnectionStatus::Active as i32))
            .col_expr(C::ErrorCode, Expr::value(0))
            .col_expr(C::ErrorMessage, Expr::value(String::new()))
            .col_expr(C::UpdatedAtUs, Expr::value(now_us))
            .filter(C::Id.eq(id.to_string()))
            .filter(C::CredentialsVersion.eq(version))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Re-wraps nothing but the data key of a connection's credentials (KEK rotation).
    pub(crate) async fn rewrap_credentials(&self, id: &str, sealed: &crate::vault::Sealed) -> Result<(), StoreError> {
        use connection::Column as C;
        self.scope
            .update_many::<connection::Entity>()
            .col_expr(C::SecretKekId, Expr::value(sealed.kek_id.clone()))
            .col_expr(C::SecretKey, Expr::value(sealed.wrapped_key.clone()))
            .filter(C::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Every connection row, deleted or not (KEK rotation).
    pub(crate) async fn all_connections(&self) -> Result<Vec<ConnectionRow>, StoreError> {
        Ok(self.scope.select::<connection::Entity>().all(self.db()).await?)
    }

    pub(crate) async fn set_status(
        &self,
        id: ConnectionId,
        status: i32,
        error_code: i32,
        error_message: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        use connection::Column as C;
        self.scope
            .update_many::<connection::Entity>()
            .col_expr(C::Status, Expr::value(status))
            .col_expr(C::ErrorCode, Expr::value(error_code))
            .col_expr(C::ErrorMessage, Expr::value(error_message.to_owned()))
            .col_expr(C::UpdatedAtUs, Expr::value(now_us))
            .filter(C::Id.eq(id.to_string()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    pub(crate) async fn set_last_sync(&self, id: ConnectionId, now_us: i64) -> Result<(), StoreError> {
        use connection::Column as C;
        self.scope
            .update_many::<connection::Entity>()
            .col_expr(C::LastSyncAtUs, Expr::value(Some(now_us)))
            .filter(C::Id.eq(id.to_string()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Deletes a connection: its credentials are destroyed, its records and cursors deleted, its account mapping
    /// removed; the row stays (marked deleted) so its syncs and webhook events keep their reference.
    pub(crate) async fn delete_connection(&self, id: ConnectionId, now_us: i64) -> Result<(), StoreError> {
        use connection::Column as C;
        let key = id.to_string();
        self.scope
            .update_many::<connection::Entity>()
            .col_expr(C::Deleted, Expr::value(true))
            .col_expr(C::SecretKekId, Expr::value(String::new()))
            .col_expr(C::SecretKey, Expr::value(Vec::<u8>::new()))
            .col_expr(C::Secret, Expr::value(Vec::<u8>::new()))
            .col_expr(C::Status, Expr::value(switchboard_proto::connectors::v1::ConnectionStatus::Disabled as i32))
            .col_expr(C::UpdatedAtUs, Expr::value(now_us))
            .filter(C::Id.eq(key.clone()))
            .exec(self.db())
            .await?;
        self.scope
            .delete_many::<record::Entity>()
            .filter(record::Column::ConnectionId.eq(key.clone()))
            .exec(self.db())
            .await?;
        self.scope
            .delete_many::<sync_cursor::Entity>()
            .filter(sync_cursor::Column::ConnectionId.eq(key.clone()))
            .exec(self.db())
            .await?;
        self.scope
            .delete_many::<account::Entity>()
            .filter(account::Column::ConnectionId.eq(key))
            .exec(self.db())
            .await?;
        Ok(())
    }

    // === OAuth states ===

    pub(crate) async fn insert_state(&self, row: OAuthStateRow) -> Result<(), StoreError> {
        let row: oauth_state::ActiveModel = row.into();
        self.scope.insert([row]).await
    }

    /// The state with this hash, marked used in the same transaction; `None` if unknown in this tenant.
    pub(crate) async fn take_state(&self, state_hash: &str, now_us: i64) -> Result<Option<OAuthStateRow>, StoreError> {
        use oauth_state::Column as C;
        let Some(row) =
            self.scope.select::<oauth_state::Entity>().filter(C::StateHash.eq(state_hash)).one(self.db()).await?
        else {
            return Ok(None);
        };
        if row.used_at_us.is_none() {
            self.scope
                .update_many::<oauth_state::Entity>()
                .col_expr(C::UsedAtUs, Expr::value(Some(now_us)))
                .filter(C::StateHash.eq(state_hash))
                .exec(self.db())
                .await?;
        }
        Ok(Some(row))
    }

    // === records ===

    /// Inserts new records and updates changed ones; identical ones are left alone.
    pub(crate) async fn upsert_records(
        &self,
        connection: ConnectionId,
        provider: &str,
        kind: &str,
        records: &[crate::provider::RecordIn],
        now_us: i64,
    ) -> Result<Upserted, StoreError> {
        use record::Column as C;
        if records.is_empty() {
            return Ok(Upserted::default());
        }
        let connection = connection.to_string();
        let ids: Vec<String> = records.iter().map(|r| r.external_id.clone()).collect();
        let existing: std::collections::HashMap<String, String> = self
            .scope
            .select::<record::Entity>()
            .select_only()
            .column(C::ExternalId)
            .column(C::Data)
            .filter(C::ConnectionId.eq(connection.clone()))
            .filter(C::Kind.eq(kind))
            .filter(C::ExternalId.is_in(ids))
            .into_tuple::<(String, String)>()
            .all(self.db())
            .await?
            .into_iter()
            .collect();
        let mut counts = Upserted::default();
        // A page may name one record twice (an event and the object): the last one wins.
        let mut latest: std::collections::BTreeMap<&str, (&crate::provider::RecordIn, String)> = Default::default();
        for r in records {
            latest.insert(&r.external_id, (r, r.data.to_string()));
        }
        let mut rows = Vec::new();
        for (id, (r, data)) in latest {
            match existing.get(id) {
                Some(old) if *old == data => continue,
                Some(_) => counts.updated += 1,
                None => counts.created += 1,
            }
            rows.push(record::ActiveModel {
                tenant_id: Set(self.scope.tenant_key()),
                connection_id: Set(connection.clone()),
                kind: Set(kind.to_owned()),
                external_id: Set(id.to_owned()),
                provider: Set(provider.to_owned()),
                updated_at_us: Set(r.updated_at_us),
                synced_at_us: Set(now_us),
                data: Set(data),
            });
        }
        if rows.is_empty() {
            return Ok(counts);
        }
        record::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([C::TenantId, C::ConnectionId, C::Kind, C::ExternalId])
                    .update_columns([C::UpdatedAtUs, C::SyncedAtUs, C::Data])
                    .to_owned(),
            )
            .exec_without_returning(self.db())
            .await?;
        Ok(counts)
    }

    /// Records of `kind`, newest change first, a batch at a time (after `(updated_at_us, connection, id)`).
    pub(crate) async fn records(
        &self,
        kind: &str,
        connection: Option<&str>,
        provider: Option<&str>,
        after: Option<(i64, String, String)>,
        limit: u64,
    ) -> Result<Vec<RecordRow>, StoreError> {
        use record::Column as C;
        let mut query = self.scope.select::<record::Entity>().filter(C::Kind.eq(kind));
        if let Some(connection) = connection {
            query = query.filter(C::ConnectionId.eq(connection));
        }
        if let Some(provider) = provider {
            query = query.filter(C::Provider.eq(provider));
        }
        if let Some((updated, connection, id)) = after {
            query =
                query.filter(sea_orm::Condition::any().add(C::UpdatedAtUs.lt(updated)).add(
                    sea_orm::Condition::all().add(C::UpdatedAtUs.eq(updated)).add(
                        sea_orm::Condition::any().add(C::ConnectionId.lt(connection.clone())).add(
                            sea_orm::Condition::all().add(C::ConnectionId.eq(connection)).add(C::ExternalId.lt(id)),
                        ),
                    ),
                ));
        }
        Ok(query
            .order_by_desc(C::UpdatedAtUs)
            .order_by_desc(C::ConnectionId)
            .order_by_desc(C::ExternalId)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    /// Deletes one record; whether it was there.
    /// Removes the records of `kind` with these ids; how many there were.
    pub(crate) async fn delete_records(
        &self,
        connection: ConnectionId,
        kind: &str,
        ids: Vec<String>,
    ) -> Result<u64, StoreError> {
        use record::Column as C;
        if ids.is_empty() {
            return Ok(0);
        }
        let result = self
            .scope
            .delete_many::<record::Entity>()
            .filter(C::ConnectionId.eq(connection.to_string()))
            .filter(C::Kind.eq(kind))
            .filter(C::ExternalId.is_in(ids))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected)
    }

    pub(crate) async fn delete_record(
        &self,
        connection: ConnectionId,
        kind: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        use record::Column as C;
        let result = self
            .scope
            .delete_many::<record::Entity>()
            .filter(C::ConnectionId.eq(connection.to_string()))
            .filter(C::Kind.eq(kind))
            .filter(C::ExternalId.eq(id))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected > 0)
    }

    // === sync cursors ===

    pub(crate) async fn cursor(&self, connection: ConnectionId, kind: &str) -> Result<Option<CursorRow>, StoreError> {
        use sync_cursor::Column as C;
        Ok(self
            .scope
            .select::<sync_cursor::Entity>()
            .filter(C::ConnectionId.eq(connection.to_string()))
            .filter(C::Kind.eq(kind))
            .one(self.db())
            .await?)
    }

    pub(crate) async fn save_cursor(&self, row: CursorRow) -> Result<(), StoreError> {
        use sync_cursor::Column as C;
        let mut row: sync_cursor::ActiveModel = row.into();
        row.tenant_id = Set(self.scope.tenant_key());
        sync_cursor::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([C::TenantId, C::ConnectionId, C::Kind])
                    .update_columns([
                        C::PageCursor,
                        C::PageSyncId,
                        C::PageSinceUs,
                        C::WatermarkUs,
                        C::PendingWatermarkUs,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.db())
            .await?;
        Ok(())
    }

    // === syncs ===

    pub(crate) async fn insert_sync(&self, row: SyncRow) -> Result<(), StoreError> {
        let row: sync::ActiveModel = row.into();
        self.scope.insert([row]).await
    }

    pub(crate) async fn sync(&self, id: SyncId) -> Result<Option<SyncRow>, StoreError> {
        Ok(self.scope.select::<sync::Entity>().filter(sync::Column::Id.eq(id.to_string())).one(self.db()).await?)
    }

    /// The connection's sync that is pending or running, if any.
    pub(crate) async fn active_sync(&self, connection: ConnectionId) -> Result<Option<SyncRow>, StoreError> {
        use switchboard_proto::connectors::v1::SyncStatus;
        Ok(self
            .scope
            .select::<sync::Entity>()
            .filter(sync::Column::ConnectionId.eq(connection.to_string()))
            .filter(sync::Column::Status.is_in([SyncStatus::Pending as i32, SyncStatus::Running as i32]))
            .one(self.db())
            .await?)
    }

    pub(crate) async fn syncs(
        &self,
        connection: Option<&str>,
        status: Option<i32>,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<SyncRow>, StoreError> {
        use sync::Column as C;
        let mut query = self.scope.select::<sync::Entity>();
        if let Some(connection) = connection {
            query = query.filter(C::ConnectionId.eq(connection));
        }
        if let Some(status) = status {
            query = query.filter(C::Status.eq(status));
        }
        if let Some(after) = after {
            query = query.filter(newest_first_after(C::CreatedAtUs, C::Id, after));
        }
        Ok(query.order_by_desc(C::CreatedAtUs).order_by_desc(C::Id).limit(limit).all(self.db()).await?)
    }

    /// Moves a pending sync to running; false when it is no longer pending (taken over or cancelled meanwhile).
    pub(crate) async fn start_sync(&self, id: SyncId, now_us: i64) -> Result<bool, StoreError> {
        use switchboard_proto::connectors::v1::SyncStatus;
        use sync::Column as C;
        let result = self
            .scope
            .update_many::<sync::Entity>()
            .col_expr(C::Status, Expr::value(SyncStatus::Running as i32))
            .col_expr(C::StartedAtUs, Expr::value(Some(now_us)))
            .col_expr(C::HeartbeatAtUs, Expr::value(now_us))
            .filter(C::Id.eq(id.to_string()))
            .filter(C::Status.eq(SyncStatus::Pending as i32))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }

    pub(crate) async fn add_progress(&self, id: SyncId, progress: Progress) -> Result<(), StoreError> {
        use sync::Column as C;
        self.scope
            .update_many::<sync::Entity>()
            .col_expr(C::HeartbeatAtUs, Expr::value(switchboard_types::now_unix_micros()))
            .col_expr(C::Pages, Expr::col(C::Pages).add(progress.pages))
            .col_expr(C::RecordsFetched, Expr::col(C::RecordsFetched).add(progress.fetched))
            .col_expr(C::RecordsCreated, Expr::col(C::RecordsCreated).add(progress.created))
            .col_expr(C::RecordsUpdated, Expr::col(C::RecordsUpdated).add(progress.updated))
            .filter(C::Id.eq(id.to_string()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    pub(crate) async fn finish_sync(
        &self,
        id: SyncId,
        status: i32,
        error_code: i32,
        error_message: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        use sync::Column as C;
        self.scope
            .update_many::<sync::Entity>()
            .col_expr(C::Status, Expr::value(status))
            .col_expr(C::ErrorCode, Expr::value(error_code))
            .col_expr(C::ErrorMessage, Expr::value(error_message.to_owned()))
            .col_expr(C::EndedAtUs, Expr::value(Some(now_us)))
            .filter(C::Id.eq(id.to_string()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    // === webhook events ===

    /// The event with this provider id on this connection, if already received.
    pub(crate) async fn webhook_event_by_provider_id(
        &self,
        provider: &str,
        connection: ConnectionId,
        provider_event_id: &str,
    ) -> Result<Option<WebhookEventRow>, StoreError> {
        use webhook_event::Column as C;
        Ok(self
            .scope
            .select::<webhook_event::Entity>()
            .filter(C::Provider.eq(provider))
            .filter(C::ConnectionId.eq(connection.to_string()))
            .filter(C::ProviderEventId.eq(provider_event_id))
            .one(self.db())
            .await?)
    }

    pub(crate) async fn count_delivery(&self, id: &str) -> Result<(), StoreError> {
        use webhook_event::Column as C;
        self.scope
            .update_many::<webhook_event::Entity>()
            .col_expr(C::DeliveryCount, Expr::col(C::DeliveryCount).add(1))
            .filter(C::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Inserts the event unless this connection already has one with its provider event id; whether it did.
    pub(crate) async fn insert_webhook_event_if_new(&self, row: WebhookEventRow) -> Result<bool, StoreError> {
        use webhook_event::Column as C;
        let mut row: webhook_event::ActiveModel = row.into();
        row.tenant_id = Set(self.scope.tenant_key());
        let inserted = webhook_event::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([C::TenantId, C::Provider, C::ConnectionId, C::ProviderEventId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(self.db())
            .await;
        match inserted {
            Ok(rows) => Ok(rows == 1),
            Err(sea_orm::DbErr::RecordNotInserted) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Inserts the events of a batch that this tenant does not have yet (by connection and provider event id) in
    /// one statement, and returns the ids of the rows it inserted: the others collided with a stored event, which
    /// may have been stored meanwhile by another replica.
    pub(crate) async fn insert_new_webhook_events(
        &self,
        rows: Vec<WebhookEventRow>,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        use webhook_event::Column as C;
        if rows.is_empty() {
            return Ok(Default::default());
        }
        let tenant = self.scope.tenant_key();
        let rows = rows.into_iter().map(|row| {
            let mut row: webhook_event::ActiveModel = row.into();
            row.tenant_id = Set(tenant.clone());
            row
        });
        let mut insert = webhook_event::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([C::TenantId, C::Provider, C::ConnectionId, C::ProviderEventId])
                    .do_nothing()
                    .to_owned(),
            )
            .into_query();
        // RETURNING lists only the rows inserted, so which events are new costs no query of its own.
        insert.returning_col(C::Id);
        self.db()
            .query_all(&insert)
            .await?
            .into_iter()
            .map(|row| row.try_get_by_index::<String>(0).map_err(StoreError::from))
            .collect()
    }

    /// The events among `ids` still waiting to be processed, in no particular order.
    pub(crate) async fn received_webhook_events(&self, ids: Vec<String>) -> Result<Vec<WebhookEventRow>, StoreError> {
        use webhook_event::Column as C;
        Ok(self
            .scope
            .select::<webhook_event::Entity>()
            .filter(C::Id.is_in(ids))
            .filter(C::Status.eq(pb_received()))
            .all(self.db())
            .await?)
    }

    /// Records how processing ended for every event of `ids` (one outcome for all).
    pub(crate) async fn finish_webhook_events(
        &self,
        ids: Vec<String>,
        status: i32,
        error: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        use webhook_event::Column as C;
        if ids.is_empty() {
            return Ok(());
        }
        self.scope
            .update_many::<webhook_event::Entity>()
            .col_expr(C::Status, Expr::value(status))
            .col_expr(C::ErrorMessage, Expr::value(error.to_owned()))
            .col_expr(C::ProcessedAtUs, Expr::value(Some(now_us)))
            .filter(C::Id.is_in(ids))
            .exec(self.db())
            .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // each is one filter of the contract
    pub(crate) async fn webhook_events(
        &self,
        provider: Option<&str>,
        connection: Option<&str>,
        event_type: Option<&str>,
        status: Option<i32>,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<WebhookEventRow>, StoreError> {
        use webhook_event::Column as C;
        let mut query = self.scope.select::<webhook_event::Entity>();
        if let Some(v) = provider {
            query = query.filter(C::Provider.eq(v));
        }
        if let Some(v) = connection {
            query = query.filter(C::ConnectionId.eq(v));
        }
        if let Some(v) = event_type {
            query = query.filter(C::EventType.eq(v));
        }
        if let Some(v) = status {
            query = query.filter(C::Status.eq(v));
        }
        if let Some(after) = after {
            query = query.filter(newest_first_after(C::ReceivedAtUs, C::Id, after));
        }
        Ok(query.order_by_desc(C::ReceivedAtUs).order_by_desc(C::Id).limit(limit).all(self.db()).await?)
    }

    // === action invocations ===

    /// The stored result of `action` under `key`: (output JSON, audit event id, connection id).
    pub(crate) async fn invocation(
        &self,
        action: &str,
        key: &str,
    ) -> Result<Option<(String, String, String)>, StoreError> {
        use invocation::Column as C;
        let row = self
            .scope
            .select::<invocation::Entity>()
            .filter(C::Action.eq(action))
            .filter(C::IdempotencyKey.eq(key))
            .one(self.db())
            .await?;
        Ok(row.map(|r| (r.output, r.audit_event_id, r.connection_id)))
    }

    pub(crate) async fn insert_invocation(
        &self,
        action: &str,
        key: &str,
        connection: ConnectionId,
        output: String,
        audit_event_id: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        let row = invocation::ActiveModel {
            tenant_id: Set(String::new()),
            action: Set(action.to_owned()),
            idempotency_key: Set(key.to_owned()),
            connection_id: Set(connection.to_string()),
            output: Set(output),
            audit_event_id: Set(audit_event_id.to_owned()),
            created_at_us: Set(now_us),
        };
        self.scope.insert([row]).await
    }
}

/// `WEBHOOK_EVENT_STATUS_RECEIVED` as stored.
fn pb_received() -> i32 {
    switchboard_proto::connectors::v1::WebhookEventStatus::Received as i32
}
