//! `make bench`: throughput and latency of the platform on this machine, printed as a table.
//!
//! Everything goes through the real path: the audit service in this process, called over mTLS gRPC on loopback
//! sockets with a platform service's certificate, writing to SQLite or PostgreSQL.
//!
//! - AppendEvents, single events: 16 concurrent callers, each its own tenant.
//! - AppendEvents, 100-event batches: 4 concurrent callers, each its own tenant.
//! - VerifyChain over a 100,000-event chain of one tenant.

#![allow(clippy::unwrap_used)] // tests and benchmarks fail loudly by design

use std::time::{Duration, Instant};

use switchboard_mesh::Identity;
use switchboard_mesh::context::RequestContext;
use switchboard_proto::audit::v1 as pb;
use switchboard_store::TenantId;
use switchboard_test_support::{TestDb, TestPlatform};

fn event(i: usize) -> pb::NewEvent {
    pb::NewEvent {
        actor: "user:0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b".into(),
        action: if i.is_multiple_of(2) { "record.read".into() } else { "refund.issue".into() },
        resource: format!("orders/{i}"),
        outcome: pb::Outcome::Success as i32,
        ..Default::default()
    }
}

struct Row {
    workload: String,
    backend: &'static str,
    events: u64,
    elapsed: Duration,
    note: String,
}

/// `callers` tasks, each appending `calls` requests of `batch` events to its own tenant.
async fn append_throughput(platform: &TestPlatform, callers: usize, calls: usize, batch: usize) -> (u64, Duration) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let mut client = platform.audit_as(Identity::gateway());
        let ctx = RequestContext::new_root().with_tenant(TenantId::generate());
        tasks.push(tokio::spawn(async move {
            for c in 0..calls {
                let events = (0..batch).map(|i| event(c * batch + i)).collect();
                client.append_events(ctx.request(pb::AppendEventsRequest { events })).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("caller");
    }
    ((callers * calls * batch) as u64, start.elapsed())
}

async fn verify_100k(platform: &TestPlatform) -> (u64, Duration, Duration) {
    let mut client = platform.audit_as(Identity::gateway());
    // Verifying the whole chain is an admin's call.
    let ctx = RequestContext::new_root().with_tenant(TenantId::generate()).with_role(switchboard_types::Role::Admin);
    let fill = Instant::now();
    for c in 0..100 {
        let events = (0..1000).map(|i| event(c * 1000 + i)).collect();
        client.append_events(ctx.request(pb::AppendEventsRequest { events })).await.expect("fill");
    }
    let filled = fill.elapsed();
    let start = Instant::now();
    let mut request = ctx.request(pb::VerifyChainRequest {});
    request.set_timeout(Duration::from_secs(120));
    let report = client.verify_chain(request).await.expect("verify").into_inner();
    let elapsed = start.elapsed();
    assert!(report.valid && report.checked_events == 100_000, "{report:?}");
    (100_000, elapsed, filled)
}

async fn run(db: TestDb, backend: &'static str, rows: &mut Vec<Row>) {
    let platform = TestPlatform::start(db).await;
    // Warm up connections and caches.
    let _ = append_throughput(&platform, 4, 10, 1).await;

    let (events, elapsed) = append_throughput(&platform, 16, 250, 1).await;
    rows.push(Row {
        workload: "AppendEvents, 1 event/call, 16 callers".into(),
        backend,
        events,
        elapsed,
        note: String::new(),
    });
    let (events, elapsed) = append_throughput(&platform, 4, 50, 100).await;
    rows.push(Row {
        workload: "AppendEvents, 100 events/call, 4 callers".into(),
        backend,
        events,
        elapsed,
        note: if backend == "PostgreSQL" { "target >= 5,000 events/s".into() } else { String::new() },
    });
    let (events, elapsed, filled) = verify_100k(&platform).await;
    rows.push(Row {
        workload: "VerifyChain, one 100,000-event chain".into(),
        backend,
        events,
        elapsed,
        note: format!("target < 1 s (filled in {:.1} s at 1,000/call)", filled.as_secs_f64()),
    });
    platform.stop().await;
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

fn main() {
    // `cargo bench` passes `--bench`; no arguments are needed.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut rows = Vec::new();
    runtime.block_on(async {
        run(TestDb::Sqlite, "SQLite", &mut rows).await;
        run(TestDb::Postgres, "PostgreSQL", &mut rows).await;
    });
    println!();
    println!("Switchboard benchmark: audit service over mTLS gRPC on loopback");
    println!("machine: {}", machine());
    println!();
    println!("| workload | backend | events | seconds | events/s | note |");
    println!("|---|---|---:|---:|---:|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.3} | {:.0} | {} |",
            r.workload,
            r.backend,
            r.events,
            r.elapsed.as_secs_f64(),
            r.events as f64 / r.elapsed.as_secs_f64(),
            r.note
        );
    }
}
