//! KEK rotation: a new key first, every data key re-wrapped, every connection still usable; then the old key can go.

use switchboard_connectors::{ConnectorService, KeyRing};
use switchboard_proto::connectors::v1 as pb;
use switchboard_test_support::TestDb;

use crate::support::{Caller, Harness, connect_shopify, connect_stripe, sync_to_end};

fn line_of(text: &str) -> String {
    text.lines().find(|l| !l.trim().is_empty() && !l.starts_with('#')).unwrap().to_owned()
}

#[tokio::test]
async fn kek_rotation_keeps_every_connection_working() {
    let h = Harness::start(TestDb::Sqlite).await;
    let (a, b) = (Caller::new(), Caller::new());
    let stripe = connect_stripe(&h.service, a).await;
    let shop = connect_shopify(&h.service, b).await;
    // The harness's keys file, with a new key put first (what `switchboard connectors rotate-kek` writes).
    let fresh = line_of(&KeyRing::generate_line().unwrap());
    let current = std::fs::read_to_string(h.kek_path()).unwrap();
    let both = KeyRing::parse(&format!("{fresh}\n{current}")).unwrap();
    assert_ne!(both.wrapping_key_id(), h.keys.wrapping_key_id());
    let rewrapped = switchboard_connectors::rotate_kek(&h.store.store, &both).await.unwrap();
    assert_eq!(rewrapped, 2, "both tenants' credentials");
    assert_eq!(switchboard_connectors::rotate_kek(&h.store.store, &both).await.unwrap(), 0, "idempotent");

    // A service that knows only the new key opens every credential.
    let only_new = KeyRing::parse(&fresh).unwrap();
    let service = ConnectorService::with_parts(
        h.store.store.clone(),
        only_new,
        h.cache.clone(),
        crate::support::settings(&h.sandbox),
        h.retry,
        h.stop.clone(),
    )
    .unwrap();
    for (caller, name) in [(a, &stripe.name), (b, &shop.name)] {
        let sync = sync_to_end(&service, caller, name, false).await;
        assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    }
    // The old key alone no longer opens them.
    let sync = sync_to_end(&h.service, a, &stripe.name, true).await;
    assert_eq!(sync.status, pb::SyncStatus::Failed as i32, "{sync:?}");
    h.stop().await;
}
