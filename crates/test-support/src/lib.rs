//! Test support: real topologies (see `sentinel_bench::lab`), an in-process proxy on port 0,
//! and small raw-socket helpers for asserting on bytes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use sentinel_bench::lab::{Lab, LabOptions};
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

pub fn config_for(lab: &Lab) -> Config {
    let sentinels = lab
        .sentinel_addrs()
        .iter()
        .map(|a| HostPort::parse(&a.to_string()).unwrap())
        .collect();
    let mut c = Config::for_sentinels(sentinels, &lab.opts.master_name);
    c.redis_password = lab.opts.redis_password.clone().map(Secret::new);
    c.sentinel_password = lab.opts.sentinel_password.clone().map(Secret::new);
    c.timeouts.role_interval = Duration::from_millis(250);
    c.timeouts.role_timeout = Duration::from_millis(500);
    c
}

/// Start a proxy and wait until it routes to a confirmed master.
pub async fn proxy(config: Config) -> Running {
    let p = sentinel_proxy_core::start(config)
        .await
        .expect("proxy starts");
    wait_serving(&p).await;
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

/// Poll an async condition until it yields Some.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
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
