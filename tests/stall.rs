//! A stalled failover on real Sentinels (issue 12, defect 3): the leader promotes a replica,
//! the replica is converted back before the leader notices, and the leader only gives up at
//! failover-timeout. The old master never stopped being master, so the proxy must resume
//! writing to it as soon as ROLE shows that — long before the leader's abort — and lose none.
//!
//! The stall is manufactured as it happened in production, except that the test, not a second
//! Sentinel, sends the replica back: `SENTINEL FAILOVER` on Sentinel 0; as soon as a replica
//! answers `master`, Sentinel 0 is paused (SIGSTOP) so it cannot see the promotion; once the
//! proxy's checker saw the promotion, `REPLICAOF <old master>` on the replica; Sentinel 0
//! resumes and waits for a promotion that is gone until its failover-timeout.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use sentinel_bench::lab::{kv, text, Lab, LabOptions};
use test_support::*;

const WRITERS: usize = 8;
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// What one writer saw: the time of every acknowledged INCR.
struct Writer {
    key: String,
    acks: Vec<Instant>,
    errors: u64,
}

fn role_of(lab: &Lab, node: SocketAddr) -> Option<String> {
    match lab.redis_call(node, &["ROLE"]) {
        Ok(redis_protocol::resp2::types::BytesFrame::Array(items)) => items.first().and_then(text),
        _ => None,
    }
}

fn leader_failing_over(lab: &Lab) -> bool {
    lab.sentinel_call(0, &["SENTINEL", "MASTER", &lab.opts.master_name])
        .ok()
        .and_then(|f| kv(&f, "flags"))
        .is_some_and(|f| f.contains("failover_in_progress"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_failover_resumes_on_the_old_master_before_the_leader_aborts() {
    let lab = lab(LabOptions {
        failover_timeout_ms: FAILOVER_TIMEOUT.as_millis() as u64,
        ..LabOptions::default()
    })
    .await;
    let p = proxy(config_for(&lab)).await;
    let admin = p
        .bound
        .admin
        .expect("the test config has an admin listener");
    let old = lab.master().unwrap();
    let replicas = others(&lab, old);
    let generation = p.route().generation();

    let target = p.bound.listen;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let acked = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let stop = stop_rx.clone();
        let live = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut me = Writer {
                key: format!("stall:{w}"),
                acks: Vec::new(),
                errors: 0,
            };
            let mut c = client(target).await;
            while !*stop.borrow() {
                // A 2 s client timeout, as the applications have.
                match tokio::time::timeout(Duration::from_secs(2), c.incr::<_, _, i64>(&me.key, 1))
                    .await
                {
                    Ok(Ok(_)) => {
                        me.acks.push(Instant::now());
                        live.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        me.errors += 1;
                        c = client(target).await;
                    }
                }
            }
            me
        }));
    }
    poll_until("the writers' first acknowledged writes", PATIENCE, || {
        acked.load(Ordering::Relaxed) >= (WRITERS * 20) as u64
    })
    .await;

    let lab_ref = &lab;
    tokio::task::block_in_place(|| lab_ref.failover()).unwrap();
    // Poll both replicas tightly: the leader checks the promoted replica with INFO once a
    // second, and must be paused before it does.
    let promoted = tokio::task::block_in_place(|| {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(r) = replicas
                .iter()
                .copied()
                .find(|r| role_of(lab_ref, *r).as_deref() == Some("master"))
            {
                lab_ref.sentinels[0].signal_pause(true).unwrap();
                return r;
            }
            assert!(Instant::now() < deadline, "no replica was promoted");
            // Poll interval of this wait-with-deadline (tight: see above).
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let paused_at = Instant::now();
    eventually(
        "the proxy's checker to see the promoted replica",
        || async { checked_as_master(admin, promoted).await.then_some(()) },
    )
    .await;
    let (host, port) = (old.ip().to_string(), old.port().to_string());
    lab.redis_call(promoted, &["REPLICAOF", &host, &port])
        .unwrap();
    let reconverted = Instant::now();
    // Under 2 s, or Sentinel enters TILT mode when it resumes.
    lab.sentinels[0].signal_pause(false).unwrap();
    let paused_for = paused_at.elapsed();

    // Wait for the leader to give up (failover-timeout after the start), writers running.
    // The last moment the leader was seen still failing over: writes must resume before it.
    let mut still_failing_over = reconverted;
    loop {
        let at = Instant::now();
        if !leader_failing_over(&lab) {
            break;
        }
        still_failing_over = at;
        assert!(
            reconverted.elapsed() < FAILOVER_TIMEOUT + PATIENCE,
            "the leader never ended its failover"
        );
        // Poll interval of this wait-with-deadline.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Writes still succeed on the old master after the leader gave up.
    let at_abort = acked.load(Ordering::Relaxed);
    poll_until(
        "writes after the leader ended its failover",
        PATIENCE,
        || acked.load(Ordering::Relaxed) >= at_abort + (WRITERS * 20) as u64,
    )
    .await;
    stop_tx.send(true).unwrap();
    let mut writers = Vec::new();
    for t in tasks {
        writers.push(t.await.unwrap());
    }

    assert_eq!(
        lab.master(),
        Some(old),
        "the stall was not manufactured: Sentinel moved the master (did the leader see the \
         promotion before it was paused?)"
    );
    assert_eq!(
        p.route().generation(),
        generation,
        "the route never left the old master"
    );
    let resumed = writers
        .iter()
        .filter_map(|w| w.acks.iter().find(|t| **t > reconverted))
        .min()
        .copied()
        .expect("writes resumed after the reconversion");
    let resumed_after = resumed - reconverted;
    println!(
        "leader paused {paused_for:?}; first write {resumed_after:?} after the reconversion; \
         leader still failing over {:?} after it; {} acknowledged, {} client errors",
        still_failing_over - reconverted,
        writers.iter().map(|w| w.acks.len()).sum::<usize>(),
        writers.iter().map(|w| w.errors).sum::<u64>(),
    );
    assert!(
        resumed < still_failing_over,
        "writes resumed only {resumed_after:?} after the reconversion, not while the leader was \
         still failing over ({:?} after it): the stall rule did not end the hold",
        still_failing_over - reconverted
    );
    // Every acknowledged INCR is on the master: its counter is at least the acks.
    for w in &writers {
        let value: u64 = lab
            .redis_call(old, &["GET", &w.key])
            .ok()
            .and_then(|f| text(&f))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(
            value >= w.acks.len() as u64,
            "{}: {} acknowledged, {value} on the master",
            w.key,
            w.acks.len()
        );
    }
    p.stop().await;
}
