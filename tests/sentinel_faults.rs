//! Sentinel faults: one down, two down, restarted, and started without a majority.

use sentinel_bench::lab::LabOptions;
use test_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sentinel_down_changes_nothing_two_down_keeps_serving_and_restarts_relink() {
    let mut lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let admin = p.bound.admin.unwrap();
    let s0 = lab.sentinels[0].addr;
    let s1 = lab.sentinels[1].addr;
    wait_sentinel_links(admin, &lab.sentinel_addrs(), true).await;

    // One of three down: a failover through the other two is still followed.
    lab.kill_sentinel(0);
    let new = failover_and_wait(&lab, &p).await;
    assert_eq!(Some(new), lab.master());
    wait_sentinel_links(admin, &[s0], false).await;

    // Two of three down: no Sentinel majority is needed to keep serving a ROLE-confirmed master.
    // Judged once the proxy has noticed the second loss.
    lab.kill_sentinel(1);
    wait_sentinel_links(admin, &[s1], false).await;
    assert_eq!(
        p.route().load().serving_master().map(|n| n.addr),
        Some(new),
        "still serving with one Sentinel of three"
    );
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
    wait_sentinel_links(admin, &[s0], true).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_at_start_there_is_no_master_until_sentinels_return() {
    let mut lab = lab(LabOptions::default()).await;
    lab.kill_sentinel(1);
    lab.kill_sentinel(2);
    let p = sentinel_proxy_core::start(config_for(&lab)).await.unwrap();
    let admin = p.bound.admin.unwrap();
    // Everything the proxy will learn is in: the live Sentinel's view (the master it names
    // was ROLE-checked, as master) and the two dead links.
    let master = lab.master().unwrap();
    eventually("the live Sentinel's master ROLE-checked", || async {
        checked_as_master(admin, master).await.then_some(())
    })
    .await;
    let dead = [lab.sentinels[1].addr, lab.sentinels[2].addr];
    wait_sentinel_links(admin, &dead, false).await;
    assert!(
        p.route().load().master.is_none(),
        "1 of 3 Sentinels is no majority"
    );
    let (status, _) = http_get(admin, "/readyz").await;
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
        let admin = p.bound.admin.unwrap();
        for i in 0..3 {
            lab.kill_sentinel(i);
        }
        wait_sentinel_links(admin, &lab.sentinel_addrs(), false).await;
        match policy {
            FencePolicy::Serve => {
                // Scenario: let the 1 s fence time pass with every link down; serve must
                // still be serving after it.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            FencePolicy::Hold => {
                tokio::time::timeout(
                    PATIENCE,
                    p.route().wait_for(|r| r.serving_master().is_none()),
                )
                .await
                .expect("hold: the fence stops forwarding");
            }
        }
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
                let (status, _) = http_get(admin, "/readyz").await;
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
