//! The failover benchmark against local topologies: a planned failover through the proxy
//! (JSON report and SVG), and the CLI against a target that keeps dropping connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sentinel_bench::failover::{self, FailoverOptions, Trigger};
use sentinel_bench::lab::{Lab, LabOptions};
use sentinel_proxy_core::config::{Config, HostPort};
use tokio::net::{TcpListener, TcpStream};

async fn lab(opts: LabOptions) -> Lab {
    tokio::task::spawn_blocking(move || Lab::start(opts))
        .await
        .expect("lab task")
        .expect(
            "the lab topology starts (are redis-server and redis-sentinel installed? `make deps`)",
        )
}

async fn proxy(lab: &Lab) -> sentinel_proxy_core::Running {
    let sentinels = lab
        .sentinel_addrs()
        .iter()
        .map(|a| HostPort::parse(&a.to_string()).unwrap())
        .collect();
    let mut c = Config::for_sentinels(sentinels, &lab.opts.master_name);
    c.timeouts.role_interval = Duration::from_millis(250);
    c.timeouts.role_timeout = Duration::from_millis(500);
    let p = sentinel_proxy_core::start(c).await.expect("proxy starts");
    tokio::time::timeout(
        Duration::from_secs(30),
        p.route().wait_for(|r| r.serving_master().is_some()),
    )
    .await
    .expect("the proxy confirms a master");
    p
}

fn markers(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("marker"))
        .filter_map(|n| n.attribute("data-event").map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_failover_through_the_proxy_writes_json_and_svg() {
    let lab = lab(LabOptions::default()).await;
    let p = proxy(&lab).await;
    let mut opts = FailoverOptions::new(p.bound.listen, lab.sentinel_addrs());
    opts.label = "sentinel-proxy".into();
    opts.trigger = Some(Trigger::SentinelFailover);
    opts.before = Duration::from_secs(1);
    opts.after = Duration::from_secs(1);
    opts.max_wait = Duration::from_secs(30);
    let report = failover::failover(opts).await.expect("the benchmark runs");

    let dir = tempfile::tempdir().unwrap();
    let (json_path, svg_path) = (dir.path().join("r.json"), dir.path().join("r.svg"));
    failover::write_outputs(&report, Some(&json_path), Some(&svg_path)).unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    for field in [
        "schema",
        "label",
        "target",
        "writers",
        "trigger",
        "master_before",
        "master_after",
        "acknowledged",
        "errors_total",
        "errors",
        "reconnects",
        "keys_checked",
        "lost",
        "lost_after_switch",
        "longest_gap",
        "latency_us",
        "trigger_ms",
        "switch_master_ms",
        "trigger_to_switch_ms",
        "switch_to_first_write_ms",
        "switch_to_first_kept_write_ms",
        "slots",
        "events",
        "notes",
    ] {
        assert!(
            json.get(field).is_some(),
            "JSON report lacks {field}: {json}"
        );
    }
    for f in ["ms", "from_ms", "to_ms"] {
        assert!(json["longest_gap"][f].is_number(), "longest_gap.{f}");
    }
    for f in ["p50", "p99", "max"] {
        assert!(json["latency_us"][f].is_u64(), "latency_us.{f}");
    }
    assert_eq!(json["writers"], 8);
    assert_eq!(json["trigger"], "sentinel-failover");
    assert!(json["acknowledged"].as_u64().unwrap() > 0);
    assert!(json["trigger_to_switch_ms"].is_number());
    assert!(json["switch_to_first_write_ms"].is_number());
    assert_ne!(json["master_before"], json["master_after"]);
    let events: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"+try-failover"), "{events:?}");
    assert!(events.contains(&"+switch-master"), "{events:?}");
    assert!(!events.contains(&"__sentinel__:hello"));
    // What the proxy promises for a planned failover.
    assert_eq!(report.lost, 0, "acknowledged writes lost through the proxy");
    assert_eq!(report.errors_total, 0, "{:?}", report.errors);
    assert!(report.keys_checked > 8, "one key per writer and 100 ms");

    let marks = markers(&std::fs::read_to_string(&svg_path).unwrap());
    for m in ["SENTINEL FAILOVER", "+try-failover", "+switch-master"] {
        assert!(marks.iter().any(|x| x == m), "no {m} marker in {marks:?}");
    }
    // The printed table has every row.
    let table = sentinel_bench::report::table(&[&report]);
    for row in [
        "acknowledged writes",
        "errors",
        "reconnects",
        "lost acknowledged writes",
        "acknowledged after +switch-master",
        "longest window without a write",
        "latency p50 · p99 · max",
        "trigger → +switch-master",
        "+switch-master → first write",
    ] {
        assert!(table.contains(row), "table lacks {row}:\n{table}");
    }
    assert!(sentinel_bench::report::timeline(&report).contains("+switch-master"));
    p.stop().await;
}

/// A TCP relay to `upstream` that closes every client connection `after` it was accepted;
/// returns its address and how many connections it accepted.
async fn dropping_relay(upstream: SocketAddr, after: Duration) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    // Scenario: the relay's fault, closing every connection `after` its accept.
                    _ = tokio::time::sleep(after) => {}
                }
                // Both sockets close here.
            });
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_reports_the_reconnects_a_dropping_target_causes() {
    let lab = lab(LabOptions {
        redis_password: Some("redis-secret".into()),
        sentinel_password: Some("sentinel-secret".into()),
        ..LabOptions::default()
    })
    .await;
    let master = lab.master().unwrap();
    let (relay, accepted) = dropping_relay(master, Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("r.json");
    let svg_path = dir.path().join("r.svg");
    let args: Vec<String> = [
        "failover",
        "--target",
        &relay.to_string(),
        "--sentinels",
        &lab.sentinel_list(),
        "--writers",
        "4",
        "--max-wait",
        "2s",
        "--json",
        json_path.to_str().unwrap(),
        "--svg",
        svg_path.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Passwords only through the environment.
    assert!(!args.iter().any(|a| a.contains("secret")));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_sentinel-bench"))
            .args(&args)
            .env("REDIS_PASSWORD", "redis-secret")
            .env("SENTINEL_PASSWORD", "sentinel-secret")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No failover happened: the report is printed and written, and the exit status says so.
    assert!(
        !out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("no +switch-master"), "stderr:\n{stderr}");
    assert!(stdout.contains("reconnects"), "stdout:\n{stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "no progress bar when stdout is not a terminal"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let reconnects = json["reconnects"].as_u64().unwrap();
    assert!(reconnects > 0, "{json}");
    assert!(
        accepted.load(Ordering::Relaxed) >= reconnects,
        "every reconnect is a new connection to the relay"
    );
    let kinds: Vec<&str> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds
            .iter()
            .any(|k| *k == "connection closed" || *k == "i/o error"),
        "{kinds:?}"
    );
    assert!(json["errors"][0]["example"].as_str().is_some());
    assert!(json["acknowledged"].as_u64().unwrap() > 0);
    assert_eq!(json["lost"], 0, "the writes went to the master itself");
    assert!(json["switch_master_ms"].is_null());
    assert!(!stdout.contains("secret") && !stderr.contains("secret"));
    roxmltree::Document::parse(&std::fs::read_to_string(&svg_path).unwrap())
        .expect("the SVG is well-formed XML");
}
