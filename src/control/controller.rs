//! The controller: the one task that decides where traffic goes and the only writer of the route.
//!
//! Inputs are Sentinel reports (views, events, link state) and ROLE health reports. The master
//! candidate comes from Sentinel: at start the address a strict majority of the known Sentinels
//! report; afterwards a `+switch-master` from any Sentinel (only published after a
//! majority-authorised election), or a strict majority reporting a newer configuration epoch.
//! ROLE only confirms: a candidate is routed to while it answers `master`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use tokio::sync::{mpsc, watch};

use super::health::{spawn_checker, CheckSettings, Checker, HealthReport, Role};
use super::sentinel::{MasterView, Report, SentinelReport};
use crate::config::HostPort;
use crate::metrics as m;
use crate::route::{Node, RouteState, RouteWriter};

#[derive(Default)]
struct SentinelState {
    up: bool,
    view: Option<MasterView>,
    /// Since when this Sentinel has reported a master other than the routed one, and whether
    /// that was already counted.
    disagrees_since: Option<(Instant, bool)>,
    /// Last time it answered (a view or an event): the fence counts from the last contact,
    /// not from when a hung link was finally declared down.
    last_seen: Option<Instant>,
}

/// Sentinels lag a second or two behind a failover; only a disagreement that outlasts this is
/// counted and logged.
const DISAGREEMENT_GRACE: Duration = Duration::from_secs(5);

struct Candidate {
    node: HostPort,
    epoch: u64,
    /// When a `+switch-master` named it, for the switch-to-route latency in the logs.
    switched_at: Option<Instant>,
}

pub struct Controller {
    writer: RouteWriter,
    sentinels: HashMap<SocketAddr, SentinelState>,
    candidate: Option<Candidate>,
    health: HashMap<HostPort, HealthReport>,
    checkers: HashMap<HostPort, Checker>,
    check_settings: CheckSettings,
    health_tx: mpsc::Sender<HealthReport>,
    shutdown: watch::Receiver<bool>,
    /// Sentinels that announced a failover of the routed master (`+try-failover`, `+odown`)
    /// and have not yet ended or aborted it; while any has, the route holds.
    failing_over: HashMap<SocketAddr, Instant>,
    /// How long an announced failover may hold the route without a switch or an abort.
    hold_timeout: Duration,
    /// When the current hold began, for the hold-duration histogram.
    holding_since: Option<Instant>,
    fence: crate::config::Fence,
    /// Since when no Sentinel link has been up.
    all_links_down_since: Option<Instant>,
    /// Every Sentinel has been unreachable for longer than the fence time.
    fenced: bool,
    /// Configured Sentinel entries: a majority is never smaller than theirs, even before every
    /// entry has been resolved and reported.
    configured: usize,
}

impl Controller {
    pub fn new(
        writer: RouteWriter,
        check_settings: CheckSettings,
        hold_timeout: Duration,
        fence: crate::config::Fence,
        configured: usize,
        health_tx: mpsc::Sender<HealthReport>,
        shutdown: watch::Receiver<bool>,
    ) -> Controller {
        Controller {
            writer,
            sentinels: HashMap::new(),
            candidate: None,
            health: HashMap::new(),
            checkers: HashMap::new(),
            check_settings,
            health_tx,
            shutdown,
            failing_over: HashMap::new(),
            hold_timeout,
            holding_since: None,
            fence,
            all_links_down_since: None,
            fenced: false,
            configured,
        }
    }

    /// Run until shutdown.
    pub async fn run(
        mut self,
        mut sentinel_rx: mpsc::Receiver<SentinelReport>,
        mut health_rx: mpsc::Receiver<HealthReport>,
    ) {
        let mut shutdown = self.shutdown.clone();
        // The state families exist from the start, so "no master yet" is visible to alerts.
        let start = self.writer.current();
        export_route(&start, None);
        // Re-evaluates expiring holds even when no report arrives.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                Some(r) = sentinel_rx.recv() => self.on_sentinel(r),
                Some(h) = health_rx.recv() => self.on_health(h),
                _ = tick.tick() => {
                    self.expire_holds();
                    self.count_disagreements();
                    self.check_fence();
                }
                _ = shutdown.changed() => return,
            }
            self.sync_checkers();
            self.publish();
        }
    }

    fn on_sentinel(&mut self, r: SentinelReport) {
        let label = r.sentinel.to_string();
        match r.report {
            Report::LinkUp => {
                tracing::info!(sentinel = %r.sentinel, "Sentinel link up");
                gauge!(m::SENTINEL_LINK_UP, "sentinel" => label).set(1.0);
                self.sentinels.entry(r.sentinel).or_default().up = true;
            }
            Report::LinkDown(reason) => {
                let s = self.sentinels.entry(r.sentinel).or_default();
                if s.up {
                    tracing::warn!(sentinel = %r.sentinel, %reason, "Sentinel link down");
                } else {
                    tracing::debug!(sentinel = %r.sentinel, %reason, "Sentinel still unreachable");
                }
                // Its last view stays: it no longer votes (elect counts only live links), but
                // the replicas it named keep their ROLE checks and stay routable while they
                // answer, even when every Sentinel is out of reach.
                s.up = false;
                gauge!(m::SENTINEL_LINK_UP, "sentinel" => label).set(0.0);
            }
            Report::Removed => {
                tracing::info!(sentinel = %r.sentinel, "Sentinel left DNS; forgotten");
                self.sentinels.remove(&r.sentinel);
                gauge!(m::SENTINEL_LINK_UP, "sentinel" => label).set(0.0);
            }
            Report::View(view) => {
                let s = self.sentinels.entry(r.sentinel).or_default();
                s.up = true;
                s.view = Some(view);
                s.last_seen = Some(Instant::now());
                self.elect();
            }
            Report::Event(ev) => {
                counter!(m::SENTINEL_EVENTS, "event" => ev.name.clone()).increment(1);
                if let Some(s) = self.sentinels.get_mut(&r.sentinel) {
                    s.last_seen = Some(Instant::now());
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                gauge!(m::SENTINEL_LAST_EVENT, "sentinel" => label.clone()).set(now);
                self.track_failover(r.sentinel, &ev);
                if let Some((old, new)) = ev.switch {
                    self.failing_over.clear();
                    counter!(m::FAILOVERS).increment(1);
                    tracing::info!(sentinel = %r.sentinel, %old, %new, "+switch-master adopted");
                    let epoch = self.max_epoch() + 1;
                    self.candidate = Some(Candidate {
                        node: new.clone(),
                        epoch,
                        switched_at: Some(Instant::now()),
                    });
                    // The next view from that Sentinel will carry the real epoch.
                    if let Some(s) = self.sentinels.get_mut(&r.sentinel) {
                        if let Some(v) = s.view.as_mut() {
                            v.master = Some(new.clone());
                            v.epoch = epoch;
                        }
                    }
                    self.ensure_checker(&new);
                    if let Some(c) = self.checkers.get(&new) {
                        c.poke.notify_one();
                    }
                } else {
                    tracing::debug!(sentinel = %r.sentinel, event = %ev.name, "Sentinel event");
                }
            }
        }
    }

    /// Hold on the first sign of a failover of the routed master; release on its end or abort.
    fn track_failover(&mut self, sentinel: SocketAddr, ev: &super::sentinel::Event) {
        let routed = self.candidate.as_ref().map(|c| &c.node);
        let about_master = ev
            .instance
            .as_ref()
            .is_some_and(|(kind, addr)| kind == "master" && Some(addr) == routed);
        if !about_master {
            return;
        }
        let name = ev.name.as_str();
        match name {
            "+try-failover" | "+odown" => {
                if self.failing_over.is_empty() {
                    tracing::info!(%sentinel, event = name, "failover announced: holding new commands");
                }
                self.failing_over
                    .entry(sentinel)
                    .or_insert_with(Instant::now);
            }
            "-odown" | "+failover-end" | "+failover-end-for-timeout" => {
                self.failing_over.remove(&sentinel);
            }
            n if n.starts_with("-failover-abort") => {
                tracing::info!(%sentinel, event = name, "failover aborted");
                self.failing_over.remove(&sentinel);
            }
            _ => {}
        }
    }

    /// Every Sentinel unreachable for longer than the fence time: this proxy may be on the
    /// minority side of a partition. Policy `hold` stops forwarding; `serve` only says so.
    fn check_fence(&mut self) {
        let any_up = self.sentinels.values().any(|s| s.up);
        if any_up || self.sentinels.is_empty() {
            self.all_links_down_since = None;
        } else if self.all_links_down_since.is_none() {
            let last_contact = self.sentinels.values().filter_map(|s| s.last_seen).max();
            self.all_links_down_since = Some(last_contact.unwrap_or_else(Instant::now));
        }
        let fenced = self
            .all_links_down_since
            .is_some_and(|t| t.elapsed() >= self.fence.time);
        if fenced != self.fenced {
            self.fenced = fenced;
            match (fenced, self.fence.policy) {
                (true, crate::config::FencePolicy::Hold) => tracing::warn!(
                    after = ?self.fence.time,
                    "no Sentinel reachable: fence policy hold, forwarding stops until one is back"
                ),
                (true, crate::config::FencePolicy::Serve) => tracing::warn!(
                    after = ?self.fence.time,
                    "no Sentinel reachable: fence policy serve, still routing to the ROLE-confirmed master"
                ),
                (false, _) => tracing::info!("a Sentinel is reachable again; fence lifted"),
            }
        }
    }

    /// A Sentinel that keeps reporting another master than the routed one is ignored (the
    /// majority and the epochs decide) but counted and logged once per episode.
    fn count_disagreements(&mut self) {
        let routed = self.candidate.as_ref().map(|c| c.node.clone());
        for (addr, s) in self.sentinels.iter_mut() {
            let reported = s.view.as_ref().and_then(|v| v.master.as_ref());
            let differs = s.up && reported.is_some() && reported != routed.as_ref();
            match (&mut s.disagrees_since, differs) {
                (None, true) => s.disagrees_since = Some((Instant::now(), false)),
                (Some(_), false) => s.disagrees_since = None,
                (Some((since, counted)), true)
                    if !*counted && since.elapsed() >= DISAGREEMENT_GRACE =>
                {
                    *counted = true;
                    counter!(m::SENTINEL_DISAGREEMENTS).increment(1);
                    tracing::warn!(sentinel = %addr, reports = ?reported.map(|h| h.to_string()),
                        routed = ?routed.as_ref().map(|h| h.to_string()),
                        "a Sentinel keeps reporting another master; ignored");
                }
                _ => {}
            }
        }
    }

    /// A failover that neither switches nor aborts within the hold timeout stops holding; the
    /// master is served again if ROLE still confirms it.
    fn expire_holds(&mut self) {
        let limit = self.hold_timeout;
        let before = self.failing_over.len();
        self.failing_over.retain(|_, t| t.elapsed() < limit);
        if before > 0 && self.failing_over.is_empty() {
            tracing::warn!(after = ?limit, "announced failover neither switched nor aborted; resuming");
        }
    }

    fn max_epoch(&self) -> u64 {
        let seen = self
            .sentinels
            .values()
            .filter_map(|s| s.view.as_ref())
            .map(|v| v.epoch)
            .max()
            .unwrap_or(0);
        seen.max(self.candidate.as_ref().map_or(0, |c| c.epoch))
    }

    /// Apply the agreement rule to the current views.
    fn elect(&mut self) {
        let total = self.sentinels.len().max(self.configured);
        let mut votes: HashMap<&HostPort, (usize, u64)> = HashMap::new();
        for v in self.sentinels.values().filter(|s| s.up) {
            if let Some(view) = &v.view {
                if let Some(mst) = &view.master {
                    let e = votes.entry(mst).or_default();
                    e.0 += 1;
                    e.1 = e.1.max(view.epoch);
                }
            }
        }
        let majority = votes
            .into_iter()
            .find(|(_, (n, _))| *n * 2 > total)
            .map(|(h, (_, e))| (h.clone(), e));
        match (&mut self.candidate, majority) {
            (None, Some((node, epoch))) => {
                tracing::info!(master = %node, epoch, sentinels = total, "master agreed by a majority of Sentinels");
                self.candidate = Some(Candidate {
                    node,
                    epoch,
                    switched_at: None,
                });
            }
            (Some(c), Some((node, epoch))) if node == c.node => c.epoch = c.epoch.max(epoch),
            (Some(c), Some((node, epoch))) if epoch > c.epoch => {
                tracing::warn!(master = %node, epoch, previous = %c.node, "a majority of Sentinels moved to a newer master without an event we saw");
                *c = Candidate {
                    node,
                    epoch,
                    switched_at: None,
                };
            }
            _ => {}
        }
        if let Some(c) = &self.candidate {
            let node = c.node.clone();
            self.ensure_checker(&node);
        }
    }

    fn on_health(&mut self, h: HealthReport) {
        let previous = self.health.get(&h.node).map(|p| p.role.clone());
        if previous.as_ref() != Some(&h.role) {
            match &h.role {
                Role::Down(reason) | Role::Unusable(reason) => {
                    tracing::warn!(node = %h.node, %reason, "node check failed")
                }
                role => tracing::info!(node = %h.node, ?role, "node role"),
            }
            let (ok, role) = match &h.role {
                Role::Master => (1.0, "master"),
                Role::Replica {
                    connected: true, ..
                } => (1.0, "replica"),
                Role::Replica { .. } => (0.0, "replica"),
                _ => (0.0, "unknown"),
            };
            for r in ["master", "replica", "unknown"] {
                let v = if r == role { ok } else { 0.0 };
                gauge!(m::NODE_HEALTHY, "node" => h.node.to_string(), "role" => r).set(v);
            }
        }
        self.health.insert(h.node.clone(), h);
    }

    fn ensure_checker(&mut self, node: &HostPort) {
        if !self.checkers.contains_key(node) {
            let c = spawn_checker(
                node.clone(),
                self.check_settings.clone(),
                self.health_tx.clone(),
                self.shutdown.clone(),
            );
            self.checkers.insert(node.clone(), c);
        }
    }

    /// Check exactly the nodes some Sentinel (or the candidate) names.
    fn sync_checkers(&mut self) {
        let mut wanted: BTreeSet<HostPort> = BTreeSet::new();
        for s in self.sentinels.values() {
            if let Some(v) = &s.view {
                wanted.extend(v.master.iter().cloned());
                wanted.extend(v.replicas.iter().cloned());
            }
        }
        if let Some(c) = &self.candidate {
            wanted.insert(c.node.clone());
        }
        for n in &wanted {
            self.ensure_checker(n);
        }
        self.checkers.retain(|n, _| wanted.contains(n));
        self.health.retain(|n, _| wanted.contains(n));
    }

    fn node(&self, h: &HostPort) -> Option<Node> {
        let report = self.health.get(h)?;
        Some(Node {
            name: h.to_string().into(),
            addr: report.addr?,
        })
    }

    /// Publish the route the current knowledge implies, if it differs from the one out there.
    fn publish(&mut self) {
        let current = self.writer.current();
        let cand = self.candidate.as_ref();
        let confirmed = cand.and_then(|c| match self.health.get(&c.node).map(|h| &h.role) {
            Some(Role::Master) => self.node(&c.node),
            _ => None,
        });
        let hold_for_fence = self.fenced && self.fence.policy == crate::config::FencePolicy::Hold;
        let (state, master) = match confirmed {
            Some(n) if hold_for_fence => (RouteState::Holding, Some(n)),
            // The announced failover of this very master holds it; a new master is served.
            Some(n)
                if !self.failing_over.is_empty()
                    && current.master.as_ref().map(|c| c.addr) == Some(n.addr) =>
            {
                (RouteState::Holding, Some(n))
            }
            Some(n) => (RouteState::Serving, Some(n)),
            // Keep the previous master in the route (same generation) but stop serving it: a
            // master that comes back keeps its sessions, a new one bumps the generation.
            None if current.master.is_some() => (RouteState::Holding, current.master.clone()),
            None => (RouteState::NoMaster, None),
        };
        let mut replica_names: BTreeSet<&HostPort> = BTreeSet::new();
        for s in self.sentinels.values() {
            if let Some(v) = &s.view {
                replica_names.extend(v.replicas.iter());
            }
        }
        let replicas: Vec<Node> = replica_names
            .into_iter()
            .filter(|h| Some(*h) != cand.map(|c| &c.node))
            .filter(|h| {
                matches!(
                    self.health.get(*h).map(|r| &r.role),
                    Some(Role::Replica {
                        connected: true,
                        ..
                    })
                )
            })
            .filter_map(|h| self.node(h))
            .collect();
        let same = current.state == state
            && current.master.as_ref().map(|n| n.addr) == master.as_ref().map(|n| n.addr)
            && current.replicas == replicas;
        if same {
            return;
        }
        let route = self.writer.publish(state, master, replicas);
        match (route.state, self.holding_since) {
            (RouteState::Holding, None) => self.holding_since = Some(Instant::now()),
            (RouteState::Serving, Some(t)) => {
                histogram!(m::HOLD_SECONDS).record(t.elapsed().as_secs_f64());
                self.holding_since = None;
            }
            _ => {}
        }
        export_route(&route, Some(&current));
        let since_switch_ms = if route.state == RouteState::Serving {
            self.candidate
                .as_mut()
                .and_then(|c| c.switched_at.take())
                .map(|t| t.elapsed().as_secs_f64() * 1000.0)
        } else {
            None
        };
        tracing::info!(
            generation = route.generation,
            state = ?route.state,
            master = route.master.as_ref().map(|n| n.name.to_string()).unwrap_or_default(),
            replicas = route.replicas.len(),
            since_switch_ms,
            "route published"
        );
    }
}

/// Route gauges and the master-change counter for a newly published route.
fn export_route(route: &crate::route::Route, previous: Option<&crate::route::Route>) {
    gauge!(m::ROUTE_GENERATION).set(route.generation as f64);
    for (s, name) in [
        (RouteState::NoMaster, "no_master"),
        (RouteState::Serving, "serving"),
        (RouteState::Holding, "holding"),
    ] {
        gauge!(m::ROUTE_STATE, "state" => name).set(if s == route.state { 1.0 } else { 0.0 });
    }
    let Some(previous) = previous else {
        return;
    };
    if route.generation != previous.generation {
        counter!(m::MASTER_CHANGES).increment(1);
        if let Some(old) = &previous.master {
            gauge!(m::MASTER_INFO, "address" => old.name.to_string()).set(0.0);
        }
        if let Some(new) = &route.master {
            gauge!(m::MASTER_INFO, "address" => new.name.to_string()).set(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::sentinel::{MasterView, Report, SentinelReport};

    fn controller(configured: usize) -> Controller {
        let (writer, _reader) = crate::route::table();
        let (health_tx, _health_rx) = mpsc::channel(16);
        let (_tx, shutdown) = watch::channel(false);
        Controller::new(
            writer,
            CheckSettings {
                password: None,
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
            },
            Duration::from_secs(15),
            crate::config::Fence {
                time: Duration::from_secs(30),
                policy: crate::config::FencePolicy::Serve,
            },
            configured,
            health_tx,
            shutdown,
        )
    }

    fn view(from: u16, master: u16, epoch: u64) -> SentinelReport {
        SentinelReport {
            sentinel: SocketAddr::from(([127, 0, 0, 1], from)),
            report: Report::View(MasterView {
                master: Some(HostPort::new("127.0.0.1", master)),
                epoch,
                replicas: vec![],
                flags: "master".into(),
            }),
        }
    }

    fn candidate(c: &Controller) -> Option<u16> {
        c.candidate.as_ref().map(|c| c.node.port)
    }

    #[tokio::test]
    async fn the_first_view_alone_is_no_majority() {
        let mut c = controller(3);
        c.on_sentinel(view(1, 6379, 0));
        assert_eq!(candidate(&c), None, "1 of 3 configured Sentinels");
        c.on_sentinel(view(2, 6379, 0));
        assert_eq!(candidate(&c), Some(6379));
    }

    #[tokio::test]
    async fn one_against_one_elects_nobody_and_stale_majorities_cannot_pull_back() {
        let mut c = controller(2);
        c.on_sentinel(view(1, 6379, 0));
        c.on_sentinel(view(2, 6380, 0));
        assert_eq!(candidate(&c), None);

        let mut c = controller(3);
        for s in 1..=3 {
            c.on_sentinel(view(s, 6379, 1));
        }
        assert_eq!(candidate(&c), Some(6379));
        // A +switch-master moves the route; two Sentinels still reporting the old master with
        // the old epoch do not move it back.
        c.on_sentinel(SentinelReport {
            sentinel: SocketAddr::from(([127, 0, 0, 1], 1)),
            report: Report::Event(crate::control::sentinel::Event {
                name: "+switch-master".into(),
                switch: Some((
                    HostPort::new("127.0.0.1", 6379),
                    HostPort::new("127.0.0.1", 6380),
                )),
                instance: None,
            }),
        });
        assert_eq!(candidate(&c), Some(6380));
        c.on_sentinel(view(2, 6379, 1));
        c.on_sentinel(view(3, 6379, 1));
        assert_eq!(candidate(&c), Some(6380));
        // A majority with a newer epoch does move it.
        c.on_sentinel(view(2, 6381, 5));
        c.on_sentinel(view(3, 6381, 5));
        assert_eq!(candidate(&c), Some(6381));
    }
}
