//! Multiplexed mode (the default): sessions share one upstream pipeline per node until a
//! command pins them to a connection of their own (docs/architecture.md, "Multiplexing").

use std::net::SocketAddr;
use std::time::Duration;

use sentinel_bench::lab::Lab;
use sentinel_proxy_core::config::Mode;
use test_support::*;
use tokio::io::AsyncWriteExt;

/// Connections on `node` whose last command was one of `cmds` (from CLIENT LIST).
fn connections_that_ran(lab: &Lab, node: SocketAddr, cmds: &[&str]) -> usize {
    let list = lab.redis_call(node, &["CLIENT", "LIST"]).unwrap();
    let list = sentinel_bench::lab::text(&list).unwrap();
    list.lines()
        .filter(|l| {
            cmds.iter()
                .any(|c| format!("{l} ").contains(&format!(" cmd={c} ")))
        })
        .count()
}

fn clients_on(lab: &Lab, node: SocketAddr) -> usize {
    let list = lab.redis_call(node, &["CLIENT", "LIST"]).unwrap();
    sentinel_bench::lab::text(&list).unwrap().lines().count()
}

async fn metric(admin: SocketAddr, name: &str) -> f64 {
    let (_, body) = http_get(admin, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

/// These tests are about multiplexed mode whatever SENTINEL_PROXY_TEST_MODE says.
fn mux_config(lab: &Lab) -> sentinel_proxy_core::Config {
    let mut c = config_for(lab);
    c.mode = Mode::Multiplex;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_share_one_upstream_connection_in_order() {
    let lab = single_node_lab().await;
    let p = proxy(mux_config(&lab)).await;
    let master = wait_serving(&p).await;
    let mut conns = Vec::new();
    for _ in 0..30 {
        conns.push(RawConn::connect(p.bound.listen).await);
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let key = format!("k{i}");
        assert_eq!(c.call(&["SET", &key, &i.to_string()]).await, b"+OK\r\n");
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let want = format!("${}\r\n{i}\r\n", i.to_string().len());
        assert_eq!(c.call(&["GET", &format!("k{i}")]).await, want.as_bytes());
    }
    // 30 clients sent SET and GET; one connection did it on the master.
    assert_eq!(connections_that_ran(&lab, master, &["get", "set"]), 1);
    assert!(metric(p.bound.admin.unwrap(), "sentinel_proxy_upstream_pipelines").await >= 1.0);

    // Deep pipelines from many clients at once come back whole and in each client's order.
    // (redis-rs sends CLIENT SETINFO at connect: it must not pin them.)
    let mut tasks = Vec::new();
    for i in 0..8 {
        let addr = p.bound.listen;
        tasks.push(tokio::spawn(async move {
            let mut c = client(addr).await;
            let mut pipe = redis::pipe();
            for _ in 0..2000 {
                pipe.cmd("INCR").arg(format!("ctr{i}"));
            }
            let got: Vec<i64> = pipe.query_async(&mut c).await.unwrap();
            assert_eq!(got, (1..=2000).collect::<Vec<i64>>(), "client {i}");
            c
        }));
    }
    let mut open = Vec::new();
    for t in tasks {
        open.push(t.await.unwrap());
    }
    assert_eq!(
        connections_that_ran(&lab, master, &["get", "set", "incr", "select"]),
        1
    );
    // CLIENT SETINFO was answered for each of them, and nothing pinned.
    let list = lab.redis_call(master, &["CLIENT", "LIST"]).unwrap();
    let list = sentinel_bench::lab::text(&list).unwrap();
    assert!(list.lines().count() < 8, "{list}");
    drop(open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_command_pins_and_the_others_go_on() {
    let lab = single_node_lab().await;
    let p = proxy(mux_config(&lab)).await;
    let master = wait_serving(&p).await;
    let admin = p.bound.admin.unwrap();
    let mut other = RawConn::connect(p.bound.listen).await;
    assert_eq!(other.call(&["SET", "x", "1"]).await, b"+OK\r\n");
    let pinned_before = metric(admin, "sentinel_proxy_sessions_pinned_total").await;

    let mut blocked = RawConn::connect(p.bound.listen).await;
    blocked
        .stream
        .write_all(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
        .await
        .unwrap();
    wait_client_in_command(&lab, master, "blpop").await;
    // Had BLPOP gone on the shared pipeline, this GET would wait behind it for ever.
    assert_eq!(other.call(&["GET", "x"]).await, b"$1\r\n1\r\n");
    assert_eq!(other.call(&["LPUSH", "q", "item"]).await, b":1\r\n");
    assert_eq!(blocked.reply().await, b"*2\r\n$1\r\nq\r\n$4\r\nitem\r\n");
    // (Tests in this process share the metrics: others may pin meanwhile.)
    let pinned = metric(admin, "sentinel_proxy_sessions_pinned_total").await;
    assert!(pinned - pinned_before >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_and_unknown_commands_run_on_their_own_connection() {
    let lab = single_node_lab().await;
    let p = proxy(mux_config(&lab)).await;
    let master = wait_serving(&p).await;
    let mut tx = RawConn::connect(p.bound.listen).await;
    let mut other = RawConn::connect(p.bound.listen).await;
    assert_eq!(other.call(&["SET", "a", "0"]).await, b"+OK\r\n");
    assert_eq!(tx.call(&["MULTI"]).await, b"+OK\r\n");
    assert_eq!(tx.call(&["INCR", "t"]).await, b"+QUEUED\r\n");
    // Another client's command meanwhile is not queued into the transaction.
    assert_eq!(other.call(&["INCR", "a"]).await, b":1\r\n");
    assert_eq!(tx.call(&["EXEC"]).await, b"*1\r\n:1\r\n");

    // A command the server does not know pins (it cannot be classified), and the client gets
    // the server's own error, then goes on.
    let mut odd = RawConn::connect(p.bound.listen).await;
    let reply = odd.call(&["NOSUCHCOMMAND", "x"]).await;
    assert!(reply.starts_with(b"-ERR unknown command"), "{reply:?}");
    assert_eq!(odd.call(&["GET", "a"]).await, b"$1\r\n1\r\n");

    // SELECT pins: db 5 on its own connection, while the shared pipeline stays on db 0.
    let mut db5 = RawConn::connect(p.bound.listen).await;
    assert_eq!(db5.call(&["SELECT", "5"]).await, b"+OK\r\n");
    assert_eq!(db5.call(&["SET", "a", "in5"]).await, b"+OK\r\n");
    assert_eq!(other.call(&["GET", "a"]).await, b"$1\r\n1\r\n");
    let in5 = lab.redis_call(master, &["CLIENT", "LIST"]).unwrap();
    assert!(sentinel_bench::lab::text(&in5).unwrap().contains(" db=5 "));
}

/// Pinned sessions give their dedicated upstream back when they end (redis-cluster-proxy
/// leaked them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_sessions_do_not_leak_upstream_connections() {
    let lab = single_node_lab().await;
    let p = proxy(mux_config(&lab)).await;
    let master = wait_serving(&p).await;
    let mut shared = RawConn::connect(p.bound.listen).await;
    assert_eq!(shared.call(&["PING"]).await, b"+PONG\r\n");
    let baseline = clients_on(&lab, master);
    for _ in 0..20 {
        let mut c = RawConn::connect(p.bound.listen).await;
        assert_eq!(c.call(&["MULTI"]).await, b"+OK\r\n");
        assert_eq!(c.call(&["PING"]).await, b"+QUEUED\r\n");
        assert_eq!(c.call(&["EXEC"]).await, b"*1\r\n+PONG\r\n");
    }
    poll_until(
        "the 20 dedicated upstreams closed",
        Duration::from_secs(10),
        || clients_on(&lab, master) <= baseline,
    )
    .await;
}

/// The node closing the shared connection is not the client's connection closed: a client
/// with nothing in flight does not notice (relay mode closes it instead, tests/server_close.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pipeline_is_replaced_without_the_idle_clients_noticing() {
    let lab = single_node_lab().await;
    let p = proxy(mux_config(&lab)).await;
    let master = wait_serving(&p).await;
    let mut c = RawConn::connect(p.bound.listen).await;
    assert_eq!(c.call(&["SET", "k", "v"]).await, b"+OK\r\n");
    let killed = lab
        .redis_call(master, &["CLIENT", "KILL", "TYPE", "normal"])
        .unwrap();
    assert!(
        sentinel_bench::lab::text(&killed).is_some_and(|n| n != "0"),
        "{killed:?}"
    );
    assert_eq!(c.call(&["GET", "k"]).await, b"$1\r\nv\r\n");
}

/// `mode = "relay"` keeps one upstream connection per client, as HAProxy does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_mode_keeps_one_upstream_per_client() {
    let lab = single_node_lab().await;
    let mut config = config_for(&lab);
    config.mode = Mode::Relay;
    let p = proxy(config).await;
    let master = wait_serving(&p).await;
    let mut conns = Vec::new();
    for i in 0..5 {
        let mut c = RawConn::connect(p.bound.listen).await;
        assert_eq!(c.call(&["SET", &format!("r{i}"), "x"]).await, b"+OK\r\n");
        conns.push(c);
    }
    assert_eq!(connections_that_ran(&lab, master, &["set"]), 5);
}

/// Clients that AUTH get a dedicated connection for it, then move to a pipeline of their own
/// user; clients that did not authenticate stay on the default pipeline, which is not
/// authenticated (the proxy's own password is for health checks only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_clients_share_a_pipeline_of_their_own() {
    let lab = lab(sentinel_bench::lab::LabOptions {
        replicas: 0,
        sentinels: 1,
        quorum: 1,
        redis_password: Some("s3cret".into()),
        ..Default::default()
    })
    .await;
    let p = proxy(mux_config(&lab)).await;
    let master = wait_serving(&p).await;
    let mut conns = Vec::new();
    for i in 0..10 {
        let mut c = RawConn::connect(p.bound.listen).await;
        assert_eq!(c.call(&["AUTH", "s3cret"]).await, b"+OK\r\n");
        assert_eq!(c.call(&["SET", &format!("a{i}"), "x"]).await, b"+OK\r\n");
        assert_eq!(c.call(&["GET", &format!("a{i}")]).await, b"$1\r\nx\r\n");
        conns.push(c);
    }
    poll_until(
        "the AUTH connections closed",
        Duration::from_secs(10),
        || connections_that_ran(&lab, master, &["auth"]) == 0,
    )
    .await;
    assert_eq!(connections_that_ran(&lab, master, &["get", "set"]), 1);

    let mut anonymous = RawConn::connect(p.bound.listen).await;
    let reply = anonymous.call(&["GET", "a0"]).await;
    assert!(
        reply.starts_with(b"-NOAUTH"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let mut wrong = RawConn::connect(p.bound.listen).await;
    let reply = wrong.call(&["AUTH", "nope"]).await;
    assert!(
        reply.starts_with(b"-WRONGPASS"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let reply = wrong.call(&["GET", "a0"]).await;
    assert!(
        reply.starts_with(b"-NOAUTH"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}

/// RESP3 and another database are part of what a pipeline is keyed by: each kind of session
/// shares with its own kind only, and gets replies in its own protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_and_database_sessions_share_with_their_own_kind() {
    let lab = single_node_lab().await;
    let p = proxy(mux_config(&lab)).await;
    let master = wait_serving(&p).await;
    let mut keep = Vec::new();
    for _ in 0..3 {
        let mut c = RawConn::connect(p.bound.listen).await;
        let hello = c.call(&["HELLO", "3"]).await;
        assert!(hello.starts_with(b"%"), "{hello:?}");
        assert_eq!(c.call(&["GET", "missing"]).await, b"_\r\n");
        keep.push(c);
    }
    for _ in 0..3 {
        let mut c = RawConn::connect(p.bound.listen).await;
        assert_eq!(c.call(&["SELECT", "5"]).await, b"+OK\r\n");
        assert_eq!(c.call(&["SET", "in5", "y"]).await, b"+OK\r\n");
        keep.push(c);
    }
    let mut plain = RawConn::connect(p.bound.listen).await;
    assert_eq!(plain.call(&["GET", "missing"]).await, b"$-1\r\n");
    assert_eq!(plain.call(&["GET", "in5"]).await, b"$-1\r\n");
    poll_until(
        "the HELLO/SELECT connections closed",
        Duration::from_secs(10),
        || connections_that_ran(&lab, master, &["hello", "select"]) == 0,
    )
    .await;
    let list = lab.redis_call(master, &["CLIENT", "LIST"]).unwrap();
    let list = sentinel_bench::lab::text(&list).unwrap();
    let ran = |l: &&str| l.contains(" cmd=get ") || l.contains(" cmd=set ");
    let resp3 = list
        .lines()
        .filter(ran)
        .filter(|l| l.contains("resp=3"))
        .count();
    let db5 = list
        .lines()
        .filter(ran)
        .filter(|l| l.contains(" db=5 "))
        .count();
    let default = list
        .lines()
        .filter(ran)
        .filter(|l| l.contains("resp=2") && l.contains(" db=0 "))
        .count();
    assert_eq!((resp3, db5, default), (1, 1, 1), "{list}");
}
