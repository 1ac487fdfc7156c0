//! The drop-in image on the chart's haproxy.cfg behaves as HAProxy does where users rely on
//! it: idle timeouts (compared with the real HAProxy on the same file: in TCP mode `timeout
//! tunnel` replaces `timeout client` once the session is established, the chart's
//! `haproxy.timeout.tunnel`), and the metrics answer on the chart's `metrics.scrapePath`.

use std::net::SocketAddr;
use std::time::Duration;

use sentinel_bench::haproxy::Haproxy;
use sentinel_bench::lab::LabOptions;
use sentinel_proxy_haproxy::{cfg, compat};
use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const CLIENT: Duration = Duration::from_secs(1);
const TUNNEL: Duration = Duration::from_secs(3);

/// Connect, get one PONG, then stay idle; how long until the peer closes (None: still open
/// after `patience`).
async fn idle_close_after(addr: SocketAddr, patience: Duration) -> Option<Duration> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"+PONG\r\n");
    let idle_since = Instant::now();
    match tokio::time::timeout(patience, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Some(idle_since.elapsed()),
        Ok(Ok(n)) => panic!("unexpected bytes {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_session_lasts_the_tunnel_timeout_as_with_haproxy() {
    let lab = lab(LabOptions::default()).await;
    let timeouts = |cfg: String| {
        cfg.replace(
            "timeout server 330s\n  timeout client 330s\n",
            &format!(
                "timeout server {}s\n  timeout client {}s\n  timeout tunnel {}s\n",
                CLIENT.as_secs(),
                CLIENT.as_secs(),
                TUNNEL.as_secs()
            ),
        )
    };
    let haproxy = tokio::task::block_in_place(|| Haproxy::start_with(&lab, timeouts))
        .expect("haproxy starts (scripts/install-deps.sh installs it)");
    let text = std::fs::read_to_string(&haproxy.config).unwrap();
    assert!(text.contains("timeout tunnel"), "the edit applied: {text}");

    // The same file, read the way the drop-in image reads it, on test ports.
    let mut config = compat::config_from_haproxy(&cfg::parse(&text, &|_| None).unwrap()).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.health_listen = None;
    config.admin_listen = None;
    let p = proxy(config).await;

    let patience = TUNNEL * 3;
    let (theirs, ours) = tokio::join!(
        idle_close_after(haproxy.listen, patience),
        idle_close_after(p.bound.listen, patience)
    );
    for (who, closed) in [("haproxy", theirs), ("sentinel-proxy", ours)] {
        let closed = closed.unwrap_or_else(|| panic!("{who} kept the idle session open"));
        assert!(
            closed > CLIENT * 2,
            "{who} closed the idle session after {closed:?}: the client timeout ({CLIENT:?}), \
             not the tunnel timeout ({TUNNEL:?})"
        );
    }
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_on_the_charts_scrape_path() {
    let lab = single_node_lab().await;
    let sentinel = lab.sentinel_addrs()[0];
    let text = format!(
        "backend check_if_redis_is_master_0\n  \
         tcp-check send SENTINEL\\ get-master-addr-by-name\\ {}\\r\\n\n  \
         server R0 {sentinel} check inter 1s\n\
         frontend ft_redis_master\n  bind 127.0.0.1:16379\n  use_backend bk_redis_master\n\
         backend bk_redis_master\n  server R0 {} check\n\
         frontend stats\n  mode http\n  bind 127.0.0.1:19101\n  \
         http-request use-service prometheus-exporter if {{ path /custom-metrics }}\n",
        lab.opts.master_name,
        lab.master().unwrap()
    );
    let mut config = compat::config_from_haproxy(&cfg::parse(&text, &|_| None).unwrap()).unwrap();
    // Test ports instead of the file's.
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    let p = proxy(config).await;
    let admin = p
        .bound
        .admin
        .expect("the prometheus-exporter section opens the admin port");
    for path in ["/custom-metrics", "/metrics"] {
        let (status, body) = http_get(admin, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains("sentinel_proxy_"), "{path}: {body}");
    }
    p.stop().await;
}
