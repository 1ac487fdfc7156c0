//! Master changes: planned failover and master crash, with real Sentinels.

use std::time::Duration;

use redis::AsyncCommands;
use sentinel_bench::lab::LabOptions;
use test_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_failover_moves_new_connections_and_fences_the_old_master() {
    let lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let old = lab.master().unwrap();
    let (mon, stop_mon) = monitor(old, "fence:").await;

    // Writers through the proxy, reconnecting after every cut, as applications do.
    let target = p.bound.listen;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for w in 0..4 {
        let stop = stop_rx.clone();
        writers.push(tokio::spawn(async move {
            let key = format!("fence:{w}");
            let mut acked = 0u64;
            while !*stop.borrow() {
                let Ok(Ok(mut c)) = tokio::time::timeout(
                    Duration::from_secs(2),
                    redis::Client::open(format!("redis://{target}/"))
                        .unwrap()
                        .get_multiplexed_async_connection(),
                )
                .await
                else {
                    continue;
                };
                while !*stop.borrow() {
                    match tokio::time::timeout(Duration::from_secs(2), c.incr::<_, _, i64>(&key, 1))
                        .await
                    {
                        Ok(Ok(_)) => acked += 1,
                        _ => break,
                    }
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let gen = p.route().generation();
    let route = p.route().clone();
    let published = tokio::spawn(async move {
        let r = route
            .wait_for(|r| r.generation > gen && r.serving_master().is_some())
            .await;
        (now_secs(), r.master.as_ref().unwrap().addr)
    });
    let lab_ref = &lab;
    tokio::task::block_in_place(|| lab_ref.failover()).unwrap();
    let (published_at, new_master) = tokio::time::timeout(PATIENCE, published)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(new_master, old);
    assert_eq!(
        Some(new_master),
        lab.master(),
        "the proxy routes where Sentinel says"
    );

    // Writers keep going on the new master.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before: i64 = {
        let f = lab.redis_call(new_master, &["GET", "fence:0"]).unwrap();
        sentinel_bench::lab::text(&f).unwrap().parse().unwrap()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send(true).unwrap();
    let mut total = 0;
    for w in writers {
        total += w.await.unwrap();
    }
    assert!(total > 0);
    let after: i64 = {
        let f = lab.redis_call(new_master, &["GET", "fence:0"]).unwrap();
        sentinel_bench::lab::text(&f).unwrap().parse().unwrap()
    };
    assert!(
        after > before,
        "writes land on the new master ({before} -> {after})"
    );

    // A new connection writes to the new master.
    let mut c = client(p.bound.listen).await;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(info_port(&info), new_master.port());

    // The old master saw writes before the switch and none after the route was published
    // (1 s of slack covers commands already on the wire when the fence closed; HAProxy keeps
    // writing there for ~10 s).
    let _ = stop_mon.send(());
    let seen = mon.await.unwrap();
    assert!(
        seen.iter().any(|(t, _)| *t < published_at),
        "monitor saw the writers before the switch"
    );
    let late: Vec<_> = seen
        .iter()
        .filter(|(t, _)| *t > published_at + 1.0)
        .collect();
    assert!(
        late.is_empty(),
        "writes reached the old master after the switch: {late:?}"
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_crash_routes_to_the_promoted_replica() {
    let mut lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let old = lab.master().unwrap();
    let mut c = client(p.bound.listen).await;
    let _: () = c.set("before", "crash").await.unwrap();
    // Let the write reach the replicas before the crash.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let i = lab.redis_index(old).unwrap();
    lab.kill_redis(i);

    // The existing session is cut (its master is gone) …
    let gen = p.route().generation();
    let r = tokio::time::timeout(
        PATIENCE,
        p.route()
            .wait_for(|r| r.generation > gen && r.serving_master().is_some()),
    )
    .await
    .unwrap();
    let new_master = r.master.as_ref().unwrap().addr;
    assert_ne!(new_master, old);
    // … and a new connection works against the promoted replica.
    let mut c2 = client(p.bound.listen).await;
    let v: String = c2.get("before").await.unwrap();
    assert_eq!(v, "crash");
    let _: () = c2.set("after", "crash").await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut c2)
        .await
        .unwrap();
    assert_eq!(info_port(&info), new_master.port());
    let (status, body) = http_get(p.bound.admin.unwrap(), "/readyz").await;
    assert_eq!(status, 200, "{body}");
    p.stop().await;
}
