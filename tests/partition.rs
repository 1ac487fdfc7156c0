//! Network partitions, with the nodes in network namespaces (see `sentinel_bench::netlab`):
//! the master cut off from its Sentinels and replicas while the proxy still reaches it, and the
//! proxy cut off from every Sentinel under both fence policies.
//!
//! Needs root, `ip netns` and iptables, so every test here is `#[ignore]`d: `make test` runs
//! them (`cargo test --test partition -- --ignored`) when it runs as root, and then a host
//! that cannot build the namespaces fails them with the reason. Run with `-- --nocapture` to
//! see the measured windows.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sentinel_bench::netlab::{self, NetLab, NetLabOptions};
use sentinel_bench::{events, load};
use sentinel_proxy_core::config::{Config, FencePolicy};
use sentinel_proxy_core::route::RouteState;
use test_support::*;

/// The namespace lab. Only run on request (the tests are ignored by default), so a host that
/// cannot build it fails the test with the reason instead of passing it.
async fn netlab() -> NetLab {
    logs();
    if let Err(why) = netlab::available() {
        panic!("needs root, ip netns and iptables: {why}");
    }
    tokio::task::spawn_blocking(|| NetLab::start(NetLabOptions::default()))
        .await
        .expect("netlab task")
        .unwrap_or_else(|e| panic!("the namespace topology starts: {e}"))
}

fn config_for(lab: &NetLab) -> Config {
    config_for_sentinels(&lab.sentinel_addrs(), &lab.opts.master_name)
}

/// Run blocking lab calls (iptables, redis calls) off the async workers' backs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn ms(since: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(since).as_secs_f64() * 1000.0
}

/// Routes the proxy published: (seen at, state, generation).
type Routes = Arc<Mutex<Vec<(Instant, RouteState, u64)>>>;

/// Every route the proxy publishes, with the instant it was seen.
fn record_routes(p: &sentinel_proxy_core::Running) -> (Routes, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = p.route().clone();
    let mut rx = reader.subscribe();
    let out = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let r = reader.load();
            out.lock()
                .unwrap()
                .push((Instant::now(), r.state, r.generation));
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
    (seen, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, ip netns and iptables (make test runs it when id -u is 0)"]
async fn isolated_master_gets_no_write_after_the_switch() {
    let lab = netlab().await;
    let p = proxy(config_for(&lab)).await;
    let old = lab.redis[0].addr;
    assert_eq!(wait_serving(&p).await, old);

    let t0 = Instant::now();
    let mut sentinel_events = events::watch(&lab.sentinel_addrs(), None, &lab.opts.master_name, t0);
    assert_eq!(
        sentinel_events.wait_subscribed(3, PATIENCE).await,
        3,
        "subscribed to every Sentinel"
    );
    let (mon, stop_mon) = monitor(old, "part:").await;
    let writers = load::start_with(
        load::LoadOptions {
            target: p.bound.listen,
            writers: 8,
            key_prefix: "part:".into(),
            password: None,
            timeout: Duration::from_secs(5),
            tls: None,
        },
        load::Keys::PerWriter,
        t0,
    );
    acked_at_least(&writers, 8 * 20, "the writers' first acknowledged writes").await;

    let (routes, route_task) = record_routes(&p);
    let watch = next_master(&p);
    let cut_wall = now_secs();
    let cut = Instant::now();
    blocking(|| lab.isolate_master_from_sentinels_and_replicas()).unwrap();
    let Published {
        wall: published_wall,
        at: published_at,
        master: new_master,
    } = published(watch).await;
    assert_ne!(new_master, old);
    assert_eq!(
        Some(new_master),
        blocking(|| lab.master()),
        "the proxy routes where Sentinel says"
    );

    // Scenario: keep writing for 2 s on the new master, past the 1 s slack of the MONITOR
    // check below, so a write still reaching the isolated master shows.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reports = writers.stop().await;
    let _ = stop_mon.send(());
    let seen = mon.await.unwrap();
    let timeline = sentinel_events.stop().await;

    // What happened when, in ms after the cut.
    let cut_ms = ms(t0, cut);
    let first = |name: &str| {
        timeline
            .iter()
            .find(|e| e.event == name && (name == "+switch-master" || e.is_about_master()))
            .map(|e| e.t_ms - cut_ms)
    };
    let hold_ms = routes
        .lock()
        .unwrap()
        .iter()
        .find(|(t, s, _)| *t >= cut && *s != RouteState::Serving)
        .map(|(t, _, _)| ms(cut, *t));
    let publish_ms = ms(cut, published_at);

    // Acknowledged writes lost: INCR returns the counter of the master that ran it, so when a
    // writer's values fall back, the isolated master had acknowledged that many writes the new
    // master never received (±1 for a command whose outcome the writer never learnt).
    let mut lost = 0i64;
    let mut acked_old_after_cut = 0u64;
    let mut last_old_ack_ms: f64 = 0.0;
    let mut acked_new = 0u64;
    for r in &reports {
        let j = r
            .acks
            .windows(2)
            .position(|w| w[1].value <= w[0].value)
            .map(|i| i + 1);
        let (old_acks, new_acks) = match j {
            Some(j) => r.acks.split_at(j),
            None => {
                // No regression: nothing lost; split at the publication for the counts.
                let k = r
                    .acks
                    .iter()
                    .position(|a| t0 + Duration::from_micros(a.at_us) >= published_at)
                    .unwrap_or(r.acks.len());
                r.acks.split_at(k)
            }
        };
        if let (Some(old_max), Some(new_first)) =
            (old_acks.iter().map(|a| a.value).max(), new_acks.first())
        {
            lost += (old_max - (new_first.value - 1)).max(0);
        }
        for a in old_acks {
            let at = t0 + Duration::from_micros(a.at_us);
            if at > cut {
                acked_old_after_cut += 1;
                last_old_ack_ms = last_old_ack_ms.max(ms(cut, at));
            }
        }
        acked_new += new_acks.len() as u64;
    }
    let executed_after_cut = seen.iter().filter(|(t, _)| *t > cut_wall).count();
    let total: u64 = reports.iter().map(|r| r.acked).sum();
    let mut errors = std::collections::BTreeMap::new();
    for r in &reports {
        for (k, n) in &r.errors {
            *errors.entry(k.clone()).or_insert(0u64) += n;
        }
    }
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0} ms"));
    eprintln!(
        "partition (master isolated, proxy still reaches it): after the cut +sdown {}, +odown {}, \
         proxy holds {}, +switch-master {}, route published {publish_ms:.0} ms",
        f(first("+sdown")),
        f(first("+odown")),
        f(hold_ms),
        f(first("+switch-master")),
    );
    eprintln!(
        "  acknowledged writes lost (acked by the isolated master after the cut, before the proxy \
         held): {lost}; writes acked by it after the cut: {acked_old_after_cut} (last {last_old_ack_ms:.0} ms \
         after the cut); INCRs it executed after the cut (MONITOR): {executed_after_cut}"
    );
    eprintln!(
        "  writers: {total} acknowledged, {acked_new} on the new master {new_master}, errors {errors:?}"
    );

    // No write reached the isolated master after the route moved.
    assert_no_write_after(&seen, cut_wall, published_wall, "the isolated master");
    assert!(
        acked_new > 0,
        "the writers kept succeeding on the new master"
    );

    // Heal: Sentinel turns the old master into a replica; the proxy stays on the new master.
    let healed = Instant::now();
    blocking(|| lab.heal()).unwrap();
    let lab_ref = &lab;
    blocking(|| {
        sentinel_bench::lab::eventually("the old master to become a replica", PATIENCE, || {
            (lab_ref.role(old).as_deref() == Some("slave")).then_some(())
        })
    })
    .expect("Sentinel demotes the old master after the heal");
    // Scenario: 1 s after the demotion, to see the route stay on the new master (no flap).
    tokio::time::sleep(Duration::from_secs(1)).await;
    route_task.abort();
    let after_heal: Vec<String> = routes
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| *t >= healed)
        .map(|(t, s, g)| format!("+{:.0} ms {s:?} gen {g}", ms(healed, *t)))
        .collect();
    eprintln!(
        "  after the heal: old master a replica again in {:.0} ms; route changes: {after_heal:?}",
        ms(healed, Instant::now()) - 1000.0
    );
    let r = p.route().load();
    assert_eq!(r.serving_master().map(|n| n.addr), Some(new_master));
    let reply =
        blocking(|| sentinel_bench::lab::call(p.bound.listen, None, &["INCR", "part:after"]))
            .expect("a write through the proxy after the heal");
    assert!(matches!(
        reply,
        redis_protocol::resp2::types::BytesFrame::Integer(_)
    ));
    p.stop().await;
}

async fn ping(addr: SocketAddr) -> String {
    let (reply, _) = raw_exchange(addr, b"PING\r\n", 7).await;
    String::from_utf8_lossy(&reply).into_owned()
}

async fn proxy_cut_from_sentinels(policy: FencePolicy) {
    let lab = netlab().await;
    let mut config = config_for(&lab);
    config.timeouts.connect = Duration::from_secs(1);
    config.timeouts.hold = Duration::from_secs(1);
    config.fence.time = Duration::from_secs(2);
    config.fence.policy = policy;
    let p = proxy(config).await;
    let admin = p.bound.admin.unwrap();
    let sentinels = lab.sentinel_addrs();
    let master = lab.redis[0].addr;
    wait_sentinel_links(admin, &sentinels, true).await;
    assert_eq!(ping(p.bound.listen).await, "+PONG\r\n");
    let replicas_before = eventually("both replicas routed", || async {
        let n = p.route().load().replicas.len();
        (n == lab.opts.replicas).then_some(n)
    })
    .await;

    // A client writing every 100 ms through the whole cut.
    let target = p.bound.listen;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let steady = tokio::spawn(async move {
        let (mut ok, mut failed) = (0u64, Vec::new());
        while !*stop_rx.borrow() {
            let (reply, _) = raw_exchange(target, b"INCR part:steady\r\n", 4).await;
            let text = String::from_utf8_lossy(&reply).into_owned();
            if text.starts_with(':') {
                ok += 1;
            } else {
                failed.push(text);
            }
            // Scenario: the writer's pace, one write every 100 ms.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (ok, failed)
    });

    let cut = Instant::now();
    blocking(|| lab.cut_proxy_from_sentinels()).unwrap();
    tokio::time::timeout(PATIENCE, wait_sentinel_links(admin, &sentinels, false))
        .await
        .expect("the proxy notices the hung Sentinel links");
    let detected = cut.elapsed();
    eprintln!(
        "proxy cut from every Sentinel ({policy:?}): all links reported down {:.0} ms after the cut \
         (connect_timeout 1 s, role_interval 250 ms)",
        detected.as_secs_f64() * 1000.0
    );

    match policy {
        FencePolicy::Hold => {
            let r = tokio::time::timeout(
                PATIENCE,
                p.route().wait_for(|r| r.serving_master().is_none()),
            )
            .await
            .expect("hold: the proxy stops forwarding");
            assert_eq!(r.state, RouteState::Holding);
            eprintln!(
                "  hold: forwarding stopped {:.0} ms after the cut (fence_time 2 s)",
                cut.elapsed().as_secs_f64() * 1000.0
            );
            let t = Instant::now();
            let reply = ping(p.bound.listen).await;
            assert!(
                reply.starts_with("-TRYAGAIN"),
                "hold answers TRYAGAIN after hold_timeout: {reply:?}"
            );
            eprintln!(
                "  hold: a command got {:?} after {:.0} ms",
                reply.trim_end(),
                t.elapsed().as_secs_f64() * 1000.0
            );
            let (status, _) = http_get(admin, "/readyz").await;
            assert_eq!(status, 503, "/readyz while held");
        }
        FencePolicy::Serve => {
            // Scenario: well past the 2 s fence time since the cut, still the ROLE-confirmed
            // master.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let r = p.route().load();
            assert_eq!(r.serving_master().map(|n| n.addr), Some(master));
            assert_eq!(ping(p.bound.listen).await, "+PONG\r\n");
            let (status, _) = http_get(admin, "/readyz").await;
            assert_eq!(status, 200, "/readyz while serving");
        }
    }
    eprintln!(
        "  replicas in the route: {replicas_before} before the cut, {} during it",
        p.route().load().replicas.len()
    );

    let healed = Instant::now();
    blocking(|| lab.heal_proxy_from_sentinels()).unwrap();
    tokio::time::timeout(PATIENCE, wait_sentinel_links(admin, &sentinels, true))
        .await
        .expect("the links come back after the heal");
    let r = tokio::time::timeout(
        PATIENCE,
        p.route().wait_for(|r| r.serving_master().is_some()),
    )
    .await
    .expect("serving again after the heal");
    assert_eq!(r.serving_master().map(|n| n.addr), Some(master));
    eprintln!(
        "  after the heal: links up and serving in {:.0} ms",
        healed.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(ping(p.bound.listen).await, "+PONG\r\n");
    let (status, _) = http_get(admin, "/readyz").await;
    assert_eq!(status, 200);

    stop_tx.send(true).unwrap();
    let (ok, failed) = steady.await.unwrap();
    match policy {
        FencePolicy::Serve => assert!(
            failed.is_empty(),
            "serve: every write succeeded through the cut ({ok} ok): {failed:?}"
        ),
        FencePolicy::Hold => {
            assert!(ok > 0);
            assert!(
                failed.iter().all(|f| f.starts_with("-TRYAGAIN")),
                "hold: only TRYAGAIN errors: {failed:?}"
            );
            eprintln!("  hold: steady writer {ok} ok, {} TRYAGAIN", failed.len());
        }
    }
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, ip netns and iptables (make test runs it when id -u is 0)"]
async fn proxy_cut_from_every_sentinel_hold_stops_forwarding() {
    proxy_cut_from_sentinels(FencePolicy::Hold).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, ip netns and iptables (make test runs it when id -u is 0)"]
async fn proxy_cut_from_every_sentinel_serve_keeps_the_master() {
    proxy_cut_from_sentinels(FencePolicy::Serve).await;
}
