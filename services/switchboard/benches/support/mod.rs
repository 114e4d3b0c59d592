//! What the benchmarks that run the platform as processes share: starting and stopping them, a closed-loop load of
//! concurrent callers with latencies, and the CPU and memory the processes used, read from /proc.

// Each benchmark uses a part of this module.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Child processes, killed when dropped (also when a benchmark panics).
pub struct Processes(pub Vec<Child>);

impl Processes {
    pub fn pids(&self) -> Vec<u32> {
        self.0.iter().map(Child::id).collect()
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a `switchboard` client command (`bin args...`) in `env`, with `input` on its standard input.
pub fn cli<K: AsRef<OsStr>, V: AsRef<OsStr>>(bin: &str, env: &[(K, V)], args: &[&str], input: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cli");
    if let Some(input) = input {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    }
    child.wait_with_output().expect("cli output")
}

/// Starts `bin serve <service>` in `env`, its log discarded.
pub fn serve<K: AsRef<OsStr>, V: AsRef<OsStr>>(bin: &str, env: &[(K, V)], service: &str) -> Child {
    Command::new(bin)
        .args(["serve", service])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .spawn()
        .expect("serve")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
}

/// Peak resident memory of a process (VmHWM), MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_owned()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time (user + system, all threads) a process has used so far.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return Duration::ZERO };
    // The command name (field 2) may hold spaces; the fields after it are plain. utime and stime are fields 14, 15.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Waits until process `pid` has gone quiet (under 5% of a core for half a second): its start-up work, such as
/// building the intent router or syncing the demo tenant, is done and will not compete with a measurement. Gives up
/// after `limit`. Returns how long it waited.
pub fn wait_until_idle(pid: u32, limit: Duration) -> Duration {
    let started = Instant::now();
    let window = Duration::from_millis(500);
    while started.elapsed() < limit {
        let before = cpu_time(pid);
        std::thread::sleep(window);
        if cpu_time(pid).saturating_sub(before) < window / 20 {
            break;
        }
    }
    started.elapsed()
}

/// CPU used by all of `pids` together.
pub fn cpu_of(pids: &[u32]) -> Duration {
    pids.iter().map(|&pid| cpu_time(pid)).sum()
}

/// The machine, for the heading of a results table.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |m| m.trim().to_owned());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores ({model}), Linux {}", kernel.trim())
}

/// What one load run measured.
pub struct Measured {
    pub name: String,
    pub requests: u64,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies_us: Vec<u32>,
    /// CPU the measured processes used during the run (warm-up excluded).
    pub cpu: Duration,
}

impl Measured {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Milliseconds.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    /// CPU microseconds per request, over every measured process.
    pub fn cpu_us_per_request(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        self.cpu.as_secs_f64() * 1e6 / self.requests as f64
    }
}

/// Runs `connections` closed loops of `call` (one per connection, each from `make(i)`) for `run` after `warmup`,
/// and measures the CPU that `pids` used over `run`. Every call must succeed.
pub async fn drive<F, Fut>(
    name: impl Into<String>,
    connections: usize,
    warmup: Duration,
    run: Duration,
    pids: &[u32],
    make: impl Fn(usize) -> F,
) -> Measured
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let name = name.into();
    let start = Instant::now() + warmup;
    let end = start + run;
    let mut tasks = Vec::new();
    for i in 0..connections {
        let mut call = make(i);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let ok = call().await;
                if t0 >= start {
                    if ok {
                        latencies.push(t0.elapsed().as_micros() as u32);
                    } else {
                        failures += 1;
                    }
                }
            }
            (latencies, failures)
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let cpu_before = cpu_of(pids);
    tokio::time::sleep_until(end.into()).await;
    let cpu = cpu_of(pids).saturating_sub(cpu_before);
    let mut latencies_us = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await.expect("task");
        latencies_us.extend(l);
        failures += f;
    }
    assert_eq!(failures, 0, "{name}: {failures} failed calls");
    latencies_us.sort_unstable();
    Measured { name, requests: latencies_us.len() as u64, elapsed: run, latencies_us, cpu }
}

type Sender = std::sync::Arc<tokio::sync::Mutex<Option<hyper::client::conn::http1::SendRequest<String>>>>;

/// An HTTP/1.1 keep-alive connection to `127.0.0.1:port`, opened on first use.
#[derive(Clone, Default)]
pub struct Http1(Sender);

impl Http1 {
    /// Sends `request`; its status and whole body, or `None` if the connection failed.
    pub async fn send(&self, port: u16, request: http::Request<String>) -> Option<(http::StatusCode, Vec<u8>)> {
        use http_body_util::BodyExt;
        let mut guard = self.0.lock().await;
        if guard.is_none() {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
            let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.ok()?;
            tokio::spawn(conn);
            *guard = Some(send);
        }
        let send = guard.as_mut()?;
        match send.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await.ok()?.to_bytes().to_vec();
                Some((status, body))
            }
            Err(_) => {
                *guard = None;
                None
            }
        }
    }
}
