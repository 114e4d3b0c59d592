//! Prometheus metrics of one platform (one per process in production; tests run several side by side), served as
//! the text exposition format at `GET /metrics` on a listener of their own ([`serve`]), never on the public port.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `switchboard_rpc_requests_total` | service, rpc, protocol, status | calls answered, by outcome (gRPC code, or HTTP status for REST) |
//! | `switchboard_rpc_duration_seconds` | service, rpc, protocol | time to the response head (the whole call, for unary RPCs) |
//! | `switchboard_rate_limited_total` | scope | requests refused by a rate limit (tenant, user, client) |
//! | `switchboard_outbox_backlog` | | events written but not yet published |
//! | `switchboard_outbox_lag_seconds` | | age of the oldest of them |
//! | `switchboard_consumer_lag` | topic, group | messages on the bus a consumer group has not committed |
//! | `switchboard_open_connections` | listener | connections open now |
//! | `switchboard_events_rejected_total` | reason | bus messages dropped for a missing or wrong signature |
//!
//! The mesh's inbound layer and the gateway's edge record the RPC metrics, so every service on the mesh has them
//! by construction. Label values are bounded: RPCs are the contracts' own paths (anything else is `unknown`).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    service: String,
    rpc: String,
    protocol: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    service: String,
    rpc: String,
    protocol: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabels {
    topic: String,
    group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

struct Inner {
    registry: Registry,
    rpc_requests: Family<RpcLabels, Counter>,
    rpc_seconds: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    rate_limited: Family<ScopeLabels, Counter>,
    outbox_backlog: Gauge,
    outbox_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
    consumer_lag: Family<ConsumerLabels, Gauge>,
    connections: Family<ListenerLabels, Gauge>,
    events_rejected: Family<ReasonLabels, Counter>,
}

/// The metrics of one platform. Cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        registry.register("rpc_requests", "Calls answered, by outcome", rpc_requests.clone());
        let rpc_seconds = Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register("rpc_duration_seconds", "Time to the response head", rpc_seconds.clone());
        let rate_limited = Family::<ScopeLabels, Counter>::default();
        registry.register("rate_limited", "Requests refused by a rate limit", rate_limited.clone());
        let outbox_backlog = Gauge::default();
        registry.register("outbox_backlog", "Events written but not yet published", outbox_backlog.clone());
        let outbox_lag = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register("outbox_lag_seconds", "Age of the oldest unpublished event", outbox_lag.clone());
        let consumer_lag = Family::<ConsumerLabels, Gauge>::default();
        registry.register("consumer_lag", "Messages a consumer group has not committed", consumer_lag.clone());
        let connections = Family::<ListenerLabels, Gauge>::default();
        registry.register("open_connections", "Connections open now", connections.clone());
        let events_rejected = Family::<ReasonLabels, Counter>::default();
        registry.register("events_rejected", "Bus messages dropped for their signature", events_rejected.clone());
        Self(Arc::new(Inner {
            registry,
            rpc_requests,
            rpc_seconds,
            rate_limited,
            outbox_backlog,
            outbox_lag,
            consumer_lag,
            connections,
            events_rejected,
        }))
    }

    /// Records one answered call.
    pub fn record_rpc(&self, service: &str, rpc: &str, protocol: &str, status: &str, elapsed: Duration) {
        let labels = LatencyLabels { service: service.into(), rpc: rpc.into(), protocol: protocol.into() };
        self.0.rpc_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
        let LatencyLabels { service, rpc, protocol } = labels;
        self.0.rpc_requests.get_or_create(&RpcLabels { service, rpc, protocol, status: status.into() }).inc();
    }

    /// Counts a request refused by the `scope` rate limit (`tenant`, `user`, `client`).
    pub fn rate_limited(&self, scope: &str) {
        self.0.rate_limited.get_or_create(&ScopeLabels { scope: scope.into() }).inc();
    }

    /// Sets the outbox's backlog and the age of its oldest unpublished event.
    pub fn set_outbox(&self, backlog: u64, oldest: Duration) {
        self.0.outbox_backlog.set(i64::try_from(backlog).unwrap_or(i64::MAX));
        self.0.outbox_lag.set(oldest.as_secs_f64());
    }

    /// Sets how far `group` is behind on `topic`.
    pub fn set_consumer_lag(&self, topic: &str, group: &str, lag: u64) {
        let labels = ConsumerLabels { topic: topic.into(), group: group.into() };
        self.0.consumer_lag.get_or_create(&labels).set(i64::try_from(lag).unwrap_or(i64::MAX));
    }

    /// The gauge of connections open on `listener`, for the accept loop to move.
    pub fn connections(&self, listener: &str) -> Gauge {
        self.0.connections.get_or_create(&ListenerLabels { listener: listener.into() }).clone()
    }

    /// Counts a bus message dropped for its signature (`unsigned`, `bad tag`, ...).
    pub fn event_rejected(&self, reason: &str) {
        self.0.events_rejected.get_or_create(&ReasonLabels { reason: reason.into() }).inc();
    }

    /// Every metric in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.0.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes (anything else is 404). Plain HTTP/1.1, for the
/// scraper on the pod's network or the machine's loopback, never the public port.
pub async fn serve(
    metrics: Metrics,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(%addr, "metrics listening (GET /metrics)");
    tokio::pin!(shutdown);
    loop {
        let (mut stream, _) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            // One small request line is all a scrape sends; anything longer or slower is dropped.
            let mut head = vec![0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head)).await;
            let Ok(Ok(n)) = read else { return };
            let line = String::from_utf8_lossy(&head[..n]);
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let response = if method == "GET" && (path == "/metrics" || path.starts_with("/metrics?")) {
                let body = metrics.encode();
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn what_is_recorded_is_encoded() {
        let metrics = Metrics::new();
        metrics.record_rpc(
            "audit",
            "/switchboard.audit.v1.AuditService/ListEvents",
            "grpc",
            "0",
            Duration::from_millis(3),
        );
        metrics.rate_limited("tenant");
        metrics.set_outbox(7, Duration::from_millis(1500));
        metrics.connections("gateway-public").inc();
        let text = metrics.encode();
        assert!(text.contains(r#"switchboard_rpc_requests_total{service="audit",rpc="/switchboard.audit.v1.AuditService/ListEvents",protocol="grpc",status="0"} 1"#), "{text}");
        assert!(text.contains("switchboard_rpc_duration_seconds_bucket"), "{text}");
        assert!(text.contains(r#"switchboard_rate_limited_total{scope="tenant"} 1"#), "{text}");
        assert!(text.contains("switchboard_outbox_backlog 7"), "{text}");
        assert!(text.contains("switchboard_outbox_lag_seconds 1.5"), "{text}");
        assert!(text.contains(r#"switchboard_open_connections{listener="gateway-public"} 1"#), "{text}");
    }
}
