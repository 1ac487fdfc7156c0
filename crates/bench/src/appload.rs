//! `sentinel-bench appload`: the load of many application pods. Each of `--connections`
//! connections sends one GET or SET, waits for its reply, optionally "thinks" for a while, and
//! sends the next; together they send `--requests` requests. With a think time most
//! connections are idle most of the time, which is the shape redis-benchmark cannot produce
//! (it keeps every connection busy). The result is one JSON line on stdout: requests done,
//! errors, rps over the timed part and latency percentiles; scripts/bench-vs-haproxy reads it.
//!
//! Cost per request is kept at about redis-benchmark's: one runtime thread by default, one
//! write and (usually) one read per request, a reused request buffer, no per-request timer
//! (a watchdog ends the run when nothing completes for `--stall-timeout`), and latencies kept
//! as `u32` microseconds in one vector per connection (4 MB per million requests).
//!
//! Connections are all opened (at most `--connect-concurrency` at a time, so that a listen
//! backlog never overflows) before the clock starts; connecting is not part of the rps.

use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};

#[derive(Debug, Clone, clap::Args)]
pub struct AppLoadArgs {
    /// Where the connections go: a proxy or a Redis node (host:port).
    #[arg(long)]
    pub target: String,
    /// Client connections, all open for the whole run.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Requests in total, over all connections (GET and SET).
    #[arg(long, default_value_t = 1_000_000)]
    pub requests: u64,
    /// Mean pause after each reply before the connection's next request: uniformly random in
    /// [0, 2 × think]. 0 = closed loop. tokio's timers tick in milliseconds, so a pause is
    /// rounded up to the next millisecond.
    #[arg(long, default_value = "0ms", value_parser = think_duration)]
    pub think: Duration,
    /// Share of SETs (the rest are GETs), 0.0–1.0.
    #[arg(long, default_value_t = 0.5)]
    pub set_ratio: f64,
    /// Keys are key:0 … key:<keyspace - 1>, picked at random per request.
    #[arg(long, default_value_t = 100_000)]
    pub keyspace: u64,
    /// Bytes per SET value (redis-benchmark's -d default is 3).
    #[arg(long, default_value_t = 3)]
    pub value_size: usize,
    /// Runtime threads (1, like redis-benchmark, leaves the other core to what is measured).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Connections being opened at the same time.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// End the run (outstanding requests counted as errors) when no reply arrives for this long.
    #[arg(long, default_value = "15s", value_parser = crate::failover::duration)]
    pub stall_timeout: Duration,
}

/// `0` alone is accepted too (no unit needed for nothing); anything else is the tools' grammar.
fn think_duration(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        Ok(Duration::ZERO)
    } else {
        crate::failover::duration(s)
    }
}

/// Everything the run measured; printed as one JSON line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppLoadReport {
    pub target: String,
    pub connections: usize,
    /// Connections that were open when the clock started.
    pub connected: usize,
    pub think_ms: f64,
    /// Requests answered with a non-error reply.
    pub requests: u64,
    pub sets: u64,
    pub gets: u64,
    /// Error replies, failed connects, lost connections, requests cut off by the stall timeout.
    pub errors: u64,
    /// The first error message seen, if any.
    pub first_error: Option<String>,
    pub reconnects: u64,
    /// From the start signal to the last reply.
    pub seconds: f64,
    /// `requests / seconds`.
    pub rps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// This process's utime + stime over the whole run, connects included (from /proc).
    pub client_cpu_s: Option<f64>,
}

/// What every connection shares.
struct Shared {
    addr: SocketAddr,
    total: u64,
    /// Requests claimed so far (a connection claims one before it sends it).
    claimed: AtomicU64,
    /// Replies received (any kind), for the stall watchdog.
    replies: AtomicU64,
    think: Duration,
    /// SET when the random draw is below this (of u32::MAX).
    set_below: u32,
    keyspace: u64,
    value: Vec<u8>,
    /// Latency slots reserved per connection up front (its fair share and a quarter).
    expected_per_conn: usize,
}

impl Shared {
    fn claim(&self) -> bool {
        self.claimed.fetch_add(1, Ordering::Relaxed) < self.total
    }
}

/// What one connection saw.
#[derive(Default)]
struct ConnReport {
    latencies_us: Vec<u32>,
    sets: u64,
    gets: u64,
    errors: u64,
    reconnects: u64,
    first_error: Option<String>,
    /// When this connection's last reply arrived.
    last_reply: Option<Instant>,
}

impl ConnReport {
    fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }
}

/// xorshift64*: enough randomness for keys, the GET/SET mix and think times, at no cost.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that neighbouring seeds start far apart (and never 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }
    /// Uniform in [0, 2 × mean].
    fn pause(&mut self, mean: Duration) -> Duration {
        let ns = mean.as_nanos().min(u128::from(u64::MAX / 2)) as u64;
        Duration::from_nanos(self.below(2 * ns + 1))
    }
}

/// Writes `SET key:<k> <value>` or `GET key:<k>` into `out` (cleared first). No allocation once
/// `out` has grown to the largest request.
fn encode(out: &mut Vec<u8>, set: bool, key: u64, value: &[u8]) {
    out.clear();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut k = key;
    loop {
        i -= 1;
        digits[i] = b'0' + (k % 10) as u8;
        k /= 10;
        if k == 0 {
            break;
        }
    }
    let key_digits = &digits[i..];
    let key_len = 4 + key_digits.len();
    if set {
        out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$");
    } else {
        out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$");
    }
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{key_len}\r\nkey:");
    out.extend_from_slice(key_digits);
    out.extend_from_slice(b"\r\n");
    if set {
        let _ = write!(out, "${}\r\n", value.len());
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
}

/// The end of the first complete RESP2 reply in `buf`: `Ok(Some((length, is_error)))`,
/// `Ok(None)` while incomplete, `Err` for bytes that are not a reply.
fn reply_len(buf: &[u8]) -> Result<Option<(usize, bool)>, String> {
    let mut pos = 0;
    // Elements still to read: 1 for the reply itself, more inside arrays.
    let mut pending: u64 = 1;
    let mut is_error = false;
    while pending > 0 {
        let Some(nl) = memchr_crlf(&buf[pos..]) else {
            return Ok(None);
        };
        let line = &buf[pos..pos + nl];
        let Some((&kind, rest)) = line.split_first() else {
            return Err("empty reply line".into());
        };
        if pos == 0 && kind == b'-' {
            is_error = true;
        }
        pos += nl + 2;
        pending -= 1;
        match kind {
            b'+' | b'-' | b':' => {}
            b'$' => {
                let n = number(rest)?;
                if n >= 0 {
                    let end = pos.saturating_add(n as usize).saturating_add(2);
                    if buf.len() < end {
                        return Ok(None);
                    }
                    pos = end;
                }
            }
            b'*' => {
                let n = number(rest)?;
                if n > 0 {
                    pending += n as u64;
                }
            }
            other => {
                return Err(format!(
                    "unexpected reply type byte 0x{other:02x} in {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(60)])
                ))
            }
        }
    }
    Ok(Some((pos, is_error)))
}

fn memchr_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn number(digits: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(digits)))
}

/// One request and its reply. `Ok(None)`: a non-error reply; `Ok(Some(msg))`: an error reply.
async fn round_trip(
    stream: &mut TcpStream,
    req: &[u8],
    buf: &mut Vec<u8>,
    filled: &mut usize,
) -> Result<Option<String>, String> {
    stream
        .write_all(req)
        .await
        .map_err(|e| format!("write: {e}"))?;
    loop {
        if let Some((len, is_error)) = reply_len(&buf[..*filled])? {
            let err = is_error.then(|| {
                String::from_utf8_lossy(&buf[1..len.saturating_sub(2).max(1)]).into_owned()
            });
            buf.copy_within(len..*filled, 0);
            *filled -= len;
            return Ok(err);
        }
        if *filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match stream.read(&mut buf[*filled..]).await {
            Ok(0) => return Err("connection closed by the target".into()),
            Ok(n) => *filled += n,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

async fn connection(
    shared: Arc<Shared>,
    index: usize,
    mut stream: Option<TcpStream>,
    mut start: watch::Receiver<bool>,
) -> ConnReport {
    let mut r = ConnReport {
        latencies_us: Vec::with_capacity(shared.expected_per_conn),
        ..ConnReport::default()
    };
    let mut rng = Rng::new(index as u64);
    let mut req = Vec::with_capacity(64 + shared.value.len());
    let mut buf = vec![0u8; 4096];
    let mut filled = 0usize;
    if start.wait_for(|go| *go).await.is_err() {
        return r;
    }
    // Spread the first requests over one think time, so that the connections do not move in
    // lockstep from the start.
    if !shared.think.is_zero() {
        tokio::time::sleep(rng.pause(shared.think / 2)).await;
    }
    while shared.claim() {
        let Some(s) = stream.as_mut() else {
            r.reconnects += 1;
            match connect(shared.addr).await {
                Ok(s) => {
                    stream = Some(s);
                    filled = 0;
                }
                Err(e) => {
                    r.error(|| e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            continue;
        };
        let set = rng.u32() < shared.set_below;
        encode(&mut req, set, rng.below(shared.keyspace), &shared.value);
        let t0 = Instant::now();
        let result = round_trip(s, &req, &mut buf, &mut filled).await;
        let t1 = Instant::now();
        let us = t1.duration_since(t0).as_micros().min(u128::from(u32::MAX)) as u32;
        r.last_reply = Some(t1);
        shared.replies.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(None) => {
                r.latencies_us.push(us);
                if set {
                    r.sets += 1;
                } else {
                    r.gets += 1;
                }
            }
            Ok(Some(msg)) => r.error(|| msg),
            Err(e) => {
                r.error(|| e);
                stream = None;
            }
        }
        if !shared.think.is_zero() {
            tokio::time::sleep(rng.pause(shared.think)).await;
        }
    }
    r
}

/// Returns when no reply has arrived for `limit`.
async fn watchdog(shared: &Shared, limit: Duration) {
    let mut last = (shared.replies.load(Ordering::Relaxed), Instant::now());
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let replies = shared.replies.load(Ordering::Relaxed);
        if replies != last.0 {
            last = (replies, Instant::now());
        } else if last.1.elapsed() >= limit {
            return;
        }
    }
}

/// This process's utime + stime in seconds, from /proc/self/stat (USER_HZ is 100 on Linux).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The `q`-quantile of sorted values, in milliseconds.
fn quantile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Run the load (inside a tokio runtime) and report.
pub async fn run(args: &AppLoadArgs) -> anyhow::Result<AppLoadReport> {
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(args.keyspace > 0, "--keyspace must be at least 1");
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.set_ratio),
        "--set-ratio must be between 0 and 1"
    );
    let addr = args
        .target
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("--target {}: {e}", args.target))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("--target {}: no address", args.target))?;
    let cpu0 = process_cpu_seconds();
    let shared = Arc::new(Shared {
        addr,
        total: args.requests,
        claimed: AtomicU64::new(0),
        replies: AtomicU64::new(0),
        think: args.think,
        set_below: (args.set_ratio * f64::from(u32::MAX)).round() as u32,
        keyspace: args.keyspace,
        value: vec![b'x'; args.value_size],
        expected_per_conn: (args.requests / args.connections as u64)
            .saturating_mul(5)
            .div_ceil(4)
            .min(1 << 24) as usize,
    });

    // Open every connection first, a bounded number at a time.
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let mut connecting = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let gate = gate.clone();
        connecting.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            connect(addr).await
        }));
    }
    let mut streams = Vec::with_capacity(args.connections);
    let mut connect_errors = Vec::new();
    for c in connecting {
        match c.await {
            Ok(Ok(s)) => streams.push(Some(s)),
            Ok(Err(e)) => {
                connect_errors.push(e);
                streams.push(None);
            }
            Err(e) => {
                connect_errors.push(e.to_string());
                streams.push(None);
            }
        }
    }
    let connected = streams.iter().filter(|s| s.is_some()).count();
    anyhow::ensure!(
        connected > 0,
        "no connection to {addr} could be opened: {}",
        connect_errors.first().map(String::as_str).unwrap_or("?")
    );

    let (go, start) = watch::channel(false);
    let mut tasks = Vec::with_capacity(args.connections);
    for (i, s) in streams.into_iter().enumerate() {
        tasks.push(tokio::spawn(connection(
            shared.clone(),
            i,
            s,
            start.clone(),
        )));
    }
    let t0 = Instant::now();
    let _ = go.send(true);

    // The run ends when every connection is done, or when no reply has arrived for
    // --stall-timeout: then the connections still running are stopped, and each counts as one
    // error (its request outstanding, or a connect that never completed).
    let mut results = Vec::with_capacity(tasks.len());
    let stalled = {
        let collect = async {
            for t in tasks.iter_mut() {
                results.push(t.await);
            }
        };
        tokio::select! {
            _ = collect => false,
            _ = watchdog(&shared, args.stall_timeout) => true,
        }
    };
    if stalled {
        for t in &tasks[results.len()..] {
            t.abort();
        }
        for t in tasks.iter_mut().skip(results.len()) {
            results.push(t.await);
        }
    }
    let mut latencies: Vec<u32> = Vec::with_capacity(args.requests.min(1 << 26) as usize);
    let mut report = ConnReport::default();
    let mut cut_off = 0u64;
    let mut end = None;
    for r in results {
        match r {
            Ok(r) => {
                latencies.extend_from_slice(&r.latencies_us);
                report.sets += r.sets;
                report.gets += r.gets;
                report.errors += r.errors;
                report.reconnects += r.reconnects;
                if report.first_error.is_none() {
                    report.first_error = r.first_error;
                }
                end = end.max(r.last_reply);
            }
            Err(_) => cut_off += 1,
        }
    }
    let seconds = end
        .unwrap_or_else(Instant::now)
        .duration_since(t0)
        .as_secs_f64();
    if cut_off > 0 && report.first_error.is_none() {
        report.first_error = Some(format!(
            "no reply for {:?}: {cut_off} connections stopped",
            args.stall_timeout
        ));
    }
    let cpu1 = process_cpu_seconds();
    latencies.sort_unstable();
    let requests = report.sets + report.gets;
    let mean_ms = if latencies.is_empty() {
        0.0
    } else {
        latencies.iter().map(|&l| u64::from(l)).sum::<u64>() as f64 / latencies.len() as f64 / 1e3
    };
    Ok(AppLoadReport {
        target: args.target.clone(),
        connections: args.connections,
        connected,
        think_ms: args.think.as_secs_f64() * 1e3,
        requests,
        sets: report.sets,
        gets: report.gets,
        errors: report.errors + connect_errors.len() as u64 + cut_off,
        first_error: report.first_error.or(connect_errors.into_iter().next()),
        reconnects: report.reconnects,
        seconds,
        rps: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        mean_ms,
        p50_ms: quantile_ms(&latencies, 0.50),
        p90_ms: quantile_ms(&latencies, 0.90),
        p99_ms: quantile_ms(&latencies, 0.99),
        p999_ms: quantile_ms(&latencies, 0.999),
        max_ms: latencies.last().map_or(0.0, |&l| f64::from(l) / 1e3),
        client_cpu_s: cpu0.zip(cpu1).map(|(a, b)| b - a),
    })
}

/// The subcommand: its own runtime (`--threads` workers; 1 = current-thread), the JSON line on
/// stdout. Exits non-zero when no request succeeded.
pub fn main(args: AppLoadArgs) -> anyhow::Result<()> {
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let report = runtime.block_on(run(&args))?;
    println!(
        "{}",
        serde_json::to_string(&report).expect("the report serialises")
    );
    anyhow::ensure!(
        report.requests > 0 || args.requests == 0,
        "no request succeeded: {}",
        report.first_error.as_deref().unwrap_or("?")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn requests_are_encoded_as_resp_arrays() {
        let mut out = Vec::new();
        encode(&mut out, true, 42, b"abc");
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$6\r\nkey:42\r\n$3\r\nabc\r\n");
        encode(&mut out, false, 0, b"abc");
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$5\r\nkey:0\r\n");
        encode(&mut out, false, 1_234_567, b"");
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$11\r\nkey:1234567\r\n");
    }

    #[test]
    fn reply_boundaries() {
        assert_eq!(reply_len(b"+OK\r\n"), Ok(Some((5, false))));
        assert_eq!(reply_len(b"+OK\r\n+OK\r\n"), Ok(Some((5, false))));
        assert_eq!(reply_len(b"-ERR no\r\n"), Ok(Some((9, true))));
        assert_eq!(reply_len(b":12\r\n"), Ok(Some((5, false))));
        assert_eq!(reply_len(b"$-1\r\n"), Ok(Some((5, false))));
        assert_eq!(reply_len(b"$3\r\nabc\r\n"), Ok(Some((9, false))));
        assert_eq!(reply_len(b"$3\r\nab"), Ok(None));
        assert_eq!(reply_len(b"$3\r\nabc\r"), Ok(None));
        assert_eq!(reply_len(b"+O"), Ok(None));
        assert_eq!(reply_len(b""), Ok(None));
        assert_eq!(reply_len(b"*2\r\n$1\r\na\r\n:1\r\n"), Ok(Some((15, false))));
        assert_eq!(reply_len(b"*2\r\n$1\r\na\r\n"), Ok(None));
        assert_eq!(reply_len(b"*0\r\n"), Ok(Some((4, false))));
        assert_eq!(reply_len(b"*-1\r\n"), Ok(Some((5, false))));
        assert_eq!(reply_len(b"*1\r\n*1\r\n+x\r\n"), Ok(Some((12, false))));
        assert!(reply_len(b"?what\r\n").is_err());
        assert!(reply_len(b"$x\r\n").is_err());
    }

    #[test]
    fn pauses_stay_within_twice_the_mean() {
        let mut rng = Rng::new(7);
        let mean = Duration::from_millis(10);
        let mut sum = Duration::ZERO;
        for _ in 0..10_000 {
            let p = rng.pause(mean);
            assert!(p <= 2 * mean);
            sum += p;
        }
        let avg = sum / 10_000;
        assert!(
            avg > Duration::from_millis(9) && avg < Duration::from_millis(11),
            "{avg:?}"
        );
        assert_eq!(Rng::new(1).pause(Duration::ZERO), Duration::ZERO);
        assert!((0..1000).all(|_| rng.below(3) < 3));
    }

    #[test]
    fn quantiles() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(quantile_ms(&v, 0.5), 0.501);
        assert_eq!(quantile_ms(&v, 0.99), 0.990);
        assert_eq!(quantile_ms(&[], 0.99), 0.0);
    }

    /// A stand-in for Redis: `+OK` to SET, a 1-byte value to GET, `reply` to anything when set;
    /// `silent` never answers.
    async fn fake_redis(error: Option<&'static [u8]>, silent: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut filled = 0;
                    let mut out = Vec::new();
                    loop {
                        let n = match s.read(&mut buf[filled..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        filled += n;
                        out.clear();
                        while let Ok(Some((len, _))) = reply_len(&buf[..filled]) {
                            let reply: &[u8] = match error {
                                Some(e) => e,
                                None if buf[..len].windows(3).any(|w| w == b"SET") => b"+OK\r\n",
                                None => b"$1\r\nx\r\n",
                            };
                            out.extend_from_slice(reply);
                            buf.copy_within(len..filled, 0);
                            filled -= len;
                        }
                        if !silent && s.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn args(addr: SocketAddr, connections: usize, requests: u64) -> AppLoadArgs {
        AppLoadArgs {
            target: addr.to_string(),
            connections,
            requests,
            think: Duration::ZERO,
            set_ratio: 0.5,
            keyspace: 1000,
            value_size: 3,
            threads: 1,
            connect_concurrency: 16,
            stall_timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn every_request_is_sent_and_answered_once() {
        let addr = fake_redis(None, false).await;
        let r = run(&args(addr, 50, 5_000)).await.unwrap();
        assert_eq!(r.connected, 50);
        assert_eq!(r.requests, 5_000);
        assert_eq!(r.errors, 0, "{:?}", r.first_error);
        assert_eq!(r.sets + r.gets, 5_000);
        assert!(r.sets > 2_000 && r.gets > 2_000, "{r:?}");
        assert!(r.rps > 0.0 && r.p50_ms <= r.p99_ms && r.p99_ms <= r.max_ms);
    }

    #[tokio::test]
    async fn think_time_spreads_the_requests() {
        let addr = fake_redis(None, false).await;
        let mut a = args(addr, 20, 200);
        a.think = Duration::from_millis(20);
        let r = run(&a).await.unwrap();
        assert_eq!((r.requests, r.errors), (200, 0));
        // 10 requests per connection, 20 ms apart on average: well over 100 ms in all.
        assert!(r.seconds > 0.1, "{r:?}");
    }

    #[tokio::test]
    async fn error_replies_are_counted_not_timed() {
        let addr = fake_redis(Some(b"-TRYAGAIN not now\r\n"), false).await;
        let r = run(&args(addr, 4, 100)).await.unwrap();
        assert_eq!((r.requests, r.errors), (0, 100));
        assert_eq!(r.first_error.as_deref(), Some("TRYAGAIN not now"));
    }

    #[tokio::test]
    async fn a_target_that_never_answers_ends_the_run() {
        let addr = fake_redis(None, true).await;
        let mut a = args(addr, 3, 100);
        a.stall_timeout = Duration::from_millis(300);
        let r = run(&a).await.unwrap();
        assert_eq!((r.requests, r.errors), (0, 3));
        assert!(r.first_error.unwrap().contains("3 connections stopped"));
    }
}
