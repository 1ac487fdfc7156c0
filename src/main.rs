//! Command line only: parse, set up logging, call the library.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sentinel_proxy::config::{Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "sentinel-proxy",
    version,
    about = "Redis proxy that follows Sentinel"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// TOML configuration file (or SENTINEL_PROXY_CONFIG); environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the proxy (the default).
    Run,
    /// Start a local 3 redis + 3 sentinel topology, the proxy in front, and show a failover.
    Demo(sentinel_proxy::demo::DemoArgs),
    /// Print the validated configuration (passwords hidden) and exit.
    CheckConfig,
}

fn init_logging(format: LogFormat, filter: &str) {
    let filter = std::env::var("SENTINEL_PROXY_LOG").unwrap_or_else(|_| filter.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let env: HashMap<String, String> = std::env::vars().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => {
            let config = Config::load(cli.config.as_deref(), &env)?;
            init_logging(config.log_format, &config.log_filter);
            for name in Config::unknown_env(&env) {
                tracing::warn!(variable = %name, "unknown SENTINEL_PROXY_* environment variable ignored (a typo, or a Kubernetes service link?)");
            }
            runtime.block_on(sentinel_proxy::run(config, shutdown_signal()))?;
        }
        Cmd::CheckConfig => {
            let config = Config::load(cli.config.as_deref(), &env)?;
            config.check_runnable()?;
            println!("{config:#?}");
        }
        Cmd::Demo(args) => {
            init_logging(LogFormat::Text, "warn");
            runtime.block_on(sentinel_proxy::demo::run(args, shutdown_signal()))?;
        }
    }
    Ok(())
}
