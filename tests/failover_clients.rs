//! What clients see at failover: 8 writers, each on its own connection, INCRing its own key;
//! every acknowledged write is compared with what the new master holds afterwards.

use std::time::Duration;

use sentinel_bench::lab::{Lab, LabOptions};
use sentinel_bench::load::{self, LoadOptions, Summary};
use sentinel_proxy_core::Running;
use test_support::*;

async fn finals(lab: &Lab, p: &Running, reports: &[load::WriterReport]) -> Vec<i64> {
    let master = wait_serving(p).await;
    reports
        .iter()
        .map(|r| {
            lab.redis_call(master, &["GET", &r.key])
                .ok()
                .and_then(|f| sentinel_bench::lab::text(&f))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// Run writers, trigger `fault` after 1 s, keep writing until the new master served for 2 s.
async fn writers_through(
    lab: &mut Lab,
    p: &Running,
    timeout: Duration,
    fault: impl FnOnce(&mut Lab),
) -> Summary {
    let load = load::start(LoadOptions {
        target: p.bound.listen,
        writers: 8,
        key_prefix: "w:".into(),
        // Writers authenticate themselves, as applications do; the proxy replays their AUTH.
        password: lab
            .opts
            .redis_password
            .clone()
            .map(sentinel_proxy_core::config::Secret::new),
        timeout,
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gen = p.route().generation();
    tokio::task::block_in_place(|| fault(lab));
    tokio::time::timeout(
        PATIENCE,
        p.route()
            .wait_for(|r| r.generation > gen && r.serving_master().is_some()),
    )
    .await
    .expect("a new master is routed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reports = load.stop().await;
    let f = finals(lab, p, &reports).await;
    let s = load::summarise(&reports, &f);
    eprintln!("summary: {s:?}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_failover_costs_a_pause_not_errors_or_writes() {
    let mut lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let s = writers_through(&mut lab, &p, Duration::from_secs(2), |lab| {
        lab.failover().unwrap()
    })
    .await;
    assert!(s.acked > 0);
    assert_eq!(s.errors.values().sum::<u64>(), 0, "errors: {:?}", s.errors);
    assert_eq!(s.reconnects, 0);
    assert_eq!(s.lost, 0, "acknowledged writes missing on the new master");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_failover_with_min_replicas_to_write() {
    let mut lab = lab(LabOptions {
        min_replicas_to_write: 1,
        redis_password: Some("pw-clients".into()),
        ..LabOptions::default()
    })
    .await;
    let p = proxy(config_for(&lab)).await;
    let s = writers_through(&mut lab, &p, Duration::from_secs(10), |lab| {
        lab.failover().unwrap()
    })
    .await;
    assert!(s.acked > 0);
    assert_eq!(s.errors.values().sum::<u64>(), 0, "errors: {:?}", s.errors);
    assert_eq!(s.lost, 0);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_sigkill_loses_no_acknowledged_write() {
    let mut lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let s = writers_through(&mut lab, &p, Duration::from_secs(5), |lab| {
        let i = lab.redis_index(lab.master().unwrap()).unwrap();
        lab.kill_redis(i);
    })
    .await;
    assert!(s.acked > 0);
    assert_eq!(s.lost, 0);
    assert!(
        s.errors.values().sum::<u64>() <= 8,
        "at most one error per writer (its command in flight): {:?}",
        s.errors
    );
    assert_eq!(s.reconnects, 0, "the proxy closed no client connection");
    p.stop().await;
}
