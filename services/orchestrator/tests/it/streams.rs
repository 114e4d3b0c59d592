//! Re-attaching to a run's stream: the log after `after_sequence`, then live, without gaps or duplicates.

use switchboard_proto::orchestrator::v1::ask_response::Event;
use switchboard_test_support::TestDb;

use crate::support::{Caller, Harness, assert_contiguous, is_approval, is_finished};

#[tokio::test]
async fn re_attaching_replays_after_the_given_sequence_then_follows_live() {
    let h = Harness::start(TestDb::Sqlite).await;
    let owner = Caller::owner();
    h.connect_stripe(owner).await;

    let all = h.ask(owner, "How many charges failed last month?").await.rest().await;
    assert_contiguous(&all, 1);
    let run = all[0].run.clone();
    for after in 0..all.len() as i64 {
        let replay = h.attach(owner, &run, after).await.rest().await;
        assert_eq!(replay, all[after as usize..].to_vec(), "after {after}");
    }
    assert!(h.attach(owner, &run, all.len() as i64).await.rest().await.is_empty(), "nothing after the last");

    // A run still going: a second stream attached mid-way sees the same events as the first.
    let refund_to = {
        let charges = h.records(owner, "charge").await;
        let data = charges.iter().find_map(|r| {
            let fields = &r.data.as_ref()?.fields;
            match &fields.get("receipt_email")?.kind {
                Some(prost_types::value::Kind::StringValue(s)) => Some(s.clone()),
                _ => None,
            }
        });
        data.unwrap()
    };
    let mut first = h.ask(owner, &format!("Refund the last charge of {refund_to}")).await;
    let head = first.until(|e| matches!(e, Event::Plan(_))).await;
    let mut second = h.attach(owner, &head[0].run, 1).await;
    let mut a = head.clone();
    a.extend(first.until(is_approval).await);
    let b = second.until(is_approval).await;
    assert_eq!(a[1..].to_vec(), b);
    let cancel =
        switchboard_proto::orchestrator::v1::CancelRunRequest { name: head[0].run.clone(), reason: String::new() };
    use switchboard_proto::orchestrator::v1::orchestrator_service_server::OrchestratorService as _;
    h.orchestrator.cancel_run(owner.request(cancel)).await.unwrap();
    let tail_a = first.rest().await;
    let tail_b = second.rest().await;
    assert_eq!(tail_a, tail_b);
    assert!(tail_a.last().unwrap().event.as_ref().is_some_and(is_finished));
    a.extend(tail_a);
    assert_contiguous(&a, 1);
    h.stop().await;
}
