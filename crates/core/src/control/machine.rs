//! Every routing decision of the control plane, as a pure state machine.
//!
//! [`Machine::step`] takes the time and one typed [`Input`] (a Sentinel link change, a view
//! from a periodic query, a parsed event, a ROLE report, a tick) and returns [`Effect`]s
//! (publish a route, start, poke or stop a ROLE checker, and [`Note`]s for logs and metrics).
//! Sockets, tasks and the clock stay in `controller.rs`, so every rule below can be replayed
//! in tests without a network or a sleep (see `machine_tests.rs` and `tests/control_sim.rs`).
//! docs/failover.md states the rules with worked examples; in short:
//!
//! - **Epochs come from Sentinel.** A `+switch-master` carries no epoch: the watcher queries
//!   that Sentinel right after the event, and the switch is judged with the config epoch its
//!   view then reports. A switch to the routed master is a duplicate; one with an epoch older
//!   than the routed one is stale; any other is adopted. (One epoch has at most one switch, and
//!   the leader reports the old master at the failover's epoch just before its switch.)
//! - **Majority.** At start the master is what a strict majority of the known Sentinels
//!   report. Later a majority only moves the route to another master at an epoch no older.
//! - **Holds are about one master address.** `+try-failover`/`+odown` of X hold X. The hold
//!   ends only on an adopted switch whose old address is X, on an abort or `-odown` of X from
//!   every Sentinel that announced it, or at the hold timeout; it is suspended while ROLE
//!   shows the failover stalled (the promoted replica went back to being X's replica, X is
//!   still master, nobody else claims master, and the leader never reported the promotion).
//! - **ROLE confirms.** Commands are only forwarded to a candidate that answers `master`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use super::event::{Event, Kind};
use super::health::Role;
use super::sentinel::MasterView;
use crate::config::{Fence, FencePolicy, HostPort};
use crate::route::{Node, RouteState};

/// Time since the controller started; the machine never reads a clock itself.
pub type Clock = Duration;

/// Sentinels lag a second or two behind a failover; only a disagreement that outlasts this is
/// counted and logged.
pub const DISAGREEMENT_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A configured entry resolved to this Sentinel: it counts in the majority from now on.
    SentinelKnown(SocketAddr),
    SentinelUp(SocketAddr),
    SentinelDown {
        sentinel: SocketAddr,
        reason: String,
    },
    /// The address left DNS; forget this Sentinel.
    SentinelRemoved(SocketAddr),
    /// A periodic (or event-triggered) `SENTINEL MASTER`/`REPLICAS` answer.
    View {
        sentinel: SocketAddr,
        view: MasterView,
    },
    Event {
        sentinel: SocketAddr,
        event: Event,
    },
    /// What a node answered to ROLE (or why it did not).
    Role {
        node: HostPort,
        addr: Option<SocketAddr>,
        role: Role,
    },
    Tick,
}

/// The route the machine wants the sessions to see.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub state: RouteState,
    pub master: Option<Node>,
    pub replicas: Vec<Node>,
}

impl Decision {
    fn same_as(&self, other: &Decision) -> bool {
        self.state == other.state
            && self.master.as_ref().map(|n| n.addr) == other.master.as_ref().map(|n| n.addr)
            && self.replicas == other.replicas
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Publish {
        decision: Decision,
        /// From the adopted `+switch-master` to this route, when it serves the new master.
        since_switch: Option<Duration>,
    },
    StartChecker(HostPort),
    StopChecker(HostPort),
    /// Ask this node's checker for a ROLE answer now.
    Poke(HostPort),
    Note(Note),
}

/// Why a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldEnd {
    /// A `+switch-master` away from the held master was adopted.
    Switched,
    /// Every Sentinel that announced the failover aborted it or cleared `+odown`.
    Aborted,
    /// The hold timeout passed without a switch or an abort.
    Timeout,
}

/// What happened, for the shell to log and count; never decided on.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    LinkUp(SocketAddr),
    /// `first`: the link was up, or this error differs from the last one (worth a warning).
    LinkDown {
        sentinel: SocketAddr,
        reason: String,
        first: bool,
    },
    Removed(SocketAddr),
    EventSeen {
        sentinel: SocketAddr,
        name: String,
    },
    MasterAgreed {
        master: HostPort,
        epoch: u64,
        sentinels: usize,
    },
    MajorityMoved {
        master: HostPort,
        epoch: u64,
        previous: HostPort,
    },
    SwitchAdopted {
        sentinel: SocketAddr,
        old: HostPort,
        new: HostPort,
        epoch: u64,
    },
    /// A switch to the routed master (another Sentinel announcing the same failover).
    SwitchDuplicate {
        sentinel: SocketAddr,
        new: HostPort,
        epoch: u64,
    },
    /// A switch whose epoch is older than the routed one (a late announcement).
    SwitchStale {
        sentinel: SocketAddr,
        new: HostPort,
        epoch: u64,
        routed_epoch: u64,
    },
    HoldStarted {
        master: HostPort,
        sentinel: SocketAddr,
        event: String,
    },
    HoldEnded {
        master: HostPort,
        why: HoldEnd,
        held_for: Duration,
    },
    /// ROLE shows the failover of the routed master stalled (`true`), or no longer (`false`).
    HoldSuspended {
        master: HostPort,
        suspended: bool,
    },
    /// Route state went from holding to serving after this long.
    HoldSeconds(Duration),
    Disagreement {
        sentinel: SocketAddr,
        reports: Option<HostPort>,
        routed: Option<HostPort>,
    },
    Fence {
        fenced: bool,
        after: Duration,
        policy: FencePolicy,
    },
    NodeRole {
        node: HostPort,
        role: Role,
    },
}

/// The machine's fixed settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hold_timeout: Duration,
    pub fence: Fence,
    /// Configured Sentinel entries: a majority is never smaller than theirs, even before every
    /// entry has been resolved and reported.
    pub configured: usize,
}

#[derive(Debug, Default, Clone)]
struct SentinelState {
    up: bool,
    view: Option<MasterView>,
    /// Last contact (a view or an event): the fence counts from it.
    last_seen: Option<Clock>,
    /// Since when it reports a master other than the routed one, and whether that was counted.
    disagrees_since: Option<(Clock, bool)>,
    /// A `+switch-master` (old, new, when) waiting for this Sentinel's next view and its epoch.
    pending_switch: Option<(HostPort, HostPort, Clock)>,
    /// Its current epoch: from `+new-epoch`, at least the config epoch of its views.
    current_epoch: u64,
    last_error: Option<String>,
}

#[derive(Debug, Clone)]
struct Candidate {
    node: HostPort,
    /// The config epoch Sentinel reported for this master; never invented.
    epoch: u64,
    switched_at: Option<Clock>,
}

#[derive(Debug, Clone)]
struct RoleSeen {
    addr: Option<SocketAddr>,
    role: Role,
    at: Clock,
}

/// An announced failover of one master address.
#[derive(Debug, Clone)]
struct Hold {
    since: Clock,
    /// The Sentinels that announced it and have not aborted it, each with the epoch of its
    /// announcement: its current epoch then, and at least the routed epoch if it was about the
    /// routed master. A switch away from this master at epoch E ends announcements up to E;
    /// a later one is about a newer failover of the same address.
    by: BTreeMap<SocketAddr, u64>,
    /// The replica the leader selected (`+selected-slave`, `+failover-state-wait-promotion`).
    selected: Option<HostPort>,
    /// When a promotion was last seen: the selected replica answered `master`, or a Sentinel
    /// converted it back to a replica. Without a selected replica there is no promotion sign.
    promotion: Option<Clock>,
    /// The leader saw the promotion (`+promoted-slave`): it will switch, never suspend.
    leader_promoted: bool,
    /// ROLE shows the failover stalled; the hold does not hold meanwhile.
    suspended: bool,
}

/// What a new announcement of a held master makes stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    /// A repeated view: nothing.
    Nothing,
    /// `+odown`, or a view newly flagging the master: the promotion sign.
    Announcement,
    /// `+try-failover`: the sign, the selected replica and the leader's report.
    Election,
}

pub struct Machine {
    settings: Settings,
    sentinels: BTreeMap<SocketAddr, SentinelState>,
    candidate: Option<Candidate>,
    roles: BTreeMap<HostPort, RoleSeen>,
    checkers: BTreeSet<HostPort>,
    holds: BTreeMap<HostPort, Hold>,
    all_down_since: Option<Clock>,
    fenced: bool,
    published: Decision,
    holding_since: Option<Clock>,
}

impl Machine {
    pub fn new(settings: Settings) -> Machine {
        Machine {
            settings,
            sentinels: BTreeMap::new(),
            candidate: None,
            roles: BTreeMap::new(),
            checkers: BTreeSet::new(),
            holds: BTreeMap::new(),
            all_down_since: None,
            fenced: false,
            published: Decision {
                state: RouteState::NoMaster,
                master: None,
                replicas: Vec::new(),
            },
            holding_since: None,
        }
    }

    /// The master Sentinel elected, as far as this machine knows, and its config epoch.
    pub fn candidate(&self) -> Option<(&HostPort, u64)> {
        self.candidate.as_ref().map(|c| (&c.node, c.epoch))
    }

    /// The last route handed out in an [`Effect::Publish`].
    pub fn published(&self) -> &Decision {
        &self.published
    }

    /// Whether an announced failover of `master` holds it now.
    pub fn is_holding(&self, master: &HostPort) -> bool {
        self.holds.get(master).is_some_and(|h| !h.suspended)
    }

    /// Masters with an unended announced failover (suspended or not).
    pub fn held(&self) -> impl Iterator<Item = &HostPort> {
        self.holds.keys()
    }

    /// One step: apply `input` at time `now` and say what to do.
    pub fn step(&mut self, now: Clock, input: Input) -> Vec<Effect> {
        let mut fx = Vec::new();
        let tick = input == Input::Tick;
        match input {
            Input::SentinelKnown(s) => {
                self.sentinels.entry(s).or_default();
            }
            Input::SentinelUp(s) => {
                let st = self.sentinels.entry(s).or_default();
                st.up = true;
                st.last_error = None;
                fx.push(Effect::Note(Note::LinkUp(s)));
            }
            Input::SentinelDown { sentinel, reason } => {
                let st = self.sentinels.entry(sentinel).or_default();
                let first = st.up || st.last_error.as_deref() != Some(reason.as_str());
                // Its last view stays: it no longer votes (elect counts live links only), but
                // the replicas it named keep their checks and stay routable while they answer.
                st.up = false;
                st.pending_switch = None;
                st.last_error = Some(reason.clone());
                fx.push(Effect::Note(Note::LinkDown {
                    sentinel,
                    reason,
                    first,
                }));
            }
            Input::SentinelRemoved(s) => {
                self.sentinels.remove(&s);
                fx.push(Effect::Note(Note::Removed(s)));
            }
            Input::View { sentinel, view } => self.on_view(now, sentinel, view, &mut fx),
            Input::Event { sentinel, event } => self.on_event(now, sentinel, event, &mut fx),
            Input::Role { node, addr, role } => self.on_role(now, node, addr, role, &mut fx),
            Input::Tick => {}
        }
        self.expire_holds(now, &mut fx);
        self.update_suspensions(now, &mut fx);
        self.update_fence(now, &mut fx);
        if tick {
            self.count_disagreements(now, &mut fx);
            // While the routed master is held, fresh ROLE answers decide when it may resume.
            if self
                .candidate
                .as_ref()
                .is_some_and(|c| self.holds.contains_key(&c.node))
            {
                self.poke_all(&mut fx);
            }
        }
        self.sync_checkers(&mut fx);
        self.publish(now, &mut fx);
        fx
    }

    fn on_view(&mut self, now: Clock, s: SocketAddr, view: MasterView, fx: &mut Vec<Effect>) {
        let st = self.sentinels.entry(s).or_default();
        st.up = true;
        st.last_seen = Some(now);
        st.last_error = None;
        st.current_epoch = st.current_epoch.max(view.epoch);
        let pending = st.pending_switch.take();
        let named = view.master.clone();
        let epoch = view.epoch;
        let failing = view.failing_over();
        let current_epoch = st.current_epoch;
        st.view = Some(view);
        if let Some((old, new, at)) = pending {
            // The view queried after the event tells the switch's epoch; a view naming another
            // master means this Sentinel moved on, and the majority rule decides.
            if named.as_ref() == Some(&new) {
                self.judge_switch(s, old, new, epoch, at, fx);
            }
        }
        // `o_down`/`failover_in_progress` on the master a view names announce a failover, as
        // the events do: it covers events lost while a link was down, and dates the
        // announcement with the epoch the Sentinel is at. (Their absence ends nothing: a
        // lagging Sentinel may not see a failover the others are making.)
        if let Some(m) = named.filter(|_| failing) {
            let again = if self.holds.get(&m).is_some_and(|h| h.by.contains_key(&s)) {
                Again::Nothing
            } else {
                Again::Announcement
            };
            self.announce(now, s, m, current_epoch, "view flags", again, fx);
        }
        self.elect(fx);
    }

    fn judge_switch(
        &mut self,
        sentinel: SocketAddr,
        old: HostPort,
        new: HostPort,
        epoch: u64,
        at: Clock,
        fx: &mut Vec<Effect>,
    ) {
        // Whatever is done with the route, failover `epoch` of `old` is over.
        self.end_announcements(&old, epoch, at, fx);
        match &mut self.candidate {
            Some(c) if c.node == new => {
                c.epoch = c.epoch.max(epoch);
                fx.push(Effect::Note(Note::SwitchDuplicate {
                    sentinel,
                    new,
                    epoch,
                }));
            }
            // One epoch has at most one switch, and the leader reports the old master at the
            // failover's epoch between the promotion and its switch: only older is stale.
            Some(c) if epoch < c.epoch => fx.push(Effect::Note(Note::SwitchStale {
                sentinel,
                new,
                epoch,
                routed_epoch: c.epoch,
            })),
            _ => {
                fx.push(Effect::Note(Note::SwitchAdopted {
                    sentinel,
                    old: old.clone(),
                    new: new.clone(),
                    epoch,
                }));
                self.candidate = Some(Candidate {
                    node: new.clone(),
                    epoch,
                    switched_at: Some(at),
                });
                fx.push(Effect::Poke(new));
            }
        }
    }

    /// A switch away from `old` at `epoch`: the announcements of its failover (or of older
    /// ones) are over; the hold ends when none is left.
    fn end_announcements(&mut self, old: &HostPort, epoch: u64, at: Clock, fx: &mut Vec<Effect>) {
        let Some(h) = self.holds.get_mut(old) else {
            return;
        };
        h.by.retain(|_, e| *e > epoch);
        if h.by.is_empty() {
            self.end_hold(old, HoldEnd::Switched, at, fx);
        }
    }

    /// Sentinel `s` announced a failover of `m` (an event, or its view's flags) while at
    /// `epoch`; `again` says what evidence gathered before it no longer counts.
    #[allow(clippy::too_many_arguments)]
    fn announce(
        &mut self,
        now: Clock,
        s: SocketAddr,
        m: HostPort,
        epoch: u64,
        what: &str,
        again: Again,
        fx: &mut Vec<Effect>,
    ) {
        let routed = self
            .candidate
            .as_ref()
            .filter(|c| c.node == m)
            .map_or(0, |c| c.epoch);
        let epoch = epoch.max(routed);
        let hold = self.holds.entry(m.clone()).or_insert_with(|| Hold {
            since: now,
            by: BTreeMap::new(),
            selected: None,
            promotion: None,
            leader_promoted: false,
            suspended: false,
        });
        if again != Again::Nothing {
            // What ROLE showed before a new announcement (a promotion undone) says nothing
            // about this failover, and a suspended hold holds again.
            hold.promotion = None;
        }
        if again == Again::Election {
            // A new election attempt, too: the replica selected before is not this one's.
            hold.selected = None;
            hold.leader_promoted = false;
        }
        if hold.by.is_empty() {
            fx.push(Effect::Note(Note::HoldStarted {
                master: m,
                sentinel: s,
                event: what.to_string(),
            }));
        }
        let e = hold.by.entry(s).or_insert(epoch);
        *e = (*e).max(epoch);
    }

    /// Sentinel `s` is no longer failing `m` over (its abort or `-odown`); the hold ends when
    /// no announcer is left.
    fn withdraw(&mut self, now: Clock, s: SocketAddr, m: &HostPort, fx: &mut Vec<Effect>) {
        let Some(h) = self.holds.get_mut(m) else {
            return;
        };
        if h.by.remove(&s).is_some() && h.by.is_empty() {
            self.end_hold(m, HoldEnd::Aborted, now, fx);
        }
    }

    fn end_hold(&mut self, m: &HostPort, why: HoldEnd, at: Clock, fx: &mut Vec<Effect>) {
        if let Some(h) = self.holds.remove(m) {
            fx.push(Effect::Note(Note::HoldEnded {
                master: m.clone(),
                why,
                held_for: at.saturating_sub(h.since),
            }));
        }
    }

    fn on_event(&mut self, now: Clock, s: SocketAddr, ev: Event, fx: &mut Vec<Effect>) {
        let st = self.sentinels.entry(s).or_default();
        st.last_seen = Some(now);
        let current_epoch = st.current_epoch;
        fx.push(Effect::Note(Note::EventSeen {
            sentinel: s,
            name: ev.name.clone(),
        }));
        let about_master = ev
            .instance
            .as_ref()
            .filter(|i| i.role == "master")
            .map(|i| i.addr.clone());
        match &ev.kind {
            Kind::SwitchMaster { old, new } => {
                st.pending_switch = Some((old.clone(), new.clone(), now));
                // Ask the promoted node now; its answer and the epoch arrive together.
                fx.push(Effect::Poke(new.clone()));
            }
            Kind::NewEpoch(e) => st.current_epoch = st.current_epoch.max(*e),
            Kind::TryFailover | Kind::Odown => {
                if let Some(m) = about_master {
                    let again = if ev.kind == Kind::TryFailover {
                        Again::Election
                    } else {
                        Again::Announcement
                    };
                    self.announce(now, s, m, current_epoch, &ev.name, again, fx);
                }
            }
            Kind::OdownCleared | Kind::Abort(_) => {
                if let Some(m) = about_master {
                    self.withdraw(now, s, &m, fx);
                }
                self.poke_all(fx);
            }
            Kind::WaitPromotion => {
                // SLAVEOF NO ONE is on its way to the selected replica: whatever ROLE said
                // before no longer shows a stalled failover.
                if let Some(i) = &ev.instance {
                    if let Some(h) = i.master_addr().and_then(|m| self.holds.get_mut(m)) {
                        h.selected = Some(i.addr.clone());
                        h.promotion = None;
                    }
                }
                self.poke_all(fx);
            }
            Kind::PromotedSlave | Kind::ReconfSlaves => {
                if let Some(h) = ev
                    .instance
                    .as_ref()
                    .and_then(|i| i.master_addr())
                    .and_then(|m| self.holds.get_mut(m))
                {
                    h.leader_promoted = true;
                }
                self.poke_all(fx);
            }
            Kind::ConvertToSlave => {
                if let Some(i) = &ev.instance {
                    // A Sentinel saw this replica claim master and sent it back: a promotion
                    // that was undone, if it is the replica the leader selected.
                    for (m, h) in self.holds.iter_mut() {
                        if *m != i.addr && h.selected.as_ref() == Some(&i.addr) {
                            h.promotion = Some(now);
                        }
                    }
                }
                self.poke_all(fx);
            }
            Kind::Other => {
                if ev.name == "+selected-slave" {
                    if let Some(i) = &ev.instance {
                        if let Some(h) = i.master_addr().and_then(|m| self.holds.get_mut(m)) {
                            h.selected = Some(i.addr.clone());
                        }
                    }
                }
            }
        }
    }

    fn on_role(
        &mut self,
        now: Clock,
        node: HostPort,
        addr: Option<SocketAddr>,
        role: Role,
        fx: &mut Vec<Effect>,
    ) {
        if self.roles.get(&node).map(|r| &r.role) != Some(&role) {
            fx.push(Effect::Note(Note::NodeRole {
                node: node.clone(),
                role: role.clone(),
            }));
        }
        if role == Role::Master {
            // Only the replica the leader selected counts: another node answering master may
            // be an earlier master not yet demoted, and a sign taken from it would let answers
            // collected before the real promotion suspend the hold.
            for (m, h) in self.holds.iter_mut() {
                if *m != node && h.selected.as_ref() == Some(&node) {
                    h.promotion = Some(now);
                }
            }
        }
        self.roles.insert(
            node,
            RoleSeen {
                addr,
                role,
                at: now,
            },
        );
    }

    /// The stalled-failover rule: after a promotion was seen, every answer since says the held
    /// master `m` is master, every other node is its replica, and the leader never reported the
    /// promotion. Then writes to `m` cannot be discarded by this failover.
    fn stalled(&self, m: &HostPort, h: &Hold) -> bool {
        let Some(sign) = h.promotion else {
            return false;
        };
        if h.leader_promoted {
            return false;
        }
        let fresh = |r: &RoleSeen| r.at > sign;
        let replica_of_m = |r: &RoleSeen| {
            fresh(r) && matches!(&r.role, Role::Replica { master, .. } if master == m)
        };
        if !self
            .roles
            .get(m)
            .is_some_and(|r| fresh(r) && r.role == Role::Master)
        {
            return false;
        }
        // The promoted replica itself must say it is m's replica again. `SLAVEOF NO ONE` comes
        // with `CLIENT KILL TYPE normal`, which cuts every Sentinel's link to it: their views
        // then leave it out, its checker stops, and the answers left would show a stall that
        // is not there (a planned failover lost 30,820 writes that way in a soak).
        if !h
            .selected
            .as_ref()
            .and_then(|r| self.roles.get(r))
            .is_some_and(replica_of_m)
        {
            return false;
        }
        let mut others = self.roles.iter().filter(|(n, _)| *n != m).peekable();
        others.peek().is_some() && others.all(|(_, r)| replica_of_m(r))
    }

    fn update_suspensions(&mut self, _now: Clock, fx: &mut Vec<Effect>) {
        let changes: Vec<(HostPort, bool)> = self
            .holds
            .iter()
            .filter_map(|(m, h)| {
                let s = self.stalled(m, h);
                (s != h.suspended).then(|| (m.clone(), s))
            })
            .collect();
        for (m, suspended) in changes {
            if let Some(h) = self.holds.get_mut(&m) {
                h.suspended = suspended;
            }
            fx.push(Effect::Note(Note::HoldSuspended {
                master: m,
                suspended,
            }));
        }
    }

    fn expire_holds(&mut self, now: Clock, fx: &mut Vec<Effect>) {
        let limit = self.settings.hold_timeout;
        let expired: Vec<HostPort> = self
            .holds
            .iter()
            .filter(|(_, h)| now.saturating_sub(h.since) >= limit)
            .map(|(m, _)| m.clone())
            .collect();
        for m in expired {
            self.holds.remove(&m);
            fx.push(Effect::Note(Note::HoldEnded {
                master: m,
                why: HoldEnd::Timeout,
                held_for: limit,
            }));
        }
    }

    fn poke_all(&self, fx: &mut Vec<Effect>) {
        fx.extend(self.checkers.iter().cloned().map(Effect::Poke));
    }

    /// Every Sentinel unreachable for longer than the fence time: this proxy may be on the
    /// minority side of a partition. Policy `hold` stops forwarding; `serve` only says so.
    fn update_fence(&mut self, now: Clock, fx: &mut Vec<Effect>) {
        let any_up = self.sentinels.values().any(|s| s.up);
        if any_up || self.sentinels.is_empty() {
            self.all_down_since = None;
        } else if self.all_down_since.is_none() {
            let last = self.sentinels.values().filter_map(|s| s.last_seen).max();
            self.all_down_since = Some(last.unwrap_or(now));
        }
        let fenced = self
            .all_down_since
            .is_some_and(|t| now.saturating_sub(t) >= self.settings.fence.time);
        if fenced != self.fenced {
            self.fenced = fenced;
            fx.push(Effect::Note(Note::Fence {
                fenced,
                after: self.settings.fence.time,
                policy: self.settings.fence.policy,
            }));
        }
    }

    fn count_disagreements(&mut self, now: Clock, fx: &mut Vec<Effect>) {
        let routed = self.candidate.as_ref().map(|c| c.node.clone());
        for (addr, s) in self.sentinels.iter_mut() {
            let reported = s.view.as_ref().and_then(|v| v.master.clone());
            let differs = s.up && reported.is_some() && reported != routed;
            match (&mut s.disagrees_since, differs) {
                (None, true) => s.disagrees_since = Some((now, false)),
                (Some(_), false) => s.disagrees_since = None,
                (Some((since, counted)), true)
                    if !*counted && now.saturating_sub(*since) >= DISAGREEMENT_GRACE =>
                {
                    *counted = true;
                    fx.push(Effect::Note(Note::Disagreement {
                        sentinel: *addr,
                        reports: reported,
                        routed: routed.clone(),
                    }));
                }
                _ => {}
            }
        }
    }

    /// The agreement rule over the live views.
    ///
    /// A majority's epoch is the lowest its voters report: the leader of a failover of X
    /// reports X at the failover's epoch from the promotion to its switch, which says X is
    /// being replaced, not that X became master then. Only the leader does, so the lowest
    /// epoch of two or more voters is one at which X really became master (or an older one).
    fn elect(&mut self, fx: &mut Vec<Effect>) {
        let total = self.sentinels.len().max(self.settings.configured);
        let mut votes: BTreeMap<&HostPort, (usize, u64)> = BTreeMap::new();
        for view in self
            .sentinels
            .values()
            .filter(|s| s.up)
            .filter_map(|s| s.view.as_ref())
        {
            if let Some(m) = &view.master {
                let e = votes.entry(m).or_insert((0, u64::MAX));
                e.0 += 1;
                e.1 = e.1.min(view.epoch);
            }
        }
        let Some((node, epoch)) = votes
            .into_iter()
            .find(|(_, (n, _))| *n * 2 > total)
            .map(|(h, (_, e))| (h.clone(), e))
        else {
            return;
        };
        match &mut self.candidate {
            None => {
                fx.push(Effect::Note(Note::MasterAgreed {
                    master: node.clone(),
                    epoch,
                    sentinels: total,
                }));
                self.candidate = Some(Candidate {
                    node,
                    epoch,
                    switched_at: None,
                });
            }
            Some(c) if c.node == node => c.epoch = c.epoch.max(epoch),
            // Another master at the same epoch is that epoch's switch (see judge_switch).
            Some(c) if epoch >= c.epoch => {
                fx.push(Effect::Note(Note::MajorityMoved {
                    master: node.clone(),
                    epoch,
                    previous: c.node.clone(),
                }));
                *c = Candidate {
                    node: node.clone(),
                    epoch,
                    switched_at: None,
                };
            }
            Some(_) => {}
        }
    }

    /// Check exactly the nodes some Sentinel, the candidate or a pending switch names.
    fn sync_checkers(&mut self, fx: &mut Vec<Effect>) {
        let mut wanted: BTreeSet<HostPort> = BTreeSet::new();
        for s in self.sentinels.values() {
            if let Some(v) = &s.view {
                wanted.extend(v.master.iter().cloned());
                wanted.extend(v.replicas.iter().cloned());
            }
            if let Some((_, new, _)) = &s.pending_switch {
                wanted.insert(new.clone());
            }
        }
        if let Some(c) = &self.candidate {
            wanted.insert(c.node.clone());
        }
        for n in wanted.difference(&self.checkers) {
            fx.push(Effect::StartChecker(n.clone()));
        }
        for n in self.checkers.difference(&wanted) {
            fx.push(Effect::StopChecker(n.clone()));
        }
        self.roles.retain(|n, _| wanted.contains(n));
        self.checkers = wanted;
    }

    fn node(&self, h: &HostPort) -> Option<Node> {
        Some(Node {
            name: h.to_string().into(),
            addr: self.roles.get(h)?.addr?,
        })
    }

    /// Publish the route the current knowledge implies, if it differs from the last one.
    fn publish(&mut self, now: Clock, fx: &mut Vec<Effect>) {
        let cand = self.candidate.as_ref();
        let confirmed = cand.and_then(|c| match self.roles.get(&c.node).map(|r| &r.role) {
            Some(Role::Master) => self.node(&c.node),
            _ => None,
        });
        let fence_holds = self.fenced && self.settings.fence.policy == FencePolicy::Hold;
        let held = cand.is_some_and(|c| self.is_holding(&c.node));
        let (state, master) = match confirmed {
            Some(n) if fence_holds || held => (RouteState::Holding, Some(n)),
            Some(n) => (RouteState::Serving, Some(n)),
            // Keep the previous master in the route (same generation) but stop serving it: a
            // master that comes back keeps its sessions, a new one bumps the generation.
            None if self.published.master.is_some() => {
                (RouteState::Holding, self.published.master.clone())
            }
            None => (RouteState::NoMaster, None),
        };
        let mut names: BTreeSet<&HostPort> = BTreeSet::new();
        for v in self.sentinels.values().filter_map(|s| s.view.as_ref()) {
            names.extend(v.replicas.iter());
        }
        let replicas: Vec<Node> = names
            .into_iter()
            .filter(|h| Some(*h) != cand.map(|c| &c.node))
            .filter(|h| {
                matches!(
                    self.roles.get(*h).map(|r| &r.role),
                    Some(Role::Replica {
                        connected: true,
                        ..
                    })
                )
            })
            .filter_map(|h| self.node(h))
            .collect();
        let decision = Decision {
            state,
            master,
            replicas,
        };
        if decision.same_as(&self.published) {
            return;
        }
        match (decision.state, self.holding_since) {
            (RouteState::Holding, None) => self.holding_since = Some(now),
            (RouteState::Serving, Some(t)) => {
                fx.push(Effect::Note(Note::HoldSeconds(now.saturating_sub(t))));
                self.holding_since = None;
            }
            _ => {}
        }
        let since_switch = if decision.state == RouteState::Serving {
            self.candidate
                .as_mut()
                .and_then(|c| c.switched_at.take())
                .map(|t| now.saturating_sub(t))
        } else {
            None
        };
        self.published = decision.clone();
        fx.push(Effect::Publish {
            decision,
            since_switch,
        });
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
