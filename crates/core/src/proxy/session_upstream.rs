//! Where a session sends its commands: the shared pipeline or a dedicated upstream (pinning,
//! returning to a profile's pipeline, classifying what is ready), connecting and reconnecting,
//! and taking back what a pipeline handed back.

use super::*;

impl Session {
    /// Make sure there is an upstream that may be written to now. Ok(false): wait (hold).
    pub(super) async fn upstream_for_write(&mut self) -> Result<bool, CloseReason> {
        if self.may_unpin() {
            // AUTH/HELLO/SELECT answered on its own connection, and now a batch of shareable
            // commands: on to the pipeline of sessions set up the same way.
            let (frames, count) = self.state.profile();
            self.profile =
                (count > 0).then(|| Box::new(crate::proxy::pipe::Profile { frames, count }));
            self.pinned = false;
            self.unpinned = true;
            self.link = Link::Down {
                replay: false,
                retry_at: None,
                lost: None,
            };
        }
        let on_pipe = self.link.upstream().is_some_and(|u| u.is_shared());
        if on_pipe && self.needs_own_upstream() {
            if self.state.in_flight() > 0 {
                // Replies still due on the shared pipeline come first.
                return Ok(false);
            }
            self.pin();
        }
        if let Some(up) = self.link.upstream() {
            if up.writable_now(&self.shared.route) {
                return Ok(true);
            }
            if up.still_routed(&self.shared.route).is_none() || self.state.in_flight() > 0 {
                // Holding, or a stale upstream still owes replies: wait.
                return Ok(false);
            }
            // Stale and quiet: leave it and move to the current route.
            self.link.disconnect();
        }
        let Some(target) = upstream::pick(&self.shared, self.listener) else {
            return Ok(false);
        };
        let Link::Down {
            replay,
            retry_at: None,
            lost,
        } = self.link
        else {
            return Ok(false);
        };
        let join = !self.pinned && !self.needs_own_upstream();
        if !join && !self.pinned {
            // Its first commands already pin it.
            self.pinned = true;
            self.hard |= self.ready.hard_pin || self.unpinned || self.streaming_due();
            m::handles().sessions_pinned.increment(1);
        }
        let connected = if join {
            let default = crate::proxy::pipe::Profile::default();
            let profile = self.profile.as_deref().unwrap_or(&default);
            Box::pin(Upstream::join(target, profile, &self.shared)).await
        } else {
            Box::pin(Upstream::connect(target, &self.shared)).await
        };
        match connected {
            Ok(up) => {
                let generation = match &up.target {
                    upstream::Target::Master { generation, .. } => Some(*generation),
                    upstream::Target::Replica { .. } => None,
                };
                let moved = replay
                    && generation.is_some()
                    && self.last_generation.is_some()
                    && generation != self.last_generation;
                if generation.is_some() {
                    self.last_generation = generation;
                }
                self.link = Link::Up(up);
                self.last_connect_error = None;
                self.rep.reset();
                if join {
                    // Its handshake checked the node's role; the session keeps no state of
                    // its own there to replay.
                    if self.ready.unclassified {
                        self.classify_ready();
                    }
                    if self.needs_own_upstream() {
                        // The first pipeline just told which commands are shareable, and
                        // one of these is not.
                        self.pin();
                        return Box::pin(self.upstream_for_write()).await;
                    }
                    if moved {
                        self.count_migrated();
                    }
                    return Ok(true);
                }
                if replay {
                    match Box::pin(self.replay()).await {
                        Ok(()) => {}
                        Err(CloseReason::NotMaster) => {
                            // Connected to a dying or demoted node: nothing was sent; wait.
                            self.link = Link::Down {
                                replay: true,
                                retry_at: Some(Instant::now() + RECONNECT_BACKOFF),
                                lost,
                            };
                            self.ubuf.clear();
                            return Ok(false);
                        }
                        Err(r) => return Err(r),
                    }
                    // Confirmed by ROLE, not only by a TCP connect (a dying process can still
                    // accept one): the node is alive and still the route's choice.
                    let same = self
                        .link
                        .upstream()
                        .is_some_and(|up| lost == Some(LostFrom::of(&up.target)));
                    if same {
                        tracing::debug!(
                            "the node closed this session's upstream connection outside a \
                             failover and is still the master; closing the client connection"
                        );
                        return Err(CloseReason::UpstreamClosed(None));
                    }
                    if moved || !self.shared.multiplex {
                        self.count_migrated();
                    }
                }
                Ok(true)
            }
            Err(e) if join && e.kind() == std::io::ErrorKind::PermissionDenied => {
                // Its AUTH/SELECT no longer works on a new connection: it goes on with a
                // connection of its own (whose replay fails the same way and closes it, as a
                // failover does for a session whose password was changed).
                tracing::debug!(error = %e, "profile refused by a new pipeline; pinning");
                self.hard = true;
                self.pin();
                Box::pin(self.upstream_for_write()).await
            }
            Err(e) => {
                m::handles().upstream_connect_errors.increment(1);
                tracing::debug!(error = %e, "cannot connect upstream; holding");
                self.last_connect_error = Some(e.to_string());
                self.link = Link::Down {
                    replay,
                    retry_at: Some(Instant::now() + RECONNECT_BACKOFF),
                    lost,
                };
                Ok(false)
            }
        }
    }

    fn count_migrated(&self) {
        m::handles().sessions_migrated.increment(1);
        self.shared
            .failover_stats
            .migrated
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Multiplexed mode: must what is ready go on a connection of this session's own? (A
    /// command that pins, or a frame too large to buffer: it streams, and nothing of another
    /// client may come between its parts.)
    fn needs_own_upstream(&mut self) -> bool {
        if self.pinned {
            return false;
        }
        // Before any pipeline told which commands are shareable, join one first: its
        // handshake tells (see the check after joining).
        if self.ready.unclassified && self.shared.pipes.classes.load().is_some() {
            self.classify_ready();
        }
        self.ready.needs_pin || self.streaming_due()
    }

    /// A request frame too large to buffer is being read: it streams.
    fn streaming_due(&self) -> bool {
        self.req.mid_frame() && self.req.scanned() >= STREAM_AFTER
    }

    /// Leave the shared pipeline (nothing is due there) for a dedicated upstream: for good,
    /// unless only AUTH/HELLO/SELECT pinned it and it never came back before.
    fn pin(&mut self) {
        self.pinned = true;
        self.hard |= self.ready.hard_pin || self.unpinned || self.streaming_due();
        m::handles().sessions_pinned.increment(1);
        self.link = Link::Down {
            // On a profile's pipeline the session has AUTH/HELLO/SELECT to restore.
            replay: self.profile.is_some(),
            retry_at: None,
            lost: None,
        };
    }

    /// Pinned by AUTH/HELLO/SELECT alone, answered, nothing else set, and shareable commands
    /// to send: back to a shared pipeline (once).
    fn may_unpin(&mut self) -> bool {
        if !self.pinned || self.hard || self.unpinned || self.ready.bytes == 0 {
            return false;
        }
        let dedicated_up = matches!(&self.link, Link::Up(up) if !up.is_shared());
        if !dedicated_up
            || self.state.in_flight() > 0
            || self.resend.is_some()
            || self.streaming_due()
            || !self.state.profile_only()
        {
            return false;
        }
        if self.ready.unclassified && self.shared.pipes.classes.load().is_some() {
            self.classify_ready();
        }
        // Unclassified still (no pipeline yet): joining tells, and pins again if need be.
        !self.ready.needs_pin
    }

    /// Classify the ready commands scanned before the command classes were known (with none
    /// known still, everything pins).
    fn classify_ready(&mut self) {
        // No classes (the default user may not list commands: NOAUTH): nothing is shareable,
        // but AUTH still pins only until a pipeline of its profile can tell.
        let classes = self.shared.pipes.classes.load_full().unwrap_or_default();
        let mut scanner = Scanner::new(Mode::Request, self.shared.scan_limits);
        let mut off = 0;
        while off < self.ready.bytes {
            match scanner.scan(&self.cbuf[off..self.ready.bytes]) {
                Ok(Scan::Frame(info)) => {
                    let frame = &self.cbuf[off..off + info.len];
                    off += info.len;
                    if info.kind != FrameKind::Empty {
                        let (pin, hard) = pins(&classes, &info.head, frame, self.profile.is_none());
                        self.ready.needs_pin |= pin;
                        self.ready.hard_pin |= hard;
                    }
                }
                // Scanned once already: cannot happen; pin rather than guess.
                _ => {
                    self.ready.needs_pin = true;
                    break;
                }
            }
        }
        self.ready.unclassified = false;
    }

    /// A shared pipeline handed back requests it did not write (the route stopped serving its
    /// node, or it was lost): they are this session's latest, so they leave the count of
    /// replies due and wait, before anything newer, for the next upstream.
    pub(super) fn take_back(&mut self, back: crate::proxy::pipe::Returned) {
        self.state.unsend(back.replies);
        let (frame, commands) = match self.resend.take() {
            Some(older) => {
                let mut all = BytesMut::from(&older.frame[..]);
                all.extend_from_slice(&back.frames);
                (all.freeze(), older.commands + back.replies)
            }
            None => (back.frames.freeze(), back.replies),
        };
        self.single = None;
        self.resend = Some(Box::new(Resend {
            frame,
            head: None,
            commands,
            returned: true,
            at: Instant::now(),
        }));
    }
}

/// Does this request keep its session off a shared pipeline (`.0`), and for good (`.1`: not
/// AUTH/HELLO/SELECT, nor set-up the default pipeline takes)? `default`: the session's
/// pipeline is the default one (set-up such as `SELECT 0` is only true of that one).
pub(super) fn pins(
    classes: &crate::proxy::classify::Classes,
    head: &Head,
    frame: &[u8],
    default: bool,
) -> (bool, bool) {
    if classes.shareable(head) {
        return (false, false);
    }
    if default && crate::proxy::classify::setup_on_shared(head, frame).is_some() {
        return (false, false);
    }
    let profile = crate::proxy::classify::profile_cmd(head, frame)
        || crate::proxy::classify::setup_on_shared(head, frame).is_some();
    (true, !profile)
}
