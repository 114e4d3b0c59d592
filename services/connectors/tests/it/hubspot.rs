//! HubSpot end to end against the sandbox: OAuth with rotating refresh tokens (two replicas refreshing once, a
//! refused refresh → NEEDS_REAUTH), sync (exact counts, associations, kill-and-resume, incremental windows split past
//! the search API's 10,000 cap, 429 storms, tenant walls), webhooks (the published vectors, batches with a replayed
//! `eventId`, targeted fetches and deletions) and the four actions (idempotent on retry, audited).

use std::sync::Arc;
use std::time::Duration;

use prost_types::{Struct, Value, value::Kind};
use switchboard_connectors::ConnectorService;
use switchboard_events::outbox::{OutboxRelay, RelayOptions};
use switchboard_events::{EmbeddedBus, EventBus};
use switchboard_proto::connectors::v1 as pb;
use switchboard_proto::connectors::v1::connector_service_server::ConnectorService as _;
use switchboard_sandbox::{DEMO_HUBSPOT_PORTAL, Fault, Provider, SandboxConfig};
use switchboard_test_support::{TestDb, assert_eventually};

use crate::support::{
    Caller, Harness, all_records, complete_oauth, fast_retries, get_connection, sync_to_end, wait_for_sync,
};

const KINDS: [(&str, &str); 3] = [("contact", "contacts"), ("company", "companies"), ("deal", "deals")];

/// Connects the demo portal with its private app token.
async fn connect_hubspot(service: &ConnectorService, caller: Caller) -> pb::Connection {
    let request = pb::CreateConnectionRequest {
        connection: Some(pb::Connection { provider: "hubspot".into(), ..Default::default() }),
        credentials: Some(pb::Credentials { secret: switchboard_sandbox::DEMO_HUBSPOT_TOKEN.into() }),
    };
    service.create_connection(caller.request(request)).await.unwrap().into_inner().connection.unwrap()
}

/// Connects the demo portal through OAuth, asking for the write scopes the actions need.
async fn connect_hubspot_oauth(service: &ConnectorService, caller: Caller) -> pb::Connection {
    let start = pb::StartOAuthRequest {
        provider: "hubspot".into(),
        redirect_uri: "http://127.0.0.1:8080/oauth/callback".into(),
        scopes: ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.deals.write"]
            .map(str::to_owned)
            .to_vec(),
        ..Default::default()
    };
    let started = service.start_o_auth(caller.request(start)).await.unwrap().into_inner();
    assert!(started.authorization_url.contains("crm.objects.companies.read"), "configured scopes are asked too");
    let connection = complete_oauth(service, caller, &started.authorization_url).await;
    for scope in ["crm.objects.contacts.write", "crm.objects.companies.read", "crm.objects.deals.read"] {
        assert!(connection.scopes.iter().any(|s| s == scope), "{scope} granted: {:?}", connection.scopes);
    }
    connection
}

/// A harness whose sandbox issues access tokens that expire in a minute (inside the refresh margin).
async fn short_lived_tokens(db: TestDb) -> Harness {
    let sandbox = SandboxConfig { token_lifetime: Some(Duration::from_secs(60)), ..SandboxConfig::default() };
    Harness::start_with(db, sandbox, fast_retries()).await
}

fn input(fields: &[(&str, &str)]) -> Struct {
    Struct {
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value { kind: Some(Kind::StringValue((*v).to_owned())) }))
            .collect(),
    }
}

fn invoke(connection: &str, action: &str, fields: &[(&str, &str)], key: &str) -> pb::InvokeActionRequest {
    pb::InvokeActionRequest {
        connection: connection.into(),
        action: action.into(),
        input: Some(input(fields)),
        idempotency_key: key.into(),
        ..Default::default()
    }
}

/// A record's data as JSON.
fn to_json(data: &Struct) -> serde_json::Value {
    fn value(v: &Value) -> serde_json::Value {
        match &v.kind {
            Some(Kind::StringValue(s)) => serde_json::json!(s),
            Some(Kind::NumberValue(n)) => serde_json::json!(n),
            Some(Kind::BoolValue(b)) => serde_json::json!(b),
            Some(Kind::ListValue(l)) => serde_json::Value::Array(l.values.iter().map(value).collect()),
            Some(Kind::StructValue(s)) => to_json(s),
            Some(Kind::NullValue(_)) | None => serde_json::Value::Null,
        }
    }
    serde_json::Value::Object(data.fields.iter().map(|(k, v)| (k.clone(), value(v))).collect())
}

fn output_text(response: &pb::InvokeActionResponse, field: &str) -> String {
    match response.output.as_ref().and_then(|o| o.fields.get(field)).and_then(|v| v.kind.clone()) {
        Some(Kind::StringValue(s)) => s,
        Some(Kind::BoolValue(b)) => b.to_string(),
        Some(Kind::NumberValue(n)) => n.to_string(),
        other => panic!("{field}: {other:?}"),
    }
}

async fn two_replicas_refresh_a_rotating_token_once(db: TestDb) {
    let h = short_lived_tokens(db).await;
    let a = Caller::new();
    let portal = connect_hubspot_oauth(&h.service, a).await;
    assert_eq!(portal.account, DEMO_HUBSPOT_PORTAL.to_string(), "the token's hub_id is the connection's account");
    assert_eq!(portal.status, pb::ConnectionStatus::Active as i32);
    h.sandbox.set_token_lifetime(None);
    let stop = tokio_util::sync::CancellationToken::new();
    let other = h.replica_with_cache(h.cache.clone(), stop.clone());

    // Eight upserts, four per replica, all needing a fresh token at once. HubSpot's refresh token rotates here and
    // the used one dies: a second refresh would be refused and the connection would need re-authorization.
    let calls = (0..8).map(|n| {
        let service = if n % 2 == 0 { h.service.clone() } else { other.clone() };
        let email = format!("race{n}@example.com");
        let request =
            a.request(invoke(&portal.name, "hubspot.contact.upsert", &[("email", &email)], &format!("race-{n}")));
        async move { service.invoke_action(request).await }
    });
    for (n, outcome) in futures::future::join_all(calls).await.into_iter().enumerate() {
        let response = outcome.unwrap_or_else(|e| panic!("call {n}: {e:?}")).into_inner();
        assert_eq!(output_text(&response, "created"), "true", "call {n}");
    }
    assert_eq!(h.sandbox.counts().refreshes_for(Provider::HubSpot), 1, "exactly one refresh for both replicas");
    let connection = get_connection(&other, a, &portal.name).await;
    assert_eq!(connection.status, pb::ConnectionStatus::Active as i32, "{connection:?}");

    let sync = sync_to_end(&other, a, &portal.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    assert_eq!(h.sandbox.counts().refreshes_for(Provider::HubSpot), 1);
    stop.cancel();
    other.wait_for_syncs().await;
    h.stop().await;
}

#[tokio::test]
async fn two_replicas_refresh_a_rotating_token_once_on_sqlite() {
    two_replicas_refresh_a_rotating_token_once(TestDb::Sqlite).await;
}

#[tokio::test]
async fn two_replicas_refresh_a_rotating_token_once_on_postgres() {
    two_replicas_refresh_a_rotating_token_once(TestDb::Postgres).await;
}

#[tokio::test]
async fn an_invalid_grant_marks_the_connection_needs_reauth() {
    let h = short_lived_tokens(TestDb::Sqlite).await;
    let a = Caller::new();
    let portal = connect_hubspot_oauth(&h.service, a).await;
    h.sandbox.revoke_refresh_tokens(Provider::HubSpot);

    let sync = sync_to_end(&h.service, a, &portal.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Failed as i32, "{sync:?}");
    assert_eq!(sync.error.unwrap().code, tonic::Code::FailedPrecondition as i32);
    let connection = get_connection(&h.service, a, &portal.name).await;
    assert_eq!(connection.status, pb::ConnectionStatus::NeedsReauth as i32, "{connection:?}");
    let message = connection.error.unwrap().message;
    assert!(!message.contains("na1-"), "no token in the message: {message}");
    h.stop().await;
}

async fn full_sync_copies_every_object_once(db: TestDb) {
    let h = Harness::start(db).await;
    let (a, b) = (Caller::new(), Caller::new());
    let portal = connect_hubspot(&h.service, a).await;
    assert_eq!(portal.account, DEMO_HUBSPOT_PORTAL.to_string());
    let sync = sync_to_end(&h.service, a, &portal.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    assert!(sync.full);
    let mut total = 0;
    for (kind, object_type) in KINDS {
        let expected = h.sandbox.hubspot_count(object_type).unwrap();
        let records = all_records(&h.service, a, kind, "").await;
        assert_eq!(records.len(), expected, "{kind}");
        let ids: std::collections::BTreeSet<_> = records.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids.len(), expected, "{kind}: no duplicates");
        total += expected;
    }
    assert_eq!(sync.records_created as usize, total);

    // Associations ride on the records, as HubSpot has them.
    let deal = all_records(&h.service, a, "deal", "dealstage = \"closedwon\"").await.pop().expect("a won deal");
    let data = to_json(deal.data.as_ref().unwrap());
    let contacts = h.sandbox.hubspot_associations("deals", &deal.id, "contacts").unwrap();
    assert!(!contacts.is_empty());
    assert_eq!(data["associations"]["contacts"], serde_json::json!(contacts), "{data}");
    // The shop's customers are contacts.
    assert!(!all_records(&h.service, a, "contact", "lifecyclestage = \"customer\"").await.is_empty());

    // Another tenant sees none of it.
    assert!(all_records(&h.service, b, "deal", "").await.is_empty());

    // A change at HubSpot is found by the incremental search.
    h.sandbox.hubspot_update("deals", &deal.id, serde_json::json!({"dealstage": "contractsent"})).unwrap();
    let again = sync_to_end(&h.service, a, &portal.name, false).await;
    assert_eq!(again.status, pb::SyncStatus::Succeeded as i32, "{again:?}");
    assert!(!again.full);
    assert_eq!(again.records_created, 0);
    assert!(again.records_updated >= 1, "{again:?}");
    let changed = all_records(&h.service, a, "deal", &format!("id = \"{}\"", deal.id)).await;
    assert_eq!(to_json(changed[0].data.as_ref().unwrap())["dealstage"], "contractsent");
    h.stop().await;
}

#[tokio::test]
async fn full_sync_copies_every_object_once_on_sqlite() {
    full_sync_copies_every_object_once(TestDb::Sqlite).await;
}

#[tokio::test]
async fn full_sync_copies_every_object_once_on_postgres() {
    full_sync_copies_every_object_once(TestDb::Postgres).await;
}

#[tokio::test]
async fn a_sync_stopped_halfway_resumes_without_duplicates() {
    // Three times the demo data: pages enough to stop in the middle of.
    let h = Harness::start_with(TestDb::Sqlite, SandboxConfig { scale: 3, ..SandboxConfig::default() }, fast_retries())
        .await;
    let a = Caller::new();
    let portal = connect_hubspot(&h.service, a).await;
    let total: i64 = KINDS.iter().map(|(_, t)| h.sandbox.hubspot_count(t).unwrap() as i64).sum();
    let stop_first = tokio_util::sync::CancellationToken::new();
    let first = h.replica(stop_first.clone());
    let started = first
        // Contacts alone (a dozen pages): a kind finished before the stop would start over in a full sync.
        .start_sync(a.request(pb::StartSyncRequest {
            parent: portal.name.clone(),
            record_kinds: vec!["contact".into()],
            full: true,
        }))
        .await
        .unwrap()
        .into_inner()
        .sync
        .unwrap();
    loop {
        let sync = first.get_sync(a.request(pb::GetSyncRequest { name: started.name.clone() })).await.unwrap();
        if sync.into_inner().sync.unwrap().records_fetched > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop_first.cancel();
    first.wait_for_syncs().await;
    let stopped = wait_for_sync(&h.service, a, &started.name).await;
    assert_eq!(stopped.status, pb::SyncStatus::Cancelled as i32, "{stopped:?}");
    let contacts = h.sandbox.hubspot_count("contacts").unwrap() as i64;
    assert!(stopped.records_fetched < contacts, "stopped halfway through the contacts: {stopped:?}");

    let resumed = sync_to_end(&h.service, a, &portal.name, true).await;
    assert_eq!(resumed.status, pb::SyncStatus::Succeeded as i32, "{resumed:?}");
    assert_eq!(stopped.records_created + resumed.records_created, total, "every record created exactly once");
    assert!(resumed.records_fetched < total, "resumed instead of starting over: {resumed:?}");
    for (kind, object_type) in KINDS {
        assert_eq!(all_records(&h.service, a, kind, "").await.len(), h.sandbox.hubspot_count(object_type).unwrap());
    }
    h.stop().await;
}

#[tokio::test]
async fn incremental_windows_split_past_the_search_cap() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let portal = connect_hubspot(&h.service, a).await;
    let first = sync_to_end(&h.service, a, &portal.name, false).await;
    assert_eq!(first.status, pb::SyncStatus::Succeeded as i32, "{first:?}");
    let before = all_records(&h.service, a, "contact", "").await.len();

    // 12,000 contacts changed within one second: more than one search can page through.
    let created = h.sandbox.hubspot_bulk_create("contacts", 12_000).unwrap();
    let sync = sync_to_end(&h.service, a, &portal.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    assert!(!sync.full);
    assert_eq!(sync.records_created, 12_000, "{sync:?}");
    let contacts = all_records(&h.service, a, "contact", "").await;
    assert_eq!(contacts.len(), before + created.len());
    assert_eq!(contacts.len(), h.sandbox.hubspot_count("contacts").unwrap());

    let counts = h.sandbox.counts();
    let searches: Vec<_> =
        counts.log.iter().filter(|r| r.route == "hubspot POST /crm/v3/objects/contacts/search").collect();
    assert!(searches.len() >= 60, "12,000 results take 60 pages or more: {}", searches.len());
    assert!(searches.iter().all(|r| r.status == 200), "never paged past the cap");
    h.stop().await;
}

#[tokio::test]
async fn storms_of_429_are_waited_out() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let portal = connect_hubspot(&h.service, a).await;
    let second = Some(Duration::from_secs(1));
    h.sandbox.inject(Fault { provider: Provider::HubSpot, status: 429, count: 3, retry_after: second });
    // HubSpot's own 429s carry no Retry-After: the client backs off.
    h.sandbox.inject(Fault { provider: Provider::HubSpot, status: 429, count: 1, retry_after: None });

    let sync = sync_to_end(&h.service, a, &portal.name, false).await;
    assert_eq!(sync.status, pb::SyncStatus::Succeeded as i32, "{sync:?}");
    let total: usize = KINDS.iter().map(|(_, t)| h.sandbox.hubspot_count(t).unwrap()).sum();
    assert_eq!(sync.records_created as usize, total);
    let counts = h.sandbox.counts();
    assert_eq!(counts.throttled_for(Provider::HubSpot), 4, "every injected 429 was served");
    let early = counts.early_retries(Provider::HubSpot);
    assert!(early.is_empty(), "requests before Retry-After elapsed: {early:?}");
    h.stop().await;
}

fn receive(delivery: &switchboard_sandbox::Delivery) -> tonic::Request<pb::ReceiveWebhookRequest> {
    let mut request = tonic::Request::new(pb::ReceiveWebhookRequest {
        provider: "hubspot".into(),
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

async fn webhook_events(service: &ConnectorService, caller: Caller) -> Vec<pb::WebhookEvent> {
    let events = service.list_webhook_events(caller.request(pb::ListWebhookEventsRequest::default())).await.unwrap();
    events.into_inner().webhook_events
}

#[tokio::test]
async fn webhook_batches_refresh_or_delete_what_they_name_once_per_event() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let portal = connect_hubspot(&h.service, a).await;
    sync_to_end(&h.service, a, &portal.name, false).await;
    let bus: Arc<dyn EventBus> = Arc::new(EmbeddedBus::new(h.store.store.clone()));
    let relaying =
        tokio::spawn(OutboxRelay::new(h.store.store.clone(), bus.clone(), RelayOptions::default()).run(h.stop.clone()));
    let processing = tokio::spawn(h.service.clone().process_webhooks(bus, h.stop.clone()));
    let uri = format!("{}/v1/webhooks/hubspot", crate::support::settings(&h.sandbox).public_url);

    // A deal changes stage and a company is deleted at HubSpot; one batch tells, with the first event twice.
    let deals = all_records(&h.service, a, "deal", "dealstage = \"qualifiedtobuy\"").await;
    let deal = deals[0].id.clone();
    let company = all_records(&h.service, a, "company", "").await[0].id.clone();
    let changed = h.sandbox.hubspot_update("deals", &deal, serde_json::json!({"dealstage": "closedwon"})).unwrap();
    let deleted = h.sandbox.hubspot_delete("companies", &company).unwrap();
    let mut batch = changed.as_array().unwrap().clone();
    batch.extend(deleted.as_array().unwrap().iter().cloned());
    batch.push(changed[0].clone());
    let delivery = h.sandbox.hubspot_webhook(DEMO_HUBSPOT_PORTAL, &uri, serde_json::Value::Array(batch));

    let mut forged = delivery.clone();
    forged.body.push(b' ');
    assert_eq!(h.service.receive_webhook(receive(&forged)).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    let first = h.service.receive_webhook(receive(&delivery)).await.unwrap().into_inner();
    assert!(!first.duplicate, "two new events in it");
    let events = webhook_events(&h.service, a).await;
    assert_eq!(events.len(), 2, "the replayed eventId is one event: {events:?}");
    assert!(events.iter().any(|e| e.event_type == "deal.propertyChange" && e.delivery_count == 2));
    assert_eventually!(
        webhook_events(&h.service, a).await.iter().all(|e| e.status == pb::WebhookEventStatus::Processed as i32)
    );
    let stage = all_records(&h.service, a, "deal", &format!("id = \"{deal}\"")).await;
    assert_eq!(to_json(stage[0].data.as_ref().unwrap())["dealstage"], "closedwon", "fetched afresh");
    assert!(all_records(&h.service, a, "company", &format!("id = \"{company}\"")).await.is_empty(), "deleted");
    let processed: Vec<_> = webhook_events(&h.service, a).await.iter().map(|e| e.process_time).collect();

    // HubSpot retries the whole batch: nothing is stored or processed again.
    let again = h.service.receive_webhook(receive(&delivery)).await.unwrap().into_inner();
    assert!(again.duplicate);
    let after: Vec<_> = webhook_events(&h.service, a).await.iter().map(|e| e.process_time).collect();
    assert_eq!(after, processed, "processed once");

    // The newer `object.*` form, and the sandbox's own delivery when a target is set (signed for that URL — here
    // the platform's public webhook URL).
    let contact = all_records(&h.service, a, "contact", "").await[0].id.clone();
    let events = h.sandbox.hubspot_update("contacts", &contact, serde_json::json!({"jobtitle": "Buyer"})).unwrap();
    let mut event = events[0].clone();
    event["subscriptionType"] = serde_json::json!("object.propertyChange");
    event["objectTypeId"] = serde_json::json!("0-1");
    let delivery = h.sandbox.hubspot_webhook(DEMO_HUBSPOT_PORTAL, &uri, serde_json::json!([event]));
    h.service.receive_webhook(receive(&delivery)).await.unwrap();
    assert_eventually!(
        all_records(&h.service, a, "contact", &format!("id = \"{contact}\" AND jobtitle = \"Buyer\"")).await.len() == 1
    );

    h.stop.cancel();
    relaying.await.unwrap();
    processing.await.unwrap();
    h.stop().await;
}

/// The published v1 case of `../shared/vectors/webhooks.json` (a `contact.creation` batch for portal 62515) through
/// the service, with the platform's app secret set to the vector's; v2 and v3 cases, which need the vector's URI and
/// clock, run through the provider's check in its unit tests.
#[tokio::test]
async fn the_published_v1_vector_is_accepted_and_a_tampered_one_refused() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    connect_hubspot(&h.service, a).await;
    let mut settings = crate::support::settings(&h.sandbox);
    settings.hubspot_client_secret = switchboard_connectors::Secret::new("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy");
    let service = ConnectorService::with_parts(
        h.store.store.clone(),
        h.keys.clone(),
        h.cache.clone(),
        settings,
        h.retry,
        h.stop.clone(),
    )
    .unwrap();
    let body = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
    let vector = switchboard_sandbox::Delivery {
        headers: vec![
            ("X-HubSpot-Signature".into(), "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de".into()),
            ("X-HubSpot-Signature-Version".into(), "v1".into()),
        ],
        body: body.as_bytes().to_vec(),
        event_id: "1".into(),
    };
    let stored = service.receive_webhook(receive(&vector)).await.unwrap().into_inner();
    assert!(stored.webhook_event.starts_with("webhookEvents/"), "{stored:?}");
    let events = webhook_events(&h.service, a).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "contact.creation");
    let mut tampered = vector.clone();
    tampered.body = body.replace("123", "124").into_bytes();
    assert_eq!(service.receive_webhook(receive(&tampered)).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    h.stop().await;
}

#[tokio::test]
async fn each_action_acts_once_and_is_audited() {
    let h = Harness::start(TestDb::Sqlite).await;
    let a = Caller::new();
    let portal = connect_hubspot(&h.service, a).await;
    let catalog = h.service.list_actions(a.request(pb::ListActionsRequest::default())).await.unwrap().into_inner();
    for name in ["hubspot.contact.upsert", "hubspot.deal.create", "hubspot.note.create", "hubspot.association.create"] {
        let action = catalog.actions.iter().find(|x| x.name == name).unwrap_or_else(|| panic!("{name} listed"));
        assert!(action.needs_approval, "{name} writes");
        assert!(action.input_schema.as_ref().unwrap().fields.contains_key("properties"), "{name}");
    }
    let act = |caller: Caller, request: pb::InvokeActionRequest| {
        let service = h.service.clone();
        async move { service.invoke_action(caller.request(request)).await.map(|r| r.into_inner()) }
    };

    // Upsert by e-mail: twice with one key is one call; a new key updates the same contact.
    let upsert = |key: &str, first: &str| {
        invoke(&portal.name, "hubspot.contact.upsert", &[("email", "jo.buyer@example.com"), ("firstname", first)], key)
    };
    let made = act(a, upsert("c-1", "Jo")).await.unwrap();
    assert!(!made.replayed && !made.audit_event_id.is_empty());
    assert_eq!(output_text(&made, "created"), "true");
    let replay = act(a, upsert("c-1", "Jo")).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.audit_event_id, made.audit_event_id);
    let renamed = act(a, upsert("c-2", "Joanna")).await.unwrap();
    assert_eq!(output_text(&renamed, "created"), "false");
    let contact = output_text(&made, "id");
    assert_eq!(output_text(&renamed, "id"), contact, "the same contact");
    let stored = h.sandbox.hubspot_object("contacts", "jo.buyer@example.com", Some("email")).unwrap();
    assert_eq!(stored["properties"]["firstname"], "Joanna");

    // A deal in a stage, with the contact; the same key again is the engine's replay.
    let deals = h.sandbox.hubspot_count("deals").unwrap();
    let deal_request = |key: &str| {
        invoke(
            &portal.name,
            "hubspot.deal.create",
            &[("dealname", "Jo's cafe - monthly beans"), ("dealstage", "qualifiedtobuy"), ("contact_id", &contact)],
            key,
        )
    };
    let deal = act(a, deal_request("d-1")).await.unwrap();
    assert!(!deal.audit_event_id.is_empty());
    assert_eq!(output_text(&deal, "dealstage"), "qualifiedtobuy");
    let deal_id = output_text(&deal, "id");
    assert_eq!(h.sandbox.hubspot_associations("deals", &deal_id, "contacts").unwrap(), std::slice::from_ref(&contact));
    assert!(act(a, deal_request("d-1")).await.unwrap().replayed);
    assert_eq!(h.sandbox.hubspot_count("deals").unwrap(), deals + 1);

    // A first attempt that reached HubSpot but was never recorded by the platform (it crashed before): the deal
    // carries the attempt's key, so the retry finds that deal instead of making a second.
    let lost = hubspot_api(
        &h,
        "/crm/v3/objects/deals",
        serde_json::json!({"properties": {"dealname": "Jo's cafe - monthly beans", "pipeline": "default",
            "dealstage": "qualifiedtobuy", "switchboard_idempotency_key": format!("{}:d-lost", a.tenant)}}),
    )
    .await;
    let retried = act(a, deal_request("d-lost")).await.unwrap();
    assert!(!retried.replayed, "the platform did not know the key");
    assert_eq!(output_text(&retried, "id"), lost["id"].as_str().unwrap(), "the first attempt's deal");
    assert_eq!(h.sandbox.hubspot_count("deals").unwrap(), deals + 2, "no third deal");

    // A stage the pipeline does not have: HubSpot's error, clearly.
    let refused =
        act(a, invoke(&portal.name, "hubspot.deal.create", &[("dealname", "x"), ("dealstage", "won-ish")], "d-2"))
            .await
            .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("VALIDATION_ERROR") && refused.message().contains("won-ish"),
        "{}",
        refused.message()
    );

    // A note on the deal, once.
    let notes = h.sandbox.hubspot_count("notes").unwrap();
    let note = act(
        a,
        invoke(&portal.name, "hubspot.note.create", &[("body", "Tasting booked"), ("deal_id", &deal_id)], "n-1"),
    )
    .await
    .unwrap();
    assert!(!note.audit_event_id.is_empty());
    let note_id = output_text(&note, "id");
    let note_request = |key: &str| {
        invoke(&portal.name, "hubspot.note.create", &[("body", "Tasting booked"), ("deal_id", &deal_id)], key)
    };
    assert!(act(a, note_request("n-1")).await.unwrap().replayed);
    let lost = hubspot_api(
        &h,
        "/crm/v3/objects/notes",
        serde_json::json!({"properties": {"hs_note_body": "Tasting booked",
            "switchboard_idempotency_key": format!("{}:n-lost", a.tenant)}}),
    )
    .await;
    let again = act(a, note_request("n-lost")).await.unwrap();
    assert_eq!(output_text(&again, "id"), lost["id"].as_str().unwrap(), "the first attempt's note");
    assert_eq!(h.sandbox.hubspot_count("notes").unwrap(), notes + 2);
    assert_eq!(h.sandbox.hubspot_associations("notes", &note_id, "deals").unwrap(), std::slice::from_ref(&deal_id));

    // Associate the contact with a company, twice (the second changes nothing).
    let company = h.sandbox.hubspot_object("companies", &first_company(&h, a, &portal).await, None).unwrap();
    let company = company["id"].as_str().unwrap().to_owned();
    let link = |key: &str| {
        invoke(
            &portal.name,
            "hubspot.association.create",
            &[("from_type", "contact"), ("from_id", &contact), ("to_type", "company"), ("to_id", &company)],
            key,
        )
    };
    let linked = act(a, link("l-1")).await.unwrap();
    assert!(!linked.audit_event_id.is_empty());
    act(a, link("l-2")).await.unwrap();
    assert_eq!(
        h.sandbox.hubspot_associations("contacts", &contact, "companies").unwrap(),
        std::slice::from_ref(&company)
    );

    // Every action left an audit record id; replays share the first one's.
    let ids = [&made, &renamed, &deal, &note, &linked].map(|r| r.audit_event_id.clone());
    assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), ids.len());
    h.stop().await;
}

/// A POST to the sandbox's HubSpot API with the demo portal's private app token, as another HubSpot client would.
async fn hubspot_api(h: &Harness, path: &str, body: serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", h.sandbox.hubspot_base()))
        .bearer_auth(switchboard_sandbox::DEMO_HUBSPOT_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

async fn first_company(h: &Harness, caller: Caller, portal: &pb::Connection) -> String {
    sync_to_end(&h.service, caller, &portal.name, false).await;
    all_records(&h.service, caller, "company", "").await[0].id.clone()
}
