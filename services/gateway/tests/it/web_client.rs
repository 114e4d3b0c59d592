//! The gateway through a real gRPC-Web client library: connect-web's transport under Node (unary, server
//! streaming, an error status, and the refusal of gRPC-Web+JSON). `scripts/setup.sh` installs it (`make test` runs that).

use std::process::Command;

use switchboard_test_support::{TestDb, TestPlatform};

use crate::suite::{login, tenant_with_user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_web_client_unary_and_streaming() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web-client");
    assert!(
        dir.join("node_modules/@connectrpc/connect-web").exists(),
        "the web client is not installed: run scripts/setup.sh (make test does) to npm ci {}",
        dir.display()
    );
    let platform = TestPlatform::start(TestDb::Sqlite).await;
    tenant_with_user(&platform, "acme", "owner@acme.example").await;
    let session = login(&platform, "acme", "owner@acme.example").await;
    let addr = platform.gateway_addr.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg("run.mjs").arg(&addr).arg(&session.access_token).current_dir(&dir).output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("all checks passed"), "{stdout}");
    assert_eq!(stdout.matches("ok - ").count(), 4, "{stdout}");
    platform.stop().await;
}
