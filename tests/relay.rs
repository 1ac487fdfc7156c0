//! Commands relayed through the proxy to a real master (and the replica port to a replica).

use std::time::Duration;

use redis::AsyncCommands;
use sentinel_bench::lab::LabOptions;
use test_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_the_master_intact() {
    let lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let master = lab.master().unwrap();
    let mut c = client(p.bound.listen).await;

    // Routing: INFO through the proxy comes from the master Sentinel names.
    assert_eq!(node_port(&mut c).await, master.port());

    // SET/GET.
    let _: () = c.set("k", "v").await.unwrap();
    let v: String = c.get("k").await.unwrap();
    assert_eq!(v, "v");

    // A pipeline of 1,000 commands, replies in order.
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("INCRBY").arg("counter").arg(i);
    }
    let replies: Vec<i64> = pipe.query_async(&mut c).await.unwrap();
    assert_eq!(replies.len(), 1000);
    assert_eq!(*replies.last().unwrap(), (0..1000).sum::<i64>());

    // A 32 MiB value streams through both ways, byte for byte.
    let big: Vec<u8> = (0..32 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let _: () = c.set("big", &big).await.unwrap();
    let back: Vec<u8> = c.get("big").await.unwrap();
    assert!(back == big, "32 MiB value came back different");
    let on_master = lab.redis_call(master, &["STRLEN", "big"]).unwrap();
    assert_eq!(
        sentinel_bench::lab::text(&on_master).unwrap(),
        (32 * 1024 * 1024).to_string()
    );

    // MULTI/EXEC.
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("tx")
        .cmd("INCR")
        .arg("tx")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!((a, b), (1, 2));

    // SELECT on a connection of its own, seen on the master in db 3.
    let mut raw = tokio::net::TcpStream::connect(p.bound.listen)
        .await
        .unwrap();
    use tokio::io::AsyncWriteExt;
    raw.write_all(b"SELECT 3\r\n*3\r\n$3\r\nSET\r\n$2\r\ndb\r\n$5\r\nthree\r\n")
        .await
        .unwrap();
    let (got, _) = read_some(&mut raw, 10).await;
    assert_eq!(got, b"+OK\r\n+OK\r\n");
    let in_db3 = lab
        .redis_call(
            master,
            &[
                "EVAL",
                "redis.call('SELECT', 3) return redis.call('GET', 'db')",
                "0",
            ],
        )
        .unwrap();
    assert_eq!(sentinel_bench::lab::text(&in_db3).as_deref(), Some("three"));

    // RESP3 after HELLO 3: a map reply and a null pass through untouched.
    let (hello, _) = raw_exchange(p.bound.listen, b"HELLO 3\r\nGET missing-key\r\n", 1).await;
    assert!(
        hello.starts_with(b"%"),
        "HELLO 3 answers a map: {:?}",
        String::from_utf8_lossy(&hello)
    );
    let mut s = tokio::net::TcpStream::connect(p.bound.listen)
        .await
        .unwrap();
    s.write_all(b"HELLO 3\r\n").await.unwrap();
    let _ = read_some(&mut s, 100).await;
    s.write_all(b"GET missing-key\r\n").await.unwrap();
    let (null, _) = read_some(&mut s, 3).await;
    assert_eq!(null, b"_\r\n");

    // BLPOP blocks through the proxy until another client pushes.
    let mut blocked = client(p.bound.listen).await;
    let waiter = tokio::spawn(async move {
        let r: (String, String) = blocked.blpop("queue", 10.0).await.unwrap();
        r
    });
    // Push only once the master itself shows the client blocked in BLPOP.
    wait_client_in_command(&lab, master, "blpop").await;
    assert!(!waiter.is_finished(), "BLPOP returned before the push");
    let _: () = c.rpush("queue", "job").await.unwrap();
    assert_eq!(
        waiter.await.unwrap(),
        ("queue".to_string(), "job".to_string())
    );

    // Inline commands work as they do on Redis.
    let (pong, _) = raw_exchange(p.bound.listen, b"PING\r\n", 7).await;
    assert_eq!(pong, b"+PONG\r\n");

    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_through_the_proxy() {
    let lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let mut sub = redis::Client::open(format!("redis://{}/", p.bound.listen))
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    sub.subscribe("news").await.unwrap();
    sub.psubscribe("topic.*").await.unwrap();
    let mut c = client(p.bound.listen).await;
    let n: i64 = c.publish("news", "hello").await.unwrap();
    assert_eq!(n, 1);
    let _: i64 = c.publish("topic.a", "world").await.unwrap();
    use futures_util::StreamExt;
    let mut stream = sub.on_message();
    let m1 = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap();
    let m2 = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            m1.get_channel_name(),
            m1.get_payload::<String>().unwrap().as_str()
        ),
        ("news", "hello")
    );
    assert_eq!(
        (
            m2.get_channel_name(),
            m2.get_payload::<String>().unwrap().as_str()
        ),
        ("topic.a", "world")
    );
    drop(stream);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_port_reaches_a_replica_and_admin_answers() {
    let lab = lab(LabOptions::default()).await;
    let p = proxy_with_replica_port(&lab).await;
    let replica = p.bound.replica.unwrap();
    let mut ports = std::collections::HashSet::new();
    let mut conns = Vec::new();
    for _ in 0..4 {
        let mut c = client(replica).await;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut c).await.unwrap();
        assert_eq!(role[0], redis::Value::BulkString(b"slave".to_vec()));
        ports.insert(node_port(&mut c).await);
        conns.push(c);
    }
    assert_eq!(
        ports.len(),
        2,
        "least connections spreads over both replicas"
    );
    assert!(!ports.contains(&lab.master().unwrap().port()));

    let admin = p.bound.admin.unwrap();
    let (status, body) = http_get(admin, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = http_get(admin, "/healthz").await;
    assert_eq!(status, 200);
    let (status, metrics) = http_get(admin, "/metrics").await;
    assert_eq!(status, 200);
    for family in [
        "sentinel_proxy_client_connections",
        "sentinel_proxy_connections_accepted_total",
        "sentinel_proxy_commands_total",
        "sentinel_proxy_bytes_total",
        "sentinel_proxy_master_info",
        "sentinel_proxy_sentinel_link_up",
        "sentinel_proxy_node_healthy",
        "sentinel_proxy_route_generation",
    ] {
        assert!(
            metrics.contains(family),
            "/metrics lacks {family}:\n{metrics}"
        );
    }
    let (status, _) = http_get(admin, "/nope").await;
    assert_eq!(status, 404);
    p.stop().await;
}

/// A replica refuses every write for good (`-READONLY`), and the replica port passes that
/// refusal straight back. (On the master port a READONLY comes from a master being demoted and
/// is resent within `hold_timeout`; resending it to a replica would only delay the same error
/// by `hold_timeout`.) Writes that clients send to replicas by mistake are more likely with
/// Redis 8, whose HGETEX and HGETDEL read but are flagged as writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_port_passes_readonly_through_at_once() {
    let lab = lab(LabOptions {
        replicas: 1,
        sentinels: 1,
        quorum: 1,
        ..LabOptions::default()
    })
    .await;
    let mut config = config_for(&lab);
    // Longer than RawConn's 10 s patience for a reply: a resent READONLY fails the test.
    config.timeouts.hold = Duration::from_secs(60);
    let p = proxy_with_replica_port_from(&lab, config).await;
    let mut c = RawConn::connect(p.bound.replica.unwrap()).await;
    let started = std::time::Instant::now();
    let reply = c.call(&["SET", "k", "v"]).await;
    assert!(
        reply.starts_with(b"-READONLY "),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    // The connection goes on: a read right after is answered by the replica.
    assert_eq!(c.call(&["GET", "k"]).await, b"$-1\r\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "READONLY took {:?} to come back",
        started.elapsed()
    );
    p.stop().await;
}
