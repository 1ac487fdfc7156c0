//! sentinel-proxy: one stable address in front of a Sentinel-managed Redis master.
//!
//! # Layout
//! ```text
//! config.rs        FileConfig (TOML + env) → validate() → Config           (edge)
//! haproxy_cfg.rs   reads the redis-ha chart's haproxy.cfg                 (edge)
//! compat.rs        HAProxy compatibility mode: flags, haproxy.cfg → Config (edge)
//! admin.rs         /metrics /healthz /readyz                              (edge)
//! metrics.rs       every metric name and the cached hot-path handles      (edge)
//! route.rs         Route snapshot in an ArcSwap + watch; ONE writer        (shared state)
//! control/         sentinel.rs watchers · health.rs ROLE checks ·
//!                  controller.rs, the route's only writer                 (control plane)
//! resp/            resumable RESP2/RESP3/inline scanner, argument helpers (data path)
//! proxy/           listener.rs accept · session.rs one task per client ·
//!                  state.rs what a session did · upstream.rs node choice  (data path)
//! lab.rs           spawns local redis-server/redis-sentinel topologies    (tests, demo, bench)
//! bench/           failover benchmark: writers, Sentinel timeline, report, SVG, HAProxy peer
//! demo.rs          `sentinel-proxy demo`
//! ```
//! The data path never talks to Sentinels and the control plane never touches client bytes:
//! they meet only in [`route`]. docs/architecture.md tells the life of a session.

#![forbid(unsafe_code)]

pub mod admin;
pub mod bench;
pub mod compat;
pub mod config;
pub mod control;
pub mod demo;
pub mod haproxy_cfg;
pub mod lab;
pub mod metrics;
pub mod proxy;
pub mod resp;
pub mod route;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

pub use config::Config;

/// Errors that stop the proxy from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error("cannot listen on {addr} ({what}): {source}; is another process using the port, or is the address not on this host?")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The addresses the proxy actually listens on (port 0 in the config becomes a real port).
#[derive(Debug, Clone)]
pub struct Bound {
    pub listen: SocketAddr,
    pub replica: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub health: Option<SocketAddr>,
}

/// A started proxy. Dropping it does not stop it; call [`Running::stop`].
pub struct Running {
    pub bound: Bound,
    route: route::RouteReader,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    /// The route as the sessions see it (tests and the benchmark read it).
    pub fn route(&self) -> &route::RouteReader {
        &self.route
    }

    /// Stop accepting, close every session and wait for the tasks.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

fn bind(what: &'static str, addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    proxy::listener::bind(addr).map_err(|source| Error::Bind { what, addr, source })
}

/// Bind every listener and start every task; returns once the proxy accepts connections.
pub async fn start(config: Config) -> Result<Running, Error> {
    config.check_runnable()?;
    let prometheus = metrics::init();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (writer, reader) = route::table();
    let mut tasks = JoinSet::new();

    let master_l = bind("listen", config.listen)?;
    let replica_l = config
        .replica_listen
        .map(|a| bind("replica_listen", a))
        .transpose()?;
    let admin_l = config
        .admin_listen
        .map(|a| bind("admin_listen", a))
        .transpose()?;
    let health_l = config
        .health_listen
        .as_ref()
        .map(|h| bind("health_listen", h.addr))
        .transpose()?;
    let local = |l: &tokio::net::TcpListener| l.local_addr().expect("bound socket has an address");
    let bound = Bound {
        listen: local(&master_l),
        replica: replica_l.as_ref().map(local),
        admin: admin_l.as_ref().map(local),
        health: health_l.as_ref().map(local),
    };

    // Control plane.
    let (sentinel_tx, sentinel_rx) = mpsc::channel(256);
    let (health_tx, health_rx) = mpsc::channel(256);
    let watch_settings = control::sentinel::WatchSettings {
        master_name: config.master_name.clone(),
        password: config.sentinel_password.clone(),
        connect_timeout: config.timeouts.connect,
        query_interval: config.timeouts.role_interval,
    };
    for entry in &config.sentinels {
        tasks.spawn(control::sentinel::supervise(
            entry.clone(),
            watch_settings.clone(),
            sentinel_tx.clone(),
            shutdown_rx.clone(),
        ));
    }
    let check_settings = control::health::CheckSettings {
        password: config.redis_password.clone(),
        interval: config.timeouts.role_interval,
        timeout: config.timeouts.role_timeout,
    };
    let controller = control::controller::Controller::new(
        writer,
        check_settings,
        config.timeouts.hold,
        health_tx,
        shutdown_rx.clone(),
    );
    tasks.spawn(controller.run(sentinel_rx, health_rx));

    // Data path.
    let shared = Arc::new(proxy::Shared {
        route: reader.clone(),
        scan_limits: resp::Limits {
            max_bulk_len: config.limits.max_bulk_len,
            max_multibulk_len: config.limits.max_multibulk_len,
            max_inline_len: config.limits.max_inline_len,
        },
        timeouts: config.timeouts.clone(),
        master_name: config.master_name.clone(),
        max_clients: config.limits.max_clients,
        clients: AtomicUsize::new(0),
        replica_load: Mutex::new(Default::default()),
        shutdown: shutdown_rx.clone(),
        failover_stats: Default::default(),
    });
    tasks.spawn(proxy::report_failovers(shared.clone()));
    tasks.spawn(proxy::listener::accept_loop(
        master_l,
        metrics::Listener::Master,
        shared.clone(),
    ));
    if let Some(l) = replica_l {
        tasks.spawn(proxy::listener::accept_loop(
            l,
            metrics::Listener::Replica,
            shared.clone(),
        ));
    }

    // Edges.
    let admin_state = Arc::new(admin::AdminState {
        route: reader.clone(),
        prometheus,
        monitor_uri: config.health_listen.as_ref().map(|h| h.uri.clone()),
    });
    for l in [admin_l, health_l].into_iter().flatten() {
        tasks.spawn(admin::serve(l, admin_state.clone(), shutdown_rx.clone()));
    }

    tracing::info!(
        listen = %bound.listen,
        replica = ?bound.replica,
        admin = ?bound.admin,
        master_name = %config.master_name,
        sentinels = config.sentinels.len(),
        "sentinel-proxy started"
    );
    Ok(Running {
        bound,
        route: reader,
        shutdown: shutdown_tx,
        tasks,
    })
}

/// Run the proxy until `shutdown` completes, then stop it.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let running = start(config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}
