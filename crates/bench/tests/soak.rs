//! `bench soak` in-process: three failovers (graceful, graceful, crash) through the proxy on a
//! real 3 redis + 3 Sentinel topology, judged on what the writers measured; and the CLI's
//! refusal of a soak without rounds.

use std::time::Duration;

use sentinel_bench::soak::{self, Kind, SoakOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_rounds_graceful_graceful_crash_lose_nothing_after_the_switch() {
    let opts = SoakOptions {
        rounds: 3,
        crash_every: 3,
        // Just above Sentinel's 10 s INFO refresh of the replicas, so the rounds don't race it.
        pace: Duration::from_secs(11),
        // Longer than the lab's crash → +switch-master (~2.3 s: down-after 1 s, election,
        // promotion), so a command held over the crash's failover is not also counted as a
        // client timeout: the crash rule then measures the errors for commands in flight.
        timeout: Duration::from_secs(5),
        ..SoakOptions::default()
    };
    let (writers, pace) = (opts.writers, opts.pace);
    let report = soak::run(opts)
        .await
        .expect("the soak runs (are redis-server and redis-sentinel installed? `make deps`)");
    let table = soak::table(&report);
    println!("{table}");

    let kinds: Vec<Kind> = report.rounds.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [Kind::Graceful, Kind::Graceful, Kind::Crash],
        "{table}"
    );
    for w in report.rounds.windows(2) {
        let apart = Duration::from_secs_f64((w[1].at_ms - w[0].at_ms) / 1e3);
        assert!(
            apart >= pace,
            "rounds {} and {} only {apart:?} apart:\n{table}",
            w[0].round,
            w[1].round
        );
    }
    for r in &report.rounds {
        let rep = &r.report;
        let timeline = sentinel_bench::report::timeline(rep);
        let ctx = format!(
            "round {} ({}):\n{table}\n{timeline}\nredis and Sentinel logs: {:?}",
            r.round, r.kind, report.logs
        );
        assert!(
            rep.events.iter().any(|e| e.event == "+switch-master"),
            "no +switch-master recorded in {ctx}"
        );
        assert!(rep.switch_master_ms.is_some(), "{ctx}");
        let (old, new) = (rep.master_before.as_deref(), rep.master_after.as_deref());
        assert!(
            old.is_some() && new.is_some() && old != new,
            "master {old:?} → {new:?} in {ctx}"
        );
        assert!(rep.acknowledged > 0, "no acknowledged write in {ctx}");
        assert!(rep.keys_checked > 0, "{ctx}");
        assert_eq!(
            rep.lost_after_switch, 0,
            "acknowledged writes lost after +switch-master in {ctx}"
        );
        assert_eq!(r.lost_before_switch, rep.lost - rep.lost_after_switch);
        match r.kind {
            Kind::Graceful => {
                assert_eq!(
                    rep.errors_total, 0,
                    "client errors {:?} in {ctx}",
                    rep.errors
                );
                assert_eq!(rep.lost, 0, "acknowledged writes lost in {ctx}");
            }
            Kind::Crash => assert!(
                rep.errors_total <= writers as u64,
                "{} client errors for {writers} writers in {ctx}",
                rep.errors_total
            ),
        }
        assert!(r.violations.is_empty(), "{:?} in {ctx}", r.violations);
    }
    assert!(report.passed, "{table}");
    assert_eq!(report.totals.rounds, 3);
    assert_eq!(report.totals.lost_after_switch, 0);
}

#[test]
fn cli_refuses_a_soak_without_rounds() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sentinel-bench"))
        .args(["soak", "--rounds", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--rounds must be at least 1"), "{stderr}");
}
