//! `sentinel-bench soak`: many failovers in a row on a local 3 redis + 3 Sentinel
//! topology ([`crate::lab`]) with this proxy running in-process in front of it, and writers
//! through the proxy the whole time.
//!
//! Each round is one run of the failover benchmark ([`crate::failover::failover_with`]): writers INCR
//! one key per writer and 100 ms slot ([`crate::load`]), the Sentinel timeline is recorded
//! ([`crate::events`]), the failover is caused — `SENTINEL FAILOVER`, or every
//! `crash_every`-th round a SIGKILL of the master, which is restarted as a replica of the new
//! master after the switch — and the writers keep going until the topology has settled (every
//! Sentinel names the new master, every other node replicates from it) and at least `after`
//! past the first `+switch-master`. Then every key is read back on the round's master and the
//! round is judged by [`violations`]. Consecutive failovers are at least `pace` apart:
//! Sentinel refreshes a replica's INFO every 10 s, and closer rounds race Sentinel itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::failover::{BenchError, Cause, FailoverOptions};
use crate::lab::{Lab, LabError, LabOptions};
use crate::report::{thousands, Report};
use sentinel_proxy_core::config::{Config, HostPort};

/// Version of the soak's JSON layout.
pub const SCHEMA: u32 = 1;
/// How long a round waits for the first `+switch-master`.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long a round waits for each step of settling (new master named, all Sentinels agree,
/// every other node replicating from it).
pub const SETTLE: Duration = Duration::from_secs(60);
/// Sentinel's `failover-timeout` in the soak's topology.
pub const FAILOVER_TIMEOUT_MS: u64 = 10_000;

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// Failovers, one per round.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Every K-th round kills the master (SIGKILL) instead of SENTINEL FAILOVER; 0 = never.
    #[arg(long, default_value_t = 3)]
    pub crash_every: usize,
    /// Client connections through the proxy, one writer each.
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
    /// Minimum time between two failovers. Sentinel refreshes a replica's INFO every 10 s:
    /// below that the rounds race Sentinel itself (use it on purpose, for race tests).
    #[arg(long, default_value = "12s", value_parser = crate::failover::duration)]
    pub pace: Duration,
    /// The writers' own per-command timeout (as a client library would set it). The default is
    /// longer than a crash failover takes here (~2.3 s), so a command held over the crash is
    /// not also counted as a timeout: the crash rule then judges the commands in flight.
    #[arg(long, default_value = "5s", value_parser = crate::failover::duration)]
    pub timeout: Duration,
    /// Write every round (with its full failover report) and the totals as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// A soak run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub rounds: usize,
    /// Every `crash_every`-th round (1-based) is a crash; 0: none.
    pub crash_every: usize,
    pub writers: usize,
    /// Minimum time between two failovers.
    pub pace: Duration,
    /// The writers' per-command timeout.
    pub timeout: Duration,
    /// Traffic before each failover.
    pub before: Duration,
    /// Traffic at least this long after each first `+switch-master`.
    pub after: Duration,
    /// Show a progress line per round (only drawn when stdout is a terminal).
    pub progress: bool,
}

impl Default for SoakOptions {
    fn default() -> Self {
        SoakOptions {
            rounds: 20,
            crash_every: 3,
            writers: 8,
            pace: Duration::from_secs(12),
            timeout: Duration::from_secs(5),
            before: Duration::from_secs(1),
            after: Duration::from_secs(2),
            progress: false,
        }
    }
}

impl SoakArgs {
    pub fn options(&self) -> SoakOptions {
        SoakOptions {
            rounds: self.rounds,
            crash_every: self.crash_every,
            writers: self.writers,
            pace: self.pace,
            timeout: self.timeout,
            progress: true,
            ..SoakOptions::default()
        }
    }
}

/// How a round causes its failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `SENTINEL FAILOVER`: a planned failover.
    Graceful,
    /// SIGKILL of the master; restarted as a replica after the switch.
    Crash,
}

impl Kind {
    /// The kind of 1-based `round`: every `crash_every`-th is a crash (0: none is).
    pub fn of_round(round: usize, crash_every: usize) -> Kind {
        if crash_every > 0 && round % crash_every == 0 {
            Kind::Crash
        } else {
            Kind::Graceful
        }
    }

    fn trigger(self) -> &'static str {
        match self {
            Kind::Graceful => "sentinel-failover",
            Kind::Crash => "sigkill-master",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Graceful => "graceful",
            Kind::Crash => "crash",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("--{flag} must be at least 1")]
    Zero { flag: &'static str },
    #[error("starting the lab topology (3 redis-server + 3 redis-sentinel on loopback): {0}")]
    Lab(#[source] LabError),
    #[error("starting the proxy in front of the lab: {0}")]
    Proxy(#[source] sentinel_proxy_core::Error),
    #[error("the proxy confirmed no master within {0:?} of starting: run again with SENTINEL_PROXY_LOG=debug to see what it saw")]
    NoRoute(Duration),
    #[error("round {round} ({kind}): {source}")]
    Round {
        round: usize,
        kind: Kind,
        source: Box<SoakError>,
    },
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error("{what}: {source}")]
    LabCall {
        what: &'static str,
        source: LabError,
    },
    #[error("the master {0} the Sentinels name is not one of the lab's redis processes, so it cannot be killed")]
    NotInLab(SocketAddr),
    #[error("no +switch-master within {0:?}: Sentinel did not fail over (after a failed attempt it waits 2 × failover-timeout); try a larger --pace")]
    NoSwitch(Duration),
    #[error("the topology settled on the old master {0} again: the failover did not take (Sentinel aborted it?)")]
    SameMaster(SocketAddr),
    #[error("{source}\n(the lab's redis and Sentinel logs are kept in {})", logs.display())]
    Logs {
        source: Box<SoakError>,
        logs: PathBuf,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{failed} of {rounds} rounds broke the soak's rules (rounds {which}): the table above says how{}",
        logs.as_ref().map(|p| format!("; the lab's redis and Sentinel logs are kept in {}", p.display())).unwrap_or_default())]
    Failed {
        failed: usize,
        rounds: usize,
        which: String,
        logs: Option<PathBuf>,
    },
}

fn lab_err(what: &'static str) -> impl FnOnce(LabError) -> SoakError {
    move |source| SoakError::LabCall { what, source }
}

/// One round: its own judgement, and the failover benchmark's report (flattened in the JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// 1-based.
    pub round: usize,
    pub kind: Kind,
    /// When the failover was caused, ms since the soak started.
    pub at_ms: f64,
    /// Acknowledged writes lost before the first `+switch-master` (`lost - lost_after_switch`):
    /// in a crash round, what the killed master acknowledged and never replicated.
    pub lost_before_switch: u64,
    /// From the first `+switch-master` until the topology had settled.
    pub settle_ms: Option<f64>,
    /// The soak's rules this round broke; empty when it passed.
    pub violations: Vec<String>,
    #[serde(flatten)]
    pub report: Report,
}

/// The soak's rules for one round (see docs/benchmark.md, "Soak").
pub fn violations(kind: Kind, r: &Report, writers: usize) -> Vec<String> {
    let mut v = Vec::new();
    if r.switch_master_ms.is_none() {
        v.push("no +switch-master".to_string());
    }
    if r.master_before.is_none() || r.master_before == r.master_after {
        v.push(format!(
            "the master did not change ({} → {})",
            r.master_before.as_deref().unwrap_or("?"),
            r.master_after.as_deref().unwrap_or("?")
        ));
    }
    if r.lost_after_switch > 0 {
        v.push(format!(
            "{} acknowledged writes lost after +switch-master",
            thousands(r.lost_after_switch)
        ));
    }
    let before = r.lost - r.lost_after_switch;
    match kind {
        Kind::Graceful => {
            if r.errors_total > 0 {
                v.push(format!(
                    "{} client errors in a planned failover",
                    thousands(r.errors_total)
                ));
            }
            if before > 0 {
                v.push(format!(
                    "{} acknowledged writes lost before +switch-master in a planned failover",
                    thousands(before)
                ));
            }
        }
        Kind::Crash => {
            if r.errors_total > writers as u64 {
                v.push(format!(
                    "{} client errors, more than the {writers} writers' commands in flight at the crash",
                    thousands(r.errors_total)
                ));
            }
        }
    }
    v
}

/// Sums over the rounds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub rounds: usize,
    pub graceful: usize,
    pub crash: usize,
    pub acknowledged: u64,
    pub errors: u64,
    pub reconnects: u64,
    pub lost: u64,
    pub lost_before_switch: u64,
    pub lost_after_switch: u64,
    /// The longest `switch_to_first_write_ms` of any round.
    pub resume_ms_max: Option<f64>,
    /// The longest `longest_gap.ms` of any round.
    pub pause_ms_max: f64,
    /// Rounds that broke a rule.
    pub failed_rounds: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub schema: u32,
    pub rounds_planned: usize,
    pub crash_every: usize,
    pub writers: usize,
    pub pace_ms: u64,
    pub client_timeout_ms: u64,
    pub duration_ms: f64,
    /// Every planned round ran and none broke a rule.
    pub passed: bool,
    /// Why the soak stopped early (only in the JSON the CLI writes after an error), else null.
    pub aborted: Option<String>,
    /// Where the lab's redis and Sentinel logs were kept because a round failed, else null.
    pub logs: Option<PathBuf>,
    pub totals: Totals,
    pub rounds: Vec<Round>,
}

impl SoakReport {
    pub fn new(
        opts: &SoakOptions,
        rounds: Vec<Round>,
        duration: Duration,
        aborted: Option<String>,
    ) -> SoakReport {
        let mut t = Totals {
            rounds: rounds.len(),
            ..Totals::default()
        };
        for r in &rounds {
            match r.kind {
                Kind::Graceful => t.graceful += 1,
                Kind::Crash => t.crash += 1,
            }
            t.acknowledged += r.report.acknowledged;
            t.errors += r.report.errors_total;
            t.reconnects += r.report.reconnects;
            t.lost += r.report.lost;
            t.lost_before_switch += r.lost_before_switch;
            t.lost_after_switch += r.report.lost_after_switch;
            if let Some(ms) = r.report.switch_to_first_write_ms {
                t.resume_ms_max = Some(t.resume_ms_max.map_or(ms, |m| m.max(ms)));
            }
            t.pause_ms_max = t.pause_ms_max.max(r.report.longest_gap.ms);
            if !r.violations.is_empty() {
                t.failed_rounds.push(r.round);
            }
        }
        SoakReport {
            schema: SCHEMA,
            rounds_planned: opts.rounds,
            crash_every: opts.crash_every,
            writers: opts.writers,
            pace_ms: opts.pace.as_millis() as u64,
            client_timeout_ms: opts.timeout.as_millis() as u64,
            duration_ms: round1(duration.as_secs_f64() * 1e3),
            passed: aborted.is_none() && t.failed_rounds.is_empty() && rounds.len() == opts.rounds,
            aborted,
            logs: None,
            totals: t,
            rounds,
        }
    }
}

/// What [`run_with`] tells its caller while it runs.
pub enum Progress<'a> {
    /// The topology and the proxy are up.
    Ready {
        redis: &'a [SocketAddr],
        sentinels: &'a [SocketAddr],
        proxy: SocketAddr,
    },
    /// A round is done.
    Round(&'a Round),
}

/// Run a blocking lab call off the async workers.
async fn with_lab<T: Send + 'static>(
    lab: &Arc<Mutex<Lab>>,
    f: impl FnOnce(&mut Lab) -> T + Send + 'static,
) -> T {
    let lab = lab.clone();
    tokio::task::spawn_blocking(move || f(&mut lab.lock().unwrap_or_else(|e| e.into_inner())))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Run the soak; the report says whether it passed.
pub async fn run(opts: SoakOptions) -> Result<SoakReport, SoakError> {
    run_with(opts, |_| {}).await
}

/// [`run`], telling `on` when the topology is up and each round as soon as it is done.
pub async fn run_with(
    opts: SoakOptions,
    mut on: impl FnMut(Progress<'_>),
) -> Result<SoakReport, SoakError> {
    for (flag, v) in [("rounds", opts.rounds), ("writers", opts.writers)] {
        if v == 0 {
            return Err(SoakError::Zero { flag });
        }
    }
    let started = Instant::now();
    let lab = tokio::task::spawn_blocking(|| {
        Lab::start(LabOptions {
            failover_timeout_ms: FAILOVER_TIMEOUT_MS,
            ..LabOptions::default()
        })
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    .map_err(SoakError::Lab)?;
    let redis: Vec<SocketAddr> = lab.redis.iter().map(|p| p.addr).collect();
    let sentinels = lab.sentinel_addrs();
    let master_name = lab.opts.master_name.clone();
    let lab = Arc::new(Mutex::new(lab));
    let master = with_lab(&lab, |l| l.wait_settled(SETTLE))
        .await
        .map_err(SoakError::Lab)?;

    let hosts = sentinels
        .iter()
        .map(|a| HostPort::parse(&a.to_string()).expect("a socket address parses"))
        .collect();
    let mut config = Config::for_sentinels(hosts, &master_name);
    // A few clients, not the production default (which asks for 20,000+ fds).
    config.limits.max_clients = 1000;
    let proxy = sentinel_proxy_core::start(config)
        .await
        .map_err(SoakError::Proxy)?;
    let ready = Duration::from_secs(30);
    if tokio::time::timeout(
        ready,
        proxy.route().wait_for(|r| r.serving_master().is_some()),
    )
    .await
    .is_err()
    {
        proxy.stop().await;
        return Err(SoakError::NoRoute(ready));
    }
    on(Progress::Ready {
        redis: &redis,
        sentinels: &sentinels,
        proxy: proxy.bound.listen,
    });

    let ctx = Ctx {
        opts: &opts,
        lab: &lab,
        target: proxy.bound.listen,
        sentinels: &sentinels,
        master_name: &master_name,
        prefix: crate::failover::default_prefix(),
        started,
    };
    let outcome = ctx.rounds(master, &mut on).await;
    proxy.stop().await;
    let failed = match &outcome {
        Ok(rounds) => rounds.iter().any(|r| !r.violations.is_empty()),
        Err(_) => true,
    };
    // The lab's directory goes with it: keep the logs of a failed soak for its report.
    let logs = if failed {
        with_lab(&lab, |l| l.keep_logs().ok()).await
    } else {
        None
    };
    let _ = tokio::task::spawn_blocking(move || drop(lab)).await;
    match outcome {
        Ok(rounds) => {
            let mut report = SoakReport::new(&opts, rounds, started.elapsed(), None);
            report.logs = logs;
            Ok(report)
        }
        Err(e) => Err(match logs {
            Some(logs) => SoakError::Logs {
                source: Box::new(e),
                logs,
            },
            None => e,
        }),
    }
}

struct Ctx<'a> {
    opts: &'a SoakOptions,
    lab: &'a Arc<Mutex<Lab>>,
    target: SocketAddr,
    sentinels: &'a [SocketAddr],
    master_name: &'a str,
    prefix: String,
    started: Instant,
}

impl Ctx<'_> {
    async fn rounds(
        &self,
        mut master: SocketAddr,
        on: &mut impl FnMut(Progress<'_>),
    ) -> Result<Vec<Round>, SoakError> {
        let mut rounds = Vec::new();
        let mut last_trigger: Option<Instant> = None;
        for round in 1..=self.opts.rounds {
            let kind = Kind::of_round(round, self.opts.crash_every);
            if let Some(t) = last_trigger {
                // The failover comes `before` after the writers start.
                let at = t + self.opts.pace.saturating_sub(self.opts.before);
                tokio::time::sleep_until(at.into()).await;
            }
            let (r, next, triggered) =
                self.round(round, kind, master)
                    .await
                    .map_err(|e| SoakError::Round {
                        round,
                        kind,
                        source: Box::new(e),
                    })?;
            last_trigger = Some(triggered);
            master = next;
            on(Progress::Round(&r));
            rounds.push(r);
        }
        Ok(rounds)
    }

    /// One round against `old`, the master now; returns it, the new master and when the
    /// failover was caused.
    async fn round(
        &self,
        round: usize,
        kind: Kind,
        old: SocketAddr,
    ) -> Result<(Round, SocketAddr, Instant), SoakError> {
        let crashed = match kind {
            Kind::Graceful => None,
            Kind::Crash => Some(
                self.lab
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .redis_index(old)
                    .ok_or(SoakError::NotInLab(old))?,
            ),
        };
        let mut fo = FailoverOptions::new(self.target, self.sentinels.to_vec());
        fo.label = format!("round {round}");
        fo.master_name = self.master_name.to_string();
        fo.writers = self.opts.writers;
        fo.before = self.opts.before;
        fo.max_wait = MAX_WAIT;
        fo.timeout = self.opts.timeout;
        fo.key_prefix = format!("{}:r{round}", self.prefix);
        fo.progress = self.opts.progress;

        let lab = self.lab;
        let mut triggered = None;
        let cause = Cause {
            name: kind.trigger().to_string(),
            doing: match kind {
                Kind::Graceful => "SENTINEL FAILOVER sent".to_string(),
                Kind::Crash => format!("master {old} killed"),
            },
            action: async {
                triggered = Some(Instant::now());
                match crashed {
                    None => with_lab(lab, |l| l.failover())
                        .await
                        .map_err(lab_err("SENTINEL FAILOVER")),
                    Some(i) => {
                        with_lab(lab, move |l| l.kill_redis(i)).await;
                        Ok(())
                    }
                }
            },
        };
        let mut settled = None;
        let settled_slot = &mut settled;
        let after = self.opts.after;
        let after_switch = move || async move {
            let settle = async {
                let m = with_lab(lab, move |l| {
                    if let Some(i) = crashed {
                        let new = l
                            .wait_new_master(old, SETTLE)
                            .map_err(lab_err("waiting for the Sentinels to name a new master"))?;
                        l.restart_redis_as_replica(i, new)
                            .map_err(lab_err("restarting the killed master as a replica"))?;
                    }
                    let m = l.wait_settled(SETTLE).map_err(lab_err(
                        "waiting for the Sentinels to agree on the new master",
                    ))?;
                    if m == old {
                        return Err(SoakError::SameMaster(old));
                    }
                    l.wait_replicas_of(m, SETTLE)
                        .map_err(lab_err("waiting for the replicas to follow the new master"))?;
                    Ok(m)
                })
                .await?;
                *settled_slot = Some((Instant::now(), m));
                Ok::<_, SoakError>(())
            };
            tokio::join!(settle, tokio::time::sleep(after)).0
        };
        let report = crate::failover::failover_with(fo, Some(cause), after_switch).await?;
        let triggered = triggered.unwrap_or_else(Instant::now);
        let Some(switch_ms) = report.switch_master_ms else {
            return Err(SoakError::NoSwitch(MAX_WAIT));
        };
        let (settled_at, new) = settled.expect("the writers stop after the topology settled");
        let settle_ms = report.trigger_ms.map(|t| {
            round1(settled_at.duration_since(triggered).as_secs_f64() * 1e3 - (switch_ms - t))
        });
        let r = Round {
            round,
            kind,
            at_ms: round1(triggered.duration_since(self.started).as_secs_f64() * 1e3),
            lost_before_switch: report.lost - report.lost_after_switch,
            settle_ms,
            violations: violations(kind, &report, self.opts.writers),
            report,
        };
        Ok((r, new, triggered))
    }
}

fn port(addr: Option<&str>) -> &str {
    addr.and_then(|a| a.rsplit(':').next()).unwrap_or("?")
}

fn whole_ms(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_string(), |v| format!("{v:.0}"))
}

/// The table's header line.
pub fn header() -> String {
    format!(
        "{:>5}  {:<8}  {:<13}  {:>9}  {:>6}  {:>10}  {:>6}  {:>11}  {:>10}  {:>9}  {:>8}  verdict",
        "round",
        "kind",
        "old → new",
        "acked",
        "errors",
        "reconnects",
        "lost",
        "lost before",
        "lost after",
        "resume ms",
        "pause ms",
    )
}

/// One round's table row, then a line per error kind and per broken rule.
pub fn row(r: &Round) -> String {
    let rep = &r.report;
    let mut out = format!(
        "{:>5}  {:<8}  {:<13}  {:>9}  {:>6}  {:>10}  {:>6}  {:>11}  {:>10}  {:>9}  {:>8}  {}\n",
        r.round,
        r.kind.to_string(),
        format!(
            "{} → {}",
            port(rep.master_before.as_deref()),
            port(rep.master_after.as_deref())
        ),
        thousands(rep.acknowledged),
        thousands(rep.errors_total),
        thousands(rep.reconnects),
        thousands(rep.lost),
        thousands(r.lost_before_switch),
        thousands(rep.lost_after_switch),
        whole_ms(rep.switch_to_first_write_ms),
        whole_ms(Some(rep.longest_gap.ms)),
        if r.violations.is_empty() {
            "ok"
        } else {
            "FAIL"
        },
    );
    if !rep.errors.is_empty() {
        let kinds: Vec<String> = rep
            .errors
            .iter()
            .map(|e| format!("{} {}", thousands(e.count), e.kind))
            .collect();
        out.push_str(&format!(
            "       errors: {} (e.g. {})\n",
            kinds.join(", "),
            rep.errors[0].example
        ));
    }
    for v in &r.violations {
        out.push_str(&format!("       ✗ {v}\n"));
    }
    out
}

/// `2` → `2nd`, `11` → `11th`, `23` → `23rd`.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn duration_text(ms: f64) -> String {
    let s = (ms / 1e3).round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The summary line after the table.
pub fn summary(r: &SoakReport) -> String {
    let t = &r.totals;
    let verdict = if r.passed {
        "PASSED".to_string()
    } else if r.aborted.is_some() {
        format!(
            "ABORTED after {} of {} rounds (the error follows)",
            t.rounds, r.rounds_planned
        )
    } else {
        let which: Vec<String> = t.failed_rounds.iter().map(|n| n.to_string()).collect();
        format!("FAILED (rounds {})", which.join(", "))
    };
    format!(
        "{} rounds ({} graceful, {} crash) in {} · acked {} · errors {} · reconnects {} · lost {} \
         ({} before +switch-master, {} after) · resume max {} ms · pause max {} ms: {verdict}",
        t.rounds,
        t.graceful,
        t.crash,
        duration_text(r.duration_ms),
        thousands(t.acknowledged),
        thousands(t.errors),
        thousands(t.reconnects),
        thousands(t.lost),
        thousands(t.lost_before_switch),
        thousands(t.lost_after_switch),
        whole_ms(t.resume_ms_max),
        whole_ms(Some(t.pause_ms_max)),
    )
}

/// Header, rows and summary of a finished soak.
pub fn table(r: &SoakReport) -> String {
    let mut out = header() + "\n";
    for round in &r.rounds {
        out.push_str(&row(round));
    }
    out + &summary(r) + "\n"
}

fn write_json(path: &Path, r: &SoakReport) -> Result<(), SoakError> {
    let text = serde_json::to_string_pretty(r).expect("a soak report serialises");
    std::fs::write(path, text + "\n").map_err(|source| SoakError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// `sentinel-bench soak`: print each round as it ends, the summary, write `--json`; an
/// error when a round broke a rule or the soak could not run.
pub async fn main(args: SoakArgs) -> Result<(), SoakError> {
    let opts = args.options();
    let crashes = match opts.crash_every {
        0 => "no crash".to_string(),
        1 => "every round a crash (SIGKILL of the master)".to_string(),
        k => format!("every {} round a crash (SIGKILL of the master)", ordinal(k)),
    };
    let race = if opts.pace < Duration::from_secs(10) {
        " — below Sentinel's 10 s INFO period, so the rounds race Sentinel itself"
    } else {
        ""
    };
    println!(
        "== soak: {} failovers, {crashes}, {} writers through the proxy, pace {:?}{race}, client timeout {:?}",
        opts.rounds, opts.writers, opts.pace, opts.timeout
    );
    let started = Instant::now();
    let mut done: Vec<Round> = Vec::new();
    let result = run_with(opts.clone(), |p| match p {
        Progress::Ready {
            redis,
            sentinels,
            proxy,
        } => {
            let list = |a: &[SocketAddr]| {
                a.iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!("   redis     {}", list(redis));
            println!("   sentinels {}", list(sentinels));
            println!("   proxy     {proxy}");
            println!("{}", header());
        }
        Progress::Round(r) => {
            print!("{}", row(r));
            done.push(r.clone());
        }
    })
    .await;
    let (report, error) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            let r = SoakReport::new(&opts, done, started.elapsed(), Some(e.to_string()));
            (r, Some(e))
        }
    };
    println!("{}", summary(&report));
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    if let Some(e) = error {
        return Err(e);
    }
    if !report.passed {
        let t = &report.totals;
        return Err(SoakError::Failed {
            failed: t.failed_rounds.len(),
            rounds: t.rounds,
            which: t
                .failed_rounds
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            logs: report.logs.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::report;

    #[test]
    fn every_kth_round_is_a_crash() {
        let kinds: Vec<Kind> = (1..=6).map(|r| Kind::of_round(r, 3)).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [Graceful, Graceful, Crash, Graceful, Graceful, Crash]
        );
        assert!((1..=6).all(|r| Kind::of_round(r, 0) == Graceful));
        assert!((1..=3).all(|r| Kind::of_round(r, 1) == Crash));
        let words: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101]
            .map(ordinal)
            .to_vec();
        assert_eq!(
            words,
            ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st"]
        );
    }

    fn clean_report() -> Report {
        let held = HashMap::new();
        let mut r = report::build(report::Inputs {
            label: "round 1".into(),
            target: "x".into(),
            master_name: "mymaster".into(),
            client_timeout_ms: 2000,
            trigger: Some("sentinel-failover".into()),
            reports: &[],
            held: &held,
            events: vec![],
            trigger_ms: Some(1000.0),
            switch_ms: Some(2000.0),
            end_ms: 5000.0,
            master_before: Some("127.0.0.1:1".into()),
            master_after: Some("127.0.0.1:2".into()),
            notes: vec![],
        });
        r.acknowledged = 1000;
        r
    }

    #[test]
    fn rules_for_graceful_and_crash_rounds() {
        let ok = clean_report();
        assert!(violations(Kind::Graceful, &ok, 8).is_empty());
        assert!(violations(Kind::Crash, &ok, 8).is_empty());

        // A crash may cost one error per writer and writes the killed master never
        // replicated; a planned failover neither.
        let mut crashy = clean_report();
        crashy.errors_total = 8;
        crashy.lost = 3;
        assert!(violations(Kind::Crash, &crashy, 8).is_empty());
        let v = violations(Kind::Graceful, &crashy, 8);
        assert_eq!(v.len(), 2, "{v:?}");
        crashy.errors_total = 9;
        assert_eq!(violations(Kind::Crash, &crashy, 8).len(), 1);

        // Lost after the switch fails every kind, counted once.
        let mut late = clean_report();
        late.lost = 5;
        late.lost_after_switch = 5;
        for kind in [Kind::Graceful, Kind::Crash] {
            let v = violations(kind, &late, 8);
            assert_eq!(v, ["5 acknowledged writes lost after +switch-master"]);
        }

        let mut same = clean_report();
        same.master_after = same.master_before.clone();
        assert_eq!(violations(Kind::Graceful, &same, 8).len(), 1);
    }

    #[test]
    fn totals_and_verdict() {
        let opts = SoakOptions {
            rounds: 2,
            ..SoakOptions::default()
        };
        let round = |n: usize, kind: Kind, rep: Report| Round {
            round: n,
            kind,
            at_ms: 0.0,
            lost_before_switch: rep.lost - rep.lost_after_switch,
            settle_ms: None,
            violations: violations(kind, &rep, 8),
            report: rep,
        };
        let mut crash = clean_report();
        crash.lost = 2;
        crash.errors_total = 4;
        let rounds = vec![
            round(1, Kind::Graceful, clean_report()),
            round(2, Kind::Crash, crash),
        ];
        let r = SoakReport::new(&opts, rounds.clone(), Duration::from_secs(30), None);
        assert!(r.passed);
        assert_eq!(r.totals.lost_before_switch, 2);
        assert_eq!(r.totals.errors, 4);
        assert_eq!((r.totals.graceful, r.totals.crash), (1, 1));
        assert!(table(&r).contains("PASSED"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["rounds"][1]["kind"], "crash");
        assert_eq!(json["rounds"][1]["lost_before_switch"], 2);
        assert!(json["rounds"][1]["lost_after_switch"].is_u64(), "flattened");

        let short = SoakReport::new(&opts, rounds[..1].to_vec(), Duration::ZERO, None);
        assert!(!short.passed, "a round missing");
        let mut bad = rounds;
        bad[1].report.lost_after_switch = 1;
        bad[1].violations = violations(Kind::Crash, &bad[1].report, 8);
        let r = SoakReport::new(&opts, bad, Duration::ZERO, None);
        assert!(!r.passed);
        assert_eq!(r.totals.failed_rounds, [2]);
        assert!(row(&r.rounds[1]).contains("FAIL"));
    }
}
