//! Data path: listeners accept clients, one task per session relays RESP frames.

mod buffers;
pub mod classify;
pub mod listener;
mod phase;
pub mod pipe;
mod queue;
pub mod session;
pub mod state;
pub mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::config::Timeouts;
use crate::route::RouteReader;

/// What every session of every listener shares.
pub struct Shared {
    pub route: RouteReader,
    pub scan_limits: crate::resp::Limits,
    pub timeouts: Timeouts,
    pub master_name: String,
    pub max_clients: usize,
    /// Client connections open now, over all listeners (max_clients applies to the sum).
    pub clients: AtomicUsize,
    /// Sessions per replica, for least-connections balancing on the replica listener.
    pub replica_load: Mutex<HashMap<SocketAddr, usize>>,
    pub failover_stats: FailoverStats,
    /// Client networks allowed in; empty = everybody.
    pub client_allow: Vec<crate::config::Cidr>,
    /// Sessions are spawned through it and watch its drain and stop tokens.
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// Multiplexed mode (the default): sessions share upstream pipelines until they pin.
    pub multiplex: bool,
    pub pipes: pipe::Pipes,
    /// How sessions, pipelines and their handshakes connect to Redis nodes (plain or TLS).
    pub upstream_dialer: crate::tls::Dialer,
}

/// What sessions did about master changes, summed for one log line per failover instead of
/// one per session.
#[derive(Default)]
pub struct FailoverStats {
    pub migrated: AtomicU64,
    pub closed: AtomicU64,
    pub in_flight_failed: AtomicU64,
}

impl FailoverStats {
    fn snapshot(&self) -> [u64; 3] {
        [
            self.migrated.load(Ordering::Relaxed),
            self.closed.load(Ordering::Relaxed),
            self.in_flight_failed.load(Ordering::Relaxed),
        ]
    }
}

/// After every master change, log once how many sessions moved, were closed, or had commands
/// answered as outcome-unknown (counted over the following few seconds).
pub async fn report_failovers(shared: std::sync::Arc<Shared>) {
    let mut rx = shared.route.subscribe();
    let mut generation = shared.route.generation();
    loop {
        if rx.changed().await.is_err() {
            return;
        }
        let now = shared.route.generation();
        if now == generation {
            continue;
        }
        let before_gen = generation;
        generation = now;
        let before = shared.failover_stats.snapshot();
        // Sessions move when they next have something to send or once their replies are in.
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let after = shared.failover_stats.snapshot();
        tracing::info!(
            from_generation = before_gen,
            generation = now,
            sessions_migrated = after[0] - before[0],
            sessions_closed = after[1] - before[1],
            in_flight_failed = after[2] - before[2],
            open_sessions = shared.lifecycle.open_sessions(),
            "sessions after master change"
        );
    }
}
