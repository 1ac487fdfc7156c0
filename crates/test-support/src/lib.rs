//! Test support: real topologies (see `sentinel_bench::lab`), an in-process proxy on port 0,
//! and small raw-socket helpers for asserting on bytes.
#![allow(dead_code)]

pub mod certs;

use std::net::SocketAddr;
use std::time::Duration;

use sentinel_bench::lab::{Lab, LabOptions};
use sentinel_bench::load::Load;
use sentinel_proxy_core::config::{Config, HostPort, Secret};
use sentinel_proxy_core::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Patience for things that depend on Sentinel timing (elections, discovery).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Logs to the test output when RUST_LOG is set (e.g. RUST_LOG=sentinel_proxy_core=debug).
pub fn logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// One redis-server and one Sentinel (quorum 1): enough for tests of the data path alone.
pub async fn single_node_lab() -> Lab {
    lab(LabOptions {
        replicas: 0,
        sentinels: 1,
        quorum: 1,
        ..LabOptions::default()
    })
    .await
}

pub async fn lab(opts: LabOptions) -> Lab {
    logs();
    tokio::task::spawn_blocking(move || Lab::start(opts))
        .await
        .expect("lab task")
        .expect(
            "the lab topology starts (are redis-server and redis-sentinel installed? `make deps`)",
        )
}

/// A proxy config for `lab` (its passwords too), with fast ROLE checks.
pub fn config_for(lab: &Lab) -> Config {
    let mut c = config_for_sentinels(&lab.sentinel_addrs(), &lab.opts.master_name);
    c.redis_password = lab.opts.redis_password.clone().map(Secret::new);
    c.sentinel_password = lab.opts.sentinel_password.clone().map(Secret::new);
    c
}

/// A proxy config for these Sentinels (no passwords), with fast ROLE checks: what every test
/// topology (the loopback lab, the namespace lab) starts from.
pub fn config_for_sentinels(sentinels: &[SocketAddr], master_name: &str) -> Config {
    let sentinels = sentinels
        .iter()
        .map(|a| HostPort::parse(&a.to_string()).unwrap())
        .collect();
    let mut c = Config::for_sentinels(sentinels, master_name);
    c.timeouts.role_interval = Duration::from_millis(250);
    c.timeouts.role_timeout = Duration::from_millis(500);
    c.mode = test_mode();
    c
}

/// The data-path mode the suite runs in: `SENTINEL_PROXY_TEST_MODE=relay` runs every test
/// that does not choose a mode itself in relay mode (`make test` runs the failover, drain,
/// hostile-client and compatibility tests that way too); multiplexed otherwise.
pub fn test_mode() -> sentinel_proxy_core::config::Mode {
    use sentinel_proxy_core::config::Mode;
    match std::env::var("SENTINEL_PROXY_TEST_MODE").as_deref() {
        Ok("relay") => Mode::Relay,
        Ok("multiplex") | Err(_) => Mode::Multiplex,
        Ok(other) => panic!("SENTINEL_PROXY_TEST_MODE={other}: use relay or multiplex"),
    }
}

/// Start a proxy and wait until it routes to a confirmed master.
pub async fn proxy(config: Config) -> Running {
    let p = sentinel_proxy_core::start(config)
        .await
        .expect("proxy starts");
    wait_serving(&p).await;
    p
}

/// A proxy for `lab` with the replica port open too; returns once it routes to a confirmed
/// master and to every replica of the lab (the route learns healthy replicas shortly after).
pub async fn proxy_with_replica_port(lab: &Lab) -> Running {
    proxy_with_replica_port_from(lab, config_for(lab)).await
}

/// [`proxy_with_replica_port`] starting from `config` (e.g. with other timeouts).
pub async fn proxy_with_replica_port_from(lab: &Lab, mut config: Config) -> Running {
    config.replica_listen = Some("127.0.0.1:0".parse().unwrap());
    let p = proxy(config).await;
    eventually("every replica healthy in the route", || async {
        (p.route().load().replicas.len() == lab.opts.replicas).then_some(())
    })
    .await;
    p
}

pub async fn wait_serving(p: &Running) -> SocketAddr {
    let r = tokio::time::timeout(
        PATIENCE,
        p.route().wait_for(|r| r.serving_master().is_some()),
    )
    .await
    .expect("the proxy confirms a master");
    r.master.as_ref().unwrap().addr
}

/// Wait until the proxy publishes a route newer than generation `gen` that serves a master;
/// returns that master.
pub async fn wait_new_master(p: &Running, gen: u64) -> SocketAddr {
    let r = tokio::time::timeout(
        PATIENCE,
        p.route()
            .wait_for(|r| r.generation > gen && r.serving_master().is_some()),
    )
    .await
    .expect("the proxy routes to a new master");
    r.master.as_ref().unwrap().addr
}

/// When and where the proxy routed to a new master (see [`next_master`]).
#[derive(Debug, Clone, Copy)]
pub struct Published {
    /// Unix time, comparable with MONITOR's timestamps ([`now_secs`]).
    pub wall: f64,
    pub at: std::time::Instant,
    pub master: SocketAddr,
}

/// Start watching, before a fault, for the next route that serves a master of a newer
/// generation than now; the task ends with when (wall clock and instant) it was published.
pub fn next_master(p: &Running) -> tokio::task::JoinHandle<Published> {
    let gen = p.route().generation();
    let route = p.route().clone();
    tokio::spawn(async move {
        let r = route
            .wait_for(|r| r.generation > gen && r.serving_master().is_some())
            .await;
        Published {
            wall: now_secs(),
            at: std::time::Instant::now(),
            master: r.master.as_ref().unwrap().addr,
        }
    })
}

/// Wait (up to [`PATIENCE`]) for a [`next_master`] watch to end.
pub async fn published(watch: tokio::task::JoinHandle<Published>) -> Published {
    tokio::time::timeout(PATIENCE, watch)
        .await
        .expect("the route moves to a new master")
        .expect("the route watch")
}

/// Every redis node of `lab` but `master`.
pub fn others(lab: &Lab, master: SocketAddr) -> Vec<SocketAddr> {
    lab.redis
        .iter()
        .map(|r| r.addr)
        .filter(|a| *a != master)
        .collect()
}

/// `SENTINEL FAILOVER` on the lab, then wait until the proxy routes to the new master.
pub async fn failover_and_wait(lab: &Lab, p: &Running) -> SocketAddr {
    let gen = p.route().generation();
    tokio::task::block_in_place(|| lab.failover()).expect("SENTINEL FAILOVER is accepted");
    wait_new_master(p, gen).await
}

/// Poll an async condition until it yields Some (for up to [`PATIENCE`]).
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(what, PATIENCE, f).await
}

/// Poll an async condition until it yields Some; fail naming `what` after `patience`.
pub async fn eventually_within<T, F, Fut>(what: &str, patience: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < patience,
            "timed out after {patience:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Poll a synchronous condition (an atomic, a shared counter) every 10 ms until it holds;
/// fail naming `what` after `patience`. The way to wait for "it happened" instead of a sleep.
pub async fn poll_until(what: &str, patience: Duration, mut cond: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < patience,
            "timed out after {patience:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Wait until the writers of `load` have acknowledged at least `n` writes in total (for up to
/// [`PATIENCE`]); returns the count. `what` says what the writes prove.
pub async fn acked_at_least(load: &Load, n: u64, what: &str) -> u64 {
    poll_until(what, PATIENCE, || load.live.snapshot().0 >= n).await;
    load.live.snapshot().0
}

/// MONITOR lines from [`monitor`] (server time, line) say the node was fenced: it saw writes
/// before `before` and none later than 1 s after `published` (the slack covers commands
/// already on the wire when the route moved; HAProxy keeps writing for ~10 s).
pub fn assert_no_write_after(seen: &[(f64, String)], before: f64, published: f64, node: &str) {
    assert!(
        seen.iter().any(|(t, _)| *t < before),
        "MONITOR on {node} saw the writers before the switch"
    );
    let late: Vec<_> = seen.iter().filter(|(t, _)| *t > published + 1.0).collect();
    assert!(
        late.is_empty(),
        "writes reached {node} after the route moved: {} e.g. {:?}",
        late.len(),
        late.first()
    );
}

pub async fn client(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect through the proxy")
}

/// Send raw bytes and read until `want` bytes arrived or the peer closed.
pub async fn raw_exchange(addr: SocketAddr, send: &[u8], want: usize) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(send).await.unwrap();
    read_some(&mut s, want).await
}

/// Read from `s` until `needle` has arrived; returns everything read. Fails naming the needle
/// and what came instead after 10 s, or at EOF.
pub async fn read_until(s: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !got.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {:?} in {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&got)
                )
            })
            .unwrap();
        assert!(
            n > 0,
            "connection closed before {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Read until `want` bytes or EOF (the bool) or 5 s of silence.
pub async fn read_some(s: &mut TcpStream, want: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if out.len() >= want {
            return (out, false);
        }
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// Does the peer close the connection (EOF within 5 s)?
pub async fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// HTTP/1.0 GET returning (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The port of the node that answers on this connection (`INFO server`'s `tcp_port`).
pub async fn node_port(c: &mut redis::aio::MultiplexedConnection) -> u16 {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(c)
        .await
        .expect("INFO server through the proxy");
    info_port(&info)
}

/// Wait (up to 10 s) until `node` itself, asked directly with `CLIENT LIST`, has a client
/// whose current command is `cmd` (lower case, e.g. `blpop`): a client is really blocked there.
pub async fn wait_client_in_command(lab: &Lab, node: SocketAddr, cmd: &str) {
    let want = format!(" cmd={cmd} ");
    tokio::task::block_in_place(|| {
        sentinel_bench::lab::eventually(
            &format!("a client in {cmd} on {node}"),
            Duration::from_secs(10),
            || {
                lab.redis_call(node, &["CLIENT", "LIST"])
                    .ok()
                    .and_then(|f| sentinel_bench::lab::text(&f))
                    .filter(|list| list.lines().any(|l| format!("{l} ").contains(&want)))
                    .map(|_| ())
            },
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Does /metrics report every one of `sentinels`' links up (`up`) or every one down (`!up`)?
pub async fn sentinel_links_are(admin: SocketAddr, sentinels: &[SocketAddr], up: bool) -> bool {
    let (_, m) = http_get(admin, "/metrics").await;
    let want = if up { "1" } else { "0" };
    sentinels.iter().all(|s| {
        let key = format!("sentinel_proxy_sentinel_link_up{{sentinel=\"{s}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(&key))
            .is_some_and(|v| v.trim() == want)
    })
}

/// Wait until /metrics reports every one of `sentinels`' links up (`up`) or down (`!up`).
pub async fn wait_sentinel_links(admin: SocketAddr, sentinels: &[SocketAddr], up: bool) {
    let what = format!(
        "the links to {sentinels:?} reported {}",
        if up { "up" } else { "down" }
    );
    eventually(&what, || async {
        sentinel_links_are(admin, sentinels, up).await.then_some(())
    })
    .await
}

/// Does /metrics say the proxy's ROLE check found `node` a healthy master? (It checks every
/// node some Sentinel names, so this also says that Sentinel's view reached the proxy.)
pub async fn checked_as_master(admin: SocketAddr, node: SocketAddr) -> bool {
    let (_, body) = http_get(admin, "/metrics").await;
    let want = format!("node=\"{node}\"");
    body.lines().any(|l| {
        l.starts_with("sentinel_proxy_node_healthy{")
            && l.contains(&want)
            && l.contains("role=\"master\"")
            && l.ends_with(" 1")
    })
}

/// `tcp_port` from INFO server, to tell which node answered.
pub fn info_port(info: &str) -> u16 {
    info.lines()
        .find_map(|l| l.strip_prefix("tcp_port:"))
        .and_then(|p| p.trim().parse().ok())
        .expect("INFO server has tcp_port")
}

/// MONITOR a node directly and collect (server time, line) for lines mentioning `needle`.
pub async fn monitor(
    addr: SocketAddr,
    needle: &'static str,
) -> (
    tokio::task::JoinHandle<Vec<(f64, String)>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"MONITOR\r\n").await.unwrap();
    let mut ok = [0u8; 5];
    s.read_exact(&mut ok).await.unwrap();
    assert_eq!(&ok, b"+OK\r\n");
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut pending = String::new();
        let mut buf = vec![0u8; 65536];
        loop {
            tokio::select! {
                r = s.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => pending.push_str(&String::from_utf8_lossy(&buf[..n])),
                },
                _ = &mut stop_rx => break,
            }
            while let Some(i) = pending.find("\r\n") {
                let line: String = pending.drain(..i + 2).collect();
                if line.contains(needle) {
                    let ts: f64 = line
                        .trim_start_matches('+')
                        .split_whitespace()
                        .next()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0.0);
                    seen.push((ts, line));
                }
            }
        }
        seen
    });
    (task, stop_tx)
}

/// Unix time now, comparable with MONITOR's timestamps.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A client connection that sends commands and returns each reply as its raw bytes (one whole
/// RESP frame, found by the proxy's own reply scanner), for byte-exact assertions.
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    scanner: sentinel_proxy_core::resp::Scanner,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> RawConn {
        use sentinel_proxy_core::resp::{Limits, Mode, Scanner};
        RawConn {
            stream: TcpStream::connect(addr)
                .await
                .unwrap_or_else(|e| panic!("connect to {addr}: {e}")),
            buf: Vec::new(),
            scanner: Scanner::new(Mode::Reply, Limits::default()),
        }
    }

    /// Send one command (each argument a bulk string) and return its reply's bytes.
    pub async fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.call_bytes(&args).await
    }

    /// [`RawConn::call`] with binary arguments.
    pub async fn call_bytes(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let out = sentinel_proxy_core::resp::args::encode_command(args);
        self.stream.write_all(&out).await.expect("send a command");
        self.reply().await
    }

    /// The next reply frame (for a push or a pub/sub message too); panics after 10 s of
    /// silence or on a closed connection.
    pub async fn reply(&mut self) -> Vec<u8> {
        use sentinel_proxy_core::resp::Scan;
        loop {
            if let Scan::Frame(info) = self.scanner.scan(&self.buf).expect("a valid reply") {
                return self.buf.drain(..info.len).collect();
            }
            let mut chunk = [0u8; 16384];
            let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                .await
                .expect("a reply within 10 s")
                .expect("read a reply");
            assert!(n > 0, "the connection closed before the reply");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The version of the redis-server the labs run (`sentinel_bench::lab::RedisBinary`), which
/// must be at least `min`: a test of commands that `min` introduced fails loudly on an older
/// server instead of passing without testing anything.
pub fn require_redis(min: (u32, u32)) -> (u32, u32, u32) {
    use sentinel_bench::lab::{RedisBinary, REDIS_SERVER_ENV};
    let v = sentinel_bench::lab::redis_version().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        (v.0, v.1) >= min,
        "this test needs Redis {}.{} or newer, and {} is {}.{}.{}: set {REDIS_SERVER_ENV} to a \
         newer redis-server (eval \"$(scripts/install-redis8.sh)\" installs Redis 8 and sets it)",
        min.0,
        min.1,
        RedisBinary::Server.program().display(),
        v.0,
        v.1,
        v.2
    );
    v
}

/// A lab whose nodes and Sentinels speak only TLS to the proxy (their certificate `node`, signed
/// by `pki`, is also the one they require of clients).
pub fn tls_lab_options(pki: &certs::TestPki, opts: LabOptions) -> LabOptions {
    let node = pki.leaf("node", 2035);
    LabOptions {
        tls: Some(sentinel_bench::lab::LabTls {
            ca: pki.ca.clone(),
            cert: node.cert,
            key: node.key,
        }),
        ..opts
    }
}

/// [`single_node_lab`] with TLS (see [`tls_lab_options`]).
pub async fn single_node_tls_lab(pki: &certs::TestPki) -> Lab {
    lab(tls_lab_options(
        pki,
        LabOptions {
            replicas: 0,
            sentinels: 1,
            quorum: 1,
            ..LabOptions::default()
        },
    ))
    .await
}

/// What each writer's key holds on `node` now (0 when unset): the final values
/// `load::summarise` compares the acknowledged writes with.
pub fn values_on(
    lab: &Lab,
    node: SocketAddr,
    reports: &[sentinel_bench::load::WriterReport],
) -> Vec<i64> {
    reports
        .iter()
        .map(|r| {
            sentinel_bench::lab::text(&lab.redis_call(node, &["GET", &r.key]).unwrap())
                .and_then(|t| t.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// A proxy config for a TLS `lab`: TLS to the nodes and Sentinels (CA checked, name too: the
/// certificates are for 127.0.0.1) with the client certificate `client`; listeners plain.
pub fn tls_upstream_config(lab: &Lab, pki: &certs::TestPki, client: &certs::Leaf) -> Config {
    let mut c = config_for(lab);
    c.tls.upstream = true;
    c.tls.sentinel = true;
    c.tls.upstream_ca_file = Some(pki.ca.clone());
    c.tls.upstream_cert_file = Some(client.cert.clone());
    c.tls.upstream_key_file = Some(client.key.clone());
    c
}

/// The master listener speaks TLS with `server` (cert and key in one PEM, as HAProxy reads it).
pub fn with_tls_listener(mut c: Config, server: &certs::Leaf) -> Config {
    c.tls.listen_tls = true;
    c.tls.cert_file = Some(server.combined.clone());
    c
}

/// A TLS client trusting `ca`, presenting `cert` when given.
pub fn tls_client(
    ca: &std::path::Path,
    cert: Option<&certs::Leaf>,
) -> sentinel_proxy_core::tls::Dialer {
    let s = sentinel_proxy_core::config::TlsSettings {
        upstream: true,
        upstream_ca_file: Some(ca.to_path_buf()),
        upstream_cert_file: cert.map(|c| c.cert.clone()),
        upstream_key_file: cert.map(|c| c.key.clone()),
        ..Default::default()
    };
    sentinel_proxy_core::tls::Dialer::from_settings(&s, sentinel_proxy_core::tls::Side::Upstream)
        .expect("test certificates load")
}

/// Connect `dialer` to `addr` and run one command; its reply, or what failed.
pub async fn tls_command(
    dialer: &sentinel_proxy_core::tls::Dialer,
    addr: SocketAddr,
    args: &[&[u8]],
) -> Result<redis_protocol::resp2::types::BytesFrame, sentinel_proxy_core::control::conn::ConnError>
{
    let mut c = sentinel_proxy_core::control::conn::RespConn::connect_with(
        dialer,
        addr,
        Duration::from_secs(5),
    )
    .await?;
    tokio::time::timeout(Duration::from_secs(10), c.command(args))
        .await
        .map_err(|_| {
            sentinel_proxy_core::control::conn::ConnError::Timeout(Duration::from_secs(10))
        })?
}

/// The value of the sample `name{labels}` on the admin listener's /metrics (labels as
/// rendered, e.g. `reason="unknown_ca",side="client"`), 0 when absent.
pub async fn metric(admin: SocketAddr, name: &str, labels: &str) -> f64 {
    let (_, body) = http_get(admin, "/metrics").await;
    let want = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{labels}}}")
    };
    body.lines()
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == want).then(|| v.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}
