//! The `switchboard-sandbox` binary: serves the provider fakes on one port for `make run` and manual demos, prints
//! the base URLs to configure the platform with, and runs until Ctrl-C.

use clap::Parser;
use switchboard_sandbox::{Provider, Sandbox, SandboxConfig};
use tokio_util::sync::CancellationToken;

/// Local fakes of the Stripe, Shopify, QuickBooks and HubSpot APIs, with deterministic demo data.
#[derive(Debug, Parser)]
#[command(name = "switchboard-sandbox", version)]
struct Config {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_SANDBOX_LISTEN", default_value = "127.0.0.1:8099")]
    listen: String,
    /// Seed of the demo data: one seed, one dataset.
    #[arg(long, env = "SWITCHBOARD_SANDBOX_SEED", default_value_t = 42)]
    seed: u64,
    /// Multiplies the demo data's size.
    #[arg(long, env = "SWITCHBOARD_SANDBOX_SCALE", default_value_t = 1)]
    scale: u32,
    /// Base URL of the gateway; webhooks go to `{it}/v1/webhooks/{provider}`. None are sent without it.
    #[arg(long, env = "SWITCHBOARD_SANDBOX_WEBHOOK_TARGET")]
    webhook_target: Option<String>,
    /// Where the 90 days of demo data end: `today` (00:00 UTC of the current day, so "last week" has data), or
    /// `fixed` (2026-11-01, the date the tests' figures are computed for).
    #[arg(long, env = "SWITCHBOARD_SANDBOX_DATA_END", default_value = "today", value_parser = ["today", "fixed"])]
    data_end: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e} (choose another with --listen)", config.listen))?;
    let shutdown = CancellationToken::new();
    if config.data_end == "today" {
        switchboard_sandbox::set_epoch(switchboard_sandbox::start_of_today());
    }
    let sandbox_config = SandboxConfig { seed: config.seed, scale: config.scale, ..SandboxConfig::default() };
    let handle = Sandbox::start(listener, sandbox_config, shutdown.clone()).await?;
    if let Some(target) = &config.webhook_target {
        let target = target.trim_end_matches('/');
        for provider in Provider::ALL {
            handle.set_webhook_target(provider, format!("{target}/v1/webhooks/{provider}"));
        }
    }
    println!("switchboard-sandbox (seed {}, scale {}, data ending {})", config.seed, config.scale, config.data_end);
    println!("  stripe api       {}", handle.stripe_api_base());
    println!("  stripe connect   {}", handle.stripe_connect_base());
    println!("  shopify          {}", handle.shopify_base_template());
    println!("  quickbooks       {}", handle.quickbooks_base());
    println!("  hubspot          {}", handle.hubspot_base());
    println!("  control plane    {}/_sandbox", handle.base_url());
    match &config.webhook_target {
        Some(target) => println!("  webhooks to      {}/v1/webhooks/{{provider}}", target.trim_end_matches('/')),
        None => println!("  webhooks         not sent (no --webhook-target)"),
    }
    tokio::signal::ctrl_c().await?;
    shutdown.cancel();
    Ok(())
}
