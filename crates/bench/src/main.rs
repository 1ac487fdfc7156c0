//! `sentinel-bench`: the operator tools' command line (failover benchmark, soak, demo).

use std::collections::HashMap;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sentinel_bench::appload::AppLoadArgs;
use sentinel_bench::demo::DemoArgs;
use sentinel_bench::BenchCommand;

#[derive(Parser)]
#[command(
    name = "sentinel-bench",
    version,
    about = "Failover benchmark, soak and demo for sentinel-proxy (and HAProxy, side by side)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    #[command(flatten)]
    Bench(BenchCommand),
    /// Start a local 3 redis + 3 sentinel topology, the proxy in front, and show a failover.
    Demo(DemoArgs),
    /// Many connections, each sending one GET or SET and waiting for the reply (optionally
    /// thinking between requests), as application pods do; prints one JSON line (requests,
    /// errors, rps, p50/p99 latency). scripts/bench-vs-haproxy runs it.
    Appload(AppLoadArgs),
}

async fn ctrl_c_or_term() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = std::env::var("SENTINEL_PROXY_LOG").unwrap_or_else(|_| "warn".to_string());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // The load generator runs on a runtime of its own size (one thread by default).
    let command = match cli.command {
        Cmd::Appload(args) => return sentinel_bench::appload::main(args),
        other => other,
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match command {
        Cmd::Demo(args) => runtime.block_on(sentinel_bench::demo::run(args, ctrl_c_or_term()))?,
        // Ctrl-C drops the benchmark, and with it the lab topology it started.
        Cmd::Bench(command) => runtime.block_on(async {
            tokio::select! {
                r = sentinel_bench::main(command, &env) => r.map_err(anyhow::Error::from),
                _ = ctrl_c_or_term() => Err(anyhow::anyhow!(
                    "interrupted; the processes the benchmark started were stopped"
                )),
            }
        })?,
        Cmd::Appload(_) => unreachable!("run above"),
    }
    Ok(())
}
