//! sentinel-proxy-core: one stable address in front of a Sentinel-managed Redis master.
//!
//! # Layout
//! ```text
//! config.rs        FileConfig (TOML + env) → validate() → Config           (edge)
//! admin.rs         /metrics /healthz /readyz                              (edge)
//! metrics.rs       every metric name and the cached hot-path handles      (edge)
//! route.rs         Route snapshot in an ArcSwap + watch; ONE writer        (shared state)
//! control/         sentinel.rs watchers · health.rs ROLE checks ·           (control plane)
//!                  event.rs typed Sentinel events · machine.rs every routing
//!                  decision, a pure state machine · controller.rs its shell,
//!                  the route's only writer
//! resp/            resumable RESP2/RESP3/inline scanner, argument helpers (data path)
//! proxy/           listener.rs accept · session.rs one task per client ·
//!                  state.rs what a session did · upstream.rs node choice  (data path)
//!                  buffers.rs read buffers · queue.rs inline-first FIFO ·
//!                  pipe.rs shared upstream pipelines (multiplexed mode) ·
//!                  classify.rs which commands may share one
//! tls/             stream.rs plain or TLS connections behind one readiness   (edges)
//!                  interface · mod.rs acceptor, dialers, certificate reloads ·
//!                  certs.rs PEM files into rustls configurations
//! ```
//! The data path never talks to Sentinels and the control plane never touches client bytes:
//! they meet only in [`route`]. docs/architecture.md tells the life of a request.
//!
//! The haproxy.cfg layer (crates/haproxy) and the operator tools (crates/bench) build on this
//! crate; nothing here depends on them.

#![forbid(unsafe_code)]

pub mod admin;
pub mod config;
pub mod control;
pub mod lifecycle;
pub mod metrics;
pub mod proxy;
pub mod resp;
pub mod route;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use lifecycle::Lifecycle;

pub use config::Config;

/// Errors that stop the proxy from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
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
    /// The master listener (TLS when `listen_tls`).
    pub listen: SocketAddr,
    pub replica: Option<SocketAddr>,
    /// The extra TLS listeners (`tls_listen`, `tls_replica_listen`).
    pub tls_listen: Option<SocketAddr>,
    pub tls_replica: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub health: Option<SocketAddr>,
}

/// A started proxy. Call [`Running::drain`] (graceful) or [`Running::stop`]; dropping it
/// stops it abruptly (every task and session ends at once, nobody waits for them).
pub struct Running {
    pub bound: Bound,
    route: route::RouteReader,
    lifecycle: Lifecycle,
    shutdown_times: config::ShutdownTimes,
}

impl Running {
    /// The route as the sessions see it (tests and the benchmark read it).
    pub fn route(&self) -> &route::RouteReader {
        &self.route
    }

    /// Stop at once: close every session wherever it is and wait for every task.
    pub async fn stop(self) {
        self.lifecycle.stop_and_wait().await;
    }

    /// Stop the way a rolling update wants it: /readyz turns 503 at once; the listeners keep
    /// accepting for `shutdown_delay` (endpoints are being updated meanwhile); then they stop
    /// and every session closes at its next safe point (nothing in flight, its last reply
    /// written), so request/response clients see a clean close between replies. Whatever is
    /// still open after `shutdown_timeout` is cut.
    pub async fn drain(self) {
        let times = self.shutdown_times.clone();
        self.lifecycle.unready().cancel();
        tracing::info!(delay = ?times.delay, "draining: /readyz is 503, still accepting");
        tokio::time::sleep(times.delay).await;
        self.lifecycle.drain().cancel();
        tracing::info!(
            open_sessions = self.lifecycle.open_sessions(),
            timeout = ?times.timeout,
            "draining: listeners closed, sessions close at safe points"
        );
        if !self.lifecycle.sessions_ended(times.timeout).await {
            tracing::warn!(
                sessions = self.lifecycle.open_sessions(),
                "shutdown timeout reached; cutting the remaining sessions"
            );
        }
        self.lifecycle.stop_and_wait().await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.lifecycle.stop().cancel();
    }
}

fn bind(
    what: &'static str,
    addr: SocketAddr,
    backlog: u32,
) -> Result<tokio::net::TcpListener, Error> {
    proxy::listener::bind(addr, backlog).map_err(|source| Error::Bind { what, addr, source })
}

/// Fold histogram samples into their buckets every few seconds until shutdown.
async fn metrics_upkeep(handle: metrics_exporter_prometheus::PrometheusHandle) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// Make sure the process may open enough files for `max_clients` (two sockets per client),
/// raising the soft limit up to the hard one, and say what to do when even that is too low.
fn check_open_files(max_clients: usize) {
    let needed = (max_clients as u64) * 2 + 256;
    match rlimit::increase_nofile_limit(needed) {
        Ok(got) if got >= needed => {
            tracing::debug!(limit = got, needed, "open-file limit");
        }
        Ok(got) => tracing::warn!(
            limit = got,
            needed,
            max_clients,
            "open-file limit too low for max_clients: raise the hard limit (ulimit -Hn, \
             LimitNOFILE=, or the container runtime's default) or lower max_clients; \
             clients beyond the limit will fail to connect"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-file limit"),
    }
}

/// Bind every listener and start every task; returns once the proxy accepts connections.
pub async fn start(config: Config) -> Result<Running, Error> {
    config.check_runnable()?;
    let prometheus = metrics::init();
    check_open_files(config.limits.max_clients);
    let lifecycle = Lifecycle::new();
    let backlog = config.limits.accept_backlog;
    let (writer, reader) = route::table();
    // Histogram samples stay in memory until upkeep folds them in; without it they would pile
    // up between scrapes (or forever, with nobody scraping).
    lifecycle.spawn_until_stop(metrics_upkeep(prometheus.clone()));

    let mut tls = tls::Tls::load(&config.tls, config.timeouts.connect)?;
    if let Some(reload) = tls.reload_task() {
        lifecycle.spawn_until_stop(reload);
    }
    let master_l = bind("listen", config.listen, backlog)?;
    let replica_l = config
        .replica_listen
        .map(|a| bind("replica_listen", a, backlog))
        .transpose()?;
    let tls_master_l = config
        .tls
        .tls_listen
        .map(|a| bind("tls_listen", a, backlog))
        .transpose()?;
    let tls_replica_l = config
        .tls
        .tls_replica_listen
        .map(|a| bind("tls_replica_listen", a, backlog))
        .transpose()?;
    let admin_l = config
        .admin_listen
        .map(|a| bind("admin_listen", a, 128))
        .transpose()?;
    let health_l = config
        .health_listen
        .as_ref()
        .map(|h| bind("health_listen", h.addr, 128))
        .transpose()?;
    let local = |l: &tokio::net::TcpListener| l.local_addr().expect("bound socket has an address");
    let bound = Bound {
        listen: local(&master_l),
        replica: replica_l.as_ref().map(local),
        tls_listen: tls_master_l.as_ref().map(local),
        tls_replica: tls_replica_l.as_ref().map(local),
        admin: admin_l.as_ref().map(local),
        health: health_l.as_ref().map(local),
    };

    // Control plane.
    let (sentinel_tx, sentinel_rx) = mpsc::channel(256);
    let (health_tx, health_rx) = mpsc::channel(256);
    let watch_settings = control::sentinel::WatchSettings {
        master_name: config.master_name.clone(),
        dialer: tls.sentinel.clone(),
        password: config.sentinel_password.clone(),
        connect_timeout: config.timeouts.connect,
        query_interval: config.timeouts.role_interval,
    };
    for entry in &config.sentinels {
        lifecycle.spawn_until_stop(control::sentinel::supervise(
            entry.clone(),
            watch_settings.clone(),
            sentinel_tx.clone(),
            lifecycle.clone(),
        ));
    }
    let check_settings = control::health::CheckSettings {
        password: config.redis_password.clone(),
        dialer: tls.upstream.clone(),
        interval: config.timeouts.role_interval,
        timeout: config.timeouts.role_timeout,
    };
    let link_problems = control::controller::LinkProblems::default();
    let controller = control::controller::Controller::new(
        writer,
        check_settings,
        control::machine::Settings {
            hold_timeout: config.timeouts.hold,
            fence: config.fence.clone(),
            configured: config.sentinels.len(),
        },
        link_problems.clone(),
        health_tx,
        lifecycle.clone(),
    );
    lifecycle.spawn_until_stop(controller.run(sentinel_rx, health_rx));

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
        failover_stats: Default::default(),
        client_allow: config.client_allow.clone(),
        lifecycle: lifecycle.clone(),
        multiplex: config.mode == config::Mode::Multiplex,
        pipes: Default::default(),
        upstream_dialer: tls.upstream.clone(),
    });
    lifecycle.spawn_until_stop(proxy::report_failovers(shared.clone()));
    // Draining closes the listening sockets, so the kernel refuses new connections.
    let acceptor = |on: bool| tls.acceptor.clone().filter(|_| on);
    let listeners = [
        (
            Some(master_l),
            metrics::Listener::Master,
            acceptor(config.tls.listen_tls),
        ),
        (
            replica_l,
            metrics::Listener::Replica,
            acceptor(config.tls.replica_listen_tls),
        ),
        (tls_master_l, metrics::Listener::Master, acceptor(true)),
        (tls_replica_l, metrics::Listener::Replica, acceptor(true)),
    ];
    for (l, kind, tls) in listeners {
        if let Some(l) = l {
            lifecycle.spawn_until_drain(proxy::listener::accept_loop(l, kind, shared.clone(), tls));
        }
    }

    // Sessions learn of the drain and the stop from the route channel they already wait on
    // (see RouteReader::wake_sessions).
    {
        let route = reader.clone();
        lifecycle.on_drain_and_stop(move || route.wake_sessions());
    }

    // Edges.
    let admin_state = Arc::new(admin::AdminState {
        route: reader.clone(),
        prometheus,
        monitor_uri: config.health_listen.as_ref().map(|h| h.uri.clone()),
        metrics_uri: config.metrics_uri.clone(),
        unready: lifecycle.unready().clone(),
        link_problems,
    });
    for l in [admin_l, health_l].into_iter().flatten() {
        lifecycle.spawn_until_stop(admin::serve(l, admin_state.clone(), lifecycle.clone()));
    }

    tracing::info!(
        listen = %bound.listen,
        replica = ?bound.replica,
        tls_listen = ?bound.tls_listen,
        tls_replica = ?bound.tls_replica,
        admin = ?bound.admin,
        master_name = %config.master_name,
        sentinels = config.sentinels.len(),
        "sentinel-proxy started"
    );
    Ok(Running {
        bound,
        route: reader,
        lifecycle,
        shutdown_times: config.shutdown.clone(),
    })
}

/// Run the proxy until `shutdown` completes (SIGTERM in the binary), then drain it
/// gracefully (see [`Running::drain`]).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let running = start(config).await?;
    shutdown.await;
    tracing::info!("shutdown requested");
    running.drain().await;
    Ok(())
}
