//! Choosing and talking to a session's upstream node.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::session::CloseReason;
use super::Shared;
use crate::metrics::Listener;
use crate::route::{Node, RouteReader};

/// Where a session sends its commands.
#[derive(Debug, Clone)]
pub enum Target {
    /// The master of one route generation; invalid as soon as the generation moves on.
    Master { node: Node, generation: u64 },
    /// A replica (replica listener); valid while the route lists it as healthy.
    Replica { node: Node },
}

/// Counts sessions per replica so new ones go to the least loaded (a lease per session).
pub struct ReplicaLease {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Drop for ReplicaLease {
    fn drop(&mut self) {
        let mut load = self
            .shared
            .replica_load
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = load.get_mut(&self.addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                load.remove(&self.addr);
            }
        }
    }
}

pub struct Upstream {
    pub stream: TcpStream,
    pub target: Target,
    _lease: Option<ReplicaLease>,
}

/// The target for a new upstream connection, if any is routable now.
pub fn pick(shared: &Shared, listener: Listener) -> Option<Target> {
    let route = shared.route.load();
    if listener == Listener::Replica && !route.replicas.is_empty() {
        let load = shared
            .replica_load
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let node = route
            .replicas
            .iter()
            .min_by_key(|n| load.get(&n.addr).copied().unwrap_or(0))?;
        return Some(Target::Replica { node: node.clone() });
    }
    // The master listener, and the replica listener's fallback when no replica is healthy.
    route.serving_master().map(|node| Target::Master {
        node: node.clone(),
        generation: route.generation,
    })
}

impl Upstream {
    pub async fn connect(target: Target, shared: &Arc<Shared>) -> std::io::Result<Upstream> {
        let addr = match &target {
            Target::Master { node, .. } | Target::Replica { node } => node.addr,
        };
        let started = std::time::Instant::now();
        let stream = tokio::time::timeout(shared.timeouts.connect, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connect to {addr} timed out"),
                )
            })??;
        crate::metrics::handles()
            .upstream_connect_latency
            .record(started.elapsed().as_secs_f64());
        stream.set_nodelay(true)?;
        let lease = match &target {
            Target::Replica { node } => {
                let mut load = shared
                    .replica_load
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *load.entry(node.addr).or_insert(0) += 1;
                Some(ReplicaLease {
                    shared: shared.clone(),
                    addr: node.addr,
                })
            }
            Target::Master { .. } => None,
        };
        Ok(Upstream {
            stream,
            target,
            _lease: lease,
        })
    }

    /// May commands be written to this upstream now? (false while the route holds)
    pub fn writable_now(&self, route: &RouteReader) -> bool {
        match &self.target {
            Target::Master { generation, .. } => route.serving_generation() == Some(*generation),
            Target::Replica { .. } => true,
        }
    }

    /// None while this upstream is still where the route sends its listener's traffic.
    pub fn still_routed(&self, route: &RouteReader) -> Option<CloseReason> {
        match &self.target {
            Target::Master { generation, .. } => {
                (route.generation() != *generation).then_some(CloseReason::MasterChanged)
            }
            Target::Replica { node } => {
                let r = route.load();
                (!r.replicas.iter().any(|n| n.addr == node.addr))
                    .then_some(CloseReason::ReplicaGone)
            }
        }
    }

    /// Write all of `data`. For a master every chunk is written under the route fence after
    /// checking the generation, so nothing reaches a master once a newer one is published.
    /// A node that stops reading (paused, overloaded) would hold the write forever: the stop
    /// ends it (waited on only while blocked, in a boxed future).
    pub async fn write(
        &mut self,
        route: &RouteReader,
        stop: &tokio_util::sync::CancellationToken,
        data: &[u8],
    ) -> Result<(), CloseReason> {
        let mut off = 0;
        while off < data.len() {
            let attempt = {
                let _fence = match &self.target {
                    Target::Master { generation, .. } => {
                        let fence = route.fence();
                        if route.generation() != *generation {
                            return Err(CloseReason::MasterChanged);
                        }
                        Some(fence)
                    }
                    Target::Replica { .. } => None,
                };
                self.stream.try_write(&data[off..])
            };
            match attempt {
                Ok(n) => off += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // The writer slot, not a `writable()` future: this future is part of every
                    // idle session's task, and a waiter node would make it ~100 bytes larger.
                    let stream = &self.stream;
                    Box::pin(async {
                        tokio::select! {
                            r = std::future::poll_fn(|cx| stream.poll_write_ready(cx)) =>
                                r.map_err(CloseReason::UpstreamError),
                            () = stop.cancelled() => Err(CloseReason::Shutdown),
                        }
                    })
                    .await?;
                }
                Err(e) => return Err(CloseReason::UpstreamError(e)),
            }
        }
        Ok(())
    }
}
