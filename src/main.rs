//! Command line only: parse, set up logging, call the library.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sentinel_proxy_core::config::{Config, EnvOverrides};

mod logging;

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
    /// Print the validated configuration (passwords hidden) and exit.
    CheckConfig,
    /// Moved: the failover benchmark, soak and demo are `sentinel-bench`, shipped next to this
    /// binary (the proxy does not carry their dependencies).
    #[command(hide = true, disable_help_flag = true)]
    Bench {
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        args: Vec<OsString>,
    },
    #[command(hide = true, disable_help_flag = true)]
    Demo {
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        args: Vec<OsString>,
    },
    /// HAProxy compatibility mode, as when started as `haproxy`: `haproxy -W -db -f haproxy.cfg`.
    #[command(disable_help_flag = true)]
    Haproxy {
        /// HAProxy's options: -f FILE|DIR, -c, -W, -db, -D, -p PIDFILE, -q, -v (see `-h`).
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        args: Vec<OsString>,
    },
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

/// HAProxy compatibility mode (sentinel_proxy_haproxy::compat): HAProxy's flags, the chart's haproxy.cfg.
fn haproxy(args: Vec<OsString>) -> anyhow::Result<()> {
    use sentinel_proxy_haproxy::compat::{self, HaproxyAction};
    let args = compat::parse_haproxy_args(args)?;
    match args.action {
        HaproxyAction::Version { verbose } => {
            print!("{}", compat::version_text(verbose));
            return Ok(());
        }
        HaproxyAction::Help => {
            println!("{}", compat::USAGE);
            return Ok(());
        }
        HaproxyAction::Run | HaproxyAction::Check => {}
    }
    // The same SENTINEL_PROXY_* environment as native mode, over haproxy.cfg.
    let vars = process_env();
    let overrides = match EnvOverrides::read(&vars) {
        Ok(o) => o,
        Err(e) => {
            warn_unknown_env(&vars, false);
            return Err(e.into());
        }
    };
    let (format, filter) = compat::log_settings(&args, &overrides);
    logging::init(format, &filter);
    warn_unknown_env(&vars, true);
    let config = compat::load(&args, &sentinel_proxy_haproxy::cfg::process_env, &overrides)?;
    if args.action == HaproxyAction::Check {
        // As `haproxy -c` does: the files named by `crt` and `ca-file` must load too.
        config.check_runnable()?;
        sentinel_proxy_core::tls::Tls::load(&config.tls, config.timeouts.connect)?;
        println!("Configuration file is valid");
        return Ok(());
    }
    compat::log_flags(&args);
    if let Some(path) = &args.pid_file {
        compat::write_pid_file(path)?;
    }
    let runtime = runtime()?;
    let shutdown = async {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = compat::haproxy_signals() => {}
        }
    };
    runtime.block_on(sentinel_proxy_core::run(config, shutdown))?;
    Ok(())
}

/// The async runtime both modes run on. The queue of tasks woken from outside a worker's own
/// queue (and of those that overflow it: a shared pipeline's read wakes hundreds of sessions at
/// once) is looked at every 2nd task instead of every 31st: with 1,000 connections each waiting
/// for one reply, the default let the overflowed sessions wait for many rounds, a p99 of 36 ms
/// against a p50 of 1 ms; with 2 it is 7.6 ms, at the same throughput (docs/performance.md).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .global_queue_interval(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The process environment as a map (variables whose name or value is not UTF-8 are left out:
/// none of ours is).
fn process_env() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// One warning per `SENTINEL_PROXY_*` variable that is not read, with the closest name that is;
/// on stderr while logging is not set up (`check-config`, a configuration error).
fn warn_unknown_env(env: &HashMap<String, String>, logging: bool) {
    for unknown in Config::unknown_env(env) {
        if logging {
            tracing::warn!("{unknown}");
        } else {
            eprintln!("warning: {unknown}");
        }
    }
}

fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args_os();
    if argv
        .next()
        .is_some_and(|a| sentinel_proxy_haproxy::compat::invoked_as_haproxy(&a))
    {
        return haproxy(argv.collect());
    }
    let cli = Cli::parse();
    if let Some(Cmd::Haproxy { args }) = cli.command {
        return haproxy(args);
    }
    let env = process_env();
    let runtime = runtime()?;
    // A typo in a variable's name often explains a configuration error: warn first.
    let load = |warn_on_error: bool| {
        Config::load(cli.config.as_deref(), &env).inspect_err(|_| {
            if warn_on_error {
                warn_unknown_env(&env, false);
            }
        })
    };
    match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => {
            let config = load(true)?;
            logging::init(config.log_format, &config.log_filter);
            warn_unknown_env(&env, true);
            runtime.block_on(sentinel_proxy_core::run(config, shutdown_signal()))?;
        }
        Cmd::CheckConfig => {
            warn_unknown_env(&env, false);
            let config = load(false)?;
            config.check_runnable()?;
            // The certificate files must load, as they must at startup.
            sentinel_proxy_core::tls::Tls::load(&config.tls, config.timeouts.connect)?;
            println!("{config:#?}");
        }
        Cmd::Bench { .. } => anyhow::bail!(
            "the benchmarks moved to their own binary: run `sentinel-bench failover|soak ...` \
             (same flags; it is installed next to sentinel-proxy in the image)"
        ),
        Cmd::Demo { .. } => {
            anyhow::bail!(
                "the demo moved to its own binary: run `sentinel-bench demo` (or `make demo`)"
            )
        }
        Cmd::Haproxy { .. } => unreachable!("handled before the runtime starts"),
    }
    Ok(())
}
