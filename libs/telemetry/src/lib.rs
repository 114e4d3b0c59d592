//! Telemetry: one process-wide tracing subscriber (human-readable on a terminal, JSON lines otherwise) and
//! OpenTelemetry tracing, exported over OTLP/gRPC only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; and each
//! platform's Prometheus [`metrics`].
//!
//! The OpenTelemetry layer is installed only when spans are exported: building every span's OTel data for no
//! consumer cost a twentieth of an authenticated request's CPU. Trace ids travel either way:
//! `switchboard-mesh` keeps each request's W3C trace context itself, continues inbound `traceparent` headers and
//! injects them on outbound calls (as children of the current span when there is one, else of the inbound one),
//! and the gateway writes the trace id into its access log. This crate does not know about gRPC metadata.

mod json;
pub mod metrics;

use std::io::IsTerminal;

pub use crate::metrics::Metrics;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The target of access-log events (one per request at the edge).
pub const ACCESS_TARGET: &str = "access";

/// Environment variable that turns on OTLP export (standard OpenTelemetry name).
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// What can go wrong while installing telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built from the environment.
    #[error("cannot set up OTLP export to {OTLP_ENDPOINT_ENV}: {0}")]
    Exporter(String),
    /// `RUST_LOG` does not parse.
    #[error("RUST_LOG is not a valid filter: {0}")]
    Filter(String),
}

/// Keeps the tracer provider (when spans are exported) alive; dropping it flushes and shuts down export.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Flush what is batched; errors here have nowhere useful to go.
        if let Some(provider) = &self.provider {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber for `service` (the OTel `service.name`). Log level from `RUST_LOG`, default
/// `info`. Returns `Ok(None)` when a subscriber was already installed (tests call this more than once).
pub fn init(service: &str) -> Result<Option<TelemetryGuard>, TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) => EnvFilter::try_new(spec).map_err(|e| TelemetryError::Filter(e.to_string()))?,
        Err(_) => EnvFilter::new("info,h2=warn,hyper=warn,sqlx=warn,sea_orm=warn,rustls=warn"),
    };
    let provider = tracer_provider(service)?;
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("switchboard")));
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let fmt = if std::io::stdout().is_terminal() {
        tracing_subscriber::fmt::layer().with_target(false).boxed()
    } else {
        json_lines(std::io::stdout)
    };
    let installed = tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init().is_ok();
    if installed {
        if let Some(provider) = &provider {
            opentelemetry::global::set_tracer_provider(provider.clone());
        }
        Ok(Some(TelemetryGuard { provider }))
    } else {
        Ok(None)
    }
}

/// JSON lines: each event with its innermost span's fields under `span` (spans nest one deep here: a request's
/// span per service, so the list of spans would only repeat it). Access-log lines ([`ACCESS_TARGET`]) name their
/// request themselves and are written without the span: the JSON formatter parses a span's stored fields back on
/// every line, a sixth of the gateway's CPU for a static document. Span fields and access-log lines are written
/// by [`json`]'s direct writers, the per-request paths.
fn json_lines<S, W>(writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    use tracing_subscriber::filter::filter_fn;
    let is_access = |metadata: &tracing::Metadata<'_>| metadata.target() == ACCESS_TARGET;
    let events = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .fmt_fields(json::SpanFields)
        .with_writer(writer.clone())
        .with_filter(filter_fn(move |metadata| !is_access(metadata)));
    let access = json::AccessLines::new(writer).with_filter(filter_fn(is_access));
    events.and_then(access).boxed()
}

/// Installs a quiet subscriber for tests (`TEST_LOG=1` shows logs). Safe to call from every test.
pub fn init_for_tests() {
    let filter = if std::env::var_os("TEST_LOG").is_some() { "debug,h2=info,hyper=info" } else { "off" };
    let provider = SdkTracerProvider::builder().build();
    let tracer = provider.tracer("switchboard-test");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // Spans need OTel ids even when logs are off, so each layer has its own filter.
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_test_writer().with_filter(EnvFilter::new(filter)))
        .with(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(LevelFilter::INFO))
        .try_init();
}

/// The tracer provider exporting to `OTEL_EXPORTER_OTLP_ENDPOINT`, or `None` when it is unset.
fn tracer_provider(service: &str) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    match std::env::var(OTLP_ENDPOINT_ENV) {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            let resource = opentelemetry_sdk::Resource::builder().with_service_name(service.to_owned()).build();
            let builder = SdkTracerProvider::builder().with_resource(resource);
            Ok(Some(builder.with_batch_exporter(ServiceExporter::new()?).build()))
        }
        _ => Ok(None),
    }
}

/// The span field (and attribute) naming the service a span belongs to, such as `switchboard-audit`. Every
/// service's root spans carry it (the mesh's inbound layer, the gateway's edge, the bus consumers).
pub const SERVICE_FIELD: &str = "service.name";

/// The services whose spans get a resource of their own.
const SERVICES: [&str; 4] =
    ["switchboard-gateway", "switchboard-audit", "switchboard-connectors", "switchboard-orchestrator"];

/// An OTLP exporter per service, so that `switchboard up` (every service in one process) exports each service's
/// spans under its own `service.name`, as separate processes would: a span tagged with [`SERVICE_FIELD`] goes to
/// that service's exporter (the tag becomes its resource), anything else to the process's own.
#[derive(Debug)]
struct ServiceExporter {
    /// The process's own, for untagged spans.
    default: opentelemetry_otlp::SpanExporter,
    /// One per name in [`SERVICES`].
    services: Vec<(&'static str, opentelemetry_otlp::SpanExporter)>,
}

impl ServiceExporter {
    fn new() -> Result<Self, TelemetryError> {
        // Each reads the endpoint and the other OTEL_* settings from the environment itself.
        let build = || {
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .map_err(|e| TelemetryError::Exporter(e.to_string()))
        };
        let services = SERVICES.iter().map(|name| Ok((*name, build()?))).collect::<Result<_, TelemetryError>>()?;
        Ok(Self { default: build()?, services })
    }
}

impl opentelemetry_sdk::trace::SpanExporter for ServiceExporter {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        let mut groups: Vec<Vec<opentelemetry_sdk::trace::SpanData>> = vec![Vec::new(); self.services.len() + 1];
        for mut span in batch {
            let tagged = span.attributes.iter().position(|kv| kv.key.as_str() == SERVICE_FIELD).and_then(|at| {
                let name = span.attributes[at].value.as_str();
                self.services.iter().position(|(service, _)| *service == name).map(|index| (at, index))
            });
            match tagged {
                Some((at, index)) => {
                    // The service is the resource's; the attribute would only repeat it.
                    span.attributes.remove(at);
                    groups[index].push(span);
                }
                None => groups[self.services.len()].push(span),
            }
        }
        async move {
            let mut outcome = Ok(());
            for (index, spans) in groups.into_iter().enumerate().filter(|(_, spans)| !spans.is_empty()) {
                let exporter = self.services.get(index).map_or(&self.default, |(_, exporter)| exporter);
                if let Err(e) = exporter.export(spans).await {
                    outcome = Err(e);
                }
            }
            outcome
        }
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        for (_, exporter) in &self.services {
            let _ = exporter.shutdown_with_timeout(timeout);
        }
        self.default.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.default.set_resource(resource);
        for (name, exporter) in &mut self.services {
            // The process's resource (host, SDK, ...) with the service's own name.
            let attributes = resource
                .iter()
                .filter(|(key, _)| key.as_str() != SERVICE_FIELD)
                .map(|(key, value)| opentelemetry::KeyValue::new(key.clone(), value.clone()));
            let own = opentelemetry_sdk::Resource::builder_empty()
                .with_attributes(attributes)
                .with_service_name(*name)
                .build();
            exporter.set_resource(&own);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Everything written, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
        type Writer = Self;

        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn events_carry_their_span_and_access_lines_only_their_own_fields() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(json_lines(captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1", tenant = "t-1");
            let _entered = span.enter();
            tracing::warn!(attempt = 2, "retrying");
            tracing::info!(target: ACCESS_TARGET, request_id = "r-1", status = 200, "request");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        let (event, access) = (&lines[0], &lines[1]);
        assert_eq!(event["message"], "retrying");
        assert_eq!(event["attempt"], 2);
        assert_eq!(event["span"]["request_id"], "r-1", "{event}");
        assert_eq!(event["span"]["tenant"], "t-1", "{event}");
        assert!(event.get("spans").is_none(), "no list repeating the one span: {event}");
        assert_eq!(access["target"], ACCESS_TARGET);
        assert_eq!(access["request_id"], "r-1");
        assert_eq!(access["status"], 200);
        assert!(access.get("span").is_none() && access.get("spans").is_none(), "{access}");
    }

    #[test]
    fn access_lines_keep_the_json_formatters_keys_order_and_types() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(json_lines(captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: ACCESS_TARGET,
                path = "/a \"quoted\"\npath",
                method = %http_method(),
                status = 404u16,
                offset = -3i64,
                latency_ms = 1.25f64,
                whole = 2.0f64,
                cached = true,
                "request"
            );
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with("}\n") && text.lines().count() == 1, "{text}");
        let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key}: {text}"));
        assert!(at("timestamp") < at("level") && at("level") < at("path") && at("message") < at("target"), "{text}");
        let line: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], ACCESS_TARGET);
        assert_eq!(line["message"], "request");
        assert_eq!(line["path"], "/a \"quoted\"\npath");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["status"], 404);
        assert_eq!(line["offset"], -3);
        assert_eq!(line["latency_ms"], 1.25);
        assert_eq!(line["cached"], true);
        assert!(line["whole"].is_f64(), "a float stays a float in JSON: {text}");
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(timestamp.len() >= 20 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T', "{timestamp}");
    }

    fn http_method() -> impl std::fmt::Display {
        "GET"
    }

    #[test]
    fn span_fields_recorded_later_join_the_ones_given_at_creation() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(json_lines(captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1", rpc = tracing::field::Empty);
            span.record("rpc", "/a.B/C");
            let _entered = span.enter();
            tracing::warn!("one");
            let bare = tracing::info_span!("inner", user = tracing::field::Empty);
            bare.record("user", 7u64);
            let _inner = bare.enter();
            tracing::warn!("two");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["span"]["request_id"], "r-1", "{text}");
        assert_eq!(lines[0]["span"]["rpc"], "/a.B/C", "{text}");
        assert_eq!(lines[1]["span"]["user"], 7, "{text}");
    }
}
