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

/// Run writers, trigger `fault` once they all write, keep writing until the new master served
/// for 2 s; every writer must have been acknowledged by the new master.
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
        tls: None,
    });
    acked_at_least(&load, 8 * 20, "the writers' first acknowledged writes").await;
    let gen = p.route().generation();
    tokio::task::block_in_place(|| fault(lab));
    wait_new_master(p, gen).await;
    let switched_us = load.start.elapsed().as_micros() as u64;
    // Scenario: the observation window after the switch (errors, reconnects and writes
    // acknowledged there and then lost are what the callers assert on).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reports = load.stop().await;
    assert_eq!(reports.len(), 8, "every writer reported");
    for r in &reports {
        assert!(
            r.acks.iter().any(|a| a.at_us > switched_us),
            "writer {} got no write acknowledged after the route moved",
            r.key
        );
    }
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
