//! Sentinel faults: one down, two down, restarted, and started without a majority.

use sentinel_bench::lab::LabOptions;
use test_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sentinel_down_changes_nothing_two_down_keeps_serving_and_restarts_relink() {
    let mut lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let admin = p.bound.admin.unwrap();
    let s0 = lab.sentinels[0].addr;

    // One of three down: a failover through the other two is still followed.
    lab.kill_sentinel(0);
    let gen = p.route().generation();
    tokio::task::block_in_place(|| lab.failover()).unwrap();
    let r = tokio::time::timeout(
        PATIENCE,
        p.route()
            .wait_for(|r| r.generation > gen && r.serving_master().is_some()),
    )
    .await
    .unwrap();
    assert_eq!(Some(r.master.as_ref().unwrap().addr), lab.master());
    let link = format!("sentinel_proxy_sentinel_link_up{{sentinel=\"{s0}\"}} 0");
    eventually("the dead Sentinel's link reported down", || async {
        let (_, m) = http_get(admin, "/metrics").await;
        m.contains(&link).then_some(())
    })
    .await;

    // Two of three down: no Sentinel majority is needed to keep serving a ROLE-confirmed master.
    lab.kill_sentinel(1);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(p.route().load().serving_master().is_some());
    let mut c = client(p.bound.listen).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut c)
        .await
        .unwrap();
    let (status, _) = http_get(admin, "/readyz").await;
    assert_eq!(status, 200);

    // A restarted Sentinel is linked again.
    tokio::task::block_in_place(|| lab.restart_sentinel(0)).unwrap();
    let up = format!("sentinel_proxy_sentinel_link_up{{sentinel=\"{s0}\"}} 1");
    eventually("the restarted Sentinel's link back up", || async {
        let (_, m) = http_get(admin, "/metrics").await;
        m.contains(&up).then_some(())
    })
    .await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_at_start_there_is_no_master_until_sentinels_return() {
    let mut lab = lab(LabOptions::default()).await;
    lab.kill_sentinel(1);
    lab.kill_sentinel(2);
    let p = sentinel_proxy_core::start(config_for(&lab)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        p.route().load().master.is_none(),
        "1 of 3 Sentinels is no majority"
    );
    let (status, _) = http_get(p.bound.admin.unwrap(), "/readyz").await;
    assert_eq!(status, 503);
    tokio::task::block_in_place(|| lab.restart_sentinel(1)).unwrap();
    let master = wait_serving(&p).await;
    assert_eq!(Some(master), lab.master());
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sentinel_unreachable_follows_the_fence_policy() {
    use sentinel_proxy_core::config::FencePolicy;
    use std::time::Duration;
    for policy in [FencePolicy::Serve, FencePolicy::Hold] {
        let mut lab = lab(LabOptions::default()).await;
        let mut config = config_for(&lab);
        config.fence.time = Duration::from_secs(1);
        config.fence.policy = policy;
        config.timeouts.hold = Duration::from_millis(500);
        let p = proxy(config).await;
        for i in 0..3 {
            lab.kill_sentinel(i);
        }
        // Longer than the fence time plus a link check.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (reply, _) = raw_exchange(p.bound.listen, b"PING\r\n", 7).await;
        let text = String::from_utf8_lossy(&reply).to_string();
        match policy {
            FencePolicy::Serve => {
                assert_eq!(text, "+PONG\r\n", "serve keeps the ROLE-confirmed master");
                assert!(p.route().load().serving_master().is_some());
            }
            FencePolicy::Hold => {
                assert!(
                    text.starts_with("-TRYAGAIN"),
                    "hold stops forwarding: {text}"
                );
                let (status, _) = http_get(p.bound.admin.unwrap(), "/readyz").await;
                assert_eq!(status, 503);
                tokio::task::block_in_place(|| lab.restart_sentinel(0)).unwrap();
                wait_serving(&p).await;
                let (reply, _) = raw_exchange(p.bound.listen, b"PING\r\n", 7).await;
                assert_eq!(reply, b"+PONG\r\n", "a reachable Sentinel lifts the fence");
            }
        }
        p.stop().await;
    }
}
