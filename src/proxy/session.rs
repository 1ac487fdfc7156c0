//! One client session: a single task that relays complete RESP frames between the client and
//! the upstream node its listener routes to.
//!
//! Life of a session (docs/architecture.md has the long form):
//! 1. Accepted; nothing is connected upstream until the first complete command arrives.
//! 2. Commands are scanned into complete frames and forwarded in batches with
//!    `split_to(n).freeze()` (no copy). While the route has no serving master they wait in the
//!    buffer, up to `hold_timeout`, then each gets an error reply.
//! 3. Replies are scanned, counted against what is in flight, and written back.
//! 4. When the master changes (a new route generation) a session bound to the old master is
//!    cut: it never writes another byte there, because every upstream write happens under the
//!    route fence after checking the generation.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::state::SessionState;
use super::upstream::{self, Upstream};
use super::Shared;
use crate::metrics::{self as m, Listener};
use crate::resp::{FrameKind, Head, Mode, Scan, Scanner};

/// Bytes of unforwarded client input we read before applying backpressure.
const READ_BUDGET: usize = 64 * 1024;
/// A frame larger than this streams through instead of being buffered whole.
const STREAM_AFTER: usize = 64 * 1024;
/// Read size hint.
const READ_CHUNK: usize = 16 * 1024;

/// Why a session ended (the label of sentinel_proxy_sessions_closed_total).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    ClientClosed,
    ClientError,
    ProtocolError,
    UpstreamClosed,
    UpstreamError,
    MasterChanged,
    ReplicaGone,
    IdleTimeout,
    Shutdown,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::ClientError => "client_error",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::UpstreamClosed => "upstream_closed",
            CloseReason::UpstreamError => "upstream_error",
            CloseReason::MasterChanged => "master_changed",
            CloseReason::ReplicaGone => "replica_gone",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// Complete request frames buffered but not yet forwarded.
struct Ready {
    bytes: usize,
    frames: VecDeque<(usize, Head)>,
}

pub struct Session {
    shared: Arc<Shared>,
    listener: Listener,
    client: TcpStream,
    up: Option<Upstream>,
    cbuf: BytesMut,
    ubuf: BytesMut,
    req: Scanner,
    rep: Scanner,
    ready: Ready,
    /// Bytes of a frame being streamed to the upstream (it must finish there).
    streaming: bool,
    state: SessionState,
    /// When the oldest ready command started waiting for a serving master.
    held_since: Option<Instant>,
    /// A protocol error to answer once earlier replies are out; then the session closes.
    fatal: Option<String>,
    client_eof: bool,
}

impl Session {
    pub fn new(shared: Arc<Shared>, listener: Listener, client: TcpStream) -> Session {
        let limits = shared.scan_limits;
        Session {
            shared,
            listener,
            client,
            up: None,
            cbuf: BytesMut::new(),
            ubuf: BytesMut::new(),
            req: Scanner::new(Mode::Request, limits),
            rep: Scanner::new(Mode::Reply, limits),
            ready: Ready {
                bytes: 0,
                frames: VecDeque::new(),
            },
            streaming: false,
            state: SessionState::default(),
            held_since: None,
            fatal: None,
            client_eof: false,
        }
    }

    pub async fn run(mut self) {
        let reason = self.relay().await;
        if reason != CloseReason::ClientClosed {
            tracing::debug!(reason = reason.as_str(), "session closed");
        }
        m::session_closed(reason.as_str());
        let _ = self.client.shutdown().await;
    }

    async fn relay(&mut self) -> CloseReason {
        let mut route_rx = self.shared.route.subscribe();
        let mut shutdown = self.shared.shutdown.clone();
        let idle = self.shared.timeouts.client_idle;
        let mut last_input = Instant::now();
        loop {
            if let Err(r) = self.advance().await {
                return r;
            }
            if self.client_eof && self.state.in_flight() == 0 && self.ready.bytes == 0 {
                return CloseReason::ClientClosed;
            }
            let can_read_client =
                !self.client_eof && self.fatal.is_none() && self.cbuf.len() < READ_BUDGET;
            if self.cbuf.capacity() - self.cbuf.len() < 512 && can_read_client {
                self.cbuf.reserve(READ_CHUNK);
            }
            let hold_deadline = self.held_since.map(|t| t + self.shared.timeouts.hold);
            let idle_deadline = idle
                .filter(|_| self.state.in_flight() == 0 && !self.state.subscribed())
                .map(|d| last_input + d);
            let has_up = self.up.is_some();
            tokio::select! {
                r = self.client.read_buf(&mut self.cbuf), if can_read_client => match r {
                    Ok(0) => self.client_eof = true,
                    Ok(n) => {
                        last_input = Instant::now();
                        m::handles().bytes_from_clients.increment(n as u64);
                        if let Err(e) = self.scan_requests() {
                            m::handles().client_protocol_errors.increment(1);
                            self.fatal = Some(format!("-ERR Protocol error: {e}\r\n"));
                        }
                    }
                    Err(_) => return CloseReason::ClientError,
                },
                r = read_upstream(&mut self.up, &mut self.ubuf), if has_up => match r {
                    Ok(0) => return CloseReason::UpstreamClosed,
                    Ok(_) => {
                        if let Err(r) = self.relay_replies().await { return r; }
                    }
                    Err(_) => return CloseReason::UpstreamError,
                },
                r = route_rx.changed() => {
                    if r.is_err() { return CloseReason::Shutdown; }
                    if let Some(reason) = self.bound_elsewhere() { return reason; }
                }
                _ = sleep_until(hold_deadline), if hold_deadline.is_some() => {
                    if let Err(r) = self.fail_held().await { return r; }
                }
                _ = sleep_until(idle_deadline), if idle_deadline.is_some() => {
                    return CloseReason::IdleTimeout;
                }
                _ = shutdown.changed() => return CloseReason::Shutdown,
            }
        }
    }

    /// Scan newly read client bytes into complete frames (appended to `ready`).
    fn scan_requests(&mut self) -> Result<(), crate::resp::ProtocolError> {
        loop {
            let from = self.ready.bytes;
            match self.req.scan(&self.cbuf[from..])? {
                Scan::Frame(info) => {
                    self.ready.bytes += info.len;
                    if info.kind == FrameKind::Empty || self.streaming {
                        // Redis ignores empty frames without a reply, and a streamed frame was
                        // counted when its first bytes left: keep both out of the counts.
                        self.streaming = false;
                        self.ready.frames.push_back((info.len, Head::default()));
                    } else {
                        self.ready.frames.push_back((info.len, info.head));
                    }
                }
                Scan::Incomplete => return Ok(()),
            }
        }
    }

    /// Forward what can be forwarded, stream big frames, answer a pending protocol error.
    async fn advance(&mut self) -> Result<(), CloseReason> {
        if self.ready.bytes > 0 || (self.req.scanned() >= STREAM_AFTER && self.req.mid_frame()) {
            match self.upstream_for_write().await? {
                true => {
                    self.held_since = None;
                    self.forward_ready().await?;
                    self.stream_partial().await?;
                }
                false => {
                    if self.held_since.is_none() {
                        self.held_since = Some(Instant::now());
                    }
                }
            }
        }
        if let Some(err) = &self.fatal {
            if self.ready.bytes == 0 && self.state.in_flight() == 0 {
                let _ = self.client.write_all(err.as_bytes()).await;
                return Err(CloseReason::ProtocolError);
            }
        }
        Ok(())
    }

    /// Make sure there is an upstream that may be written to now. Ok(false): wait (hold).
    async fn upstream_for_write(&mut self) -> Result<bool, CloseReason> {
        if let Some(up) = &self.up {
            return Ok(up.writable_now(&self.shared.route));
        }
        match upstream::pick(&self.shared, self.listener) {
            Some(target) => match Upstream::connect(target, &self.shared).await {
                Ok(up) => {
                    self.up = Some(up);
                    Ok(true)
                }
                Err(e) => {
                    m::handles().upstream_connect_errors.increment(1);
                    tracing::warn!(error = %e, "cannot connect upstream");
                    // Treated like a hold: the controller will notice the node is down.
                    Ok(false)
                }
            },
            None => Ok(false),
        }
    }

    async fn forward_ready(&mut self) -> Result<(), CloseReason> {
        if self.ready.bytes == 0 {
            return Ok(());
        }
        let chunk: Bytes = self.cbuf.split_to(self.ready.bytes).freeze();
        let mut off = 0;
        let mut commands = 0u64;
        for (len, head) in self.ready.frames.drain(..) {
            if !head.as_bytes().is_empty() {
                self.state.on_request(&head, &chunk.slice(off..off + len));
                commands += 1;
            }
            off += len;
        }
        self.ready.bytes = 0;
        m::handles()
            .listener(self.listener)
            .commands
            .increment(commands);
        let up = self.up.as_mut().expect("checked by upstream_for_write");
        up.write(&self.shared.route, &chunk).await
    }

    /// Send the scanned prefix of a frame too large to buffer.
    async fn stream_partial(&mut self) -> Result<(), CloseReason> {
        let n = self.req.scanned();
        if !self.req.mid_frame() || n < STREAM_AFTER {
            return Ok(());
        }
        if !self.streaming {
            // The command is counted once, when its first bytes leave.
            self.state.on_request(&Head::default(), &Bytes::new());
            m::handles().listener(self.listener).commands.increment(1);
            self.streaming = true;
        }
        let chunk = self.cbuf.split_to(n).freeze();
        self.req.consume(n);
        let up = self.up.as_mut().expect("checked by upstream_for_write");
        up.write(&self.shared.route, &chunk).await
    }

    /// Scan replies and write every scanned byte to the client.
    async fn relay_replies(&mut self) -> Result<(), CloseReason> {
        let mut out = 0usize;
        loop {
            match self.rep.scan(&self.ubuf[out..]) {
                Ok(Scan::Frame(info)) => {
                    let push = info.kind == FrameKind::Push;
                    let error = info.kind == FrameKind::Error;
                    self.state.on_reply(&info.head, push, error);
                    out += info.len;
                }
                Ok(Scan::Incomplete) => break,
                Err(e) => {
                    m::handles().upstream_protocol_errors.increment(1);
                    tracing::warn!(error = %e, "upstream sent malformed RESP; closing the session");
                    return Err(CloseReason::UpstreamError);
                }
            }
        }
        // A large reply streams: its scanned prefix goes out now.
        let partial = if self.rep.mid_frame() {
            self.rep.scanned()
        } else {
            0
        };
        let total = out + partial;
        if partial > 0 {
            self.rep.consume(partial);
        }
        if total > 0 {
            let chunk = self.ubuf.split_to(total).freeze();
            self.write_client(&chunk).await?;
        }
        Ok(())
    }

    async fn write_client(&mut self, data: &[u8]) -> Result<(), CloseReason> {
        m::handles().bytes_to_clients.increment(data.len() as u64);
        self.client
            .write_all(data)
            .await
            .map_err(|_| CloseReason::ClientError)
    }

    /// After a route change: is this session's upstream still the right one?
    fn bound_elsewhere(&self) -> Option<CloseReason> {
        let up = self.up.as_ref()?;
        up.still_routed(&self.shared.route)
    }

    /// The hold lasted too long: every waiting command gets an error reply, in order.
    async fn fail_held(&mut self) -> Result<(), CloseReason> {
        let waited = self
            .held_since
            .take()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        let n = self
            .ready
            .frames
            .iter()
            .filter(|(_, h)| !h.as_bytes().is_empty())
            .count();
        let _ = self.cbuf.split_to(self.ready.bytes);
        self.ready.bytes = 0;
        self.ready.frames.clear();
        let msg = format!(
            "-TRYAGAIN sentinel-proxy: no confirmed master for '{}' after {}; command not sent\r\n",
            self.shared.master_name,
            fmt_secs(waited)
        );
        let mut out = Vec::with_capacity(n * msg.len());
        for _ in 0..n {
            out.extend_from_slice(msg.as_bytes());
        }
        self.write_client(&out).await
    }
}

fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

async fn read_upstream(up: &mut Option<Upstream>, buf: &mut BytesMut) -> std::io::Result<usize> {
    let up = up.as_mut().expect("guarded by has_up");
    if buf.capacity() - buf.len() < 512 {
        buf.reserve(READ_CHUNK);
    }
    up.stream.read_buf(buf).await
}

/// Dropped when the session ends, whatever the path.
pub struct ConnGuard {
    pub gauge: metrics::Gauge,
    pub shared: Arc<Shared>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
        self.shared
            .clients
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}
