//! Data path: listeners accept clients, one task per session relays RESP frames.

pub mod listener;
pub mod session;
pub mod state;
pub mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use tokio::sync::watch;

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
    pub shutdown: watch::Receiver<bool>,
}
