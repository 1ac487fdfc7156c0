//! Graceful shutdown: /readyz turns 503 at once, new connections are still taken during the
//! delay, then every session closes between replies and the proxy stops.

use std::time::Duration;

use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_closes_sessions_between_replies() {
    let lab = single_node_lab().await;
    let mut config = config_for(&lab);
    config.shutdown.delay = Duration::from_millis(800);
    config.shutdown.timeout = Duration::from_secs(10);
    let p = proxy(config).await;
    let addr = p.bound.listen;
    let admin = p.bound.admin.unwrap();

    // A request/response client that never stops: every command it sends must be answered,
    // and the only thing it may see is a clean close between two replies.
    let writer = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut sent = 0u64;
        let mut answered = 0u64;
        let mut buf = [0u8; 64];
        loop {
            if s.write_all(b"INCR drained\r\n").await.is_err() {
                break;
            }
            sent += 1;
            let mut reply = Vec::new();
            let closed = loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break true,
                    Ok(n) => {
                        reply.extend_from_slice(&buf[..n]);
                        if reply.ends_with(b"\r\n") {
                            break false;
                        }
                    }
                }
            };
            if closed {
                assert!(reply.is_empty(), "a reply was cut: {reply:?}");
                break;
            }
            assert!(reply.starts_with(b":"), "unexpected reply {reply:?}");
            answered += 1;
        }
        (sent, answered)
    });
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut sub = TcpStream::connect(addr).await.unwrap();
    sub.write_all(b"SUBSCRIBE news\r\n").await.unwrap();
    read_some(&mut sub, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let drained = tokio::spawn(p.drain());
    // Not ready at once, yet still accepting during the delay.
    let (status, _) = eventually("readyz 503", || async {
        let r = http_get(admin, "/readyz").await;
        (r.0 == 503).then_some(r)
    })
    .await;
    assert_eq!(status, 503);
    let (pong, _) = raw_exchange(addr, b"PING\r\n", 7).await;
    assert_eq!(
        pong, b"+PONG\r\n",
        "new clients are served during the delay"
    );

    tokio::time::timeout(Duration::from_secs(20), drained)
        .await
        .expect("drain finishes")
        .unwrap();
    let (sent, answered) = writer.await.unwrap();
    assert!(answered > 0);
    // The command written after the close was never read; anything read got its reply.
    assert!(sent - answered <= 1, "sent {sent}, answered {answered}");
    assert!(closed_by_peer(&mut idle).await);
    assert!(closed_by_peer(&mut sub).await);
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}
