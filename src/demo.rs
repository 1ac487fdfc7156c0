//! `sentinel-proxy demo`: a local 3 redis + 3 sentinel topology, the proxy in front of it, and
//! one planned failover under a few writers, with what those writers saw.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use crate::bench::load::{self, LoadOptions};
use crate::config::{Config, HostPort};
use crate::lab::{Lab, LabOptions};

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
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Lab(#[from] crate::lab::LabError),
    #[error(transparent)]
    Proxy(#[from] crate::Error),
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
    let proxy = crate::start(config).await?;
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
        "== {} writers INCR their own keys through the proxy; SENTINEL FAILOVER in 2 s …",
        args.writers
    );
    let writers = load::start(LoadOptions {
        target: b.listen,
        writers: args.writers,
        key_prefix: "demo:writer:".into(),
        password: None,
        timeout: Duration::from_secs(2),
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = tokio::time::Instant::now();
    lab.failover()?;
    let gen = route.generation();
    tokio::time::timeout(
        Duration::from_secs(30),
        route.wait_for(|r| r.generation > gen && r.serving_master().is_some()),
    )
    .await
    .map_err(|_| DemoError::Other("no new master was routed within 30 s".into()))?;
    let switched_after = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reports = writers.stop().await;
    let master = route
        .load()
        .master
        .as_ref()
        .map(|m| m.addr)
        .ok_or_else(|| DemoError::Other("no master at the end".into()))?;
    let finals: Vec<i64> = reports
        .iter()
        .map(|r| {
            lab.redis_call(master, &["GET", &r.key])
                .ok()
                .and_then(|f| crate::lab::text(&f))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    let s = load::summarise(&reports, &finals);
    println!(
        "== failover {old} -> {master}: routed {} ms after SENTINEL FAILOVER",
        switched_after.as_millis()
    );
    println!("   acknowledged writes   {}", s.acked);
    println!(
        "   errors                {}{}",
        s.errors.values().sum::<u64>(),
        if s.errors.is_empty() {
            String::new()
        } else {
            format!(" {:?}", s.errors)
        }
    );
    println!("   reconnects            {}", s.reconnects);
    println!("   acknowledged but lost {}", s.lost);
    println!("   longest write gap     {} ms", s.longest_gap.as_millis());
    println!(
        "   latency p50/p99/max   {}/{}/{} µs",
        s.p50_us, s.p99_us, s.max_us
    );
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
