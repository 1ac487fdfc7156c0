//! The server closes a session's upstream connection while the master stays the same
//! (CLIENT KILL, Redis's own `timeout`, maxclients): the client connection is closed too, as
//! with Redis itself, so a subscriber learns it may have missed messages. A crash or a
//! failover keeps the session (tests/failover_clients.rs, tests/failover_sessions.rs).

use std::net::SocketAddr;
use std::time::Duration;

use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The id, on `node`, of the connection named `name` (one per test session, set with
/// CLIENT SETNAME through the proxy).
async fn client_id(node: SocketAddr, name: &str) -> u64 {
    eventually(&format!("connection {name} on {node}"), || async {
        let mut c = client(node).await;
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut c)
            .await
            .unwrap();
        list.lines()
            .find(|l| l.split(' ').any(|f| f == format!("name={name}")))
            .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
            .and_then(|id| id.parse().ok())
    })
    .await
}

/// CLIENT KILL ID, sent through the proxy as an operator or a script would.
async fn kill_through(proxy: SocketAddr, id: u64) {
    let mut c = client(proxy).await;
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(killed, 1, "CLIENT KILL ID {id} found the connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_connection_closes_when_the_server_kills_its_upstream() {
    let lab = single_node_lab().await;
    let p = proxy(config_for(&lab)).await;
    let master = lab.master().unwrap();
    let mut sub = TcpStream::connect(p.bound.listen).await.unwrap();
    sub.write_all(b"CLIENT SETNAME victim-sub\r\nSUBSCRIBE news\r\n")
        .await
        .unwrap();
    read_until(&mut sub, b"news\r\n:1\r\n").await;
    let id = client_id(master, "victim-sub").await;
    kill_through(p.bound.listen, id).await;
    // Re-subscribed silently, the client would wait forever for messages it may have missed.
    assert!(
        closed_by_peer(&mut sub).await,
        "the subscriber's connection stays open after its upstream was killed"
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_client_connection_closes_when_the_server_kills_its_upstream() {
    let lab = single_node_lab().await;
    let p = proxy(config_for(&lab)).await;
    let master = lab.master().unwrap();
    let mut s = TcpStream::connect(p.bound.listen).await.unwrap();
    s.write_all(b"CLIENT SETNAME victim\r\nSELECT 2\r\n")
        .await
        .unwrap();
    read_until(&mut s, b"+OK\r\n+OK\r\n").await;
    let id = client_id(master, "victim").await;
    kill_through(p.bound.listen, id).await;
    // Redis would have closed the connection: the next command must not be answered from
    // a fresh connection that the client never asked for (its state replayed or not).
    let _ = s.write_all(b"PING\r\n").await;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    assert!(
        closed && got.is_empty(),
        "after its upstream was killed the client got {:?} (closed: {closed})",
        String::from_utf8_lossy(&got)
    );
    // Other sessions and new connections are served as before.
    let mut c = client(p.bound.listen).await;
    let pong: String = redis::cmd("PING").query_async(&mut c).await.unwrap();
    assert_eq!(pong, "PONG");
    p.stop().await;
}

/// QUIT: Redis answers +OK and closes the connection; so must the proxy (not leave the client
/// on a session whose upstream is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_is_answered_and_closes_the_connection() {
    let lab = single_node_lab().await;
    let p = proxy(config_for(&lab)).await;
    let mut s = TcpStream::connect(p.bound.listen).await.unwrap();
    s.write_all(b"PING\r\nQUIT\r\n").await.unwrap();
    read_until(&mut s, b"+PONG\r\n+OK\r\n").await;
    assert!(
        closed_by_peer(&mut s).await,
        "the connection stays open after QUIT's +OK"
    );
    p.stop().await;
}
