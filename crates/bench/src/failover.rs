//! `sentinel-bench failover`: writers through a target (this proxy, HAProxy, a node —
//! anything speaking RESP), the Sentinel event timeline, an optional planned failover, and a
//! report of what clients saw: acknowledged writes, errors, reconnects, acknowledged writes the
//! new master does not hold, the longest silence, latency and the failover's milestones.
//!
//! ```text
//! load.rs     INCR writers, one key per writer and 100 ms slot
//! events.rs   PSUBSCRIBE * on every Sentinel, timestamped
//! report.rs   the Report (JSON) and its table
//! svg.rs      writes and errors per 100 ms, Sentinel milestones marked
//! haproxy.rs  the redis-ha chart's HAProxy in front of a lab, for side-by-side runs
//! soak.rs     `sentinel-bench soak`: many failovers (planned and crashes) through the proxy on a lab
//! ```

use crate::{events, load, report, soak, svg};

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use redis_protocol::resp2::types::BytesFrame;

pub use report::Report;
use sentinel_proxy_core::config::{HostPort, Secret};
use sentinel_proxy_core::control::conn::{frame_int, frame_str, ConnError, RespConn};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("--{flag} {value}: {message}")]
    Address {
        flag: &'static str,
        value: String,
        message: String,
    },
    #[error(
        "no Sentinel accepted PSUBSCRIBE within {0:?}: check --sentinels and SENTINEL_PASSWORD"
    )]
    NoSentinel(Duration),
    #[error("SENTINEL FAILOVER {name}: no Sentinel accepted it ({message})")]
    Trigger { name: String, message: String },
    #[error("the Sentinels name no master for '{0}' after the run, so the written keys cannot be checked")]
    NoMaster(String),
    #[error("reading the written keys on the master {addr}: {source} (is REDIS_PASSWORD set?)")]
    ReadBack { addr: SocketAddr, source: ConnError },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no +switch-master within {0:?} (the report above shows what the writers saw)")]
    NoSwitch(Duration),
    #[error(transparent)]
    Soak(Box<soak::SoakError>),
}

impl From<soak::SoakError> for BenchError {
    fn from(e: soak::SoakError) -> Self {
        BenchError::Soak(Box::new(e))
    }
}

/// clap value parser for the tools' durations (the library's one duration grammar).
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    sentinel_proxy_core::config::parse_duration("duration", s).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchCommand {
    /// Write through a target during a failover and report what clients saw.
    ///
    /// Passwords come only from the environment: REDIS_PASSWORD (AUTH by the writers, and to
    /// read the keys back on the master) and SENTINEL_PASSWORD.
    Failover(FailoverArgs),
    /// Many failovers in a row through this proxy on a local 3 redis + 3 Sentinel topology:
    /// planned ones, and every --crash-every-th a SIGKILL of the master; one row per round.
    ///
    /// Exits non-zero when a round lost an acknowledged write after +switch-master, a planned
    /// failover cost a client error or a write, or a crash more errors than --writers.
    Soak(soak::SoakArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Trigger {
    /// `SENTINEL FAILOVER <master-name>` (a planned failover, what a rolling restart does).
    SentinelFailover,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FailoverArgs {
    /// Where the writers connect: this proxy, HAProxy, or a Redis node (host:port).
    #[arg(long)]
    pub target: String,
    /// Every Sentinel, host:port,… (a name resolving to several addresses is several Sentinels).
    #[arg(long, value_delimiter = ',', required = true)]
    pub sentinels: Vec<String>,
    /// The name given to `sentinel monitor`.
    #[arg(long, default_value = "mymaster")]
    pub master_name: String,
    /// Client connections, one writer each.
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
    /// Cause the failover; without it the benchmark waits for one.
    #[arg(long, value_enum)]
    pub trigger: Option<Trigger>,
    /// Traffic before the trigger.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub before: Duration,
    /// Traffic after the first +switch-master.
    #[arg(long, default_value = "3s", value_parser = duration)]
    pub after: Duration,
    /// How long to wait for +switch-master.
    #[arg(long, default_value = "120s", value_parser = duration)]
    pub max_wait: Duration,
    /// The writers' own per-command timeout (as a client library would set it).
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub timeout: Duration,
    /// Key prefix; keys are <prefix>:<writer>:<slot> (default: bench:<unix ms>).
    #[arg(long)]
    pub key_prefix: Option<String>,
    /// Leave the written keys on the master (they are deleted after the check by default).
    #[arg(long)]
    pub keep_keys: bool,
    /// Name of this run in the table, JSON and SVG (default: the target).
    #[arg(long)]
    pub label: Option<String>,
    /// Write the report as JSON (fields: docs/benchmark.md).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an SVG plot: writes and errors per 100 ms, Sentinel events marked.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// A resolved benchmark run.
#[derive(Debug, Clone)]
pub struct FailoverOptions {
    pub label: String,
    pub target: SocketAddr,
    pub sentinels: Vec<SocketAddr>,
    pub master_name: String,
    pub writers: usize,
    pub trigger: Option<Trigger>,
    pub before: Duration,
    pub after: Duration,
    pub max_wait: Duration,
    pub timeout: Duration,
    pub key_prefix: String,
    pub keep_keys: bool,
    pub redis_password: Option<Secret>,
    pub sentinel_password: Option<Secret>,
    /// Show a progress bar (only drawn when stdout is a terminal).
    pub progress: bool,
}

impl FailoverOptions {
    /// Defaults for a target and its Sentinels (no trigger, 8 writers, 2 s timeout).
    pub fn new(target: SocketAddr, sentinels: Vec<SocketAddr>) -> Self {
        FailoverOptions {
            label: target.to_string(),
            target,
            sentinels,
            master_name: "mymaster".into(),
            writers: 8,
            trigger: None,
            before: Duration::from_secs(2),
            after: Duration::from_secs(3),
            max_wait: Duration::from_secs(120),
            timeout: Duration::from_secs(2),
            key_prefix: default_prefix(),
            keep_keys: false,
            redis_password: None,
            sentinel_password: None,
            progress: false,
        }
    }
}

pub(crate) fn default_prefix() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("bench:{}{:03}", now.as_secs(), now.subsec_millis())
}

async fn resolve(flag: &'static str, s: &str) -> Result<Vec<SocketAddr>, BenchError> {
    let fail = |message: String| BenchError::Address {
        flag,
        value: s.to_string(),
        message,
    };
    let hp = HostPort::parse(s).map_err(fail)?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((hp.host.as_str(), hp.port))
        .await
        .map_err(|e| fail(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(fail("resolves to no address".into()));
    }
    Ok(addrs)
}

fn env_secret(env: &HashMap<String, String>, name: &str) -> Option<Secret> {
    env.get(name).filter(|v| !v.is_empty()).map(Secret::new)
}

impl FailoverArgs {
    /// Resolve addresses and read the passwords from `env`.
    pub async fn options(
        &self,
        env: &HashMap<String, String>,
    ) -> Result<FailoverOptions, BenchError> {
        let target = resolve("target", &self.target).await?[0];
        let mut sentinels = Vec::new();
        for s in &self.sentinels {
            for a in resolve("sentinels", s).await? {
                if !sentinels.contains(&a) {
                    sentinels.push(a);
                }
            }
        }
        Ok(FailoverOptions {
            label: self.label.clone().unwrap_or_else(|| self.target.clone()),
            target,
            sentinels,
            master_name: self.master_name.clone(),
            writers: self.writers,
            trigger: self.trigger,
            before: self.before,
            after: self.after,
            max_wait: self.max_wait,
            timeout: self.timeout,
            key_prefix: self.key_prefix.clone().unwrap_or_else(default_prefix),
            keep_keys: self.keep_keys,
            redis_password: env_secret(env, "REDIS_PASSWORD"),
            sentinel_password: env_secret(env, "SENTINEL_PASSWORD"),
            progress: true,
        })
    }
}

/// `sentinel-bench failover|soak`: run, print the table and timeline, write the files.
pub async fn main(command: BenchCommand, env: &HashMap<String, String>) -> Result<(), BenchError> {
    let args = match command {
        BenchCommand::Failover(args) => args,
        BenchCommand::Soak(args) => return Ok(soak::main(args).await?),
    };
    let opts = args.options(env).await?;
    let max_wait = opts.max_wait;
    let r = failover(opts).await?;
    println!("{}", report::table(&[&r]));
    println!("{}", report::timeline(&r));
    write_outputs(&r, args.json.as_deref(), args.svg.as_deref())?;
    if r.switch_master_ms.is_none() {
        return Err(BenchError::NoSwitch(max_wait));
    }
    Ok(())
}

/// Write `--json` and `--svg` files.
pub fn write_outputs(
    r: &Report,
    json: Option<&std::path::Path>,
    svg: Option<&std::path::Path>,
) -> Result<(), BenchError> {
    let write = |path: &std::path::Path, text: String| {
        std::fs::write(path, text).map_err(|source| BenchError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(r).expect("a report serialises");
        write(p, text + "\n")?;
    }
    if let Some(p) = svg {
        write(p, svg::render(r))?;
    }
    Ok(())
}

fn progress_bar(enabled: bool) -> ProgressBar {
    let target = if enabled && std::io::stdout().is_terminal() {
        ProgressDrawTarget::stdout()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(None, target);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix:.bold} {wide_msg}")
            .expect("template parses"),
    );
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// The master most Sentinels name (address and port), if any Sentinel answers.
pub async fn ask_master(
    sentinels: &[SocketAddr],
    password: Option<&Secret>,
    name: &str,
) -> Option<SocketAddr> {
    let mut votes: HashMap<SocketAddr, usize> = HashMap::new();
    for s in sentinels {
        let reply = async {
            let mut c = RespConn::connect_auth(*s, password, Duration::from_secs(2)).await?;
            c.command(&[b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME", name.as_bytes()])
                .await
        };
        let Ok(Ok(BytesFrame::Array(items))) =
            tokio::time::timeout(Duration::from_secs(3), reply).await
        else {
            continue;
        };
        let (Some(host), Some(port)) = (
            items.first().and_then(frame_str).map(str::to_string),
            items.get(1).and_then(frame_int),
        ) else {
            continue;
        };
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        let addr = match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(mut addrs) => addrs.next(),
            Err(_) => None,
        };
        if let Some(a) = addr {
            *votes.entry(a).or_default() += 1;
        }
    }
    votes.into_iter().max_by_key(|(_, n)| *n).map(|(a, _)| a)
}

async fn send_failover(opts: &FailoverOptions) -> Result<(), BenchError> {
    let mut last = String::from("no Sentinel reachable");
    for s in &opts.sentinels {
        let reply = async {
            let mut c =
                RespConn::connect_auth(*s, opts.sentinel_password.as_ref(), Duration::from_secs(2))
                    .await?;
            c.command(&[b"SENTINEL", b"FAILOVER", opts.master_name.as_bytes()])
                .await
        };
        match reply.await {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{s}: {e}"),
        }
    }
    Err(BenchError::Trigger {
        name: opts.master_name.clone(),
        message: last,
    })
}

/// GET every key on `master` (MGET in batches); absent keys are left out.
async fn read_keys(
    master: SocketAddr,
    password: Option<&Secret>,
    keys: &[String],
) -> Result<HashMap<String, i64>, ConnError> {
    let mut c = RespConn::connect_auth(master, password, Duration::from_secs(5)).await?;
    let mut held = HashMap::new();
    for chunk in keys.chunks(200) {
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(chunk.iter().map(|k| k.as_bytes()));
        let reply = tokio::time::timeout(Duration::from_secs(5), c.command(&args))
            .await
            .map_err(|_| ConnError::Timeout(Duration::from_secs(5)))??;
        let BytesFrame::Array(values) = reply else {
            return Err(ConnError::Protocol("MGET did not return an array".into()));
        };
        for (k, v) in chunk.iter().zip(values.iter()) {
            if let Some(n) = frame_int(v) {
                held.insert(k.clone(), n);
            }
        }
    }
    Ok(held)
}

async fn delete_keys(master: SocketAddr, password: Option<&Secret>, keys: &[String]) {
    let Ok(mut c) = RespConn::connect_auth(master, password, Duration::from_secs(5)).await else {
        return;
    };
    for chunk in keys.chunks(200) {
        let mut args: Vec<&[u8]> = vec![b"DEL"];
        args.extend(chunk.iter().map(|k| k.as_bytes()));
        if tokio::time::timeout(Duration::from_secs(5), c.command(&args))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Run one benchmark: subscribe to the Sentinels, start the writers, trigger or wait for the
/// failover, keep writing for `after`, then check every written key on the new master.
pub async fn failover(opts: FailoverOptions) -> Result<Report, BenchError> {
    let after = opts.after;
    let cause = opts.trigger.map(|Trigger::SentinelFailover| {
        let o = opts.clone();
        Cause {
            name: "sentinel-failover".into(),
            doing: "SENTINEL FAILOVER sent".into(),
            action: async move { send_failover(&o).await },
        }
    });
    failover_with(opts, cause, || async move {
        tokio::time::sleep(after).await;
        Ok(())
    })
    .await
}

/// How [`failover_with`] causes the failover, after `before` of traffic.
pub(crate) struct Cause<T> {
    /// The report's `trigger` field.
    pub name: String,
    /// What the progress line says while waiting for `+switch-master`.
    pub doing: String,
    pub action: T,
}

/// [`failover`] with the failover's cause and what happens after the first `+switch-master`
/// given by the caller (`bench soak` crashes the master, and writes until the topology has
/// settled). The writers stop when `after_switch` returns; without a `+switch-master` within
/// `max_wait` it is not called. `opts.trigger` and `opts.after` are not used.
pub(crate) async fn failover_with<E, T, A, AF>(
    opts: FailoverOptions,
    cause: Option<Cause<T>>,
    after_switch: A,
) -> Result<Report, E>
where
    E: From<BenchError>,
    T: std::future::Future<Output = Result<(), E>>,
    A: FnOnce() -> AF,
    AF: std::future::Future<Output = Result<(), E>>,
{
    let pb = progress_bar(opts.progress);
    pb.set_prefix(format!("{}: subscribing to Sentinels", opts.label));
    let start = Instant::now();
    let ms = |i: Instant| i.duration_since(start).as_secs_f64() * 1e3;
    let mut watcher = events::watch(
        &opts.sentinels,
        opts.sentinel_password.clone(),
        &opts.master_name,
        start,
    );
    let mut notes = Vec::new();
    let n = watcher
        .wait_subscribed(opts.sentinels.len(), Duration::from_secs(5))
        .await;
    if n == 0 {
        watcher.stop().await;
        pb.finish_and_clear();
        return Err(BenchError::NoSentinel(Duration::from_secs(5)).into());
    }
    if n < opts.sentinels.len() {
        notes.push(format!(
            "only {n} of {} Sentinels accepted the subscription",
            opts.sentinels.len()
        ));
    }
    let master_before = ask_master(
        &opts.sentinels,
        opts.sentinel_password.as_ref(),
        &opts.master_name,
    )
    .await;

    let load = load::start_with(
        load::LoadOptions {
            target: opts.target,
            writers: opts.writers,
            key_prefix: opts.key_prefix.clone(),
            password: opts.redis_password.clone(),
            timeout: opts.timeout,
            tls: None,
        },
        load::Keys::PerSlot,
        start,
    );
    let live = load.live.clone();
    let ticker = {
        let pb = pb.clone();
        let events = watcher.counter();
        tokio::spawn(async move {
            loop {
                let (acked, errors, reconnects) = live.snapshot();
                pb.set_message(format!(
                    "acked {acked} · errors {errors} · reconnects {reconnects} · Sentinel events {}",
                    events()
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let trigger_name = cause.as_ref().map(|c| c.name.clone());
    let outcome: Result<(Option<f64>, Option<f64>), E> = async {
        let mut trigger_ms = None;
        if let Some(cause) = cause {
            pb.set_prefix(format!("{}: writing before the failover", opts.label));
            tokio::time::sleep(opts.before).await;
            pb.set_prefix(format!(
                "{}: {}, waiting for +switch-master",
                opts.label, cause.doing
            ));
            trigger_ms = Some(ms(Instant::now()));
            cause.action.await?;
        } else {
            pb.set_prefix(format!("{}: waiting for +switch-master", opts.label));
        }
        let switch_ms = watcher.wait_switch(opts.max_wait).await;
        if switch_ms.is_some() {
            pb.set_prefix(format!("{}: writing after +switch-master", opts.label));
            after_switch().await?;
        }
        Ok((trigger_ms, switch_ms))
    }
    .await;
    let end = Instant::now();
    pb.set_prefix(format!("{}: stopping the writers", opts.label));
    let reports = load.stop().await;
    ticker.abort();
    let (trigger_ms, switch_ms) = match outcome {
        Ok(times) => times,
        Err(e) => {
            watcher.stop().await;
            pb.finish_and_clear();
            return Err(e);
        }
    };

    pb.set_prefix(format!("{}: reading the keys on the master", opts.label));
    let mut master_after = None;
    for _ in 0..20 {
        master_after = ask_master(
            &opts.sentinels,
            opts.sentinel_password.as_ref(),
            &opts.master_name,
        )
        .await;
        if master_after.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let Some(master) = master_after else {
        watcher.stop().await;
        pb.finish_and_clear();
        return Err(BenchError::NoMaster(opts.master_name.clone()).into());
    };
    let mut acked_keys: Vec<String> = Vec::new();
    let mut touched: Vec<String> = Vec::new();
    for r in &reports {
        let mut seen = HashSet::new();
        for a in &r.acks {
            if seen.insert(a.slot) {
                acked_keys.push(r.key_for(a.slot));
            }
        }
        touched.extend(r.slots.keys().map(|s| r.key_for(*s)));
    }
    let held = match read_keys(master, opts.redis_password.as_ref(), &acked_keys).await {
        Ok(h) => h,
        Err(source) => {
            watcher.stop().await;
            pb.finish_and_clear();
            return Err(BenchError::ReadBack {
                addr: master,
                source,
            }
            .into());
        }
    };
    if !opts.keep_keys {
        delete_keys(master, opts.redis_password.as_ref(), &touched).await;
    }
    let events = watcher.stop().await;
    pb.finish_and_clear();

    Ok(report::build(report::Inputs {
        label: opts.label.clone(),
        target: opts.target.to_string(),
        master_name: opts.master_name.clone(),
        client_timeout_ms: opts.timeout.as_millis() as u64,
        trigger: trigger_name,
        reports: &reports,
        held: &held,
        events,
        trigger_ms,
        switch_ms,
        end_ms: ms(end),
        master_before: master_before.map(|a| a.to_string()),
        master_after: Some(master.to_string()),
        notes,
    }))
}
