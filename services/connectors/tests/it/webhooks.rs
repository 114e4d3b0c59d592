//! Webhooks: signatures checked before anything is stored, one event per provider event id, routed by account.

use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_test_support::TestDb;

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
