//! What a client session has told Redis about itself, and what it is waiting for.
//!
//! The proxy peeks at each request's command name only; for the few commands that change
//! connection state it keeps the request frame itself, so it can be replayed verbatim on a new
//! upstream. Replies are matched against [`Expect`] entries to know how many requests are in
//! flight and whether a state change succeeded.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::resp::args::request_args_bytes;
use crate::resp::Head;

use super::queue::Queue;

/// A request whose reply changes session state when it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateCmd {
    Auth,
    Hello,
    Select,
    SetName,
    /// CLIENT TRACKING, NO-EVICT, NO-TOUCH and SETINFO: connection settings that a client
    /// library sets once at connect and never again, so a new upstream must get them too.
    Client(ClientSetting),
}

/// The CLIENT settings a session keeps across a move (one slot each: the latest wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSetting {
    Tracking,
    NoEvict,
    NoTouch,
    LibName,
    LibVer,
}

/// What the next reply(ies) from upstream answer.
#[derive(Debug)]
pub enum Expect {
    /// `n` ordinary replies in a row.
    Plain(u32),
    /// One reply; on success record `frame` for replay.
    State(StateCmd, Bytes),
    /// Subscription confirmations still due for one (P|S)(UN)SUBSCRIBE request.
    Subscription(u32),
}

/// The three kinds of subscription Redis keeps per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubKind {
    Channel,
    Pattern,
    Shard,
}

/// What a fresh upstream must be told for the session to go on there.
#[derive(Debug, Default)]
pub struct Replay {
    pub auth: Option<Bytes>,
    pub hello: Option<Bytes>,
    pub select: Option<Bytes>,
    pub setname: Option<Bytes>,
    /// CLIENT TRACKING ON with its options (None: off).
    pub tracking: Option<Bytes>,
    /// CLIENT TRACKING … REDIRECT <id> names a connection of the old node by its id; it
    /// cannot be restored elsewhere, so such a session is closed at a failover instead.
    pub tracking_redirect: bool,
    pub no_evict: Option<Bytes>,
    pub no_touch: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub channels: BTreeSet<Bytes>,
    pub patterns: BTreeSet<Bytes>,
    pub shard_channels: BTreeSet<Bytes>,
}

#[derive(Debug, Default)]
pub struct SessionState {
    /// Boxed and created on first use: most connections set none of it, and every idle
    /// session would otherwise carry its 200 bytes.
    pub replay: Option<Box<Replay>>,
    pub resp3: bool,
    pub multi: bool,
    pub watching: bool,
    pub monitor: bool,
    /// QUIT was sent: after its reply the client connection closes, as Redis closes it.
    pub quit: bool,
    /// Replies can no longer be counted (CLIENT REPLY OFF/SKIP, MONITOR): the session cannot be
    /// moved safely, only closed.
    pub untracked: bool,
    pub expect: Queue<Expect>,
}

/// How a request affects the session, decided from its command name (and, rarely, arguments).
pub enum Effect {
    Plain,
    State(StateCmd),
    Subscribe(SubKind, bool),
}

/// Is this reply head a (un)subscribe confirmation (RESP2 array or RESP3 push)?
pub fn is_subscription(head: &Head) -> bool {
    matches!(
        head.as_bytes(),
        b"SUBSCRIBE"
            | b"UNSUBSCRIBE"
            | b"PSUBSCRIBE"
            | b"PUNSUBSCRIBE"
            | b"SSUBSCRIBE"
            | b"SUNSUBSCRIBE"
    )
}

/// Does this request need [`SessionState::on_request`]? Every other request only draws one
/// reply, so a run of them is recorded with [`SessionState::on_plain`] in one step.
pub fn needs_tracking(head: &Head) -> bool {
    matches!(
        head.as_bytes(),
        b"MULTI"
            | b"EXEC"
            | b"DISCARD"
            | b"WATCH"
            | b"UNWATCH"
            | b"MONITOR"
            | b"RESET"
            | b"CLIENT"
            | b"QUIT"
    ) || !matches!(effect_of(head), Effect::Plain)
}

fn upper_eq(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Classify a request by its head (upper-cased command name).
pub fn effect_of(head: &Head) -> Effect {
    let name = head.as_bytes();
    match name {
        b"AUTH" => Effect::State(StateCmd::Auth),
        b"HELLO" => Effect::State(StateCmd::Hello),
        b"SELECT" => Effect::State(StateCmd::Select),
        b"SUBSCRIBE" => Effect::Subscribe(SubKind::Channel, true),
        b"UNSUBSCRIBE" => Effect::Subscribe(SubKind::Channel, false),
        b"PSUBSCRIBE" => Effect::Subscribe(SubKind::Pattern, true),
        b"PUNSUBSCRIBE" => Effect::Subscribe(SubKind::Pattern, false),
        b"SSUBSCRIBE" => Effect::Subscribe(SubKind::Shard, true),
        b"SUNSUBSCRIBE" => Effect::Subscribe(SubKind::Shard, false),
        _ => Effect::Plain,
    }
}

impl SessionState {
    pub fn in_flight(&self) -> usize {
        self.expect
            .iter()
            .map(|e| match e {
                Expect::Plain(n) | Expect::Subscription(n) => *n as usize,
                Expect::State(..) => 1,
            })
            .sum()
    }

    pub fn subscribed(&self) -> bool {
        self.replay.as_ref().is_some_and(|r| {
            !(r.channels.is_empty() && r.patterns.is_empty() && r.shard_channels.is_empty())
        })
    }

    /// Client-side caching is on (CLIENT TRACKING without REDIRECT): invalidations come on
    /// this connection, so it must be on an upstream even while the client sends nothing.
    pub fn tracking(&self) -> bool {
        self.replay.as_ref().is_some_and(|r| r.tracking.is_some())
    }

    /// CLIENT TRACKING with REDIRECT: see [`Replay::tracking_redirect`].
    pub fn tracking_redirected(&self) -> bool {
        self.replay.as_ref().is_some_and(|r| r.tracking_redirect)
    }

    /// Nothing but the user, protocol and database (and the library name) is set: the session
    /// can go on a shared pipeline keyed by [`SessionState::profile`].
    pub fn profile_only(&self) -> bool {
        let flags = self.multi || self.watching || self.monitor || self.untracked || self.quit;
        !flags
            && self.replay.as_deref().is_none_or(|r| {
                r.setname.is_none()
                    && r.tracking.is_none()
                    && !r.tracking_redirect
                    && r.no_evict.is_none()
                    && r.no_touch.is_none()
                    && r.channels.is_empty()
                    && r.patterns.is_empty()
                    && r.shard_channels.is_empty()
            })
    }

    /// AUTH, HELLO and SELECT as they succeeded, in replay order, and how many frames that is:
    /// what a shared pipeline for sessions like this one runs at its handshake (empty: the
    /// default pipeline).
    pub fn profile(&self) -> (Bytes, u32) {
        let Some(r) = self.replay.as_deref() else {
            return (Bytes::new(), 0);
        };
        let frames: Vec<&Bytes> = [&r.auth, &r.hello, &r.select]
            .into_iter()
            .flatten()
            .collect();
        let mut out = Vec::with_capacity(frames.iter().map(|f| f.len()).sum());
        for f in &frames {
            out.extend_from_slice(f);
        }
        (Bytes::from(out), frames.len() as u32)
    }

    /// Frames that restore this state on a fresh connection, split in two: the credentials
    /// (AUTH, HELLO) that must come first, and the rest (name, library, database, CLIENT
    /// settings, tracking; subscriptions last, as a subscribed RESP2 connection takes nothing
    /// else). The count is how many replies the rest draws (one per subscribed name
    /// for the subscription commands).
    pub fn replay_frames(&self) -> (Vec<Bytes>, Vec<Bytes>, usize) {
        let Some(r) = self.replay.as_deref() else {
            return (Vec::new(), Vec::new(), 0);
        };
        let credentials: Vec<Bytes> = [&r.auth, &r.hello].into_iter().flatten().cloned().collect();
        let mut rest: Vec<Bytes> = [
            &r.setname,
            &r.lib_name,
            &r.lib_ver,
            &r.select,
            &r.no_evict,
            &r.no_touch,
            &r.tracking,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        let mut due = rest.len();
        for (cmd, set) in [
            (&b"SUBSCRIBE"[..], &r.channels),
            (b"PSUBSCRIBE", &r.patterns),
            (b"SSUBSCRIBE", &r.shard_channels),
        ] {
            if set.is_empty() {
                continue;
            }
            let mut args: Vec<&[u8]> = vec![cmd];
            args.extend(set.iter().map(|b| b.as_ref()));
            rest.push(Bytes::from(crate::resp::args::encode_command(&args)));
            due += set.len();
        }
        (credentials, rest, due)
    }

    fn replay_mut(&mut self) -> &mut Replay {
        self.replay.get_or_insert_with(Default::default)
    }

    fn set_mut(&mut self, kind: SubKind) -> &mut BTreeSet<Bytes> {
        let r = self.replay_mut();
        match kind {
            SubKind::Channel => &mut r.channels,
            SubKind::Pattern => &mut r.patterns,
            SubKind::Shard => &mut r.shard_channels,
        }
    }

    fn push_plain(&mut self, n: u32) {
        if let Some(Expect::Plain(m)) = self.expect.back_mut() {
            *m += n;
        } else {
            self.expect.push_back(Expect::Plain(n));
        }
    }

    /// Record `n` requests about to be forwarded for which [`needs_tracking`] is false.
    pub fn on_plain(&mut self, n: u32) {
        if !self.untracked && n > 0 {
            self.push_plain(n);
        }
    }

    /// Take back the latest `n` plain requests recorded: they were not sent after all (a shared
    /// pipeline handed them back).
    pub fn unsend(&mut self, mut n: u32) {
        while n > 0 {
            let Some(Expect::Plain(m)) = self.expect.back_mut() else {
                return;
            };
            let k = (*m).min(n);
            *m -= k;
            n -= k;
            if *m == 0 {
                self.expect.pop_back();
            }
        }
    }

    /// Record a request about to be forwarded. `frame` is the whole request frame.
    pub fn on_request(&mut self, head: &Head, frame: &Bytes) {
        if self.untracked {
            return;
        }
        let name = head.as_bytes();
        match name {
            b"MULTI" => self.multi = true,
            b"EXEC" | b"DISCARD" => {
                self.multi = false;
                self.watching = false;
            }
            b"WATCH" => self.watching = true,
            b"QUIT" => self.quit = true,
            b"UNWATCH" => self.watching = false,
            b"MONITOR" => {
                self.monitor = true;
                self.untracked = true;
            }
            b"RESET" => {
                // RESET drops everything but the connection; its own reply is plain.
                let expect = std::mem::take(&mut self.expect);
                *self = SessionState {
                    expect,
                    ..SessionState::default()
                };
            }
            b"CLIENT" => {
                if let Some(args) = request_args_bytes(frame) {
                    let sub = args.get(1).map(|a| a.as_ref()).unwrap_or_default();
                    if upper_eq(sub, b"REPLY") {
                        self.untracked = true;
                        return;
                    }
                    let setting = if upper_eq(sub, b"SETNAME") {
                        Some(StateCmd::SetName)
                    } else if upper_eq(sub, b"TRACKING") {
                        Some(StateCmd::Client(ClientSetting::Tracking))
                    } else if upper_eq(sub, b"NO-EVICT") {
                        Some(StateCmd::Client(ClientSetting::NoEvict))
                    } else if upper_eq(sub, b"NO-TOUCH") {
                        Some(StateCmd::Client(ClientSetting::NoTouch))
                    } else if upper_eq(sub, b"SETINFO") {
                        let attr = args.get(2).map(|a| a.as_ref()).unwrap_or_default();
                        if upper_eq(attr, b"LIB-NAME") {
                            Some(StateCmd::Client(ClientSetting::LibName))
                        } else if upper_eq(attr, b"LIB-VER") {
                            Some(StateCmd::Client(ClientSetting::LibVer))
                        } else {
                            None
                        }
                    } else {
                        None
                    };
                    if let Some(cmd) = setting {
                        if self.multi {
                            // QUEUED says nothing about the outcome (see below).
                            self.untracked = true;
                        } else {
                            self.expect.push_back(Expect::State(cmd, frame.clone()));
                        }
                        return;
                    }
                }
            }
            _ => {}
        }
        match effect_of(head) {
            Effect::State(_) if self.multi => {
                // Inside MULTI the reply is QUEUED, not the outcome; such a session is never
                // migrated anyway, so stop pretending we know its state.
                self.untracked = true;
            }
            Effect::State(cmd) => self.expect.push_back(Expect::State(cmd, frame.clone())),
            Effect::Subscribe(kind, on) => {
                let args = request_args_bytes(frame).unwrap_or_default();
                let names: Vec<Bytes> = args.into_iter().skip(1).collect();
                let set = self.set_mut(kind);
                let due = if on {
                    set.extend(names.iter().cloned());
                    names.len().max(1)
                } else if names.is_empty() {
                    let n = set.len();
                    set.clear();
                    n.max(1)
                } else {
                    for n in &names {
                        set.remove(n);
                    }
                    names.len()
                };
                self.expect.push_back(Expect::Subscription(due as u32));
            }
            Effect::Plain => self.push_plain(1),
        }
    }

    /// Account for one reply frame. `push` is a RESP3 push; `error` an error reply.
    /// Returns false when the frame answers no request (a pub/sub message, a push).
    pub fn on_reply(&mut self, head: &Head, push: bool, error: bool) -> bool {
        if self.untracked {
            return false;
        }
        let confirm = is_subscription(head);
        if let Some(Expect::Subscription(n)) = self.expect.front_mut() {
            if confirm || error {
                if *n <= 1 || error {
                    self.expect.pop_front();
                } else {
                    *n -= 1;
                }
                return true;
            }
        }
        if push {
            return false;
        }
        // In RESP2 a subscribed connection receives messages as plain arrays.
        if matches!(head.as_bytes(), b"MESSAGE" | b"PMESSAGE" | b"SMESSAGE") && self.subscribed() {
            return false;
        }
        if let Some(Expect::Plain(n)) = self.expect.front_mut() {
            if *n > 1 {
                *n -= 1;
                return true;
            }
        }
        if let Some(Expect::State(cmd, frame)) = self.expect.pop_front() {
            if !error {
                self.apply(cmd, frame);
            }
        }
        true
    }

    fn apply(&mut self, cmd: StateCmd, frame: Bytes) {
        match cmd {
            StateCmd::Auth => self.replay_mut().auth = Some(frame),
            StateCmd::Select => self.replay_mut().select = Some(frame),
            StateCmd::SetName => self.replay_mut().setname = Some(frame),
            StateCmd::Client(setting) => self.apply_client(setting, frame),
            StateCmd::Hello => {
                let args = request_args_bytes(&frame).unwrap_or_default();
                if let Some(v) = args.get(1) {
                    self.resp3 = v.as_ref() == b"3";
                }
                // HELLO may carry AUTH and SETNAME; replaying the frame restores all three.
                self.replay_mut().hello = Some(frame);
            }
        }
    }
}

impl SessionState {
    fn apply_client(&mut self, setting: ClientSetting, frame: Bytes) {
        let r = self.replay_mut();
        match setting {
            ClientSetting::Tracking => {
                let args = request_args_bytes(&frame).unwrap_or_default();
                let on = args.get(2).is_some_and(|a| upper_eq(a, b"ON"));
                let redirect = args.iter().skip(3).any(|a| upper_eq(a, b"REDIRECT"));
                r.tracking_redirect = on && redirect;
                r.tracking = (on && !redirect).then_some(frame);
            }
            ClientSetting::NoEvict => r.no_evict = Some(frame),
            ClientSetting::NoTouch => r.no_touch = Some(frame),
            ClientSetting::LibName => r.lib_name = Some(frame),
            ClientSetting::LibVer => r.lib_ver = Some(frame),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(args: &[&[u8]]) -> Bytes {
        Bytes::from(crate::resp::args::encode_command(args))
    }

    /// Recording a run of untracked commands with `on_plain` is the same as recording each
    /// with `on_request`; every command that changes state is tracked.
    #[test]
    fn plain_runs_equal_commands_one_by_one() {
        let plain = [
            &b"GET"[..],
            b"SET",
            b"PING",
            b"INCR",
            b"BLPOP",
            b"",
            b"XREAD",
        ];
        for name in plain {
            let head = Head::from_bytes(name);
            assert!(
                !needs_tracking(&head),
                "{:?}",
                String::from_utf8_lossy(name)
            );
            let mut one_by_one = SessionState::default();
            let mut run = SessionState::default();
            for _ in 0..3 {
                one_by_one.on_request(&head, &frame(&[name, b"k"]));
            }
            run.on_plain(3);
            assert_eq!(one_by_one.in_flight(), 3);
            assert_eq!(run.in_flight(), 3);
            assert_eq!(format!("{one_by_one:?}"), format!("{run:?}"));
        }
        for name in [
            &b"AUTH"[..],
            b"HELLO",
            b"SELECT",
            b"CLIENT",
            b"MULTI",
            b"EXEC",
            b"DISCARD",
            b"WATCH",
            b"UNWATCH",
            b"MONITOR",
            b"RESET",
            b"QUIT",
            b"SUBSCRIBE",
            b"PUNSUBSCRIBE",
            b"SSUBSCRIBE",
        ] {
            assert!(needs_tracking(&Head::from_bytes(name)));
        }
        // Nothing is counted once replies cannot be tracked.
        let mut s = SessionState {
            untracked: true,
            ..SessionState::default()
        };
        s.on_plain(5);
        assert_eq!(s.in_flight(), 0);
    }

    /// Send `args` and answer it with `+OK` (or an error).
    fn answered(s: &mut SessionState, args: &[&[u8]], ok: bool) {
        s.on_request(&Head::from_bytes(args[0]), &frame(args));
        assert!(s.on_reply(&Head::from_bytes(b"OK"), false, !ok));
    }

    /// The connection settings a client library sets once (client-side caching, NO-EVICT,
    /// NO-TOUCH, SETINFO) are replayed on a new upstream, latest value each, after the name
    /// and the database and before the subscriptions; a refused one is not.
    #[test]
    fn client_settings_are_replayed_in_order() {
        let mut s = SessionState::default();
        answered(
            &mut s,
            &[b"CLIENT", b"SETINFO", b"LIB-NAME", b"redis-py"],
            true,
        );
        answered(&mut s, &[b"CLIENT", b"SETINFO", b"lib-ver", b"8.2.0"], true);
        answered(&mut s, &[b"SELECT", b"3"], true);
        answered(&mut s, &[b"CLIENT", b"NO-EVICT", b"on"], true);
        answered(&mut s, &[b"CLIENT", b"NO-TOUCH", b"ON"], true);
        answered(&mut s, &[b"CLIENT", b"NO-TOUCH", b"OFF"], true);
        answered(
            &mut s,
            &[b"CLIENT", b"TRACKING", b"on", b"BCAST", b"PREFIX", b"a:"],
            true,
        );
        answered(&mut s, &[b"CLIENT", b"TRACKING", b"ON", b"BOGUS"], false);
        s.on_request(
            &Head::from_bytes(b"SUBSCRIBE"),
            &frame(&[b"SUBSCRIBE", b"c"]),
        );
        assert!(s.on_reply(&Head::from_bytes(b"SUBSCRIBE"), false, false));
        assert!(s.tracking());
        let (credentials, rest, due) = s.replay_frames();
        assert!(credentials.is_empty());
        let want: Vec<Bytes> = vec![
            frame(&[b"CLIENT", b"SETINFO", b"LIB-NAME", b"redis-py"]),
            frame(&[b"CLIENT", b"SETINFO", b"lib-ver", b"8.2.0"]),
            frame(&[b"SELECT", b"3"]),
            frame(&[b"CLIENT", b"NO-EVICT", b"on"]),
            frame(&[b"CLIENT", b"NO-TOUCH", b"OFF"]),
            frame(&[b"CLIENT", b"TRACKING", b"on", b"BCAST", b"PREFIX", b"a:"]),
            frame(&[b"SUBSCRIBE", b"c"]),
        ];
        assert_eq!(rest, want);
        assert_eq!(due, want.len());

        // Tracking off is not replayed; tracking redirected to a connection id of the old
        // node cannot be, so it marks the session as one to close at a failover.
        answered(&mut s, &[b"CLIENT", b"TRACKING", b"off"], true);
        assert!(!s.tracking());
        assert!(!s
            .replay_frames()
            .1
            .iter()
            .any(|f| f.windows(8).any(|w| w == b"TRACKING")));
        answered(
            &mut s,
            &[b"CLIENT", b"TRACKING", b"ON", b"REDIRECT", b"7"],
            true,
        );
        assert!(!s.tracking());
        assert!(s.tracking_redirected());
        answered(&mut s, &[b"CLIENT", b"TRACKING", b"OFF"], true);
        assert!(!s.tracking_redirected());

        // Inside MULTI the reply is QUEUED: the session stops pretending to know its state.
        let mut t = SessionState::default();
        t.on_request(&Head::from_bytes(b"MULTI"), &frame(&[b"MULTI"]));
        t.on_request(
            &Head::from_bytes(b"CLIENT"),
            &frame(&[b"CLIENT", b"TRACKING", b"ON"]),
        );
        assert!(t.untracked);
    }
}
