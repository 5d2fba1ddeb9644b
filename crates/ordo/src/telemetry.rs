//! Logging and tracing set-up: human-readable text by default, JSON on
//! request; database operation histograms; and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set, every span exported over OTLP/HTTP.

use std::io::IsTerminal;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use ordo_telemetry::DbMetricsLayer;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::config::{LogConfig, LogFormat};

/// Keeps the trace exporter alive; dropping it flushes the spans still
/// buffered (at the end of `serve` and `worker`, after draining).
#[must_use = "dropping the guard stops trace export"]
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "could not flush the last spans");
        }
    }
}

/// Installs the global subscriber. Logs go to stderr so that commands'
/// output on stdout stays clean. Each layer has its own filter: `ORDO_LOG`
/// picks what is logged, without turning off the database metrics or the
/// spans sent to a trace collector.
pub fn init(config: &LogConfig) -> anyhow::Result<Telemetry> {
    let provider = otlp_provider()?;
    tracing_subscriber::registry()
        .with(layers(config, provider.as_ref())?)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))?;
    if provider.is_some() {
        tracing::info!("exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

/// The subscriber's layers, each with its own filter.
///
/// A list, not a stack with an `Option` for the trace exporter: an absent
/// (`None`) layer counts as one that wants everything, so every span of
/// every level in the process (the request's, each service call's,
/// sqlx's) would be created and entered, to be dropped by the filters of
/// all the others. That was about a tenth of the instructions of a cached
/// product read. A list asks only its members.
fn layers(
    config: &LogConfig,
    provider: Option<&SdkTracerProvider>,
) -> anyhow::Result<Vec<Box<dyn Layer<Registry> + Send + Sync>>> {
    let filter = EnvFilter::try_new(&config.filter)
        .map_err(|e| anyhow::anyhow!("invalid log filter {:?}: {e}", config.filter))?;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    let logs = match config.format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_current_span(true).with_filter(filter).boxed(),
    };
    let db_metrics =
        DbMetricsLayer.with_filter(Targets::new().with_target(ordo_telemetry::DB_TARGET, Level::INFO)).boxed();
    let mut layers = vec![logs, db_metrics];
    if let Some(provider) = provider {
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("ordo"))
                .with_filter(
                    // The library crates' own spans and events are noise in a trace.
                    Targets::new()
                        .with_default(Level::INFO)
                        .with_target("sqlx", Level::WARN)
                        .with_target("hyper", Level::WARN)
                        .with_target("hyper_util", Level::WARN)
                        .with_target("reqwest", Level::WARN)
                        .with_target("opentelemetry", Level::WARN)
                        .with_target("opentelemetry_sdk", Level::WARN),
                )
                .boxed(),
        );
    }
    Ok(layers)
}

/// The OTLP/HTTP exporter the standard `OTEL_*` variables ask for, if any.
/// Only the HTTP transports are built in (protobuf, the default, and JSON);
/// gRPC would pull in a second HTTP/2 stack for the same data.
fn otlp_provider() -> anyhow::Result<Option<SdkTracerProvider>> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    let protocol = match protocol.trim() {
        "" | "http/protobuf" => Protocol::HttpBinary,
        "http/json" => Protocol::HttpJson,
        other => anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported; use http/protobuf (the default) or http/json"
        ),
    };
    // The endpoint, headers and timeout come from the standard variables.
    let exporter =
        SpanExporter::builder().with_http().with_protocol(protocol).build().context("setting up the OTLP exporter")?;
    let mut resource = Resource::builder();
    if !set("OTEL_SERVICE_NAME") {
        resource = resource.with_service_name("ordo");
    }
    Ok(Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(filter: &str) -> LogConfig {
        LogConfig { filter: filter.to_owned(), ..LogConfig::default() }
    }

    #[test]
    fn spans_no_layer_wants_are_never_created() {
        let subscriber = tracing_subscriber::registry().with(layers(&config("warn"), None).unwrap());
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::info_span!("request").is_disabled(), "an info span below the log filter was created");
            assert!(tracing::debug_span!(target: "sqlx::query", "query").is_disabled());
            assert!(!tracing::warn_span!("warned").is_disabled(), "a span the log filter wants was not created");
            // The database metrics see their spans whatever the log filter.
            assert!(!tracing::info_span!(target: ordo_telemetry::DB_TARGET, "db").is_disabled());
        });
    }
}
