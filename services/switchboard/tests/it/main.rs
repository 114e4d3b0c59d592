//! The `switchboard` binary as a user runs it: `up` starts the four services, every health check reports
//! SERVING, client commands reach the mesh with the operator certificate, and SIGTERM exits 0.

#![allow(clippy::unwrap_used)] // tests and benchmarks fail loudly by design

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// Five free loopback ports (bound then released: a small race, acceptable for a process test).
fn free_ports() -> Vec<u16> {
    let listeners: Vec<_> = (0..5).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

struct Platform {
    child: Child,
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
}

impl Platform {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports();
        let env = vec![
            ("SWITCHBOARD_DATA_DIR", dir.path().join("data").display().to_string()),
            ("SWITCHBOARD_GATEWAY_ADDR", format!("127.0.0.1:{}", ports[0])),
            ("SWITCHBOARD_AUDIT_ADDR", format!("127.0.0.1:{}", ports[1])),
            ("SWITCHBOARD_CONNECTORS_ADDR", format!("127.0.0.1:{}", ports[2])),
            ("SWITCHBOARD_ORCHESTRATOR_ADDR", format!("127.0.0.1:{}", ports[3])),
            ("SWITCHBOARD_GATEWAY_ADMIN_ADDR", format!("127.0.0.1:{}", ports[4])),
        ];
        let log = std::fs::File::create(dir.path().join("up.log")).unwrap();
        let child = Command::new(BIN)
            .arg("up")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("DATABASE_URL")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self { child, dir, env }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a client command with `input` on its standard input.
    fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(BIN)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit; returns the status and the process's log.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(Instant::now() < deadline, "did not exit within 15 s of SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn up_serves_all_four_health_checks_and_exits_0_on_sigterm() {
    let platform = Platform::start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let out = platform.run(&["health"]);
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "not all services SERVING within 30 s:\n{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            platform.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for service in ["gateway", "orchestrator", "connectors", "audit"] {
        let line = health.lines().find(|l| l.starts_with(service)).unwrap_or_else(|| panic!("{service} in {health}"));
        assert!(line.ends_with("SERVING"), "{line}");
    }

    // A first client command: an empty chain verifies.
    let verify = platform.run(&["audit", "verify", "--tenant", "0190f6a4-7c1e-7d2a-9a1b-3c4d5e6f7a8b"]);
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&verify.stderr));
    assert!(stdout.contains("audit chain valid: 0 events"), "{stdout}");

    // Bootstrap a tenant and its owner through the running platform.
    let tenant = platform.run(&["tenant", "create", "acme", "--display-name", "Acme Inc."]);
    assert!(tenant.status.success(), "{}", String::from_utf8_lossy(&tenant.stderr));
    let tenant_id = String::from_utf8_lossy(&tenant.stdout).trim().to_owned();
    assert_eq!(tenant_id.len(), 36, "prints the tenant id: {tenant_id}");
    let user = platform.run_with_input(
        &["user", "create", "--tenant", "acme", "--email", "owner@acme.example", "--role", "owner"],
        "correct horse battery staple\n",
    );
    assert!(user.status.success(), "{}", String::from_utf8_lossy(&user.stderr));
    let again = platform.run(&["tenant", "create", "acme"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("AlreadyExists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let weak = platform.run_with_input(&["user", "create", "--tenant", "acme", "--email", "b@acme.example"], "short\n");
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12"), "{}", String::from_utf8_lossy(&weak.stderr));

    // --tenant takes the slug as well as the id.
    let by_slug = platform.run(&["audit", "verify", "--tenant", "acme"]);
    let stdout = String::from_utf8_lossy(&by_slug.stdout);
    assert!(by_slug.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&by_slug.stderr));
    assert!(stdout.contains(&format!("tenant {tenant_id}: audit chain valid")), "{stdout}");

    // Bad input gets a clear error and a failing exit code, not a panic.
    let bad = platform.run(&["audit", "verify", "--tenant", "no-such-tenant"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("NotFound") && stderr.contains("no-such-tenant"), "{stderr}");
    let bad = platform.run(&["audit", "verify", "--tenant", "a/b"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("slug or id"));

    let (status, log) = platform.terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM drains and exits 0; log:\n{log}");
    assert!(log.contains("shutdown signal received"), "{log}");
}

#[test]
fn a_taken_port_fails_the_start_with_its_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["up", "--gateway-addr", &addr])
        .env("SWITCHBOARD_DATA_DIR", dir.path())
        .env("SWITCHBOARD_AUDIT_ADDR", "127.0.0.1:0")
        .env("SWITCHBOARD_CONNECTORS_ADDR", "127.0.0.1:0")
        .env("SWITCHBOARD_ORCHESTRATOR_ADDR", "127.0.0.1:0")
        .env("SWITCHBOARD_GATEWAY_ADMIN_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&addr) && stderr.contains("cannot bind"), "{stderr}");
}

#[test]
fn certs_init_creates_the_ca_and_a_leaf_per_workload() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN).args(["certs", "init"]).env("SWITCHBOARD_DATA_DIR", dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["ca", "gateway", "orchestrator", "connectors", "audit", "operator"] {
        assert!(dir.path().join("certs").join(format!("{name}.pem")).exists(), "{name}.pem");
    }
}
