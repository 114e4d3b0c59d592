//! The orchestrator's tables, which it owns, and their repository over a [`TenantScope`]: every query here is
//! filtered on the scope's tenant (and on PostgreSQL held to it by row-level security). The exceptions are the
//! driver leases ([`unleased_runs`], [`adopt`], [`renew`], [`release`]): replicas read and take them across
//! tenants, by run id, and they hold no tenant data.
//!
//! A run's event log is appended only through [`Repo::append_events`] and [`Repo::append_to`], under the run's lock
//! ([`Repo::lock_run`]): they number the events after the run's `last_sequence` (read, or as the caller's locked
//! row holds it) and write both in the caller's transaction: the log has no gaps and no duplicates (a stale number
//! would collide with the sequence's primary key and fail the transaction), and an event is never visible without
//! the state change it reports (or the other way round).

mod documents;
mod entity;
mod migration;

use prost::Message;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use switchboard_proto::orchestrator::v1::AskResponse;
use switchboard_store::{Store, StoreError, TenantScope};
use switchboard_types::TenantId;

pub(crate) use self::documents::{ChunkRow, DocumentRow};
pub(crate) use self::entity::run::Model as RunRow;
pub(crate) use self::entity::step::Model as StepRow;
use self::entity::{active_run, run, run_event, settings, step, token_reservation, token_usage};

/// Creates (or brings up to date) the orchestrator's tables.
pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate::<migration::Migrator>().await
}

/// A replica's hold on driving one run.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) tenant: TenantId,
    pub(crate) run_id: String,
    /// The holder (an engine's id).
    pub(crate) driver: String,
}

/// Every (tenant, run) not finished yet whose lease ended before `now_us`: runs no replica drives.
pub(crate) async fn unleased_runs(store: &Store, now_us: i64) -> Result<Vec<(TenantId, String)>, StoreError> {
    let rows =
        active_run::Entity::find().filter(active_run::Column::LeaseUntilUs.lt(now_us)).all(store.global()).await?;
    Ok(rows.into_iter().filter_map(|row| Some((row.tenant_id.parse().ok()?, row.run_id))).collect())
}

/// Takes the lease of a run whose lease ended before `now_us`, until `until_us`. `false` when another replica took
/// it first (or the run finished): the compare and the set are one statement.
pub(crate) async fn adopt(store: &Store, lease: &Lease, now_us: i64, until_us: i64) -> Result<bool, StoreError> {
    use active_run::Column as C;
    let done = active_run::Entity::update_many()
        .col_expr(C::Driver, Expr::value(lease.driver.clone()))
        .col_expr(C::LeaseUntilUs, Expr::value(until_us))
        .filter(C::TenantId.eq(lease.tenant.to_string()))
        .filter(C::RunId.eq(lease.run_id.clone()))
        .filter(C::LeaseUntilUs.lt(now_us))
        .exec(store.global())
        .await?;
    Ok(done.rows_affected == 1)
}

/// Extends a lease this replica holds to `until_us`. `false` when it no longer holds it (the run finished, or
/// another replica adopted it after this one stalled past the lease).
pub(crate) async fn renew(store: &Store, lease: &Lease, until_us: i64) -> Result<bool, StoreError> {
    use active_run::Column as C;
    let done = active_run::Entity::update_many()
        .col_expr(C::LeaseUntilUs, Expr::value(until_us))
        .filter(C::TenantId.eq(lease.tenant.to_string()))
        .filter(C::RunId.eq(lease.run_id.clone()))
        .filter(C::Driver.eq(lease.driver.clone()))
        .exec(store.global())
        .await?;
    Ok(done.rows_affected == 1)
}

/// Gives a lease up (a driver stopping before its run ended), so that any replica may adopt the run at once.
pub(crate) async fn release(store: &Store, lease: &Lease) -> Result<(), StoreError> {
    renew(store, lease, 0).await.map(|_| ())
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

    // === runs ===

    /// Inserts a new run, marked active with its lease held by `driver` until `lease_until_us`.
    pub(crate) async fn insert_run(&self, row: RunRow, driver: &str, lease_until_us: i64) -> Result<(), StoreError> {
        let active = active_run::ActiveModel {
            tenant_id: Set(String::new()),
            run_id: Set(row.id.clone()),
            driver: Set(driver.to_owned()),
            lease_until_us: Set(lease_until_us),
        };
        let row: run::ActiveModel = row.into();
        self.scope.insert([row]).await?;
        self.scope.insert([active]).await
    }

    pub(crate) async fn run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        Ok(self.scope.select::<run::Entity>().filter(run::Column::Id.eq(id)).one(self.db()).await?)
    }

    /// The run, locked against concurrent changes until the transaction ends (every change to a run takes it).
    pub(crate) async fn lock_run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        self.scope.lock(&format!("orchestrator.run:{id}")).await?;
        self.run(id).await
    }

    /// Newest first, after `(created_at_us, id)` of the previous page.
    pub(crate) async fn runs(
        &self,
        status: Option<i32>,
        creator: Option<&str>,
        after: Option<(i64, String)>,
        limit: u64,
    ) -> Result<Vec<RunRow>, StoreError> {
        use run::Column as C;
        let mut query = self.scope.select::<run::Entity>();
        if let Some(status) = status {
            query = query.filter(C::Status.eq(status));
        }
        if let Some(creator) = creator {
            query = query.filter(C::Creator.eq(creator));
        }
        if let Some((time, id)) = after {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(C::CreatedAtUs.lt(time))
                    .add(sea_orm::Condition::all().add(C::CreatedAtUs.eq(time)).add(C::Id.lt(id))),
            );
        }
        Ok(query.order_by_desc(C::CreatedAtUs).order_by_desc(C::Id).limit(limit).all(self.db()).await?)
    }

    /// Runs created since `since_us` (the tenant's rate limit).
    pub(crate) async fn runs_created_since(&self, since_us: i64) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(self.scope.select::<run::Entity>().filter(run::Column::CreatedAtUs.gte(since_us)).count(self.db()).await?)
    }

    /// Writes the run's mutable columns (status, intent, model, plan summary, answer, error, times).
    pub(crate) async fn save_run(&self, row: &RunRow) -> Result<(), StoreError> {
        use run::Column as C;
        self.scope
            .update_many::<run::Entity>()
            .col_expr(C::Status, Expr::value(row.status))
            .col_expr(C::Intent, Expr::value(row.intent.clone()))
            .col_expr(C::Model, Expr::value(row.model.clone()))
            .col_expr(C::PlanSummary, Expr::value(row.plan_summary.clone()))
            .col_expr(C::Answer, Expr::value(row.answer.clone()))
            .col_expr(C::ErrorCode, Expr::value(row.error_code))
            .col_expr(C::ErrorMessage, Expr::value(row.error_message.clone()))
            .col_expr(C::UpdatedAtUs, Expr::value(row.updated_at_us))
            .col_expr(C::EndedAtUs, Expr::value(row.ended_at_us))
            .filter(C::Id.eq(row.id.clone()))
            .exec(self.db())
            .await?;
        if row.ended_at_us.is_some() {
            self.scope
                .delete_many::<active_run::Entity>()
                .filter(active_run::Column::RunId.eq(row.id.clone()))
                .exec(self.db())
                .await?;
        }
        Ok(())
    }

    // === the event log ===

    /// Appends `event` to the run's log with the next sequence, in this transaction, and returns it as stored
    /// (sequence set). The caller holds the run's lock ([`Repo::lock_run`]).
    pub(crate) async fn append_event(
        &self,
        run_id: &str,
        event: AskResponse,
        now_us: i64,
    ) -> Result<AskResponse, StoreError> {
        let mut stored = self.append_events(run_id, vec![event], now_us).await?;
        stored.pop().ok_or_else(|| StoreError::Conflict(format!("run {run_id}: no event appended")))
    }

    /// Appends `events` in order, with the next sequences: one read of the last sequence, one insert, one update,
    /// whatever their number. Returns them as stored. The caller holds the run's lock ([`Repo::lock_run`]).
    pub(crate) async fn append_events(
        &self,
        run_id: &str,
        events: Vec<AskResponse>,
        now_us: i64,
    ) -> Result<Vec<AskResponse>, StoreError> {
        use run::Column as C;
        if events.is_empty() {
            return Ok(events);
        }
        let last: Option<i64> = self
            .scope
            .select::<run::Entity>()
            .select_only()
            .column(C::LastSequence)
            .filter(C::Id.eq(run_id))
            .into_tuple()
            .one(self.db())
            .await?;
        let Some(last) = last else {
            return Err(StoreError::Conflict(format!("run {run_id} does not exist")));
        };
        Ok(self.insert_events(run_id, last, events, now_us).await?.1)
    }

    /// [`Repo::append_events`] after `run.last_sequence`, without reading it: `run` was read under the run's lock in
    /// this transaction ([`Repo::lock_run`], or just inserted) and every append since went through this function,
    /// which moves `run.last_sequence` on. One insert and one update.
    pub(crate) async fn append_to(
        &self,
        run: &mut RunRow,
        events: Vec<AskResponse>,
        now_us: i64,
    ) -> Result<Vec<AskResponse>, StoreError> {
        if events.is_empty() {
            return Ok(events);
        }
        let (last, stored) = self.insert_events(&run.id, run.last_sequence, events, now_us).await?;
        run.last_sequence = last;
        Ok(stored)
    }

    /// Inserts `events` numbered after `last` and records the new last sequence on the run; returns it and them.
    async fn insert_events(
        &self,
        run_id: &str,
        last: i64,
        mut events: Vec<AskResponse>,
        now_us: i64,
    ) -> Result<(i64, Vec<AskResponse>), StoreError> {
        use run::Column as C;
        let mut sequence = last;
        let mut rows = Vec::with_capacity(events.len());
        for event in &mut events {
            sequence += 1;
            event.sequence = sequence;
            rows.push(run_event::ActiveModel {
                tenant_id: Set(String::new()),
                run_id: Set(run_id.to_owned()),
                sequence: Set(sequence),
                event: Set(event.encode_to_vec()),
                created_at_us: Set(now_us),
            });
        }
        self.scope.insert(rows).await?;
        self.scope
            .update_many::<run::Entity>()
            .col_expr(C::LastSequence, Expr::value(sequence))
            .col_expr(C::UpdatedAtUs, Expr::value(now_us))
            .filter(C::Id.eq(run_id))
            .exec(self.db())
            .await?;
        Ok((sequence, events))
    }

    /// The run's events after `after`, in order, at most `limit`.
    pub(crate) async fn events_after(
        &self,
        run_id: &str,
        after: i64,
        limit: u64,
    ) -> Result<Vec<AskResponse>, StoreError> {
        use run_event::Column as C;
        let rows = self
            .scope
            .select::<run_event::Entity>()
            .filter(C::RunId.eq(run_id))
            .filter(C::Sequence.gt(after))
            .order_by_asc(C::Sequence)
            .limit(limit)
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|row| {
                AskResponse::decode(row.event.as_slice())
                    .map_err(|e| StoreError::Conflict(format!("run {run_id} event {}: {e}", row.sequence)))
            })
            .collect()
    }

    // === steps ===

    pub(crate) async fn insert_steps(&self, rows: Vec<StepRow>) -> Result<(), StoreError> {
        let rows: Vec<step::ActiveModel> = rows.into_iter().map(Into::into).collect();
        self.scope.insert(rows).await
    }

    /// The run's steps in plan order.
    pub(crate) async fn steps(&self, run_id: &str) -> Result<Vec<StepRow>, StoreError> {
        use step::Column as C;
        Ok(self
            .scope
            .select::<step::Entity>()
            .filter(C::RunId.eq(run_id))
            .order_by_asc(C::Position)
            .all(self.db())
            .await?)
    }

    /// Writes the step's mutable columns.
    pub(crate) async fn save_step(&self, row: &StepRow) -> Result<(), StoreError> {
        use step::Column as C;
        self.scope
            .update_many::<step::Entity>()
            .col_expr(C::Input, Expr::value(row.input.clone()))
            .col_expr(C::Status, Expr::value(row.status))
            .col_expr(C::Output, Expr::value(row.output.clone()))
            .col_expr(C::ErrorCode, Expr::value(row.error_code))
            .col_expr(C::ErrorMessage, Expr::value(row.error_message.clone()))
            .col_expr(C::AuditEventId, Expr::value(row.audit_event_id.clone()))
            .col_expr(C::Approved, Expr::value(row.approved))
            .col_expr(C::Reviewer, Expr::value(row.reviewer.clone()))
            .col_expr(C::ReviewComment, Expr::value(row.review_comment.clone()))
            .col_expr(C::ReviewedAtUs, Expr::value(row.reviewed_at_us))
            .col_expr(C::StartedAtUs, Expr::value(row.started_at_us))
            .col_expr(C::EndedAtUs, Expr::value(row.ended_at_us))
            .filter(C::RunId.eq(row.run_id.clone()))
            .filter(C::Id.eq(row.id.clone()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    // === settings and usage ===

    /// The tenant's assistant settings (JSON), if ever saved.
    pub(crate) async fn settings(&self) -> Result<Option<String>, StoreError> {
        Ok(self.scope.select::<settings::Entity>().one(self.db()).await?.map(|row| row.settings))
    }

    /// The tenant's assistant settings (JSON) and when they were saved, if ever.
    pub(crate) async fn settings_saved(&self) -> Result<Option<(String, i64)>, StoreError> {
        let row = self.scope.select::<settings::Entity>().one(self.db()).await?;
        Ok(row.map(|row| (row.settings, row.updated_at_us)))
    }

    pub(crate) async fn save_settings(&self, json: String, now_us: i64) -> Result<(), StoreError> {
        use settings::Column as C;
        let row = settings::ActiveModel {
            tenant_id: Set(self.scope.tenant_key()),
            settings: Set(json),
            updated_at_us: Set(now_us),
        };
        settings::Entity::insert(row)
            .on_conflict(OnConflict::column(C::TenantId).update_columns([C::Settings, C::UpdatedAtUs]).to_owned())
            .exec_without_returning(self.db())
            .await?;
        Ok(())
    }

    /// Tokens used in `month` (`YYYY-MM`): (input, output).
    pub(crate) async fn usage(&self, month: &str) -> Result<(i64, i64), StoreError> {
        let row = self
            .scope
            .select::<token_usage::Entity>()
            .filter(token_usage::Column::Month.eq(month))
            .one(self.db())
            .await?;
        Ok(row.map(|r| (r.input_tokens, r.output_tokens)).unwrap_or((0, 0)))
    }

    /// Tokens held in `month` by reservations that had not expired at `now_us`.
    pub(crate) async fn reserved_tokens(&self, month: &str, now_us: i64) -> Result<i64, StoreError> {
        use token_reservation::Column as C;
        let rows = self
            .scope
            .select::<token_reservation::Entity>()
            .filter(C::Month.eq(month))
            .filter(C::ExpiresAtUs.gt(now_us))
            .all(self.db())
            .await?;
        Ok(rows.iter().map(|r| std::cmp::max(r.tokens, 0)).fold(0i64, i64::saturating_add))
    }

    /// Holds `tokens` of `month` under `id` until [`Repo::remove_reservation`] or `expires_at_us`.
    pub(crate) async fn add_reservation(
        &self,
        id: &str,
        month: &str,
        tokens: i64,
        expires_at_us: i64,
    ) -> Result<(), StoreError> {
        let row = token_reservation::ActiveModel {
            tenant_id: Set(self.scope.tenant_key()),
            id: Set(id.to_owned()),
            month: Set(month.to_owned()),
            tokens: Set(tokens),
            expires_at_us: Set(expires_at_us),
        };
        self.scope.insert([row]).await
    }

    /// Ends the reservation `id`.
    pub(crate) async fn remove_reservation(&self, id: &str) -> Result<(), StoreError> {
        self.scope
            .delete_many::<token_reservation::Entity>()
            .filter(token_reservation::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Deletes the reservations that expired before `now_us` (left by replicas that died during a call).
    pub(crate) async fn remove_expired_reservations(&self, now_us: i64) -> Result<(), StoreError> {
        self.scope
            .delete_many::<token_reservation::Entity>()
            .filter(token_reservation::Column::ExpiresAtUs.lte(now_us))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Adds to the tokens used in `month`.
    pub(crate) async fn add_usage(&self, month: &str, input: i64, output: i64) -> Result<(), StoreError> {
        use token_usage::Column as C;
        let row = token_usage::ActiveModel {
            tenant_id: Set(self.scope.tenant_key()),
            month: Set(month.to_owned()),
            input_tokens: Set(input),
            output_tokens: Set(output),
        };
        token_usage::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([C::TenantId, C::Month])
                    .value(C::InputTokens, Expr::col((token_usage::Entity, C::InputTokens)).add(input))
                    .value(C::OutputTokens, Expr::col((token_usage::Entity, C::OutputTokens)).add(output))
                    .to_owned(),
            )
            .exec_without_returning(self.db())
            .await?;
        Ok(())
    }
}
