//! Choosing and talking to a session's upstream node.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::tls::Stream;

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
    pub conn: Conn,
    pub target: Target,
    _lease: Option<ReplicaLease>,
}

/// The connection behind an upstream: a session's own, or its place on a shared pipeline.
pub enum Conn {
    Own(Stream),
    Shared {
        pipe: Arc<super::pipe::Pipe>,
        member: Arc<super::pipe::Member>,
    },
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

fn lease(target: &Target, shared: &Arc<Shared>) -> Option<ReplicaLease> {
    match target {
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
    }
}

impl Upstream {
    /// A place on the shared pipeline to `target` (connected and checked if there was none).
    pub async fn join(
        target: Target,
        profile: &super::pipe::Profile,
        shared: &Arc<Shared>,
    ) -> std::io::Result<Upstream> {
        let (pipe, member) = shared.pipes.join(&target, profile, shared).await?;
        Ok(Upstream {
            conn: Conn::Shared { pipe, member },
            _lease: lease(&target, shared),
            target,
        })
    }

    pub fn is_shared(&self) -> bool {
        matches!(self.conn, Conn::Shared { .. })
    }

    /// The session's own connection (None on a shared pipeline).
    pub fn own_stream(&mut self) -> Option<&mut Stream> {
        match &mut self.conn {
            Conn::Own(s) => Some(s),
            Conn::Shared { .. } => None,
        }
    }

    /// Ready when replies (or the end of the stream) can be read, or, on a shared pipeline,
    /// when requests were handed back.
    pub fn poll_read_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match &self.conn {
            Conn::Own(s) => s.poll_read_ready(cx),
            Conn::Shared { member, .. } => member.poll_ready(cx).map(Ok),
        }
    }

    /// Read what is there now; `WouldBlock` when nothing is (see Stream::read_now).
    pub fn read_now(&mut self, buf: &mut bytes::BytesMut) -> std::io::Result<usize> {
        match &mut self.conn {
            Conn::Own(s) => s.read_now(buf),
            Conn::Shared { member, .. } => member.read_into(buf),
        }
    }

    /// Requests a shared pipeline handed back unsent (see pipe.rs).
    pub fn take_returned(&self) -> Option<super::pipe::Returned> {
        match &self.conn {
            Conn::Own(_) => None,
            Conn::Shared { member, .. } => member.take_returned(),
        }
    }

    pub async fn connect(target: Target, shared: &Arc<Shared>) -> std::io::Result<Upstream> {
        let addr = match &target {
            Target::Master { node, .. } | Target::Replica { node } => node.addr,
        };
        let started = std::time::Instant::now();
        let stream = shared
            .upstream_dialer
            .connect(addr, shared.timeouts.connect)
            .await?;
        crate::metrics::handles()
            .upstream_connect_latency
            .record(started.elapsed().as_secs_f64());
        Ok(Upstream {
            conn: Conn::Own(stream),
            _lease: lease(&target, shared),
            target,
        })
    }

    /// May commands be written to this upstream now? (false while the route holds)
    pub fn writable_now(&self, route: &RouteReader) -> bool {
        if let Conn::Shared { pipe, .. } = &self.conn {
            if pipe.closed() {
                return false;
            }
        }
        match &self.target {
            Target::Master { generation, .. } => route.serving_generation() == Some(*generation),
            Target::Replica { .. } => true,
        }
    }

    /// None while this upstream is still where the route sends its listener's traffic.
    pub fn still_routed(&self, route: &RouteReader) -> Option<CloseReason> {
        if let Conn::Shared { pipe, .. } = &self.conn {
            if pipe.closed() {
                // Lost or drained: the session takes a place on a new one.
                return Some(CloseReason::UpstreamClosed(None));
            }
        }
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
    /// On a shared pipeline `data` is appended for the pipeline's next write (it never
    /// blocks); `replies` is how many replies it draws.
    pub async fn write(
        &mut self,
        route: &RouteReader,
        stop: &tokio_util::sync::CancellationToken,
        data: &[u8],
        replies: u32,
    ) -> Result<(), CloseReason> {
        let stream = match &mut self.conn {
            Conn::Own(s) => s,
            Conn::Shared { pipe, member } => {
                if let Target::Master { generation, .. } = &self.target {
                    let _fence = route.fence();
                    if route.generation() != *generation {
                        return Err(CloseReason::MasterChanged);
                    }
                    pipe.submit(member, data, replies);
                } else {
                    pipe.submit(member, data, replies);
                }
                return Ok(());
            }
        };
        let mut off = 0;
        // What TLS took but has not sent goes out too: taken under the fence is as good as
        // written (see tls/stream.rs).
        while off < data.len() || stream.pending_output() {
            if off == data.len() {
                match stream.flush_now() {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        wait_writable(stream, stop).await?;
                        continue;
                    }
                    Err(e) => return Err(CloseReason::UpstreamError(e)),
                }
            }
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
                stream.try_write(&data[off..])
            };
            match attempt {
                Ok(n) => off += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    wait_writable(stream, stop).await?;
                }
                Err(e) => return Err(CloseReason::UpstreamError(e)),
            }
        }
        Ok(())
    }
}

/// Wait until the node takes more, or the stop. The writer slot, not a `writable()` future:
/// this future is part of every idle session's task, and a waiter node would make it ~100
/// bytes larger; boxed, so only a blocked write allocates it.
async fn wait_writable(
    stream: &Stream,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<(), CloseReason> {
    Box::pin(async {
        tokio::select! {
            r = std::future::poll_fn(|cx| stream.poll_write_ready(cx)) =>
                r.map_err(CloseReason::UpstreamError),
            () = stop.cancelled() => Err(CloseReason::Shutdown),
        }
    })
    .await
}
