//! One client session: a single task that relays complete RESP frames between the client and
//! the upstream node its listener routes to.
//!
//! Life of a session (docs/architecture.md has the long form):
//! 1. Accepted; nothing is connected upstream until the first complete command arrives.
//! 2. Commands are scanned into complete frames and forwarded in batches with
//!    `split_to(n).freeze()` (no copy). While the route has no serving master they wait in the
//!    buffer, up to `hold_timeout`, then each gets an error reply.
//! 3. Replies are scanned, counted against what is in flight, and written back.
//! 4. When the master changes (a new route generation) a session bound to the old master never
//!    writes another byte there (every upstream write happens under the route fence after
//!    checking the generation). Once nothing is in flight it reconnects to the new master and
//!    replays its state; MULTI/WATCH/MONITOR sessions are closed instead (docs/failover.md).
//! 5. On a graceful shutdown it closes at its next safe point, between two replies.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::tls::Stream;
use bytes::{Bytes, BytesMut};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::buffers::ReadBuf;
pub use super::phase::CloseReason;
use super::phase::{Link, LostFrom};
use super::queue::Queue;
use super::state::{is_subscription, needs_tracking, SessionState};
use super::upstream::{self, Upstream};
use super::Shared;
use crate::metrics::{self as m, Listener};
use crate::resp::{FrameKind, Head, Mode, ProtocolError, Scan, Scanner};

#[path = "session_replay.rs"]
mod replay;
#[path = "session_upstream.rs"]
mod upstream_choice;
use upstream_choice::pins;

/// Bytes of unforwarded client input we read before applying backpressure.
const READ_BUDGET: usize = 64 * 1024;
/// A frame larger than this streams through instead of being buffered whole.
const STREAM_AFTER: usize = 64 * 1024;
/// How long replies already in flight on a demoted master are awaited before the session
/// answers them as outcome-unknown and moves on.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause before resending a command the master refused without executing it.
const RETRY_BACKOFF: Duration = Duration::from_millis(50);
/// Pause before connecting again after a failed connect or a node that is not master.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);
/// RESP3 push `invalidate` with a null key list: "drop every cached key".
const INVALIDATE_ALL: &[u8] = b">2\r\n$10\r\ninvalidate\r\n_\r\n";
/// The unarmed timer's deadline (it is never polled before being reset).
const FAR_AWAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// A command the master refused without executing it, to send again at `at`.
struct Resend {
    frame: Bytes,
    /// For a tracked command (see `state::needs_tracking`).
    head: Option<Head>,
    /// Replies the frames draw (one, unless a shared pipeline handed several back).
    commands: u32,
    /// Handed back unsent by a shared pipeline (not a retry after an error reply).
    returned: bool,
    at: Instant,
}

/// Complete request frames buffered but not yet forwarded, in order, as runs: consecutive
/// commands that only draw one reply each share one entry (a pipeline of GETs and SETs is a
/// single run), the rest are kept one by one with their head.
struct Ready {
    bytes: usize,
    /// Commands among them (empty frames and the tail of a streamed one draw no reply).
    commands: usize,
    runs: Queue<Run>,
    /// Multiplexed mode: a command among them may not go on a shared pipeline (see classify).
    needs_pin: bool,
    /// Multiplexed mode: scanned before any pipeline told which commands are shareable.
    unclassified: bool,
    /// Multiplexed mode: a command among them pins for good (not AUTH/HELLO/SELECT).
    hard_pin: bool,
}

enum Run {
    /// `len` bytes of frames holding `commands` commands that need no tracking.
    Plain { len: usize, commands: u32 },
    /// One command that changes the session's state (see `state::needs_tracking`).
    Tracked { len: usize, head: Head },
}

pub struct Session {
    shared: Arc<Shared>,
    listener: Listener,
    client: Stream,
    link: Link,
    cbuf: ReadBuf,
    ubuf: ReadBuf,
    req: Scanner,
    rep: Scanner,
    ready: Ready,
    /// Bytes of a frame being streamed to the upstream (it must finish there).
    streaming: bool,
    state: SessionState,
    /// When the oldest ready command started waiting for a serving master.
    held_since: Option<Instant>,
    /// A protocol error to answer once earlier replies are out; then the session closes.
    fatal: Option<ProtocolError>,
    client_eof: bool,
    /// Why the last upstream connect failed, for the error reply if the hold runs out.
    last_connect_error: Option<String>,
    /// Commands counted in sentinel_proxy_commands_held by this session.
    held_count: usize,
    /// The only command in flight, kept (a refcount, no copy) so a not-executed error reply
    /// (READONLY, NOREPLICAS, LOADING, MASTERDOWN) can be answered by resending it; with its
    /// head when it is tracked.
    single: Option<(Bytes, Option<Head>)>,
    /// A command to resend, before anything newer (boxed: rare, and idle sessions stay small).
    resend: Option<Box<Resend>>,
    /// When the current run of resends began (bounded by hold_timeout).
    retry_since: Option<Instant>,
    /// When the current round trip began (nothing was in flight before it), for the latency
    /// histogram: one clock read per batch, not per command.
    round_trip_since: Option<Instant>,
    /// Multiplexed mode: on a dedicated upstream (it sent a command that pins).
    pinned: bool,
    /// Pinned for good: for something else than AUTH/HELLO/SELECT, or a second time.
    hard: bool,
    /// Went back once from a dedicated upstream to a pipeline of its own profile.
    unpinned: bool,
    /// The profile of the pipeline it is on (None: the default pipeline; boxed: rare, and idle
    /// sessions stay small).
    profile: Option<Box<super::pipe::Profile>>,
    /// The generation of the last master this session sent to, to tell a move to a new master
    /// from a new place on the same one.
    last_generation: Option<u64>,
}

impl Session {
    pub fn new(shared: Arc<Shared>, listener: Listener, client: Stream) -> Session {
        let limits = shared.scan_limits;
        let pinned = !shared.multiplex;
        Session {
            shared,
            listener,
            client,
            link: Link::Down {
                replay: false,
                retry_at: None,
                lost: None,
            },
            cbuf: ReadBuf::default(),
            ubuf: ReadBuf::default(),
            req: Scanner::new(Mode::Request, limits),
            rep: Scanner::new(Mode::Reply, limits),
            ready: Ready {
                bytes: 0,
                commands: 0,
                runs: Queue::default(),
                needs_pin: false,
                unclassified: false,
                hard_pin: false,
            },
            streaming: false,
            state: SessionState::default(),
            held_since: None,
            fatal: None,
            client_eof: false,
            last_connect_error: None,
            held_count: 0,
            single: None,
            resend: None,
            retry_since: None,
            round_trip_since: None,
            pinned,
            hard: pinned,
            unpinned: false,
            profile: None,
            last_generation: None,
        }
    }

    pub async fn run(mut self: Box<Self>) {
        // The stop is read at each wakeup (it wakes the route channel, lib.rs) and waited on
        // only where a session can block for good, a write to a peer that does not read:
        // a waiter per idle session would cost every connection ~90 bytes.
        let reason = self.relay().await;
        self.held_since = None;
        self.update_held_gauge();
        match reason.cause() {
            Some(e) => tracing::debug!(reason = reason.as_str(), error = %e, "session closed"),
            None if !matches!(reason, CloseReason::ClientClosed) => {
                tracing::debug!(reason = reason.as_str(), "session closed");
            }
            None => {}
        }
        m::session_closed(reason.as_str());
        let _ = self.client.shutdown().await;
    }

    async fn relay(&mut self) -> CloseReason {
        // Kept across iterations: re-creating a watch future registers and unregisters a
        // waiter under the channel's lock on every wakeup, and re-creating a timer inserts and
        // removes it from the timer wheel. The drain wakes this channel too (lib.rs), so the
        // lifecycle's stage is read at each wakeup instead of being waited on by every session.
        let mut draining = false;
        let mut signal = std::pin::pin!(next_signal(self.shared.route.subscribe()));
        let mut publications = self.shared.route.publications();
        let mut timer = std::pin::pin!(tokio::time::sleep(FAR_AWAY));
        let mut armed: Option<Instant> = None;
        let mut client_first = true;
        let idle = self.shared.timeouts.client_idle;
        let mut last_input = Instant::now();
        loop {
            // The route is checked here, once per wakeup, with a plain atomic load: the wait
            // below polls the sockets first and may not poll the channel at all while they
            // keep it busy.
            if self.shared.lifecycle.stopping() {
                return CloseReason::Shutdown;
            }
            draining = draining || self.shared.lifecycle.draining();
            let now_published = self.shared.route.publications();
            if now_published != publications {
                publications = now_published;
                if let Err(reason) = self.on_route_change() {
                    return reason;
                }
            }
            if let Err(r) = self.advance().await {
                return r;
            }
            if self.client_eof && self.state.in_flight() == 0 && self.ready.bytes == 0 {
                return CloseReason::ClientClosed;
            }
            if draining && self.at_safe_point() && !self.more_input_waiting() {
                return CloseReason::Shutdown;
            }
            // Draining: finish the frame being read, take no new ones.
            let can_read_client = !self.client_eof
                && self.fatal.is_none()
                && self.cbuf.len() < READ_BUDGET
                && (!draining || self.req.mid_frame());
            let hold_deadline = self.held_since.map(|t| t + self.shared.timeouts.hold);
            let idle_deadline = idle
                .filter(|_| self.state.in_flight() == 0 && !self.state.subscribed())
                .map(|d| last_input + d);
            let drain_deadline = match &self.link {
                Link::Stale { since, .. } => Some(*since + DRAIN_TIMEOUT),
                _ => None,
            };
            let retry_at = match &self.link {
                Link::Down { retry_at, .. } => *retry_at,
                _ => None,
            };
            let wake_at = retry_at.or(self.resend.as_ref().map(|r| r.at));
            // One timer for all deadlines keeps the session small; which one fired is sorted
            // out below. It is moved only when the earliest deadline comes sooner: a later one
            // (the idle deadline moves with every input) waits for the next expiry.
            let next = [wake_at, drain_deadline, hold_deadline, idle_deadline]
                .into_iter()
                .flatten()
                .min();
            if let Some(n) = next {
                if armed.is_none_or(|a| n < a) {
                    timer.as_mut().reset(n.into());
                    armed = Some(n);
                }
            }
            if self.state.in_flight() == 0 && self.ready.bytes == 0 && !self.req.mid_frame() {
                // Idle sessions keep no buffers: readiness is awaited without one.
                self.cbuf.release();
                self.ubuf.release();
                self.ready.runs.shrink_if_empty();
                self.state.expect.shrink_if_empty();
            }
            let up = self.link.upstream();
            let client = &self.client;
            // Sockets first, taking turns so that neither side can starve the other; then the
            // timer, then the channel. poll_read_ready only stores the waker (readable() would
            // link a waiter into the socket's list and out again on every wakeup).
            let event = std::future::poll_fn(|cx| {
                use std::future::Future;
                use std::task::Poll;
                for side in [client_first, !client_first] {
                    if side {
                        if can_read_client {
                            if let Poll::Ready(r) = client.poll_read_ready(cx) {
                                return Poll::Ready(Event::Client(r));
                            }
                        }
                    } else if let Some(up) = up {
                        if let Poll::Ready(r) = up.poll_read_ready(cx) {
                            return Poll::Ready(Event::Upstream(r));
                        }
                    }
                }
                if armed.is_some() && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Timer);
                }
                signal.as_mut().poll(cx).map(Event::Signal)
            })
            .await;
            client_first = !client_first;
            match event {
                Event::Client(r) => {
                    if let Err(e) = r {
                        return CloseReason::ClientError(e);
                    }
                    self.cbuf.reserve_for_read();
                    match self.client.read_now(&mut self.cbuf) {
                        Ok(0) => self.client_eof = true,
                        Ok(n) => {
                            if idle.is_some() {
                                last_input = Instant::now();
                            }
                            m::handles().bytes_from_clients.increment(n as u64);
                            if let Err(e) = self.scan_requests() {
                                m::handles().client_protocol_errors.increment(1);
                                self.fatal = Some(e);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return CloseReason::ClientError(e),
                    }
                }
                Event::Upstream(r) => {
                    let result = match r {
                        Ok(()) => {
                            let up = self
                                .link
                                .upstream_mut()
                                .expect("polled only with an upstream");
                            if let Some(back) = up.take_returned() {
                                self.take_back(back);
                            }
                            let up = self
                                .link
                                .upstream_mut()
                                .expect("polled only with an upstream");
                            self.ubuf.reserve_for_read();
                            up.read_now(&mut self.ubuf)
                        }
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(n) if n > 0 => {
                            if let Err(r) = self.relay_replies().await {
                                return r;
                            }
                            if self.state.quit && self.state.in_flight() == 0 {
                                // QUIT answered: Redis closes the connection now.
                                return CloseReason::ClientClosed;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Ok(_) => {
                            if let Err(r) = Box::pin(self.upstream_lost(None)).await {
                                return r;
                            }
                        }
                        Err(e) => {
                            if let Err(r) = Box::pin(self.upstream_lost(Some(e))).await {
                                return r;
                            }
                        }
                    }
                }
                Event::Signal(rx) => {
                    // What changed is read at the top of the loop.
                    signal.set(next_signal(rx));
                }
                Event::Timer => {
                    armed = None;
                    let now = Instant::now();
                    let passed = |d: Option<Instant>| d.is_some_and(|d| d <= now);
                    if passed(wake_at) {
                        if let Link::Down { retry_at, .. } = &mut self.link {
                            *retry_at = None;
                        }
                    }
                    if passed(drain_deadline) {
                        if let Err(r) = Box::pin(self.fail_in_flight(None)).await {
                            return r;
                        }
                    }
                    if passed(hold_deadline) {
                        if let Err(r) = Box::pin(self.fail_held()).await {
                            return r;
                        }
                    }
                    if passed(idle_deadline) {
                        return CloseReason::IdleTimeout;
                    }
                }
            }
        }
    }

    /// Nothing in flight, nothing half read or half written: closing now costs the client
    /// nothing but a reconnect.
    fn at_safe_point(&self) -> bool {
        self.ready.bytes == 0
            && !self.req.mid_frame()
            && !self.rep.mid_frame()
            && self.resend.is_none()
            && (self.state.untracked || self.state.in_flight() == 0)
    }

    /// While draining the client is not read; before closing, take what it already sent so
    /// that a command on its way is answered rather than dropped.
    fn more_input_waiting(&mut self) -> bool {
        self.cbuf.reserve_for_read();
        match self.client.read_now(&mut self.cbuf) {
            Ok(n) if n > 0 => {
                m::handles().bytes_from_clients.increment(n as u64);
                if let Err(e) = self.scan_requests() {
                    m::handles().client_protocol_errors.increment(1);
                    self.fatal = Some(e);
                }
                true
            }
            _ => false,
        }
    }

    /// Scan newly read client bytes into complete frames (appended to `ready`).
    fn scan_requests(&mut self) -> Result<(), crate::resp::ProtocolError> {
        // Multiplexed mode: which commands may share a pipeline is checked as they are scanned.
        let classes = if self.hard {
            None
        } else {
            Some(self.shared.pipes.classes.load())
        };
        loop {
            let from = self.ready.bytes;
            match self.req.scan(&self.cbuf[from..])? {
                Scan::Frame(info) => {
                    let len = info.len;
                    self.ready.bytes += len;
                    // Redis ignores empty frames without a reply, and a streamed frame was
                    // counted when its first bytes left: keep both out of the counts. Any
                    // other frame draws a reply, even with an empty or overlong name.
                    let counted = info.kind != FrameKind::Empty && !self.streaming;
                    self.streaming = false;
                    self.ready.commands += usize::from(counted);
                    if counted {
                        match classes.as_ref().map(|c| c.as_deref()) {
                            None => {}
                            Some(None) => self.ready.unclassified = true,
                            Some(Some(c)) => {
                                let frame = &self.cbuf[from..from + len];
                                let (pin, hard) =
                                    pins(c, &info.head, frame, self.profile.is_none());
                                self.ready.needs_pin |= pin;
                                self.ready.hard_pin |= hard;
                            }
                        }
                    }
                    if counted && needs_tracking(&info.head) {
                        self.ready.runs.push_back(Run::Tracked {
                            len,
                            head: info.head,
                        });
                    } else if let Some(Run::Plain { len: l, commands }) = self.ready.runs.back_mut()
                    {
                        *l += len;
                        *commands += u32::from(counted);
                    } else {
                        self.ready.runs.push_back(Run::Plain {
                            len,
                            commands: u32::from(counted),
                        });
                    }
                }
                Scan::Incomplete => return Ok(()),
            }
        }
    }

    /// Forward what can be forwarded, stream big frames, answer a pending protocol error.
    async fn advance(&mut self) -> Result<(), CloseReason> {
        let wants_upstream = self.ready.bytes > 0
            || (self.req.scanned() >= STREAM_AFTER && self.req.mid_frame())
            // A subscriber, or a client caching with tracking, sends nothing, yet must be
            // resubscribed on the new master (and told to drop its cache, see replay).
            || (self.link.upstream().is_none() && (self.state.subscribed() || self.state.tracking()))
            || self.resend.is_some();
        if wants_upstream {
            match self.upstream_for_write().await? {
                true => {
                    if !self.send_due_resend().await? {
                        // A resend is waiting for its backoff; newer commands wait behind it.
                        return Ok(());
                    }
                    self.held_since = None;
                    self.forward_ready().await?;
                    self.stream_partial().await?;
                }
                false => {
                    if self.held_since.is_none() && (self.ready.bytes > 0 || self.resend.is_some())
                    {
                        self.held_since = Some(Instant::now());
                    }
                }
            }
        }
        self.update_held_gauge();
        if self.fatal.is_some() && self.ready.bytes == 0 && self.state.in_flight() == 0 {
            let err = self.fatal.take().expect("checked");
            let reply = format!("-ERR Protocol error: {err}\r\n");
            m::client_error(m::ClientError::Protocol, 1);
            let _ = write_or_stop(
                &mut self.client,
                reply.as_bytes(),
                self.shared.lifecycle.stop(),
            )
            .await;
            return Err(CloseReason::ProtocolError(err));
        }
        Ok(())
    }

    /// Whether this session can be moved to another node without the client noticing.
    fn movable(&self) -> bool {
        !(self.state.multi
            || self.state.watching
            || self.state.monitor
            || self.state.untracked
            || self.state.tracking_redirected()
            || self.streaming)
    }

    /// The route changed: a session bound to an old master moves (now, or once its in-flight
    /// replies are in) or, when it cannot be moved, is closed.
    fn on_route_change(&mut self) -> Result<(), CloseReason> {
        let Some(up) = self.link.upstream() else {
            return Ok(());
        };
        let Some(reason) = up.still_routed(&self.shared.route) else {
            return Ok(());
        };
        if !self.movable() {
            self.shared
                .failover_stats
                .closed
                .fetch_add(1, Ordering::Relaxed);
            return Err(if matches!(reason, CloseReason::MasterChanged) {
                CloseReason::InTransaction
            } else {
                reason
            });
        }
        if self.state.in_flight() == 0 {
            self.link.disconnect();
        } else if let Link::Up(_) = self.link {
            let Link::Up(up) = std::mem::replace(
                &mut self.link,
                Link::Down {
                    replay: true,
                    retry_at: None,
                    lost: None,
                },
            ) else {
                unreachable!("matched above")
            };
            self.link = Link::Stale {
                up,
                since: Instant::now(),
            };
        }
        Ok(())
    }

    /// The upstream closed or failed. Replies still owed get an outcome-unknown error; the
    /// session stays and moves on with its next command.
    async fn upstream_lost(&mut self, error: Option<std::io::Error>) -> Result<(), CloseReason> {
        tracing::debug!(target_node = ?self.link.upstream().map(|u| u.target.clone()), error = ?error, "upstream lost");
        if !self.movable() || self.rep.mid_frame() {
            return Err(CloseReason::UpstreamClosed(error));
        }
        // A shared pipeline lost is not this client's connection closed by the server: the
        // session just takes a place on the next one.
        let lost = self
            .link
            .upstream()
            .filter(|up| !up.is_shared() && up.still_routed(&self.shared.route).is_none())
            .map(|up| LostFrom::of(&up.target));
        self.fail_in_flight(error).await?;
        if let Link::Down { lost: l, .. } = &mut self.link {
            *l = lost;
        }
        Ok(())
    }

    /// Answer every in-flight command with an error saying its outcome is unknown, then drop
    /// the upstream (`error`: why it was lost, if it failed).
    async fn fail_in_flight(&mut self, error: Option<std::io::Error>) -> Result<(), CloseReason> {
        if self.rep.mid_frame() {
            // Half a reply already reached the client: the stream cannot be repaired.
            return Err(CloseReason::UpstreamClosed(error));
        }
        let n = self.state.in_flight();
        self.state.expect.clear();
        self.link.disconnect();
        self.ubuf.clear();
        self.rep.reset();
        if n == 0 {
            return Ok(());
        }
        m::handles().in_flight_failed.increment(n as u64);
        m::client_error(m::ClientError::MasterChanged, n as u64);
        self.shared
            .failover_stats
            .in_flight_failed
            .fetch_add(n as u64, Ordering::Relaxed);
        tracing::debug!(
            in_flight = n,
            "answering in-flight commands as outcome-unknown"
        );
        let msg = b"-ERR sentinel-proxy: the master changed with this command in flight; it may or may not have run\r\n";
        let mut out = Vec::with_capacity(n * msg.len());
        for _ in 0..n {
            out.extend_from_slice(msg);
        }
        self.write_client(&out).await
    }

    fn update_held_gauge(&mut self) {
        let now = if self.held_since.is_some() {
            self.ready.commands
        } else {
            0
        };
        if now != self.held_count {
            let g = &m::handles().commands_held;
            g.increment(now as f64 - self.held_count as f64);
            self.held_count = now;
        }
    }

    async fn forward_ready(&mut self) -> Result<(), CloseReason> {
        if self.ready.bytes == 0 {
            return Ok(());
        }
        let mut chunk: Bytes = self.cbuf.split_to(self.ready.bytes).freeze();
        if self.state.in_flight() == 0 {
            self.round_trip_since = Some(Instant::now());
        }
        let mut off = 0;
        let mut tracked = None;
        // On a shared pipeline, set-up it answers for the session is sent rewritten
        // (classify::Setup), so the batch is copied around it: rare, at connect.
        let mut rewritten: Option<(BytesMut, usize)> = None;
        for run in self.ready.runs.drain() {
            match run {
                Run::Plain { len, commands } => {
                    self.state.on_plain(commands);
                    off += len;
                }
                Run::Tracked { len, head } => {
                    // A copy: what the state keeps (AUTH, SELECT, ...) must not pin the read
                    // buffer, which goes back to the pool.
                    let frame = Bytes::copy_from_slice(&chunk[off..off + len]);
                    self.state.on_request(&head, &frame);
                    if !self.pinned
                        && self.profile.is_none()
                        && super::classify::setup_on_shared(&head, &frame)
                            == Some(super::classify::Setup::AnswerOk)
                    {
                        let (out, done) = rewritten.get_or_insert_with(|| (BytesMut::new(), 0));
                        out.extend_from_slice(&chunk[*done..off]);
                        out.extend_from_slice(super::classify::ANSWER_OK);
                        *done = off + len;
                    }
                    tracked = Some(head);
                    off += len;
                }
            }
        }
        if let Some((mut out, done)) = rewritten {
            out.extend_from_slice(&chunk[done..]);
            chunk = out.freeze();
        }
        let commands = std::mem::take(&mut self.ready.commands);
        self.ready.bytes = 0;
        self.ready.needs_pin = false;
        self.ready.hard_pin = false;
        self.ready.unclassified = false;
        self.single = None;
        if commands == 1 && self.state.in_flight() == 1 && !self.state.untracked {
            self.single = Some((chunk.clone(), tracked));
        }
        m::handles()
            .listener(self.listener)
            .commands
            .increment(commands as u64);
        let up = self
            .link
            .upstream_mut()
            .expect("checked by upstream_for_write");
        up.write(
            &self.shared.route,
            self.shared.lifecycle.stop(),
            &chunk,
            commands as u32,
        )
        .await
    }

    /// Send the scanned prefix of a frame too large to buffer.
    async fn stream_partial(&mut self) -> Result<(), CloseReason> {
        let n = self.req.scanned();
        if !self.req.mid_frame() || n < STREAM_AFTER {
            return Ok(());
        }
        if !self.streaming {
            // The command is counted once, when its first bytes leave.
            self.state.on_plain(1);
            m::handles().listener(self.listener).commands.increment(1);
            self.streaming = true;
        }
        let chunk = self.cbuf.split_to(n).freeze();
        self.req.consume(n);
        let up = self
            .link
            .upstream_mut()
            .expect("checked by upstream_for_write");
        // Only on a dedicated upstream (a streaming frame pins): its reply was counted above.
        up.write(&self.shared.route, self.shared.lifecycle.stop(), &chunk, 0)
            .await
    }

    /// Scan replies and write every scanned byte to the client.
    async fn relay_replies(&mut self) -> Result<(), CloseReason> {
        let mut out = 0usize;
        loop {
            match self.rep.scan(&self.ubuf[out..]) {
                Ok(Scan::Frame(info)) => {
                    let push = info.kind == FrameKind::Push;
                    let error = info.kind == FrameKind::Error;
                    if error && self.retryable(&info.head) {
                        // Everything before it goes out; the error itself is swallowed and the
                        // command resent after a short backoff.
                        if out > 0 {
                            let chunk = self.ubuf.split_to(out).freeze();
                            self.write_client(&chunk).await?;
                            out = 0;
                        }
                        let _ = self.ubuf.split_to(info.len);
                        self.state.on_reply(&info.head, push, error);
                        let (frame, head) = self.single.take().expect("checked by retryable");
                        self.retry_since.get_or_insert_with(Instant::now);
                        self.resend = Some(Box::new(Resend {
                            frame,
                            head,
                            commands: 1,
                            returned: false,
                            at: Instant::now() + RETRY_BACKOFF,
                        }));
                        continue;
                    }
                    if self.state.on_reply(&info.head, push, error) {
                        self.single = None;
                        if self.resend.is_none() {
                            self.retry_since = None;
                        }
                    }
                    out += info.len;
                }
                Ok(Scan::Incomplete) => break,
                Err(e) => {
                    m::handles().upstream_protocol_errors.increment(1);
                    tracing::warn!(error = %e, "upstream sent malformed RESP; closing the session");
                    return Err(CloseReason::UpstreamError(invalid_data(e)));
                }
            }
        }
        if self.state.in_flight() == 0 {
            if let Some(t) = self.round_trip_since.take() {
                m::handles()
                    .request_latency(self.listener)
                    .record(t.elapsed().as_secs_f64());
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
            // Written straight from the buffer: splitting it off would promote the buffer to
            // a shared one (an allocation) only to drop the piece after the write.
            m::handles().bytes_to_clients.increment(total as u64);
            write_or_stop(
                &mut self.client,
                &self.ubuf[..total],
                self.shared.lifecycle.stop(),
            )
            .await?;
            bytes::Buf::advance(&mut *self.ubuf, total);
        }
        Ok(())
    }

    /// A not-executed error for the only command in flight, within the hold budget? A
    /// replica's READONLY is final (it refuses every write), so only a master's is retried.
    fn retryable(&self, head: &Head) -> bool {
        let not_executed = match head.as_bytes() {
            b"READONLY" => self
                .link
                .upstream()
                .is_some_and(|u| matches!(u.target, upstream::Target::Master { .. })),
            b"NOREPLICAS" | b"LOADING" | b"MASTERDOWN" => true,
            _ => false,
        };
        let within_budget = self
            .retry_since
            .is_none_or(|t| t.elapsed() < self.shared.timeouts.hold);
        not_executed && within_budget && self.single.is_some() && self.state.in_flight() == 1
    }

    /// Send a due resend. Ok(false): one is pending but not due yet.
    async fn send_due_resend(&mut self) -> Result<bool, CloseReason> {
        let Some(resend) = self.resend.take_if(|r| r.at <= Instant::now()) else {
            return Ok(self.resend.is_none());
        };
        let Resend {
            frame,
            head,
            commands,
            returned,
            ..
        } = *resend;
        if self.state.in_flight() == 0 {
            self.round_trip_since = Some(Instant::now());
        }
        match &head {
            Some(head) => self.state.on_request(head, &frame),
            None => self.state.on_plain(commands),
        }
        self.single = (commands == 1 && self.state.in_flight() == 1 && !self.state.untracked)
            .then(|| (frame.clone(), head));
        if !returned {
            m::handles().commands_retried.increment(1);
        }
        let up = self
            .link
            .upstream_mut()
            .expect("checked by upstream_for_write");
        up.write(
            &self.shared.route,
            self.shared.lifecycle.stop(),
            &frame,
            commands,
        )
        .await?;
        Ok(true)
    }

    async fn write_client(&mut self, data: &[u8]) -> Result<(), CloseReason> {
        m::handles().bytes_to_clients.increment(data.len() as u64);
        write_or_stop(&mut self.client, data, self.shared.lifecycle.stop()).await
    }

    /// The hold lasted too long: every waiting command gets an error reply, in order.
    async fn fail_held(&mut self) -> Result<(), CloseReason> {
        let waited = self
            .held_since
            .take()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        let resent = self.resend.take().map_or(0, |r| r.commands as usize);
        self.retry_since = None;
        let n = std::mem::take(&mut self.ready.commands) + resent;
        let _ = self.cbuf.split_to(self.ready.bytes);
        self.ready.bytes = 0;
        self.ready.runs.clear();
        self.ready.needs_pin = false;
        self.ready.hard_pin = false;
        self.ready.unclassified = false;
        let msg = match self.last_connect_error.take() {
            // A confirmed master that cannot be reached from here (EMFILE, refused …) is not a
            // Sentinel problem: say what failed.
            Some(e) => format!(
                "-TRYAGAIN sentinel-proxy: cannot connect to the master of '{}' ({}) after {}; command not sent\r\n",
                self.shared.master_name,
                e.replace(['\r', '\n'], " "),
                fmt_secs(waited)
            ),
            None => format!(
                "-TRYAGAIN sentinel-proxy: no confirmed master for '{}' after {}; command not sent\r\n",
                self.shared.master_name,
                fmt_secs(waited)
            ),
        };
        let mut out = Vec::with_capacity(n * msg.len());
        for _ in 0..n {
            out.extend_from_slice(msg.as_bytes());
        }
        m::client_error(m::ClientError::HoldTimeout, n as u64);
        self.write_client(&out).await
    }
}

/// Write all of `data` to the client, or end at the stop while it does not read. The wait is
/// boxed: only a blocked write allocates it, and the session's future stays small.
async fn write_or_stop(
    client: &mut Stream,
    data: &[u8],
    stop: &CancellationToken,
) -> Result<(), CloseReason> {
    let mut off = 0;
    // On TLS the last bytes taken may still be queued: they go out before the session waits.
    while off < data.len() || client.pending_output() {
        let attempt = if off < data.len() {
            client.try_write(&data[off..])
        } else {
            client.flush_now().map(|()| 0)
        };
        match attempt {
            Ok(n) => off += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let client = &*client;
                Box::pin(async {
                    tokio::select! {
                        r = client.writable() => r.map_err(CloseReason::ClientError),
                        () = stop.cancelled() => Err(CloseReason::Shutdown),
                    }
                })
                .await?;
            }
            Err(e) => return Err(CloseReason::ClientError(e)),
        }
    }
    Ok(())
}

/// A malformed reply as the I/O error it is for the session.
fn invalid_data(e: ProtocolError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// What woke a session up.
enum Event {
    Client(std::io::Result<()>),
    Upstream(std::io::Result<()>),
    Timer,
    /// The route channel fired; its receiver, to wait on it again.
    Signal(watch::Receiver<u64>),
}

/// The next wakeup on the route channel, owning its receiver so the future can live across
/// loop iterations; hands the receiver back to be re-armed.
pub(super) async fn next_signal(mut rx: watch::Receiver<u64>) -> watch::Receiver<u64> {
    // The sender lives as long as the route table; an error cannot happen while we run.
    let _ = rx.changed().await;
    rx
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

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
