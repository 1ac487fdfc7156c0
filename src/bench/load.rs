//! Writers that INCR their own keys through a target and record what they saw: every
//! acknowledged value, every error by kind, reconnects, and successful writes per 100 ms slot.
//! Because each writer owns its key and INCR returns the new value, the last acknowledged value
//! is exactly how many writes the key must hold afterwards: anything less is lost data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_protocol::resp2::types::BytesFrame;
use tokio::sync::watch;

use crate::config::Secret;
use crate::control::conn::{ConnError, RespConn};

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
}

/// What one writer saw.
#[derive(Debug, Default, Clone)]
pub struct WriterReport {
    pub key: String,
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

async fn connect(opts: &LoadOptions) -> Result<RespConn, ConnError> {
    RespConn::connect_auth(opts.target, opts.password.as_ref(), opts.timeout).await
}

async fn writer(
    opts: Arc<LoadOptions>,
    index: usize,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) -> WriterReport {
    let key = format!("{}{index}", opts.key_prefix);
    let mut r = WriterReport {
        key: key.clone(),
        ..WriterReport::default()
    };
    let mut conn: Option<RespConn> = None;
    while !*stop.borrow() {
        let slot = (start.elapsed().as_millis() / SLOT.as_millis()) as u64;
        if conn.is_none() {
            match connect(&opts).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    *r.errors.entry(kind_of(&e)).or_default() += 1;
                    r.slots.entry(slot).or_default().1 += 1;
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
                r.acked += 1;
                r.last_value = r.last_value.max(v);
                r.latencies_us.push(t0.elapsed().as_micros() as u64);
                r.ack_times_ms.push(start.elapsed().as_millis() as u64);
                r.slots.entry(slot).or_default().0 += 1;
            }
            Ok(_) => {
                *r.errors.entry("unexpected reply".into()).or_default() += 1;
                r.slots.entry(slot).or_default().1 += 1;
            }
            Err(e) => {
                let kind = kind_of(&e);
                r.examples
                    .entry(kind.clone())
                    .or_insert_with(|| e.to_string());
                *r.errors.entry(kind).or_default() += 1;
                r.slots.entry(slot).or_default().1 += 1;
                // An error reply leaves the connection usable; anything else does not.
                if !matches!(e, ConnError::Redis(_)) {
                    conn = None;
                    r.reconnects += 1;
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
}

pub fn start(opts: LoadOptions) -> Load {
    let (stop, rx) = watch::channel(false);
    let start = Instant::now();
    let opts = Arc::new(opts);
    let tasks = (0..opts.writers)
        .map(|i| tokio::spawn(writer(opts.clone(), i, start, rx.clone())))
        .collect();
    Load { stop, tasks, start }
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
