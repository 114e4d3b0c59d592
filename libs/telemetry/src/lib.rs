//! Process-wide telemetry: one tracing subscriber (human-readable on a terminal, JSON lines otherwise) and
//! OpenTelemetry tracing, exported over OTLP/gRPC only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! OpenTelemetry is installed even without an exporter so that every span has real W3C trace and span ids:
//! `switchboard-mesh` continues inbound `traceparent` headers and injects them on outbound calls, and the ids
//! appear in log lines whether or not anything is exported. This crate does not know about gRPC metadata.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

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

/// Keeps the tracer provider alive; dropping it flushes and shuts down export.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Flush what is batched; errors here have nowhere useful to go.
        let _ = self.provider.shutdown();
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
    let tracer = provider.tracer("switchboard");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let fmt = if std::io::stdout().is_terminal() {
        tracing_subscriber::fmt::layer().with_target(false).boxed()
    } else {
        tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(true).boxed()
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .is_ok();
    if installed {
        opentelemetry::global::set_tracer_provider(provider.clone());
        Ok(Some(TelemetryGuard { provider }))
    } else {
        Ok(None)
    }
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

fn tracer_provider(service: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service.to_owned()).build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let builder = match std::env::var(OTLP_ENDPOINT_ENV) {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            // The exporter reads the endpoint and its other OTEL_* settings from the environment itself.
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
            builder.with_batch_exporter(exporter)
        }
        _ => builder,
    };
    Ok(builder.build())
}
