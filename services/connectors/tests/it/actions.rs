//! Actions: the catalog, input validation, and idempotent invocation with an audit record.

use prost_types::{Struct, Value, value::Kind};
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_test_support::TestDb;

use crate::support::{Caller, Harness, all_records, connect_stripe, sync_to_end};

fn input(fields: &[(&str, Kind)]) -> Struct {
    Struct { fields: fields.iter().map(|(k, v)| ((*k).to_owned(), Value { kind: Some(v.clone()) })).collect() }
}

#[tokio::test]
async fn a_refund_acts_once_per_idempotency_key() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let stripe = connect_stripe(&h.service, a).await;
    let catalog = h.service.list_actions(a.request(pb::ListActionsRequest::default())).await.unwrap().into_inner();
    let refund = catalog.actions.iter().find(|x| x.name == "stripe.refund.create").expect("refund action");
    assert!(refund.needs_approval);
    assert!(refund.input_schema.as_ref().unwrap().fields.contains_key("properties"));

    sync_to_end(&h.service, a, &stripe.name, false).await;
    let charge =
        all_records(&h.service, a, "charge", "refunded = false AND status = \"succeeded\"").await[0].id.clone();

    let invoke = |key: &str, amount: f64| pb::InvokeActionRequest {
        connection: stripe.name.clone(),
        action: "stripe.refund.create".into(),
        input: Some(input(&[("charge", Kind::StringValue(charge.clone())), ("amount", Kind::NumberValue(amount))])),
        idempotency_key: key.into(),
        ..Default::default()
    };
    let bad = h
        .service
        .invoke_action(a.request(pb::InvokeActionRequest {
            input: Some(input(&[("charge", Kind::NumberValue(5.0))])),
            ..invoke("k0", 1.0)
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("charge"), "{}", bad.message());
    let missing_key = h.service.invoke_action(a.request(invoke("", 1.0))).await.unwrap_err();
    assert_eq!(missing_key.code(), tonic::Code::InvalidArgument);

    let first = h.service.invoke_action(a.request(invoke("refund-1", 100.0))).await.unwrap().into_inner();
    assert!(!first.replayed);
    assert!(!first.audit_event_id.is_empty());
    let again = h.service.invoke_action(a.request(invoke("refund-1", 100.0))).await.unwrap().into_inner();
    assert!(again.replayed);
    assert_eq!(again.output, first.output);
    assert_eq!(again.audit_event_id, first.audit_event_id);
    let refund_id = |r: &pb::InvokeActionResponse| match &r.output.as_ref().unwrap().fields["id"].kind {
        Some(Kind::StringValue(s)) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert!(refund_id(&first).starts_with("re_"));
    let second = h.service.invoke_action(a.request(invoke("refund-2", 100.0))).await.unwrap().into_inner();
    assert_ne!(refund_id(&second), refund_id(&first), "a new key acts again");
    h.stop().await;
}
