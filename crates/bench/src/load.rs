//! Writers that INCR their own keys through a target and record what they saw: every
//! acknowledged value, every error by kind, reconnects, and successful writes per 100 ms slot.
//! Because each writer owns its key and INCR returns the new value, the last acknowledged value
//! is exactly how many writes the key must hold afterwards: anything less is lost data.
//!
//! Two key schemes: [`Keys::PerWriter`] (`<prefix><writer>`, what the failover tests use) and
//! [`Keys::PerSlot`] (`<prefix>:<writer>:<slot>`, what `bench failover` uses), where a new key
//! starts every 100 ms so a lost acknowledged write can be attributed to its time slot.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_protocol::resp2::types::BytesFrame;
use tokio::sync::watch;

use sentinel_proxy_core::config::Secret;
use sentinel_proxy_core::control::conn::{ConnError, RespConn};

/// Width of one time slot in the per-slot counts.
pub const SLOT: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub target: SocketAddr,
    pub writers: usize,
    pub key_prefix: String,
    /// AUTH sent by each writer (as an application would).
    pub password: Option<Secret>,
    /// The client's own timeout per command (a typical client library setting).
    pub timeout: Duration,
    /// Connect over TLS with this (None: plain TCP).
    pub tls: Option<sentinel_proxy_core::tls::Dialer>,
}

/// Which keys the writers INCR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Keys {
    /// One key per writer: `<prefix><writer>`.
    #[default]
    PerWriter,
    /// One key per writer and 100 ms slot: `<prefix>:<writer>:<slot>`.
    PerSlot,
}

impl Keys {
    /// The key writer `index` INCRs during `slot`.
    pub fn key(self, prefix: &str, index: usize, slot: u64) -> String {
        match self {
            Keys::PerWriter => format!("{prefix}{index}"),
            Keys::PerSlot => format!("{prefix}:{index}:{slot}"),
        }
    }
}

/// One acknowledged INCR.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    /// The 100 ms slot in which the command was sent (and so its key, with [`Keys::PerSlot`]).
    pub slot: u64,
    /// The value INCR returned.
    pub value: i64,
    /// When the reply arrived, since the start of the load.
    pub at_us: u64,
}

/// Counters shared with whoever shows progress while the load runs.
#[derive(Debug, Default)]
pub struct Live {
    pub acked: AtomicU64,
    pub errors: AtomicU64,
    pub reconnects: AtomicU64,
}

impl Live {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.acked.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.reconnects.load(Ordering::Relaxed),
        )
    }
}

/// What one writer saw.
#[derive(Debug, Default, Clone)]
pub struct WriterReport {
    /// The writer's key ([`Keys::PerWriter`]) or key prefix `<prefix>:<writer>` ([`Keys::PerSlot`]).
    pub key: String,
    pub index: usize,
    pub keys: Keys,
    pub acked: u64,
    /// Highest value an INCR reply returned.
    pub last_value: i64,
    pub errors: BTreeMap<String, u64>,
    /// The first full message seen for each error kind.
    pub examples: BTreeMap<String, String>,
    pub reconnects: u64,
    /// (slot index, successes, errors)
    pub slots: BTreeMap<u64, (u64, u64)>,
    pub latencies_us: Vec<u64>,
    /// Times (since start) of acknowledged writes, for "acknowledged after +switch-master".
    pub ack_times_ms: Vec<u64>,
    /// Every acknowledged write, in order.
    pub acks: Vec<Ack>,
    /// Times (since start, µs) at which the writer lost its connection.
    pub reconnect_times_us: Vec<u64>,
}

impl WriterReport {
    /// The key this writer INCRed during `slot`.
    pub fn key_for(&self, slot: u64) -> String {
        match self.keys {
            Keys::PerWriter => self.key.clone(),
            Keys::PerSlot => format!("{}:{slot}", self.key),
        }
    }
}

/// The kind of an error for the report: the error code of a reply, or what failed.
fn kind_of(e: &ConnError) -> String {
    match e {
        ConnError::Redis(m) => m.split_whitespace().next().unwrap_or("ERR").to_string(),
        ConnError::Timeout(_) => "timeout".into(),
        ConnError::Closed => "connection closed".into(),
        ConnError::Connect { .. } => "connect failed".into(),
        ConnError::Io(_) => "i/o error".into(),
        ConnError::Protocol(_) | ConnError::TooLarge => "bad reply".into(),
    }
}

/// One failed INCR (or connect) in `slot`: counted by kind, with its first example kept.
fn count_error(
    r: &mut WriterReport,
    live: &Live,
    slot: u64,
    kind: String,
    example: impl FnOnce() -> String,
) {
    r.examples.entry(kind.clone()).or_insert_with(example);
    *r.errors.entry(kind).or_default() += 1;
    r.slots.entry(slot).or_default().1 += 1;
    live.errors.fetch_add(1, Ordering::Relaxed);
}

async fn connect(opts: &LoadOptions) -> Result<RespConn, ConnError> {
    match &opts.tls {
        None => RespConn::connect_auth(opts.target, opts.password.as_ref(), opts.timeout).await,
        Some(d) => {
            RespConn::connect_auth_with(d, opts.target, opts.password.as_ref(), opts.timeout).await
        }
    }
}

async fn writer(
    opts: Arc<LoadOptions>,
    keys: Keys,
    index: usize,
    start: Instant,
    live: Arc<Live>,
    mut stop: watch::Receiver<bool>,
) -> WriterReport {
    let mut r = WriterReport {
        key: match keys {
            Keys::PerWriter => format!("{}{index}", opts.key_prefix),
            Keys::PerSlot => format!("{}:{index}", opts.key_prefix),
        },
        index,
        keys,
        ..WriterReport::default()
    };
    let mut conn: Option<RespConn> = None;
    while !*stop.borrow() {
        let slot = (start.elapsed().as_millis() / SLOT.as_millis()) as u64;
        let key = r.key_for(slot);
        if conn.is_none() {
            match connect(&opts).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    count_error(&mut r, &live, slot, kind_of(&e), || e.to_string());
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        let t0 = Instant::now();
        let result =
            match tokio::time::timeout(opts.timeout, c.command(&[b"INCR", key.as_bytes()])).await {
                Ok(r) => r,
                Err(_) => Err(ConnError::Timeout(opts.timeout)),
            };
        match result {
            Ok(BytesFrame::Integer(v)) => {
                let at = start.elapsed();
                r.acked += 1;
                r.last_value = r.last_value.max(v);
                r.latencies_us.push(t0.elapsed().as_micros() as u64);
                r.ack_times_ms.push(at.as_millis() as u64);
                r.acks.push(Ack {
                    slot,
                    value: v,
                    at_us: at.as_micros() as u64,
                });
                r.slots.entry(slot).or_default().0 += 1;
                live.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(other) => {
                count_error(&mut r, &live, slot, "unexpected reply".into(), || {
                    format!("{other:?}")
                });
            }
            Err(e) => {
                count_error(&mut r, &live, slot, kind_of(&e), || e.to_string());
                // An error reply leaves the connection usable; anything else does not.
                if !matches!(e, ConnError::Redis(_)) {
                    conn = None;
                    r.reconnects += 1;
                    r.reconnect_times_us
                        .push(start.elapsed().as_micros() as u64);
                    live.reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    r
}

/// Running writers; `stop` ends them and returns their reports.
pub struct Load {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<WriterReport>>,
    pub start: Instant,
    /// Running totals, for a progress display.
    pub live: Arc<Live>,
}

/// Start `opts.writers` writers, one key each ([`Keys::PerWriter`]).
pub fn start(opts: LoadOptions) -> Load {
    start_with(opts, Keys::PerWriter, Instant::now())
}

/// Start writers with a key scheme; times in the reports count from `start`.
pub fn start_with(opts: LoadOptions, keys: Keys, start: Instant) -> Load {
    let (stop, rx) = watch::channel(false);
    let opts = Arc::new(opts);
    let live = Arc::new(Live::default());
    let tasks = (0..opts.writers)
        .map(|i| {
            tokio::spawn(writer(
                opts.clone(),
                keys,
                i,
                start,
                live.clone(),
                rx.clone(),
            ))
        })
        .collect();
    Load {
        stop,
        tasks,
        start,
        live,
    }
}

impl Load {
    pub async fn stop(self) -> Vec<WriterReport> {
        let _ = self.stop.send(true);
        let mut out = Vec::new();
        for t in self.tasks {
            if let Ok(r) = t.await {
                out.push(r);
            }
        }
        out
    }
}

/// Totals over all writers.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub acked: u64,
    pub errors: BTreeMap<String, u64>,
    pub examples: BTreeMap<String, String>,
    pub reconnects: u64,
    /// Acknowledged writes the final master does not hold.
    pub lost: u64,
    /// The longest run of 100 ms slots without one successful write, after the first success.
    pub longest_gap: Duration,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// Summarise writer reports; `final_values` is each key's value on the master afterwards.
pub fn summarise(reports: &[WriterReport], final_values: &[i64]) -> Summary {
    let mut s = Summary::default();
    let mut slots: BTreeMap<u64, u64> = BTreeMap::new();
    let mut lat: Vec<u64> = Vec::new();
    for (r, v) in reports.iter().zip(final_values) {
        s.acked += r.acked;
        s.reconnects += r.reconnects;
        for (k, n) in &r.errors {
            *s.errors.entry(k.clone()).or_default() += n;
        }
        for (k, e) in &r.examples {
            s.examples.entry(k.clone()).or_insert_with(|| e.clone());
        }
        s.lost += (r.last_value - v).max(0) as u64;
        for (slot, (ok, _)) in &r.slots {
            *slots.entry(*slot).or_default() += ok;
        }
        lat.extend_from_slice(&r.latencies_us);
    }
    let (first, last) = (slots.keys().next().copied(), slots.keys().last().copied());
    if let (Some(first), Some(last)) = (first, last) {
        let mut run = 0u64;
        let mut best = 0u64;
        for slot in first..=last {
            if slots.get(&slot).copied().unwrap_or(0) == 0 {
                run += 1;
                best = best.max(run);
            } else {
                run = 0;
            }
        }
        s.longest_gap = SLOT * best as u32;
    }
    lat.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lat.is_empty() {
            0
        } else {
            lat[((lat.len() - 1) as f64 * p).round() as usize]
        }
    };
    s.p50_us = pct(0.50);
    s.p99_us = pct(0.99);
    s.max_us = lat.last().copied().unwrap_or(0);
    s
}
