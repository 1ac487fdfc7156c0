//! Agreement between Sentinels, no master, bad input and limits — against real processes.

use std::time::Duration;

use sentinel_bench::lab::LabOptions;
use sentinel_proxy_core::config::HostPort;
use test_support::*;
use tokio::io::AsyncWriteExt;

fn hp(a: std::net::SocketAddr) -> HostPort {
    HostPort::parse(&a.to_string()).unwrap()
}

/// `sentinel_proxy_sentinel_disagreements_total` on /metrics.
async fn disagreements(admin: std::net::SocketAddr) -> Option<f64> {
    let (_, m) = http_get(admin, "/metrics").await;
    m.lines()
        .find_map(|l| l.strip_prefix("sentinel_proxy_sentinel_disagreements_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disagreeing_sentinels_majority_wins_and_no_majority_means_no_master() {
    // Two topologies whose Sentinels watch a master of the same name.
    let a = lab(LabOptions::default()).await;
    let b = single_node_lab().await;
    let a_master = a.master().unwrap();

    // 2 of 3 Sentinels say A's master: that is the route; B's lone voice is ignored.
    let mut config = config_for(&a);
    config.sentinels = vec![
        hp(a.sentinels[0].addr),
        hp(a.sentinels[1].addr),
        hp(b.sentinels[0].addr),
    ];
    let p = proxy(config).await;
    let mut c = client(p.bound.listen).await;
    assert_eq!(node_port(&mut c).await, a_master.port());
    // The odd one out is counted once its disagreement outlasts the propagation grace.
    let admin = p.bound.admin.unwrap();
    let counted = eventually("the disagreement counted", || async {
        disagreements(admin).await.filter(|v| *v >= 1.0)
    })
    .await;
    p.stop().await;

    // 1 against 1 is no strict majority: no master, /readyz says so, a command waits for the
    // hold timeout and then gets a clear error — the connection stays open.
    let mut config = config_for(&a);
    config.sentinels = vec![hp(a.sentinels[0].addr), hp(b.sentinels[0].addr)];
    config.timeouts.hold = Duration::from_millis(500);
    let p = sentinel_proxy_core::start(config).await.unwrap();
    let admin = p.bound.admin.unwrap();
    // Both views are in, still no master: each Sentinel is counted as disagreeing with the
    // (empty) route once the grace passed. The counter is process-wide: the first proxy's
    // count is the base.
    eventually_within(
        "both Sentinels counted as disagreeing",
        PATIENCE,
        || async { disagreements(admin).await.filter(|v| *v >= counted + 2.0) },
    )
    .await;
    assert!(p.route().load().master.is_none());
    let (status, body) = http_get(admin, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let mut s = tokio::net::TcpStream::connect(p.bound.listen)
        .await
        .unwrap();
    s.write_all(b"PING\r\nPING\r\n").await.unwrap();
    let (reply, closed) = read_some(&mut s, 2 * 40).await;
    let text = String::from_utf8_lossy(&reply);
    assert_eq!(
        text.matches("-TRYAGAIN sentinel-proxy: no confirmed master for 'mymaster'")
            .count(),
        2,
        "{text}"
    );
    assert!(!closed);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_close_only_that_client_and_limits_hold() {
    let lab = lab(LabOptions::default()).await;
    let mut config = config_for(&lab);
    config.limits.max_bulk_len = 1024;
    config.limits.max_clients = 3;
    let p = proxy(config).await;
    let addr = p.bound.listen;

    let mut bystander = client(addr).await;

    // Commands before the bad frame are answered first, then the error, then close.
    let (reply, closed) = raw_exchange(addr, b"PING\r\n*abc\r\n", 1000).await;
    assert_eq!(
        reply,
        b"+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"
    );
    assert!(closed);
    let (reply, closed) = raw_exchange(addr, b"*1\r\n$4096\r\n", 1000).await;
    assert_eq!(reply, b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed);
    let (reply, closed) = raw_exchange(addr, b"*1\r\n+PING\r\n", 1000).await;
    assert_eq!(reply, b"-ERR Protocol error: expected '$', got '+'\r\n");
    assert!(closed);

    // The other client did not notice.
    let pong: String = redis::cmd("PING")
        .query_async(&mut bystander)
        .await
        .unwrap();
    assert_eq!(pong, "PONG");

    // max_clients = 3: bystander + two more are fine, the fourth is refused with Redis' text.
    let mut c2 = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut c3 = tokio::net::TcpStream::connect(addr).await.unwrap();
    c2.write_all(b"PING\r\n").await.unwrap();
    c3.write_all(b"PING\r\n").await.unwrap();
    assert_eq!(read_some(&mut c2, 7).await.0, b"+PONG\r\n");
    assert_eq!(read_some(&mut c3, 7).await.0, b"+PONG\r\n");
    let (reply, closed) = raw_exchange(addr, b"PING\r\n", 1000).await;
    assert_eq!(reply, b"-ERR max number of clients reached\r\n");
    assert!(closed);
    let (_, metrics) = http_get(p.bound.admin.unwrap(), "/metrics").await;
    assert!(
        metrics.contains("sentinel_proxy_connections_rejected_total{reason=\"max_clients\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sentinel_proxy_protocol_errors_total{side=\"client\"}"),
        "{metrics}"
    );
    // Closing one frees a slot.
    drop(c3);
    eventually_within(
        "a slot to free up when a client leaves",
        Duration::from_secs(5),
        || async { (raw_exchange(addr, b"PING\r\n", 7).await.0 == b"+PONG\r\n").then_some(()) },
    )
    .await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_allow_list_refuses_others_clearly() {
    let lab = single_node_lab().await;
    let mut config = config_for(&lab);
    config.client_allow = vec![sentinel_proxy_core::config::Cidr::parse("10.0.0.0/8").unwrap()];
    let p = proxy(config).await;
    let (reply, closed) = raw_exchange(p.bound.listen, b"PING\r\n", 100).await;
    assert_eq!(
        reply,
        b"-ERR sentinel-proxy: client address not allowed\r\n"
    );
    assert!(closed);
    p.stop().await;

    let mut config = config_for(&lab);
    config.client_allow = vec![sentinel_proxy_core::config::Cidr::parse("127.0.0.0/8").unwrap()];
    let p = proxy(config).await;
    let (reply, _) = raw_exchange(p.bound.listen, b"PING\r\n", 7).await;
    assert_eq!(reply, b"+PONG\r\n");
    p.stop().await;
}
