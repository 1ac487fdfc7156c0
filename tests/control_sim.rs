//! Simulation of the control plane's state machine over random interleavings of three
//! Sentinels' event streams (issue 12).
//!
//! A scripted failover history (planned, crash, aborted, stalled) advances a ground truth:
//! which node is master, each Sentinel's view and epoch, and the events each Sentinel
//! publishes. A random schedule then decides what reaches the machine, and when: events
//! (in order per Sentinel, late across Sentinels), periodic views, ROLE answers, ticks, links
//! that drop (losing the events published meanwhile) and come back with only a view,
//! Sentinels that adopt a new configuration late or skip one. After every step:
//! - **no lost write:** the route never serves a node that takes writes (a master, or a node
//!   Sentinel sees down, which may only be cut off from Sentinel) whose failover the machine
//!   has been told about once a replica was promoted for it (and that did not become master
//!   again since), unless the hold timeout has passed since the announcement;
//! - **epochs:** the candidate is always a configuration Sentinel really had, and its epoch
//!   never goes down.
//!
//! And at the end, with every Sentinel caught up, the route serves the latest master at its
//! epoch. The model also plays the leader's raised epoch (between the promotion and its switch
//! it reports the old master at the failover's epoch), views' `o_down`/`failover_in_progress`
//! flags, and the watcher's query after each event that can move the master.
//!
//! `SIM_CASES` sets the number of interleavings (default 2,000; the 100,000 run:
//! `SIM_CASES=100000 cargo test --release --test control_sim`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sentinel_proxy_core::config::{Fence, FencePolicy, HostPort};
use sentinel_proxy_core::control::event::{parse_event, requery_after};
use sentinel_proxy_core::control::health::Role;
use sentinel_proxy_core::control::machine::{Input, Machine, Settings};
use sentinel_proxy_core::control::sentinel::MasterView;
use sentinel_proxy_core::route::RouteState;

const NODES: usize = 3;
const SENTINELS: usize = 3;
const HOLD: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Planned,
    Crash,
    Aborted,
    Stalled,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Planned),
        3 => Just(Kind::Crash),
        1 => Just(Kind::Aborted),
        2 => Just(Kind::Stalled),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Truth {
    Master,
    ReplicaOf(usize),
    Down,
}

/// One failover of the history as it really went.
#[derive(Debug)]
struct Failover {
    kind: Kind,
    victim: usize,
    /// When the machine first received an announcement of it (+try-failover/+odown).
    announced: Option<Duration>,
    /// A replica was promoted and the failover will switch: writes to the victim are lost.
    doomed: bool,
    /// The victim became master again later.
    revived: bool,
}

/// The failover being played, stage by stage.
#[derive(Debug)]
struct Active {
    index: usize,
    kind: Kind,
    victim: usize,
    promoted: usize,
    leader: usize,
    epoch: u64,
    stage: u8,
}

struct World {
    m: Machine,
    now: Duration,
    truth: [Truth; NODES],
    /// Every configuration Sentinel had: (master, config epoch).
    configs: Vec<(usize, u64)>,
    /// (old master, failover epoch) the leader reports between the promotion and its switch.
    raised: Vec<(usize, u64)>,
    current_epoch: u64,
    /// Each Sentinel's configuration.
    known: [(usize, u64); SENTINELS],
    link_up: [bool; SENTINELS],
    queue: [VecDeque<(String, String, Option<usize>)>; SENTINELS],
    /// The failover whose stage is being played: its events carry its index.
    tag: Option<usize>,
    /// The watcher queries right after a +switch-master: its next report is a view.
    must_view: [bool; SENTINELS],
    plan: VecDeque<Kind>,
    active: Option<Active>,
    failovers: Vec<Failover>,
    /// Crashed or demoted nodes that still have to rejoin as replicas.
    chores: Vec<usize>,
    last_epoch: u64,
    steps: usize,
    /// What the machine was fed, for the failure message.
    log: Vec<String>,
}

fn node(i: usize) -> HostPort {
    HostPort::new("127.0.0.1", 6001 + i as u16)
}

fn sentinel(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 26001 + i as u16))
}

fn about(i: usize) -> String {
    format!("master mymaster 127.0.0.1 {}", 6001 + i)
}

fn replica_event(r: usize, m: usize) -> String {
    let p = 6001 + r;
    format!(
        "slave 127.0.0.1:{p} 127.0.0.1 {p} @ mymaster 127.0.0.1 {}",
        6001 + m
    )
}

impl World {
    fn new(plan: Vec<Kind>) -> World {
        let mut w = World {
            m: Machine::new(Settings {
                hold_timeout: HOLD,
                fence: Fence {
                    time: Duration::from_secs(30),
                    policy: FencePolicy::Serve,
                },
                configured: SENTINELS,
            }),
            now: Duration::ZERO,
            truth: [Truth::Master, Truth::ReplicaOf(0), Truth::ReplicaOf(0)],
            configs: vec![(0, 1)],
            raised: Vec::new(),
            current_epoch: 1,
            known: [(0, 1); SENTINELS],
            link_up: [true; SENTINELS],
            queue: Default::default(),
            tag: None,
            must_view: [false; SENTINELS],
            plan: plan.into(),
            active: None,
            failovers: Vec::new(),
            chores: Vec::new(),
            last_epoch: 0,
            steps: 0,
            log: Vec::new(),
        };
        for s in 0..SENTINELS {
            w.feed(Input::SentinelKnown(sentinel(s)));
            w.feed(Input::SentinelUp(sentinel(s)));
        }
        for s in 0..SENTINELS {
            w.deliver_view(s);
        }
        for n in 0..NODES {
            w.deliver_role(n);
        }
        w
    }

    /// The master of the latest configuration, while it is up and master. (A demoted master
    /// still answers `master` for a while after a planned failover; it is not this one.)
    fn master(&self) -> Option<usize> {
        let (m, _) = *self.configs.last().expect("a configuration");
        (self.truth[m] == Truth::Master).then_some(m)
    }

    fn feed(&mut self, input: Input) {
        self.now += Duration::from_millis(1);
        self.steps += 1;
        let line = describe(&input);
        self.m.step(self.now, input);
        let p = self.m.published();
        self.log.push(format!(
            "{:>6} ms  {line}  => {:?} {}",
            self.now.as_millis(),
            p.state,
            p.master.as_ref().map(|n| n.addr.port()).unwrap_or(0)
        ));
    }

    fn trace(&self) -> String {
        let from = self.log.len().saturating_sub(60);
        self.log[from..].join("\n")
    }

    fn publish(&mut self, s: usize, channel: &str, payload: String) {
        if self.link_up[s] {
            self.queue[s].push_back((channel.to_string(), payload, self.tag));
        }
    }

    /// What `SENTINEL MASTER` answers now: its configuration, with `o_down` while that
    /// master is down and `failover_in_progress` while this Sentinel is failing it over.
    fn view_of(&self, s: usize) -> MasterView {
        let (master, epoch) = self.known[s];
        let mut flags = String::from("master");
        if self.truth[master] == Truth::Down {
            flags.push_str(",s_down,o_down");
        }
        if self
            .active
            .as_ref()
            .is_some_and(|a| a.leader == s && a.stage >= 2 && a.victim == master)
        {
            flags.push_str(",failover_in_progress");
        }
        MasterView {
            master: Some(node(master)),
            epoch,
            replicas: (0..NODES).filter(|n| *n != master).map(node).collect(),
            flags,
        }
    }

    fn deliver_view(&mut self, s: usize) {
        if !self.link_up[s] {
            return;
        }
        self.must_view[s] = false;
        let view = self.view_of(s);
        self.feed(Input::View {
            sentinel: sentinel(s),
            view,
        });
    }

    fn deliver_event(&mut self, s: usize) {
        if !self.link_up[s] || self.must_view[s] {
            return self.deliver_view(s);
        }
        let Some((channel, payload, tag)) = self.queue[s].pop_front() else {
            return self.deliver_view(s);
        };
        let event = parse_event(&channel, &payload, "mymaster").expect("sim events parse");
        if matches!(channel.as_str(), "+try-failover" | "+odown") {
            let now = self.now;
            if let Some(f) = tag.and_then(|i| self.failovers.get_mut(i)) {
                f.announced.get_or_insert(now);
            }
        }
        // The watcher queries its Sentinel right after these, as the real one does.
        if requery_after(&event.kind, &event.name) {
            self.must_view[s] = true;
        }
        self.feed(Input::Event {
            sentinel: sentinel(s),
            event,
        });
    }

    fn deliver_role(&mut self, n: usize) {
        let role = match self.truth[n] {
            Truth::Master => Role::Master,
            Truth::ReplicaOf(m) => Role::Replica {
                master: node(m),
                connected: true,
            },
            Truth::Down => Role::Down("connection refused".into()),
        };
        self.feed(Input::Role {
            node: node(n),
            addr: Some(SocketAddr::from(([127, 0, 0, 1], 6001 + n as u16))),
            role,
        });
    }

    fn tick(&mut self) {
        self.now += Duration::from_millis(249);
        self.feed(Input::Tick);
    }

    /// A lagging Sentinel learns the latest configuration (from a hello), skipping any in
    /// between, and announces it as Sentinel does.
    fn adopt_latest(&mut self, s: usize) {
        self.tag = None;
        let latest = *self.configs.last().expect("a configuration");
        let (old, _) = self.known[s];
        if self.known[s].1 >= latest.1 {
            return;
        }
        self.known[s] = latest;
        self.current_epoch = self.current_epoch.max(latest.1);
        if old != latest.0 {
            self.publish(
                s,
                "+config-update-from",
                format!(
                    "sentinel x 127.0.0.1 26001 @ mymaster 127.0.0.1 {}",
                    6001 + old
                ),
            );
            self.publish(
                s,
                "+switch-master",
                format!(
                    "mymaster 127.0.0.1 {} 127.0.0.1 {}",
                    6001 + old,
                    6001 + latest.0
                ),
            );
        }
    }

    fn drop_link(&mut self, s: usize) {
        if !self.link_up[s] {
            return;
        }
        self.link_up[s] = false;
        self.queue[s].clear();
        self.must_view[s] = false;
        self.feed(Input::SentinelDown {
            sentinel: sentinel(s),
            reason: "connection reset".into(),
        });
    }

    fn reconnect(&mut self, s: usize) {
        if self.link_up[s] {
            return;
        }
        self.link_up[s] = true;
        self.feed(Input::SentinelUp(sentinel(s)));
        self.deliver_view(s);
    }

    /// A node that crashed or was demoted rejoins as a replica of the master of now.
    fn chore(&mut self) {
        let Some(n) = self.chores.pop() else { return };
        match self.master() {
            // It became master again meanwhile: nothing to rejoin.
            _ if self.configs.last().map(|c| c.0) == Some(n) => {}
            Some(m) => self.truth[n] = Truth::ReplicaOf(m),
            None => self.chores.push(n),
        }
    }

    /// Advance the history by one stage.
    fn advance(&mut self, pick: usize) {
        if self.active.is_none() {
            let Some(kind) = self.plan.pop_front() else {
                return;
            };
            let Some(victim) = self.master() else {
                self.plan.push_front(kind);
                return;
            };
            let candidates: Vec<usize> = (0..NODES)
                .filter(|n| *n != victim && self.truth[*n] == Truth::ReplicaOf(victim))
                .collect();
            let leader = pick % SENTINELS;
            let kind = if candidates.is_empty() {
                Kind::Aborted
            } else {
                kind
            };
            let promoted = candidates.get(pick / 3 % candidates.len().max(1)).copied();
            self.current_epoch += 1;
            let epoch = self.current_epoch;
            self.failovers.push(Failover {
                kind,
                victim,
                announced: None,
                doomed: false,
                revived: false,
            });
            self.active = Some(Active {
                index: self.failovers.len() - 1,
                kind,
                victim,
                promoted: promoted.unwrap_or(victim),
                leader,
                epoch,
                stage: 0,
            });
        }
        let a = self.active.take().expect("set above");
        self.tag = Some(a.index);
        let (v, p, l, e) = (a.victim, a.promoted, a.leader, a.epoch);
        let others: Vec<usize> = (0..SENTINELS).filter(|s| *s != l).collect();
        let mut a = a;
        match (a.kind, a.stage) {
            (Kind::Crash, 0) => {
                self.truth[v] = Truth::Down;
                for s in 0..SENTINELS {
                    self.publish(s, "+sdown", about(v));
                    self.publish(s, "+odown", about(v));
                }
            }
            (_, 0) => {}
            (_, 1) => {
                self.publish(l, "+new-epoch", e.to_string());
                self.publish(l, "+try-failover", about(v));
                for s in &others {
                    self.publish(*s, "+new-epoch", e.to_string());
                }
            }
            (Kind::Aborted, 2) => {
                self.publish(l, "-failover-abort-no-good-slave", about(v));
                self.active = None;
                return;
            }
            (Kind::Planned | Kind::Crash | Kind::Stalled, 2) => {
                self.publish(l, "+selected-slave", replica_event(p, v));
                self.publish(l, "+failover-state-wait-promotion", replica_event(p, v));
                self.truth[p] = Truth::Master;
                // Promoted: it has no replica to rejoin as any more.
                self.chores.retain(|n| *n != p);
                if a.kind != Kind::Stalled {
                    for f in self.failovers.iter_mut().filter(|f| f.victim == p) {
                        f.revived = true;
                    }
                    self.failovers[a.index].doomed = true;
                    // The other replica follows the new master.
                    for n in 0..NODES {
                        if n != v && n != p && self.truth[n] != Truth::Down {
                            self.truth[n] = Truth::ReplicaOf(p);
                        }
                    }
                }
            }
            (Kind::Stalled, 3) => {
                // Another Sentinel sends the promoted replica back to the old master.
                self.truth[p] = Truth::ReplicaOf(v);
                let by = others[a.epoch as usize % others.len()];
                self.publish(by, "+convert-to-slave", replica_event(p, v));
            }
            (Kind::Stalled, _) => {
                self.publish(l, "-failover-abort-slave-timeout", about(v));
                self.active = None;
                return;
            }
            (_, 3) => {
                // Seeing the promotion, the leader raises the old master's config epoch to the
                // failover's; it switches the address only at +switch-master.
                self.publish(l, "+promoted-slave", replica_event(p, v));
                self.known[l] = (v, e);
                self.raised.push((v, e));
            }
            (_, 4) => {
                self.publish(l, "+failover-end", about(v));
                self.configs.push((p, e));
                self.known[l] = (p, e);
                self.publish(
                    l,
                    "+switch-master",
                    format!("mymaster 127.0.0.1 {} 127.0.0.1 {}", 6001 + v, 6001 + p),
                );
                // The old master is demoted (planned) or rejoins after a restart (crash),
                // some time later; the next failover may start before.
                self.chores.push(v);
                self.active = None;
                return;
            }
            _ => unreachable!(),
        }
        a.stage += 1;
        self.active = Some(a);
    }

    /// The invariants that must hold after every step.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let published = self.m.published().clone();
        if published.state == RouteState::Serving {
            let served = published
                .master
                .as_ref()
                .expect("serving a master")
                .addr
                .port() as usize
                - 6001;
            // A replica refuses writes (-READONLY, which sessions retry): nothing to lose. A
            // node Sentinel sees down may only be cut off from Sentinel and still take writes.
            let accepts = !matches!(self.truth[served], Truth::ReplicaOf(_));
            for f in self.failovers.iter().filter(|_| accepts) {
                let told = f
                    .announced
                    .is_some_and(|t| self.now.saturating_sub(t) < HOLD);
                prop_assert!(
                    !(f.victim == served && told && f.doomed && !f.revived),
                    "serving node {served} after the machine was told of its {:?} failover and a replica was promoted (step {}; truth {:?}, configs {:?}, failovers {:?})\n{}",
                    f.kind,
                    self.steps,
                    self.truth,
                    self.configs,
                    self.failovers,
                    self.trace()
                );
            }
        }
        if let Some((n, e)) = self.m.candidate() {
            let idx = n.port as usize - 6001;
            prop_assert!(
                self.configs.contains(&(idx, e)) || self.raised.contains(&(idx, e)),
                "candidate {n} at epoch {e} is no configuration Sentinel had: {:?} {:?}\n{}",
                self.configs,
                self.raised,
                self.trace()
            );
            prop_assert!(
                e >= self.last_epoch,
                "epoch went back from {} to {e}",
                self.last_epoch
            );
            self.last_epoch = e;
        }
        Ok(())
    }

    fn run(&mut self, schedule: &[u16]) -> Result<(), TestCaseError> {
        for c in schedule {
            let (action, arg) = ((*c % 16) as usize, (*c / 16) as usize);
            let s = arg % SENTINELS;
            match action {
                0..=2 => self.advance(arg),
                3..=7 => self.deliver_event(s),
                8 => self.deliver_view(s),
                9 | 10 => self.deliver_role(arg % NODES),
                11 => self.tick(),
                12 => self.adopt_latest(s),
                13 => self.chore(),
                14 if arg % 4 == 0 => self.drop_link(s),
                14 | 15 => self.reconnect(s),
                _ => {}
            }
            self.check()?;
        }
        self.settle()
    }

    /// Events stop: finish the history, let every Sentinel catch up and every link come back,
    /// and the route must serve the latest master at its epoch.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        for s in 0..SENTINELS {
            self.reconnect(s);
        }
        for round in 0..200 {
            if self.active.is_none() && self.plan.is_empty() {
                break;
            }
            self.advance(round);
            for s in 0..SENTINELS {
                while !self.queue[s].is_empty() || self.must_view[s] {
                    self.deliver_event(s);
                    self.check()?;
                }
            }
        }
        for _ in 0..self.chores.len() {
            self.chore();
        }
        prop_assert!(
            self.chores.is_empty(),
            "history did not end with a master: truth {:?} configs {:?} chores {:?} active {:?} plan {:?}",
            self.truth,
            self.configs,
            self.chores,
            self.active,
            self.plan
        );
        for s in 0..SENTINELS {
            self.reconnect(s);
            self.adopt_latest(s);
            while !self.queue[s].is_empty() || self.must_view[s] {
                self.deliver_event(s);
                self.check()?;
            }
        }
        let end = self.now + HOLD + Duration::from_secs(1);
        while self.now < end {
            for n in 0..NODES {
                self.deliver_role(n);
            }
            for s in 0..SENTINELS {
                self.deliver_view(s);
            }
            self.tick();
            self.check()?;
        }
        let (master, epoch) = *self.configs.last().expect("a configuration");
        let p = self.m.published();
        prop_assert_eq!(
            p.state,
            RouteState::Serving,
            "not serving after settling: {:?}",
            p
        );
        prop_assert_eq!(
            p.master.as_ref().map(|n| n.addr.port() as usize - 6001),
            Some(master)
        );
        prop_assert_eq!(self.m.candidate().map(|c| c.1), Some(epoch));
        Ok(())
    }
}

fn describe(input: &Input) -> String {
    match input {
        Input::Event { sentinel, event } => {
            let what = event
                .instance
                .as_ref()
                .map(|i| format!("{} {}", i.role, i.addr.port))
                .unwrap_or_default();
            format!(
                "S{} {} {what} {:?}",
                sentinel.port() - 26000,
                event.name,
                event.kind
            )
        }
        Input::View { sentinel, view } => format!(
            "S{} view {:?}@{} {}",
            sentinel.port() - 26000,
            view.master.as_ref().map(|m| m.port),
            view.epoch,
            view.flags
        ),
        Input::Role { node, role, .. } => format!("ROLE {} {:?}", node.port, role),
        other => format!("{other:?}"),
    }
}

fn cases() -> u32 {
    std::env::var("SIM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

#[test]
fn no_interleaving_of_sentinel_events_breaks_the_rules() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec(kind(), 1..8),
        proptest::collection::vec(any::<u16>(), 20..600),
    );
    let result = runner.run(&strategy, |(plan, schedule)| {
        World::new(plan).run(&schedule)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The incident of issue 12 as one fixed schedule: crash M1, two Sentinels switch to M2, a
/// second failover of M2 starts, then the third Sentinel's late +switch-master M1 M2.
#[test]
fn the_incident_schedule_holds_m2() {
    let mut w = World::new(vec![Kind::Crash, Kind::Crash]);
    // Failover 1 to its switch (stages 0..4), the leader is Sentinel 0.
    for _ in 0..5 {
        w.advance(0);
    }
    for n in 0..NODES {
        w.deliver_role(n);
    }
    while !w.queue[0].is_empty() || w.must_view[0] {
        w.deliver_event(0);
    }
    w.queue[2].clear();
    w.adopt_latest(1);
    while !w.queue[1].is_empty() || w.must_view[1] {
        w.deliver_event(1);
    }
    assert_eq!(w.m.published().state, RouteState::Serving);
    // Failover 2 of M2: crash and announcement, leader Sentinel 1.
    w.advance(1);
    w.advance(1);
    while !w.queue[1].is_empty() {
        w.deliver_event(1);
    }
    assert_eq!(w.m.published().state, RouteState::Holding);
    // Sentinel 2's late announcement of the first failover.
    w.known[2] = w.configs[1];
    w.tag = None;
    w.publish(
        2,
        "+switch-master",
        "mymaster 127.0.0.1 6001 127.0.0.1 6002".into(),
    );
    w.deliver_event(2);
    w.deliver_view(2);
    w.advance(1);
    for n in 0..NODES {
        w.deliver_role(n);
    }
    w.check().expect("invariants");
    assert_eq!(w.m.published().state, RouteState::Holding);
}
