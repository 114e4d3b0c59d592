//! The audit service through its gRPC API, over real mTLS sockets. Every case runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // tests and benchmarks fail loudly by design

mod bus;
mod suite;

mod bus_faults {
    use switchboard_test_support::TestDb;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frozen_broker_sqlite() {
        crate::bus::a_frozen_broker_loses_and_duplicates_nothing(TestDb::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frozen_broker_postgres() {
        crate::bus::a_frozen_broker_loses_and_duplicates_nothing(TestDb::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relay_killed_mid_batch_sqlite() {
        crate::bus::a_relay_killed_mid_batch_duplicates_nothing(TestDb::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relay_killed_mid_batch_postgres() {
        crate::bus::a_relay_killed_mid_batch_duplicates_nothing(TestDb::Postgres).await;
    }
}

switchboard_test_support::on_both_databases!(
    append_list_verify_and_checkpoint,
    editing_a_field_is_named_by_seq,
    deleting_a_middle_row_is_named_by_seq,
    deleting_the_newest_rows_falls_short_of_the_checkpoint,
    deleting_the_checkpoint_is_detected,
    tenants_cannot_see_each_other,
    concurrent_appends_make_one_unbroken_chain,
    pagination_and_filters,
    malformed_page_token_is_invalid_argument,
    missing_tenant_is_unauthenticated,
    appends_are_idempotent_by_event_id,
    only_platform_services_may_append,
    bad_events_are_rejected_with_the_field_named,
    a_row_inserted_below_seq_1_is_caught,
    get_checkpoint_needs_a_tenant_and_is_empty_for_a_new_one,
    two_replicas_appending_to_one_tenant_never_fork,
);
