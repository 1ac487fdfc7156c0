//! Shared upstream pipelines (multiplexed mode, the default; docs/architecture.md).
//!
//! One pipeline per node and route generation carries the commands of every session that has
//! sent only shareable commands (see [`super::classify`]). Sessions append complete request
//! frames with [`Pipe::submit`]; the pipeline's own task writes everything appended since its
//! last write in one `write`, under the route fence, and reads replies in large reads,
//! matching them in FIFO order to the [`Member`] that sent each batch. A session that needs a
//! connection of its own leaves for a dedicated upstream once its replies are in.
//!
//! Failure rules, the same a dedicated connection gets:
//! - requests not written yet when the route stops serving this node are handed back to their
//!   sessions (they hold them, then resend or answer with the hold error);
//! - requests written whose replies never come (the node closed, a reply that matches no
//!   request, malformed RESP, the drain after a master change running out) make the member
//!   see end-of-stream: its session answers them as outcome-unknown, as for a lost master.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::tls::Stream;
use arc_swap::ArcSwapOption;
use bytes::BytesMut;
use futures_util::task::AtomicWaker;
use tokio::io::AsyncReadExt;

use super::classify::{Classes, PINNING_CATEGORIES};
use super::session::next_signal;
use super::upstream::Target;
use super::Shared;
use crate::metrics as m;
use crate::resp::{Mode, Scan, Scanner};
use crate::route::RouteReader;

/// How long a pipeline whose node the route left waits for the replies it still owes.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Read size for replies.
const READ_CHUNK: usize = 64 * 1024;
/// A member's undelivered replies beyond this are released after delivery instead of kept.
const INBOX_KEEP: usize = 4 * 1024;

/// Every shared pipeline of the proxy, by node and generation.
#[derive(Default)]
pub struct Pipes {
    slots: Mutex<HashMap<Key, Slot>>,
    /// The latest command classes a pipeline's handshake read from its server.
    pub classes: ArcSwapOption<Classes>,
}

/// Where the pipeline to one key lives; locked (async) while one is being connected, so that
/// the sessions arriving meanwhile wait for it instead of each connecting their own.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Pipe>>>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    addr: SocketAddr,
    generation: Option<u64>,
    /// The AUTH, HELLO and SELECT frames its handshake runs (see [`Profile`]).
    profile: bytes::Bytes,
}

impl Key {
    fn of(target: &Target, profile: &Profile) -> Key {
        let (addr, generation) = match target {
            Target::Master { node, generation } => (node.addr, Some(*generation)),
            Target::Replica { node } => (node.addr, None),
        };
        Key {
            addr,
            generation,
            profile: profile.frames.clone(),
        }
    }
}

/// Who the sessions of a pipeline are to the server: the AUTH, HELLO and SELECT frames that
/// succeeded for them (`SessionState::profile`), run by the pipeline's handshake. Sessions
/// that sent none share the default pipeline (no frames).
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub frames: bytes::Bytes,
    pub count: u32,
}

/// One session's place on a pipeline: where its replies are delivered.
#[derive(Default)]
pub struct Member {
    inbox: Mutex<Inbox>,
    waker: AtomicWaker,
}

#[derive(Default)]
struct Inbox {
    replies: BytesMut,
    /// Requests handed back unsent, in order, with the replies they would have drawn.
    returned: Option<(BytesMut, u32)>,
    /// Replies to requests already written will not come.
    lost: bool,
}

/// Requests handed back to a session (see the module docs).
pub struct Returned {
    pub frames: BytesMut,
    pub replies: u32,
}

impl Member {
    fn deliver(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        lock(&self.inbox).replies.extend_from_slice(bytes);
        self.waker.wake();
    }

    fn hand_back(&self, frames: &[u8], replies: u32) {
        {
            let mut inbox = lock(&self.inbox);
            let (buf, n) = inbox.returned.get_or_insert_with(Default::default);
            buf.extend_from_slice(frames);
            *n += replies;
        }
        self.waker.wake();
    }

    fn lose(&self) {
        lock(&self.inbox).lost = true;
        self.waker.wake();
    }

    /// Ready when replies, handed-back requests or the loss of the pipeline are waiting.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.waker.register(cx.waker());
        let inbox = lock(&self.inbox);
        if !inbox.replies.is_empty() || inbox.returned.is_some() || inbox.lost {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    pub fn take_returned(&self) -> Option<Returned> {
        lock(&self.inbox)
            .returned
            .take()
            .map(|(frames, replies)| Returned { frames, replies })
    }

    /// Move delivered replies into `buf`: Ok(0) once the pipeline is lost and everything
    /// delivered has been taken (end of stream), WouldBlock when nothing is waiting.
    pub fn read_into(&self, buf: &mut BytesMut) -> std::io::Result<usize> {
        let mut inbox = lock(&self.inbox);
        let n = inbox.replies.len();
        if n > 0 {
            buf.extend_from_slice(&inbox.replies);
            if inbox.replies.capacity() > INBOX_KEEP {
                inbox.replies = BytesMut::new();
            } else {
                inbox.replies.clear();
            }
            return Ok(n);
        }
        if inbox.lost {
            return Ok(0);
        }
        Err(std::io::ErrorKind::WouldBlock.into())
    }
}

/// Requests written whose replies are due, oldest first.
struct Due {
    member: Arc<Member>,
    replies: u32,
}

/// Requests appended but not written yet.
struct Unsent {
    member: Arc<Member>,
    replies: u32,
    len: usize,
}

#[derive(Default)]
struct Outbox {
    bytes: BytesMut,
    unsent: VecDeque<Unsent>,
    /// No more submissions: the pipeline is lost or its node is no longer routed.
    closed: bool,
    /// The task was woken for what is in `bytes` and has not taken it yet.
    scheduled: bool,
}

pub struct Pipe {
    key: Key,
    target: Target,
    outbox: Mutex<Outbox>,
    waker: AtomicWaker,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pipe {
    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn closed(&self) -> bool {
        lock(&self.outbox).closed
    }

    /// Append complete request frames drawing `replies` replies. On a closed pipeline, or
    /// behind requests of the same member that were handed back and not taken yet (order must
    /// hold), they are handed back at once.
    pub fn submit(&self, member: &Arc<Member>, frames: &[u8], replies: u32) {
        let wake = {
            let mut out = lock(&self.outbox);
            if out.closed || lock(&member.inbox).returned.is_some() {
                drop(out);
                member.hand_back(frames, replies);
                return;
            }
            out.bytes.extend_from_slice(frames);
            out.unsent.push_back(Unsent {
                member: member.clone(),
                replies,
                len: frames.len(),
            });
            !std::mem::replace(&mut out.scheduled, true)
        };
        if wake {
            self.waker.wake();
        }
    }

    /// Close to submissions and hand back everything not written.
    fn close(&self) {
        let (bytes, unsent) = {
            let mut out = lock(&self.outbox);
            out.closed = true;
            (
                std::mem::take(&mut out.bytes),
                std::mem::take(&mut out.unsent),
            )
        };
        hand_back_all(&bytes, unsent);
    }

    /// Still where the route sends traffic for its target?
    fn routed(&self, route: &RouteReader) -> bool {
        match &self.target {
            Target::Master { generation, .. } => route.generation() == *generation,
            Target::Replica { node } => route.load().replicas.iter().any(|n| n.addr == node.addr),
        }
    }

    /// May requests be written now (the route serves this node)?
    fn writable(&self, route: &RouteReader) -> bool {
        match &self.target {
            Target::Master { generation, .. } => route.serving_generation() == Some(*generation),
            Target::Replica { .. } => self.routed(route),
        }
    }
}

fn hand_back_all(bytes: &[u8], unsent: VecDeque<Unsent>) {
    let mut off = 0;
    for u in unsent {
        u.member.hand_back(&bytes[off..off + u.len], u.replies);
        off += u.len;
    }
}

impl Pipes {
    /// A member of the live pipeline to `target`, connecting one (handshake included) if
    /// there is none.
    pub async fn join(
        &self,
        target: &Target,
        profile: &Profile,
        shared: &Arc<Shared>,
    ) -> std::io::Result<(Arc<Pipe>, Arc<Member>)> {
        let key = Key::of(target, profile);
        let slot = lock(&self.slots).entry(key.clone()).or_default().clone();
        let mut slot = slot.lock().await;
        if let Some(pipe) = slot.as_ref().filter(|p| !p.closed()) {
            return Ok((pipe.clone(), Arc::new(Member::default())));
        }
        let stream = handshake(target, profile, shared).await?;
        let pipe = Arc::new(Pipe {
            key,
            target: target.clone(),
            outbox: Mutex::new(Outbox::default()),
            waker: AtomicWaker::new(),
        });
        *slot = Some(pipe.clone());
        m::handles().upstream_pipelines.increment(1.0);
        shared
            .lifecycle
            .spawn_until_stop(run(pipe.clone(), stream, shared.clone()));
        Ok((pipe, Arc::new(Member::default())))
    }

    /// Forget a pipeline that ended (unless a newer one took its slot).
    fn remove(&self, pipe: &Arc<Pipe>) {
        let mut slots = lock(&self.slots);
        let ours = slots.get(&pipe.key).is_some_and(|s| {
            s.try_lock()
                .is_ok_and(|p| p.as_ref().is_some_and(|p| Arc::ptr_eq(p, pipe)))
        });
        if ours {
            slots.remove(&pipe.key);
        }
    }
}

/// Connect, run the profile's frames, confirm the node's role, and read which commands it lets
/// share a connection. A profile frame refused (a password changed since the session's own
/// AUTH) is `PermissionDenied`: the session then goes on a connection of its own.
async fn handshake(
    target: &Target,
    profile: &Profile,
    shared: &Arc<Shared>,
) -> std::io::Result<Stream> {
    let (addr, role): (SocketAddr, &[u8]) = match target {
        Target::Master { node, .. } => (node.addr, b"MASTER"),
        Target::Replica { node } => (node.addr, b"SLAVE"),
    };
    let deadline = tokio::time::Instant::now() + shared.timeouts.connect;
    let timed_out = || {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connect to {addr} timed out"),
        )
    };
    let started = Instant::now();
    let mut stream = shared
        .upstream_dialer
        .connect(addr, shared.timeouts.connect)
        .await?;
    m::handles()
        .upstream_connect_latency
        .record(started.elapsed().as_secs_f64());
    let mut out = profile.frames.to_vec();
    crate::resp::args::encode_command_into(&mut out, &["ROLE"]);
    crate::resp::args::encode_command_into(&mut out, &["COMMAND", "LIST"]);
    for cat in PINNING_CATEGORIES {
        crate::resp::args::encode_command_into(&mut out, &["ACL", "CAT", cat]);
    }
    tokio::time::timeout_at(deadline, stream.write_all_flush(&out))
        .await
        .map_err(|_| timed_out())??;
    let mut set_up = profile.count as usize;
    let due = 2 + PINNING_CATEGORIES.len();
    let mut frames: Vec<BytesMut> = Vec::with_capacity(due);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut scanner = Scanner::new(Mode::Reply, shared.scan_limits);
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    while frames.len() < due {
        match scanner.scan(&buf) {
            Ok(Scan::Frame(info)) => {
                if set_up > 0 {
                    if info.kind == crate::resp::FrameKind::Error {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::PermissionDenied,
                            format!("{addr} refused a session's AUTH, HELLO or SELECT on a new connection"),
                        ));
                    }
                    set_up -= 1;
                    let _ = buf.split_to(info.len);
                    continue;
                }
                if frames.is_empty() && !(info.head.is(role) || info.head.is(b"NOAUTH")) {
                    return Err(bad(format!(
                        "{addr} is not a {} (ROLE answered otherwise)",
                        if role == b"MASTER" {
                            "master"
                        } else {
                            "replica"
                        }
                    )));
                }
                frames.push(buf.split_to(info.len));
                continue;
            }
            Ok(Scan::Incomplete) => {}
            Err(e) => return Err(bad(format!("{addr} sent malformed RESP: {e}"))),
        }
        buf.reserve(16 * 1024);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{addr} closed the connection during the handshake"),
                ))
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(timed_out()),
        }
    }
    let categories: Vec<&[u8]> = frames[2..].iter().map(|f| &f[..]).collect();
    match Classes::from_replies(&frames[1], &categories) {
        Some(classes) => shared.pipes.classes.store(Some(Arc::new(classes))),
        // NOAUTH (the default user needs a password) or a server older than 7.0: what it
        // accepts cannot be known, so sessions pin (see classify).
        None => tracing::debug!(%addr, "no command classes from this node; sessions pin"),
    }
    Ok(stream)
}

/// The pipeline's task: write what members appended, read and deliver replies, follow the
/// route, until the pipeline is lost or drained.
async fn run(pipe: Arc<Pipe>, mut stream: Stream, shared: Arc<Shared>) {
    let route = &shared.route;
    let mut due: VecDeque<Due> = VecDeque::new();
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = BytesMut::new();
    let mut scanner = Scanner::new(Mode::Reply, shared.scan_limits);
    let mut publications = route.publications();
    let mut signal = std::pin::pin!(next_signal(route.subscribe()));
    let mut stale_since: Option<Instant> = None;
    let mut timer = std::pin::pin!(tokio::time::sleep(Duration::from_secs(3600)));
    let why = loop {
        if shared.lifecycle.stopping() {
            break "shutdown";
        }
        let now_published = route.publications();
        if now_published != publications {
            publications = now_published;
            if stale_since.is_none() && !pipe.routed(route) {
                pipe.close();
                stale_since = Some(Instant::now());
                timer
                    .as_mut()
                    .reset((Instant::now() + DRAIN_TIMEOUT).into());
            }
        }
        if stale_since.is_some() && due.is_empty() && wbuf.is_empty() {
            break "drained";
        }
        let writing = !wbuf.is_empty() || stream.pending_output();
        let event = std::future::poll_fn(|cx| {
            use std::future::Future;
            if let Poll::Ready(r) = stream.poll_read_ready(cx) {
                return Poll::Ready(PipeEvent::Read(r));
            }
            if writing {
                if let Poll::Ready(r) = stream.poll_write_ready(cx) {
                    return Poll::Ready(PipeEvent::Write(r));
                }
            } else {
                pipe.waker.register(cx.waker());
                if lock(&pipe.outbox).scheduled {
                    return Poll::Ready(PipeEvent::Flush);
                }
            }
            if stale_since.is_some() && timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(PipeEvent::DrainTimeout);
            }
            signal.as_mut().poll(cx).map(PipeEvent::Route)
        })
        .await;
        match event {
            PipeEvent::Read(Err(_)) => break "read error",
            PipeEvent::Read(Ok(())) => {
                if rbuf.capacity() - rbuf.len() < 4096 {
                    rbuf.reserve(READ_CHUNK);
                }
                match stream.read_now(&mut rbuf) {
                    Ok(0) => break "closed by the node",
                    Ok(_) => {
                        if let Err(why) = deliver(&mut rbuf, &mut scanner, &mut due) {
                            break why;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break "read error",
                }
            }
            PipeEvent::Flush => {
                // Let the other sessions woken in this round append theirs first: one write
                // for all of them.
                tokio::task::yield_now().await;
                let (bytes, unsent) = {
                    let mut out = lock(&pipe.outbox);
                    out.scheduled = false;
                    let bytes = std::mem::replace(&mut out.bytes, std::mem::take(&mut wbuf));
                    (bytes, std::mem::take(&mut out.unsent))
                };
                wbuf = bytes;
                if wbuf.is_empty() {
                    continue;
                }
                let ok = {
                    let _fence = route.fence();
                    pipe.writable(route)
                };
                if !ok {
                    // The route holds or moved on: nothing of this reaches the node.
                    hand_back_all(&wbuf, unsent);
                    wbuf.clear();
                    continue;
                }
                due.extend(unsent.into_iter().filter(|u| u.replies > 0).map(|u| Due {
                    member: u.member,
                    replies: u.replies,
                }));
                if let Err(why) = write_some(&pipe, route, &mut stream, &mut wbuf) {
                    break why;
                }
            }
            PipeEvent::Write(Err(_)) => break "write error",
            PipeEvent::Write(Ok(())) => {
                if let Err(why) = write_some(&pipe, route, &mut stream, &mut wbuf) {
                    break why;
                }
            }
            PipeEvent::DrainTimeout => break "drain timeout",
            PipeEvent::Route(rx) => signal.set(next_signal(rx)),
        }
    };
    tracing::debug!(node = %key_addr(&pipe), reason = why, due = due.len(), "shared pipeline ended");
    pipe.close();
    for d in due {
        d.member.lose();
    }
    shared.pipes.remove(&pipe);
    m::handles().upstream_pipelines.decrement(1.0);
}

fn key_addr(pipe: &Pipe) -> SocketAddr {
    pipe.key.addr
}

enum PipeEvent {
    Read(std::io::Result<()>),
    Write(std::io::Result<()>),
    Flush,
    DrainTimeout,
    Route(tokio::sync::watch::Receiver<u64>),
}

/// Write as much of `wbuf` as the socket takes, each chunk under the route fence after
/// checking the generation (as for a dedicated upstream). Requests whose first bytes went out
/// stay due: if the generation moves on mid-batch the rest is dropped and their replies will
/// not come (the drain ends them as outcome-unknown).
fn write_some(
    pipe: &Pipe,
    route: &RouteReader,
    stream: &mut Stream,
    wbuf: &mut BytesMut,
) -> Result<(), &'static str> {
    while !wbuf.is_empty() {
        let attempt = {
            let _fence = route.fence();
            if !pipe.routed(route) {
                wbuf.clear();
                return Ok(());
            }
            stream.try_write(wbuf)
        };
        match attempt {
            Ok(n) => bytes::Buf::advance(wbuf, n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(_) => return Err("write error"),
        }
    }
    // TLS may still hold some of it; the rest goes when the socket is writable again.
    match stream.flush_now() {
        Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => Err("write error"),
        _ => Ok(()),
    }
}

/// Match the replies in `rbuf` to the requests due, in order, and deliver them.
fn deliver(
    rbuf: &mut BytesMut,
    scanner: &mut Scanner,
    due: &mut VecDeque<Due>,
) -> Result<(), &'static str> {
    let mut start = 0;
    let mut done = 0;
    loop {
        match scanner.scan(&rbuf[done..]) {
            Ok(Scan::Frame(info)) => {
                let Some(front) = due.front_mut() else {
                    return Err("a reply no request is waiting for");
                };
                done += info.len;
                front.replies -= 1;
                if front.replies == 0 {
                    front.member.deliver(&rbuf[start..done]);
                    start = done;
                    due.pop_front();
                }
            }
            Ok(Scan::Incomplete) => break,
            Err(_) => return Err("malformed RESP from the node"),
        }
    }
    // A long reply streams: what is scanned of it goes out now, to the only member it can
    // belong to.
    if scanner.mid_frame() {
        let partial = scanner.scanned();
        if partial > 0 {
            if due.is_empty() {
                return Err("a reply no request is waiting for");
            }
            scanner.consume(partial);
            done += partial;
        }
    }
    if let Some(front) = due.front() {
        front.member.deliver(&rbuf[start..done]);
    }
    bytes::Buf::advance(rbuf, done);
    Ok(())
}

/// The reply matcher and the outbox without sockets, for benches/pipe.rs.
#[doc(hidden)]
pub mod bench {
    use super::*;

    pub struct Matcher {
        due: VecDeque<Due>,
        scanner: Scanner,
        pub members: Vec<Arc<Member>>,
    }

    impl Matcher {
        pub fn new(members: usize, limits: crate::resp::Limits) -> Matcher {
            Matcher {
                due: VecDeque::new(),
                scanner: Scanner::new(Mode::Reply, limits),
                members: (0..members).map(|_| Arc::new(Member::default())).collect(),
            }
        }

        /// Member `i` waits for `replies` more replies.
        pub fn expect(&mut self, i: usize, replies: u32) {
            self.due.push_back(Due {
                member: self.members[i].clone(),
                replies,
            });
        }

        /// Match and deliver what `rbuf` holds (as one read would).
        pub fn feed(&mut self, rbuf: &mut BytesMut) -> Result<(), &'static str> {
            deliver(rbuf, &mut self.scanner, &mut self.due)
        }
    }

    pub struct Batcher {
        pipe: Pipe,
        pub members: Vec<Arc<Member>>,
    }

    impl Batcher {
        pub fn new(members: usize) -> Batcher {
            let node = crate::route::Node {
                name: "bench".into(),
                addr: SocketAddr::from(([127, 0, 0, 1], 6379)),
            };
            Batcher {
                pipe: Pipe {
                    key: Key {
                        addr: node.addr,
                        generation: None,
                        profile: bytes::Bytes::new(),
                    },
                    target: Target::Replica { node },
                    outbox: Mutex::new(Outbox::default()),
                    waker: AtomicWaker::new(),
                },
                members: (0..members).map(|_| Arc::new(Member::default())).collect(),
            }
        }

        pub fn submit(&self, i: usize, frames: &[u8], replies: u32) {
            self.pipe.submit(&self.members[i], frames, replies);
        }

        /// What the pipeline's task takes for one write: the bytes appended since the last
        /// one (swapped for `spare`, as the task does) and how many submissions they hold.
        pub fn take(&self, spare: BytesMut) -> (BytesMut, usize) {
            let mut out = lock(&self.pipe.outbox);
            out.scheduled = false;
            let bytes = std::mem::replace(&mut out.bytes, spare);
            let n = out.unsent.len();
            out.unsent.clear();
            (bytes, n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::Limits;

    fn limits() -> Limits {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
        }
    }

    fn member() -> Arc<Member> {
        Arc::new(Member::default())
    }

    fn taken(m: &Member) -> Vec<u8> {
        let mut b = BytesMut::new();
        let _ = m.read_into(&mut b);
        b.to_vec()
    }

    #[test]
    fn replies_go_to_their_senders_in_order() {
        let (a, b) = (member(), member());
        let mut due: VecDeque<Due> = [(a.clone(), 2), (b.clone(), 1), (a.clone(), 1)]
            .into_iter()
            .map(|(member, replies)| Due { member, replies })
            .collect();
        let mut scanner = Scanner::new(Mode::Reply, limits());
        let mut rbuf = BytesMut::from(&b"+OK\r\n$1\r\nx\r\n:7\r\n-ERR e\r\n"[..]);
        deliver(&mut rbuf, &mut scanner, &mut due).unwrap();
        assert!(due.is_empty());
        assert_eq!(taken(&a), b"+OK\r\n$1\r\nx\r\n-ERR e\r\n");
        assert_eq!(taken(&b), b":7\r\n");
    }

    #[test]
    fn a_reply_split_across_reads_streams_to_the_front_member() {
        let (a, b) = (member(), member());
        let mut due: VecDeque<Due> = [(a.clone(), 1), (b.clone(), 1)]
            .into_iter()
            .map(|(member, replies)| Due { member, replies })
            .collect();
        let mut scanner = Scanner::new(Mode::Reply, limits());
        let mut rbuf = BytesMut::from(&b"$10\r\n01234"[..]);
        deliver(&mut rbuf, &mut scanner, &mut due).unwrap();
        let first = taken(&a);
        assert!(b"$10\r\n01234".starts_with(&first), "{first:?}");
        rbuf.extend_from_slice(b"56789\r\n+OK\r\n");
        deliver(&mut rbuf, &mut scanner, &mut due).unwrap();
        let mut all = first;
        all.extend(taken(&a));
        assert_eq!(all, b"$10\r\n0123456789\r\n");
        assert_eq!(taken(&b), b"+OK\r\n");
        assert!(due.is_empty());
    }

    #[test]
    fn a_reply_nobody_waits_for_kills_the_pipeline() {
        let mut due = VecDeque::new();
        let mut scanner = Scanner::new(Mode::Reply, limits());
        let mut rbuf = BytesMut::from(&b"+OK\r\n"[..]);
        assert!(deliver(&mut rbuf, &mut scanner, &mut due).is_err());
        let mut rbuf = BytesMut::from(&b"$5\r\nab"[..]);
        assert!(deliver(&mut rbuf, &mut scanner, &mut due).is_err());
    }

    #[test]
    fn malformed_replies_kill_the_pipeline() {
        let a = member();
        let mut due: VecDeque<Due> = [Due {
            member: a.clone(),
            replies: 1,
        }]
        .into();
        let mut scanner = Scanner::new(Mode::Reply, limits());
        let mut rbuf = BytesMut::from(&b"?what\r\n"[..]);
        assert!(deliver(&mut rbuf, &mut scanner, &mut due).is_err());
        assert!(taken(&a).is_empty());
    }

    #[test]
    fn unsent_requests_go_back_in_order_and_later_ones_follow_them() {
        let pipe = Pipe {
            key: Key {
                addr: "127.0.0.1:1".parse().unwrap(),
                generation: Some(1),
                profile: bytes::Bytes::new(),
            },
            target: Target::Replica {
                node: crate::route::Node {
                    name: "n".into(),
                    addr: "127.0.0.1:1".parse().unwrap(),
                },
            },
            outbox: Mutex::new(Outbox::default()),
            waker: AtomicWaker::new(),
        };
        let (a, b) = (member(), member());
        pipe.submit(&a, b"A1", 1);
        pipe.submit(&b, b"B1", 2);
        pipe.submit(&a, b"A2", 1);
        pipe.close();
        let back = a.take_returned().unwrap();
        assert_eq!((&back.frames[..], back.replies), (&b"A1A2"[..], 2));
        let back = b.take_returned().unwrap();
        assert_eq!((&back.frames[..], back.replies), (&b"B1"[..], 2));
        // Closed: a submission comes straight back.
        pipe.submit(&a, b"A3", 1);
        assert_eq!(&a.take_returned().unwrap().frames[..], b"A3");
        assert_eq!(
            a.read_into(&mut BytesMut::new()).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        a.lose();
        assert_eq!(
            a.read_into(&mut BytesMut::new()).unwrap(),
            0,
            "lost: end of stream"
        );
    }
}
