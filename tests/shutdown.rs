//! Graceful shutdown: /readyz turns 503 at once, new connections are still taken during the
//! delay, then every session closes between replies and the proxy stops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough that every check "during the delay" runs well inside it on a slow host.
const DELAY: Duration = Duration::from_millis(2000);

/// One request on `s`, the reply read until it is complete (`want` bytes) or the peer closed.
async fn ask(s: &mut TcpStream, req: &[u8], want: usize) -> Vec<u8> {
    s.write_all(req)
        .await
        .expect("a new client's request is written");
    read_some(s, want).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_closes_sessions_between_replies() {
    let lab = single_node_lab().await;
    let mut config = config_for(&lab);
    config.shutdown.delay = DELAY;
    config.shutdown.timeout = Duration::from_secs(10);
    let p = proxy(config).await;
    let addr = p.bound.listen;
    let admin = p.bound.admin.unwrap();

    // A request/response client that never stops: every command it sends must be answered,
    // and the only thing it may see is a clean close between two replies.
    let answered = Arc::new(AtomicU64::new(0));
    let progress = answered.clone();
    let writer = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut sent = 0u64;
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
            progress.fetch_add(1, Ordering::SeqCst);
        }
        (sent, progress.load(Ordering::SeqCst))
    });
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut sub = TcpStream::connect(addr).await.unwrap();
    sub.write_all(b"SUBSCRIBE news\r\n").await.unwrap();
    let confirm = b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n";
    let (got, _) = read_some(&mut sub, confirm.len()).await;
    assert_eq!(
        got, confirm,
        "the subscriber is subscribed before the drain"
    );
    poll_until("the writer's first replies", PATIENCE, || {
        answered.load(Ordering::SeqCst) >= 10
    })
    .await;

    let started = Instant::now();
    let drained = tokio::spawn(p.drain());
    // /readyz turns 503 at once (well within the delay) …
    eventually_within("readyz 503", DELAY / 2, || async {
        (http_get(admin, "/readyz").await.0 == 503).then_some(())
    })
    .await;
    let answered_at_503 = answered.load(Ordering::SeqCst);

    // … while the listener still takes new clients and serves them, and existing sessions are
    // still answered. A drain that closes the listeners early (or skips the delay) fails here:
    // the connect is refused, or the session is closed before its replies.
    let mut newcomer = TcpStream::connect(addr)
        .await
        .expect("the listener still accepts during the drain delay");
    assert_eq!(
        ask(&mut newcomer, b"PING\r\n", 7).await,
        b"+PONG\r\n",
        "a new client is served during the delay"
    );
    assert_eq!(
        ask(&mut newcomer, b"SET drain:new during\r\n", 5).await,
        b"+OK\r\n",
        "a new client's write is served during the delay"
    );
    assert_eq!(
        ask(&mut newcomer, b"GET drain:new\r\n", 12).await,
        b"$6\r\nduring\r\n",
        "a new client's read is served during the delay"
    );
    poll_until(
        "the existing writer answered after /readyz turned 503",
        DELAY / 2,
        || answered.load(Ordering::SeqCst) > answered_at_503 + 10,
    )
    .await;
    assert!(
        !drained.is_finished(),
        "the drain ended {:?} after it started, before its {DELAY:?} delay",
        started.elapsed()
    );
    let checked_after = started.elapsed();
    assert!(
        checked_after < DELAY,
        "the checks above took {checked_after:?}, longer than the {DELAY:?} delay: they prove \
         nothing about the delay on this host (raise DELAY)"
    );

    tokio::time::timeout(Duration::from_secs(20), drained)
        .await
        .expect("drain finishes")
        .unwrap();
    assert!(
        started.elapsed() >= DELAY,
        "the drain returned after {:?}, before its {DELAY:?} delay",
        started.elapsed()
    );
    let (sent, answered) = writer.await.unwrap();
    assert!(
        answered > answered_at_503,
        "the writer was served in the delay"
    );
    // The command written after the close was never read; anything read got its reply.
    assert!(sent - answered <= 1, "sent {sent}, answered {answered}");
    // Every session, the one opened during the delay too, is closed by the drain.
    assert!(
        closed_by_peer(&mut newcomer).await,
        "the newcomer is closed"
    );
    assert!(closed_by_peer(&mut idle).await, "the idle client is closed");
    assert!(closed_by_peer(&mut sub).await, "the subscriber is closed");
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

/// A client that never reads holds its session in backpressure (Redis keeps the replies). No
/// session waits on the stop token itself (see Session::run): the stop must still wake and end
/// it, or the proxy's stop hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_a_session_blocked_on_a_client_that_never_reads() {
    let lab = single_node_lab().await;
    let p = proxy(config_for(&lab)).await;
    let mut c = client(p.bound.listen).await;
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(vec![b'v'; 1 << 20])
        .query_async(&mut c)
        .await
        .unwrap();
    let mut hog = TcpStream::connect(p.bound.listen).await.unwrap();
    hog.write_all(&b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(100))
        .await
        .unwrap();
    let master = lab.master().unwrap();
    // The session is held up: Redis holds the replies it cannot hand over.
    eventually("Redis holding the hog's replies", || async {
        let mut d = client(master).await;
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut d)
            .await
            .ok()?;
        list.lines()
            .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("omem=")))
            .filter_map(|v| v.parse::<u64>().ok())
            .any(|omem| omem >= 8 << 20)
            .then_some(())
    })
    .await;
    tokio::time::timeout(Duration::from_secs(10), p.stop())
        .await
        .expect("the stop ends the blocked session");
    drop(hog);
}
