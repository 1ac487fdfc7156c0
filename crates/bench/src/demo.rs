//! `sentinel-bench demo`: a local 3 redis + 3 sentinel topology, the proxy in front of it, and
//! the failover benchmark (`bench failover`) once through the proxy — and, when `haproxy` is
//! installed, once more through HAProxy configured as the redis-ha chart does (on a fresh
//! topology) — with both reports side by side.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use std::path::PathBuf;

use crate::failover::{write_outputs, FailoverOptions, Report, Trigger};
use crate::haproxy::{Haproxy, HaproxyError};
use crate::lab::{Lab, LabOptions};
use crate::{report, svg};
use sentinel_proxy_core::config::{Config, HostPort};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the proxy listens for clients.
    #[arg(long, default_value = "127.0.0.1:7379")]
    pub listen: SocketAddr,
    /// The replica port.
    #[arg(long, default_value = "127.0.0.1:7380")]
    pub replica_listen: SocketAddr,
    /// /metrics, /healthz, /readyz.
    #[arg(long, default_value = "127.0.0.1:9101")]
    pub admin_listen: SocketAddr,
    /// Writers during the failover.
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
    /// Exit after the failover report instead of waiting for Ctrl-C.
    #[arg(long)]
    pub once: bool,
    /// Traffic before SENTINEL FAILOVER.
    #[arg(long, default_value = "2s", value_parser = crate::failover::duration)]
    pub before: Duration,
    /// Traffic after +switch-master: long enough to see Sentinel demote the old master
    /// (+convert-to-slave, ~10 s after the switch) and what HAProxy's clients do then.
    #[arg(long, default_value = "12s", value_parser = crate::failover::duration)]
    pub after: Duration,
    /// Do not run the second benchmark through HAProxy even when it is installed.
    #[arg(long)]
    pub no_haproxy: bool,
    /// Also write <label>.json for each run, failover.svg (both runs) and the haproxy.cfg used.
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    #[error(transparent)]
    Proxy(#[from] sentinel_proxy_core::Error),
    #[error(transparent)]
    Bench(#[from] crate::failover::BenchError),
    #[error(transparent)]
    Haproxy(HaproxyError),
    #[error("{0}")]
    Other(String),
}

pub async fn run(args: DemoArgs, interrupt: impl Future<Output = ()>) -> Result<(), DemoError> {
    println!("== starting 3 redis-server + 3 redis-sentinel on 127.0.0.1 (free ports) …");
    let lab = tokio::task::spawn_blocking(|| Lab::start(LabOptions::default()))
        .await
        .map_err(|e| DemoError::Other(e.to_string()))??;
    for (i, p) in lab.redis.iter().enumerate() {
        println!("   redis {i}    {}", p.addr);
    }
    for (i, p) in lab.sentinels.iter().enumerate() {
        println!("   sentinel {i} {}", p.addr);
    }
    let old = lab
        .master()
        .ok_or_else(|| DemoError::Other("no master".into()))?;
    println!("   master now {old}");

    let sentinels = lab
        .sentinel_addrs()
        .iter()
        .map(|a| HostPort::parse(&a.to_string()).expect("socket address parses"))
        .collect();
    let mut config = Config::for_sentinels(sentinels, &lab.opts.master_name);
    config.listen = args.listen;
    config.replica_listen = Some(args.replica_listen);
    config.admin_listen = Some(args.admin_listen);
    // A demo needs a few clients, not the production default (which asks for 20,000+ fds).
    config.limits.max_clients = 1000;
    let proxy = sentinel_proxy_core::start(config).await?;
    let route = proxy.route().clone();
    let ready = tokio::time::timeout(
        Duration::from_secs(10),
        route.wait_for(|r| r.serving_master().is_some()),
    )
    .await
    .map_err(|_| DemoError::Other("the proxy found no master within 10 s".into()))?;
    let b = &proxy.bound;
    println!(
        "== sentinel-proxy is up, routing to {}",
        ready
            .master
            .as_ref()
            .map(|m| m.name.to_string())
            .unwrap_or_default()
    );
    println!(
        "   redis-cli -h {} -p {}            # the master, through the proxy",
        b.listen.ip(),
        b.listen.port()
    );
    if let Some(r) = b.replica {
        println!(
            "   redis-cli -h {} -p {} role       # a replica",
            r.ip(),
            r.port()
        );
    }
    if let Some(a) = b.admin {
        println!("   curl http://{a}/metrics   (also /readyz, /healthz)");
    }

    println!(
        "== benchmark 1: {} writers INCR through the proxy; SENTINEL FAILOVER after {} s, then {} s more",
        args.writers,
        args.before.as_secs_f64(),
        args.after.as_secs_f64()
    );
    let bench = |label: &str, target: SocketAddr, lab: &Lab| {
        let mut o = FailoverOptions::new(target, lab.sentinel_addrs());
        o.label = label.to_string();
        o.master_name = lab.opts.master_name.clone();
        o.writers = args.writers;
        o.trigger = Some(Trigger::SentinelFailover);
        o.before = args.before;
        o.after = args.after;
        o.max_wait = Duration::from_secs(30);
        o.key_prefix = format!("demo:{label}");
        o.progress = true;
        o
    };
    let via_proxy = crate::failover::failover(bench("sentinel-proxy", b.listen, &lab)).await?;
    let mut runs = vec![via_proxy];

    // The same through HAProxy configured as the redis-ha chart does, on a fresh topology (the
    // first one would need time to settle, and Sentinel to allow another failover).
    let mut haproxy_cfg = None;
    let haproxy_installed = crate::lab::have("haproxy");
    if !args.no_haproxy && !haproxy_installed {
        println!(
            "== haproxy is not installed, so there is nothing to compare with: \
             apt-get install haproxy (Debian/Ubuntu) and run the demo again"
        );
    }
    if !args.no_haproxy && haproxy_installed {
        println!(
            "== benchmark 2: the same through HAProxy with the redis-ha chart's haproxy.cfg (fresh topology) …"
        );
        let started = tokio::task::spawn_blocking(|| {
            let lab = Lab::start(LabOptions::default())?;
            let h = Haproxy::start(&lab).map_err(DemoError::Haproxy)?;
            Ok::<_, DemoError>((lab, h))
        })
        .await
        .map_err(|e| DemoError::Other(e.to_string()))?;
        match started {
            Ok((lab2, h)) => {
                println!("   haproxy {} ({})", h.listen, h.config.display());
                haproxy_cfg = std::fs::read_to_string(&h.config).ok();
                match crate::failover::failover(bench("haproxy", h.listen, &lab2)).await {
                    Ok(r) => runs.push(r),
                    Err(e) => println!("   the HAProxy run failed: {e}"),
                }
                drop(h);
                drop(lab2);
            }
            Err(e) => println!("   skipped: {e}"),
        }
    }

    let refs: Vec<&Report> = runs.iter().collect();
    println!("== what the writers saw (SENTINEL FAILOVER under load; lost = acknowledged, then not on the new master)");
    println!("{}", report::table(&refs));
    for r in &runs {
        println!("{}", report::timeline(r));
    }
    if let Some(dir) = &args.report_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| DemoError::Other(format!("{}: {e}", dir.display())))?;
        for r in &runs {
            write_outputs(r, Some(&dir.join(format!("{}.json", r.label))), None)?;
        }
        std::fs::write(dir.join("failover.svg"), svg::render_all(&refs))
            .map_err(|e| DemoError::Other(format!("{}: {e}", dir.display())))?;
        if let Some(cfg) = haproxy_cfg {
            let _ = std::fs::write(dir.join("haproxy.cfg"), cfg);
        }
        println!(
            "== reports written to {} (<label>.json, failover.svg)",
            dir.display()
        );
    }
    if args.once {
        proxy.stop().await;
        return Ok(());
    }
    println!("== still running; Ctrl-C stops the proxy and every redis process it started");
    interrupt.await;
    proxy.stop().await;
    drop(lab);
    Ok(())
}
