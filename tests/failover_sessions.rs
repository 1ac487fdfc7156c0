//! Session state across a failover: subscribers keep receiving, SELECT sticks, MULTI is
//! closed, and a failover that aborts resumes on the old master.

use std::time::Duration;

use sentinel_bench::lab::{text, LabOptions};
use sentinel_bench::load::{self, LoadOptions};
use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_select_and_multi_across_a_planned_failover() {
    // Passwords on the nodes: every client authenticates itself, and migration must replay
    // exactly what it sent (AUTH, or HELLO … AUTH).
    let lab = lab(LabOptions {
        redis_password: Some("pw-sessions".into()),
        ..LabOptions::default()
    })
    .await;
    let p = proxy(config_for(&lab)).await;
    let addr = p.bound.listen;
    let old = lab.master().unwrap();

    // A RESP2 subscriber and a RESP3 one.
    let mut sub2 = TcpStream::connect(addr).await.unwrap();
    send(
        &mut sub2,
        b"AUTH pw-sessions\r\nSUBSCRIBE news\r\nPSUBSCRIBE topic.*\r\n",
    )
    .await;
    read_until(&mut sub2, b"topic.*").await;
    let mut sub3 = TcpStream::connect(addr).await.unwrap();
    send(
        &mut sub3,
        b"HELLO 3 AUTH default pw-sessions\r\nSUBSCRIBE news\r\n",
    )
    .await;
    read_until(&mut sub3, b"news").await;
    // A client on db 3 with a name.
    let mut db3 = TcpStream::connect(addr).await.unwrap();
    send(
        &mut db3,
        b"AUTH default pw-sessions\r\nCLIENT SETNAME keeper\r\nSELECT 3\r\nSET where three\r\n",
    )
    .await;
    read_until(&mut db3, b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n").await;
    // An unauthenticated client stays unauthenticated after the move.
    let mut anon = TcpStream::connect(addr).await.unwrap();
    send(&mut anon, b"PING\r\n").await;
    read_until(&mut anon, b"-NOAUTH").await;
    // A client inside MULTI.
    let mut tx = TcpStream::connect(addr).await.unwrap();
    send(&mut tx, b"AUTH pw-sessions\r\nMULTI\r\nINCR txcount\r\n").await;
    read_until(&mut tx, b"+QUEUED\r\n").await;

    let new = failover_and_wait(&lab, &p).await;
    assert_ne!(new, old);

    // MULTI cannot move: that client is closed.
    assert!(
        closed_by_peer(&mut tx).await,
        "a session inside MULTI is closed at failover"
    );

    // The proxy lends its own credentials to nobody.
    send(&mut anon, b"SET stolen 1\r\n").await;
    read_until(&mut anon, b"-NOAUTH").await;

    // The db-3 client keeps its database and its name on the new master.
    send(&mut db3, b"INCR after\r\nCLIENT GETNAME\r\n").await;
    read_until(&mut db3, b"keeper").await;
    let in_db3 = lab
        .redis_call(
            new,
            &[
                "EVAL",
                "redis.call('SELECT', 3) return redis.call('GET', 'after')",
                "0",
            ],
        )
        .unwrap();
    assert_eq!(text(&in_db3).as_deref(), Some("1"));
    let in_db0 = lab.redis_call(new, &["EXISTS", "after"]).unwrap();
    assert_eq!(text(&in_db0).as_deref(), Some("0"));

    // Messages published after the failover reach both subscribers. Publish until they arrive:
    // the subscribers are resubscribed on the new master a moment after the switch.
    let mut got2 = Vec::new();
    let mut got3 = Vec::new();
    for i in 0..200 {
        let _ = lab.redis_call(new, &["PUBLISH", "news", &format!("after-{i}")]);
        let _ = lab.redis_call(new, &["PUBLISH", "topic.x", &format!("pattern-{i}")]);
        let mut buf = [0u8; 8192];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(20), sub2.read(&mut buf)).await
        {
            got2.extend_from_slice(&buf[..n]);
        }
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(20), sub3.read(&mut buf)).await
        {
            got3.extend_from_slice(&buf[..n]);
        }
        let t2 = String::from_utf8_lossy(&got2);
        let t3 = String::from_utf8_lossy(&got3);
        if t2.contains("after-") && t2.contains("pattern-") && t3.contains("after-") {
            break;
        }
    }
    let t2 = String::from_utf8_lossy(&got2);
    let t3 = String::from_utf8_lossy(&got3);
    assert!(
        t2.contains("message") && t2.contains("after-"),
        "RESP2 subscriber: {t2}"
    );
    assert!(
        t2.contains("pmessage") && t2.contains("pattern-"),
        "RESP2 pattern subscriber: {t2}"
    );
    assert!(
        t3.starts_with('>') || t3.contains(">3\r\n"),
        "RESP3 messages are pushes: {t3}"
    );
    assert!(t3.contains("after-"), "RESP3 subscriber: {t3}");
    // The resubscription confirmations were not shown to the clients a second time.
    assert!(
        !t2.contains("subscribe"),
        "RESP2 subscriber saw a replayed confirmation: {t2}"
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_failover_resumes_on_the_old_master() {
    // Replicas that may never be promoted: Sentinel starts a failover and aborts it.
    let lab = lab(LabOptions {
        replica_priority: 0,
        ..LabOptions::default()
    })
    .await;
    let p = proxy(config_for(&lab)).await;
    let master = lab.master().unwrap();
    let i = lab.redis_index(master).unwrap();

    let load = load::start(LoadOptions {
        target: p.bound.listen,
        writers: 8,
        key_prefix: "abort:".into(),
        password: None,
        timeout: Duration::from_secs(20),
        tls: None,
    });
    acked_at_least(&load, 8 * 20, "the writers' first acknowledged writes").await;

    // Watch every Sentinel for the abort: only the leader of the attempt announces it.
    let mut watchers = Vec::new();
    for s in &lab.sentinels {
        let mut events = TcpStream::connect(s.addr).await.unwrap();
        send(&mut events, b"PSUBSCRIBE *\r\n").await;
        read_until(&mut events, b"psubscribe").await;
        watchers.push(events);
    }
    let aborted = async move {
        let waits = watchers.into_iter().map(|mut e| {
            Box::pin(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !String::from_utf8_lossy(&got).contains("-failover-abort-no-good-slave") {
                    match e.read(&mut buf).await {
                        Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                        _ => std::future::pending::<()>().await,
                    }
                }
            })
        });
        futures_util::future::select_all(waits).await;
    };

    // The master hangs (sockets open, no answers): Sentinel calls it down and tries to fail over.
    lab.redis[i].signal_pause(true).unwrap();
    tokio::time::timeout(PATIENCE, aborted)
        .await
        .expect("Sentinel aborts the failover");
    assert!(
        p.route().load().serving_master().is_none(),
        "the proxy holds during the failover attempt"
    );
    // A client that connects during the hold waits instead of being refused.
    let mut newcomer = TcpStream::connect(p.bound.listen).await.unwrap();
    send(&mut newcomer, b"PING\r\n").await;
    lab.redis[i].signal_pause(false).unwrap();
    read_until(&mut newcomer, b"+PONG\r\n").await;

    // It comes back; the route serves it again, same generation (nothing moved).
    let gen = p.route().generation();
    let r = tokio::time::timeout(
        PATIENCE,
        p.route().wait_for(|r| r.serving_master().is_some()),
    )
    .await
    .unwrap();
    assert_eq!(r.master.as_ref().unwrap().addr, master);
    assert_eq!(r.generation, gen);
    let resumed = load.live.snapshot().0;
    acked_at_least(
        &load,
        resumed + 8 * 20,
        "writes on the old master after the abort",
    )
    .await;
    let reports = load.stop().await;
    let s = load::summarise(&reports, &values_on(&lab, master, &reports));
    eprintln!("summary: {s:?}");
    assert!(s.acked > 0);
    assert_eq!(s.errors.values().sum::<u64>(), 0, "{:?}", s.examples);
    assert_eq!(s.reconnects, 0);
    assert_eq!(s.lost, 0);
    p.stop().await;
}
