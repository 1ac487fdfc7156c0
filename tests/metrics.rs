//! After traffic and a failover, /metrics exposes every family of the catalogue in
//! docs/metrics.md (its own test binary: the recorder is process-wide).

use sentinel_bench::lab::LabOptions;
use test_support::*;
use tokio::io::AsyncWriteExt;

fn catalogue() -> Vec<String> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    let names: Vec<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("sentinel_proxy_"))
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 25, "catalogue parsed: {names:?}");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalogued_family_is_exported() {
    let lab = lab(LabOptions::default()).await;
    let p = proxy_with_replica_port(&lab).await;

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
