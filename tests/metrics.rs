//! After traffic and a failover, /metrics exposes every family of the catalogue in
//! docs/metrics.md; every error reply the proxy writes itself is counted by kind; the process
//! metrics are there (its own test binary: the recorder is process-wide, so the tests compare
//! counts before and after, and never expect exact totals).

use std::net::SocketAddr;
use std::time::Duration;

use sentinel_bench::lab::{self, LabOptions};
use sentinel_proxy_core::config::{Cidr, Config};
use sentinel_proxy_core::Running;
use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn catalogue() -> Vec<String> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    let names: Vec<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("sentinel_proxy_") || n.starts_with("process_"))
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 25, "catalogue parsed: {names:?}");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalogued_family_is_exported() {
    let lab = lab(LabOptions::default()).await;
    // A TLS listener too, for the TLS families.
    let pki = test_support::certs::TestPki::new("metrics");
    let leaf = pki.leaf("proxy", 2035);
    let mut config = config_for(&lab);
    config.tls.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    config.tls.cert_file = Some(leaf.combined.clone());
    let p = proxy_with_replica_port_from(&lab, config).await;
    let tls_addr = p.bound.tls_listen.unwrap();
    let dialer = tls_client(&pki.ca, None);
    assert!(tls_command(&dialer, tls_addr, &[b"PING"]).await.is_ok());
    // Plain RESP on the TLS port: a failed handshake.
    let _ = raw_exchange(tls_addr, b"PING\r\n", 7).await;

    // Traffic on both listeners, a protocol error, a pipeline.
    let (pong, _) = raw_exchange(p.bound.listen, b"PING\r\nSET a 1\r\n", 12).await;
    assert_eq!(pong, b"+PONG\r\n+OK\r\n");
    let (role, _) = raw_exchange(p.bound.replica.unwrap(), b"ROLE\r\n", 10).await;
    assert!(role.starts_with(b"*"));
    let _ = raw_exchange(p.bound.listen, b"*x\r\n", 100).await;

    // A failover with a session that moves and one that cannot.
    let mut mover = tokio::net::TcpStream::connect(p.bound.listen)
        .await
        .unwrap();
    mover.write_all(b"SELECT 2\r\n").await.unwrap();
    assert_eq!(read_some(&mut mover, 5).await.0, b"+OK\r\n");
    let mut tx = tokio::net::TcpStream::connect(p.bound.listen)
        .await
        .unwrap();
    tx.write_all(b"MULTI\r\n").await.unwrap();
    assert_eq!(read_some(&mut tx, 5).await.0, b"+OK\r\n");
    failover_and_wait(&lab, &p).await;
    mover.write_all(b"PING\r\n").await.unwrap();
    assert_eq!(read_some(&mut mover, 7).await.0, b"+PONG\r\n");
    assert!(closed_by_peer(&mut tx).await);

    let admin = p.bound.admin.unwrap();
    let wanted = catalogue();
    let text = eventually("every family on /metrics", || async {
        let (_, text) = http_get(admin, "/metrics").await;
        wanted
            .iter()
            .all(|n| text.contains(n.as_str()))
            .then_some(text)
    })
    .await;
    // Histograms render as histograms (explicit buckets), not summaries.
    assert!(
        text.contains(
            "sentinel_proxy_request_duration_seconds_bucket{listener=\"master\",le=\"0.00005\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("sentinel_proxy_hold_duration_seconds_bucket{le=\"0.05\"}"),
        "{text}"
    );
    // No per-client or per-key labels.
    for line in text.lines().filter(|l| l.starts_with("sentinel_proxy_")) {
        assert!(
            !line.contains("client=") && !line.contains("key="),
            "{line}"
        );
    }
    p.stop().await;
}

/// The value of one series (`name{labels}` exactly as rendered), if it is there.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn scrape(admin: SocketAddr) -> String {
    let (status, text) = http_get(admin, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    text
}

/// A proxy whose only Sentinel is a port nobody listens on: it never has a master. No Redis.
async fn masterless_proxy(edit: impl FnOnce(&mut Config)) -> Running {
    let nobody: SocketAddr = format!("127.0.0.1:{}", lab::free_port()).parse().unwrap();
    let mut c = config_for_sentinels(&[nobody], "mymaster");
    edit(&mut c);
    sentinel_proxy_core::start(c).await.expect("proxy starts")
}

/// Read until `lines` complete lines (`\r\n`) arrived; panics after 5 s of silence.
async fn read_lines(s: &mut TcpStream, lines: usize) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.windows(2).filter(|w| w == b"\r\n").count() < lines {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            other => panic!("{other:?} after {:?}", String::from_utf8_lossy(&out)),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

const KINDS: [&str; 5] = [
    "hold_timeout",
    "master_changed",
    "max_clients",
    "not_allowed",
    "protocol",
];

fn client_errors(text: &str, kind: &str) -> f64 {
    sample(
        text,
        &format!("sentinel_proxy_client_errors_total{{kind=\"{kind}\"}}"),
    )
    .unwrap_or_else(|| panic!("no client_errors_total{{kind={kind}}} series:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_reply_the_proxy_writes_is_counted_by_kind() {
    let p = masterless_proxy(|c| {
        c.timeouts.hold = Duration::from_millis(200);
        c.limits.max_clients = 1;
    })
    .await;
    let admin = p.bound.admin.unwrap();
    let before = scrape(admin).await;
    // Every kind is there from the start, at its count so far.
    let counts: Vec<f64> = KINDS.iter().map(|k| client_errors(&before, k)).collect();

    // hold_timeout: two commands wait for a master that never comes; each gets TRYAGAIN.
    let mut held = TcpStream::connect(p.bound.listen).await.unwrap();
    held.write_all(b"PING\r\nPING\r\n").await.unwrap();
    let replies = read_lines(&mut held, 2).await;
    assert_eq!(replies.matches("-TRYAGAIN").count(), 2, "{replies}");
    // max_clients: `held` is the one client allowed.
    let (refused, _) = raw_exchange(p.bound.listen, b"PING\r\n", 40).await;
    assert!(
        refused.starts_with(b"-ERR max number of clients reached"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    // protocol: a malformed frame from `held`.
    held.write_all(b"*x\r\n").await.unwrap();
    let reply = read_lines(&mut held, 1).await;
    assert!(reply.starts_with("-ERR Protocol error"), "{reply}");
    assert!(closed_by_peer(&mut held).await);

    // not_allowed: a proxy that admits 10.0.0.0/8 only.
    let fenced =
        masterless_proxy(|c| c.client_allow = vec![Cidr::parse("10.0.0.0/8").unwrap()]).await;
    let (refused, _) = raw_exchange(fenced.bound.listen, b"PING\r\n", 40).await;
    assert!(
        refused.starts_with(b"-ERR sentinel-proxy: client address not allowed"),
        "{}",
        String::from_utf8_lossy(&refused)
    );

    let after = scrape(admin).await;
    let grew = |kind: &str, by: f64| {
        let i = KINDS.iter().position(|k| *k == kind).unwrap();
        let now = client_errors(&after, kind);
        assert!(now >= counts[i] + by, "{kind}: {} -> {now}", counts[i]);
    };
    grew("hold_timeout", 2.0);
    grew("max_clients", 1.0);
    grew("protocol", 1.0);
    grew("not_allowed", 1.0);
    assert!(
        after.contains("# TYPE sentinel_proxy_client_errors_total counter"),
        "{after}"
    );
    fenced.stop().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_metrics_have_sane_values_collected_at_each_scrape() {
    let p = masterless_proxy(|_| {}).await;
    let admin = p.bound.admin.unwrap();
    let text = scrape(admin).await;
    let value =
        |text: &str, name: &str| sample(text, name).unwrap_or_else(|| panic!("no {name}:\n{text}"));
    for (name, kind) in [
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}")),
            "{name} {kind}:\n{text}"
        );
    }
    let rss = value(&text, "process_resident_memory_bytes");
    assert!((1e6..8e9).contains(&rss), "rss {rss}");
    let (open, max) = (
        value(&text, "process_open_fds"),
        value(&text, "process_max_fds"),
    );
    assert!(open >= 3.0 && open <= max, "open {open} max {max}");
    let started = value(&text, "process_start_time_seconds");
    let now = now_secs();
    assert!(
        started <= now + 1.0 && started > now - 86_400.0,
        "started {started}, now {now}"
    );
    assert!(value(&text, "process_cpu_seconds_total") >= 0.0);

    // Collected at scrape time: 100 more connections (two descriptors each in this process,
    // the client's and the proxy's) show up at the next scrape.
    let mut conns = Vec::new();
    for _ in 0..100 {
        conns.push(TcpStream::connect(p.bound.listen).await.unwrap());
    }
    let more = eventually("the new descriptors on /metrics", || async {
        let text = scrape(admin).await;
        let now = sample(&text, "process_open_fds")?;
        (now >= open + 100.0).then_some(now)
    })
    .await;
    assert!(more <= value(&scrape(admin).await, "process_max_fds"));
    drop(conns);
    p.stop().await;
}
