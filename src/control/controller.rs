//! The controller: the one task that decides where traffic goes and the only writer of the route.
//!
//! Inputs are Sentinel reports (views, events, link state) and ROLE health reports. The master
//! candidate comes from Sentinel: at start the address a strict majority of the known Sentinels
//! report; afterwards a `+switch-master` from any Sentinel (only published after a
//! majority-authorised election), or a strict majority reporting a newer configuration epoch.
//! ROLE only confirms: a candidate is routed to while it answers `master`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use metrics::{counter, gauge};
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
}

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
}

impl Controller {
    pub fn new(
        writer: RouteWriter,
        check_settings: CheckSettings,
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
        }
    }

    /// Run until shutdown.
    pub async fn run(
        mut self,
        mut sentinel_rx: mpsc::Receiver<SentinelReport>,
        mut health_rx: mpsc::Receiver<HealthReport>,
    ) {
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                Some(r) = sentinel_rx.recv() => self.on_sentinel(r),
                Some(h) = health_rx.recv() => self.on_health(h),
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
                s.up = false;
                // A stale view must not vote.
                s.view = None;
                gauge!(m::SENTINEL_LINK_UP, "sentinel" => label).set(0.0);
            }
            Report::Removed => {
                tracing::info!(sentinel = %r.sentinel, "Sentinel left DNS; forgotten");
                self.sentinels.remove(&r.sentinel);
                gauge!(m::SENTINEL_LINK_UP, "sentinel" => label).set(0.0);
            }
            Report::View(view) => {
                if let (Some(c), Some(v)) = (&self.candidate, &view.master) {
                    if *v != c.node {
                        let was = self
                            .sentinels
                            .get(&r.sentinel)
                            .and_then(|s| s.view.as_ref())
                            .and_then(|v| v.master.clone());
                        if was.as_ref() != Some(v) {
                            tracing::info!(sentinel = %r.sentinel, reports = %v, routed = %c.node,
                                epoch = view.epoch, "Sentinel reports another master");
                            counter!(m::SENTINEL_DISAGREEMENTS).increment(1);
                        }
                    }
                }
                let s = self.sentinels.entry(r.sentinel).or_default();
                s.up = true;
                s.view = Some(view);
                self.elect();
            }
            Report::Event(ev) => {
                counter!(m::SENTINEL_EVENTS, "event" => ev.name.clone()).increment(1);
                if let Some((old, new)) = ev.switch {
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
        let total = self.sentinels.len();
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
        let (state, master) = match confirmed {
            Some(n) => (RouteState::Serving, Some(n)),
            // Keep the previous master in the route (same generation) but stop serving it: a
            // master that comes back keeps its sessions, a new one bumps the generation.
            None if current.master.is_some() => (RouteState::Holding, current.master.clone()),
            None => (RouteState::NoMaster, None),
        };
        let mut replica_names: BTreeSet<&HostPort> = BTreeSet::new();
        for s in self.sentinels.values().filter(|s| s.up) {
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
        gauge!(m::ROUTE_GENERATION).set(route.generation as f64);
        for (s, name) in [
            (RouteState::NoMaster, "no_master"),
            (RouteState::Serving, "serving"),
            (RouteState::Holding, "holding"),
        ] {
            gauge!(m::ROUTE_STATE, "state" => name).set(if s == route.state { 1.0 } else { 0.0 });
        }
        if route.generation != current.generation {
            counter!(m::MASTER_CHANGES).increment(1);
            if let Some(old) = &current.master {
                gauge!(m::MASTER_INFO, "address" => old.name.to_string()).set(0.0);
            }
            if let Some(new) = &route.master {
                gauge!(m::MASTER_INFO, "address" => new.name.to_string()).set(1.0);
            }
        }
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
