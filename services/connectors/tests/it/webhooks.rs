//! Webhooks: signatures checked before anything is stored, one event per provider event id, routed by account, and
//! processed from the bus once.

use std::sync::Arc;

use switchboard_connectors::ConnectorService;
use switchboard_events::outbox::{OutboxRelay, RelayOptions};
use switchboard_events::{EmbeddedBus, EventBus};
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_test_support::{TestDb, assert_eventually};

use crate::support::{Caller, Harness, all_records, connect_stripe, sync_to_end};

fn receive(provider: &str, delivery: &switchboard_sandbox::Delivery) -> tonic::Request<pb::ReceiveWebhookRequest> {
    let mut request = tonic::Request::new(pb::ReceiveWebhookRequest {
        provider: provider.into(),
        body: Some(switchboard_proto::google::api::HttpBody {
            content_type: "application/json".into(),
            data: delivery.body.clone(),
            extensions: vec![],
        }),
        headers: delivery.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect(),
    });
    request.extensions_mut().insert(switchboard_mesh::context::RequestContext::new_root());
    request
}

#[tokio::test]
async fn stripe_webhooks_are_verified_stored_once_and_listed() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let stripe = connect_stripe(&h.service, a).await;
    sync_to_end(&h.service, a, &stripe.name, false).await;
    let charge =
        all_records(&h.service, a, "charge", "refunded = false AND status = \"succeeded\"").await[0].id.clone();
    let delivery = h.sandbox.refund_charge_event(&charge).unwrap();

    let mut forged = delivery.clone();
    forged.body.push(b' ');
    let refused = h.service.receive_webhook(receive("stripe", &forged)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let first = h.service.receive_webhook(receive("stripe", &delivery)).await.unwrap().into_inner();
    assert!(first.webhook_event.starts_with("webhookEvents/"), "{first:?}");
    assert!(!first.duplicate);
    let again = h.service.receive_webhook(receive("stripe", &delivery)).await.unwrap().into_inner();
    assert!(again.duplicate);
    assert_eq!(again.webhook_event, first.webhook_event);

    let events =
        h.service.list_webhook_events(a.request(pb::ListWebhookEventsRequest::default())).await.unwrap().into_inner();
    assert_eq!(events.webhook_events.len(), 1, "one event, not one per delivery");
    let event = &events.webhook_events[0];
    assert_eq!(event.delivery_count, 2);
    assert_eq!(event.event_type, "charge.refunded");
    assert_eq!(event.connection, stripe.name);
    // The refund's tenant only.
    let other = Caller::new();
    let none = h.service.list_webhook_events(other.request(pb::ListWebhookEventsRequest::default())).await.unwrap();
    assert!(none.into_inner().webhook_events.is_empty());
    h.stop().await;
}

/// Deliveries racing each other on two replicas of one store: every event is stored once whatever batch its
/// deliveries land in (beside a repeat of itself, or after the other replica stored it), and every delivery counts.
async fn racing_deliveries_store_each_event_once(db: TestDb) {
    const EVENTS: usize = 12;
    const COPIES: usize = 4;
    let h = Harness::start(db).await;
    let a = Caller::new();
    connect_stripe(&h.service, a).await;
    let replica = h.replica(h.stop.clone());
    let deliveries: Vec<_> = (0..EVENTS)
        .map(|n| {
            h.sandbox.stripe_event(
                "customer.updated",
                serde_json::json!({"id": format!("cus_race{n}"), "object": "customer"}),
            )
        })
        .collect();
    let mut calls = Vec::new();
    for copy in 0..COPIES {
        for delivery in &deliveries {
            let service = if copy % 2 == 0 { h.service.clone() } else { replica.clone() };
            let request = receive("stripe", delivery);
            calls.push(tokio::spawn(async move { service.receive_webhook(request).await.unwrap().into_inner() }));
        }
    }
    let mut names = std::collections::HashMap::<String, usize>::new();
    let mut firsts = 0;
    for call in calls {
        let reply = call.await.unwrap();
        firsts += usize::from(!reply.duplicate);
        *names.entry(reply.webhook_event).or_default() += 1;
    }
    assert_eq!(firsts, EVENTS, "one delivery of each event is its first");
    assert_eq!(names.len(), EVENTS, "every delivery of an event names the same stored event: {names:?}");
    assert!(names.values().all(|n| *n == COPIES), "{names:?}");
    let request = a.request(pb::ListWebhookEventsRequest { page_size: 100, ..Default::default() });
    let events = h.service.list_webhook_events(request).await.unwrap().into_inner().webhook_events;
    assert_eq!(events.len(), EVENTS);
    assert!(events.iter().all(|e| e.delivery_count == COPIES as i32), "{events:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_deliveries_store_each_event_once_on_sqlite() {
    racing_deliveries_store_each_event_once(TestDb::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_deliveries_store_each_event_once_on_postgres() {
    racing_deliveries_store_each_event_once(TestDb::Postgres).await;
}

/// The caller's webhook event named `name`.
async fn webhook_event(service: &ConnectorService, caller: Caller, name: &str) -> pb::WebhookEvent {
    let events = service.list_webhook_events(caller.request(pb::ListWebhookEventsRequest::default())).await.unwrap();
    events.into_inner().webhook_events.into_iter().find(|e| e.name == name).unwrap()
}

/// The charge record `id`, if it is refunded.
async fn refunded_charge(service: &ConnectorService, caller: Caller, id: &str) -> Option<pb::Record> {
    all_records(service, caller, "charge", &format!("refunded = true AND id = \"{id}\"")).await.pop()
}

#[tokio::test]
async fn a_refund_webhook_is_processed_from_the_bus_once() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let stripe = connect_stripe(&h.service, a).await;
    sync_to_end(&h.service, a, &stripe.name, false).await;
    let bus: Arc<dyn EventBus> = Arc::new(EmbeddedBus::new(h.store.store.clone()));
    let relay = OutboxRelay::new(h.store.store.clone(), bus.clone(), RelayOptions::default());
    let relaying = tokio::spawn(relay.run(h.stop.clone()));
    let processing = tokio::spawn(h.service.clone().process_webhooks(bus, h.stop.clone()));
    let unrefunded = all_records(&h.service, a, "charge", "refunded = false AND status = \"succeeded\"").await;
    let (charge, other_charge) = (unrefunded[0].id.clone(), unrefunded[1].id.clone());
    assert!(refunded_charge(&h.service, a, &charge).await.is_none());

    let delivery = h.sandbox.refund_charge_event(&charge).unwrap();
    let name = h.service.receive_webhook(receive("stripe", &delivery)).await.unwrap().into_inner().webhook_event;
    assert_eventually!(webhook_event(&h.service, a, &name).await.status == pb::WebhookEventStatus::Processed as i32);
    let processed = webhook_event(&h.service, a, &name).await;
    assert!(processed.process_time.is_some(), "{processed:?}");
    let record = refunded_charge(&h.service, a, &charge).await.expect("the charge record shows the refund");
    assert_eq!(record.connection, stripe.name);

    // The provider delivers the same event again: counted, not stored or processed again.
    let again = h.service.receive_webhook(receive("stripe", &delivery)).await.unwrap().into_inner();
    assert!(again.duplicate);
    assert_eq!(again.webhook_event, name);
    // A later event on the same connection is processed after anything the replay could have published.
    let later = h.sandbox.refund_charge_event(&other_charge).unwrap();
    let later = h.service.receive_webhook(receive("stripe", &later)).await.unwrap().into_inner().webhook_event;
    assert_eventually!(webhook_event(&h.service, a, &later).await.status == pb::WebhookEventStatus::Processed as i32);
    let replayed = webhook_event(&h.service, a, &name).await;
    assert_eq!(replayed.delivery_count, 2);
    assert_eq!(replayed.status, pb::WebhookEventStatus::Processed as i32);
    assert_eq!(replayed.process_time, processed.process_time, "processed once");
    let unchanged = refunded_charge(&h.service, a, &charge).await.unwrap();
    assert_eq!(unchanged.sync_time, record.sync_time, "the record was written once");
    let events = h.service.list_webhook_events(a.request(pb::ListWebhookEventsRequest::default())).await.unwrap();
    assert_eq!(events.into_inner().webhook_events.len(), 2, "one event per provider event");

    h.stop.cancel();
    relaying.await.unwrap();
    processing.await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_shopify_topic_refreshes_or_deletes_the_record_it_names() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let shop = crate::support::connect_shopify(&h.service, a).await;
    sync_to_end(&h.service, a, &shop.name, false).await;
    let bus: Arc<dyn EventBus> = Arc::new(EmbeddedBus::new(h.store.store.clone()));
    let relaying =
        tokio::spawn(OutboxRelay::new(h.store.store.clone(), bus.clone(), RelayOptions::default()).run(h.stop.clone()));
    let processing = tokio::spawn(h.service.clone().process_webhooks(bus, h.stop.clone()));

    // Cancel an order at the provider (as the merchant would), then tell the platform with the REST-shaped topic.
    let order = all_records(&h.service, a, "order", "cancelledAt = null").await[0].id.clone();
    let cancel = pb::InvokeActionRequest {
        connection: shop.name.clone(),
        action: "shopify.order.cancel".into(),
        input: Some(prost_types::Struct {
            fields: [
                ("order_id", prost_types::value::Kind::StringValue(order.clone())),
                ("reason", prost_types::value::Kind::StringValue("CUSTOMER".into())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), prost_types::Value { kind: Some(v) }))
            .collect(),
        }),
        idempotency_key: "cancel-1".into(),
        ..Default::default()
    };
    h.service.invoke_action(a.request(cancel)).await.unwrap();
    let number: i64 = order.rsplit('/').next().unwrap().parse().unwrap();
    let payload = serde_json::json!({ "id": number, "admin_graphql_api_id": order, "cancel_reason": "customer" });
    let delivery = h.sandbox.shopify_webhook(switchboard_sandbox::DEMO_SHOP, "orders/cancelled", payload);
    let name = h.service.receive_webhook(receive("shopify", &delivery)).await.unwrap().into_inner().webhook_event;
    assert_eventually!(webhook_event(&h.service, a, &name).await.status == pb::WebhookEventStatus::Processed as i32);
    let cancelled = all_records(&h.service, a, "order", &format!("id = \"{order}\" AND cancelledAt:*")).await;
    assert_eq!(cancelled.len(), 1, "the order was fetched afresh and shows its cancellation");

    // A delete topic removes the record.
    let product = all_records(&h.service, a, "product", "").await[0].id.clone();
    let number: i64 = product.rsplit('/').next().unwrap().parse().unwrap();
    let delivery = h.sandbox.shopify_webhook(
        switchboard_sandbox::DEMO_SHOP,
        "products/delete",
        serde_json::json!({ "id": number }),
    );
    let name = h.service.receive_webhook(receive("shopify", &delivery)).await.unwrap().into_inner().webhook_event;
    assert_eventually!(webhook_event(&h.service, a, &name).await.status == pb::WebhookEventStatus::Processed as i32);
    assert!(all_records(&h.service, a, "product", &format!("id = \"{product}\"")).await.is_empty());

    // A topic about nothing the record store keeps is stored and ignored.
    let delivery =
        h.sandbox.shopify_webhook(switchboard_sandbox::DEMO_SHOP, "app/uninstalled", serde_json::json!({ "id": 1 }));
    let name = h.service.receive_webhook(receive("shopify", &delivery)).await.unwrap().into_inner().webhook_event;
    assert_eventually!(webhook_event(&h.service, a, &name).await.status == pb::WebhookEventStatus::Ignored as i32);

    h.stop.cancel();
    relaying.await.unwrap();
    processing.await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn without_a_configured_secret_every_delivery_is_refused() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    connect_stripe(&h.service, a).await;
    let mut settings = crate::support::settings(&h.sandbox);
    settings.stripe_webhook_secret = switchboard_connectors::Secret::default();
    let unconfigured = ConnectorService::with_parts(
        h.store.store.clone(),
        h.keys.clone(),
        h.cache.clone(),
        settings,
        h.retry,
        h.stop.clone(),
    )
    .unwrap();
    // Signed with the empty key: would "verify" against an unset secret.
    let body = serde_json::json!({"id": "evt_forged", "object": "event", "type": "charge.refunded",
        "account": switchboard_sandbox::DEMO_STRIPE_ACCOUNT, "created": 1, "data": {"object": {"id": "ch_x", "object": "charge"}}})
    .to_string();
    let now = switchboard_types::now_unix_micros() / 1_000_000;
    let forged = switchboard_sandbox::Delivery {
        headers: vec![("stripe-signature".into(), switchboard_signatures::stripe::sign("", now, body.as_bytes()))],
        body: body.into_bytes(),
        event_id: "evt_forged".into(),
    };
    let err = unconfigured.receive_webhook(receive("stripe", &forged)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("not configured"), "{}", err.message());
    let events = h.service.list_webhook_events(a.request(pb::ListWebhookEventsRequest::default())).await.unwrap();
    assert!(events.into_inner().webhook_events.is_empty());
    h.stop().await;
}
