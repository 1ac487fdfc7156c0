//! The controller task: the shell around [`Machine`], and the only writer of the route.
//!
//! It turns Sentinel and ROLE reports into machine inputs stamped with the time, and carries
//! out the effects: publishing routes, running ROLE checkers, logging and counting. Every
//! decision is the machine's (`machine.rs`); nothing here chooses a master.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics::{counter, gauge, histogram};
use tokio::sync::mpsc;

use super::health::{spawn_checker, CheckSettings, Checker, HealthReport, Role};
use super::machine::{Effect, HoldEnd, Input, Machine, Note, Settings};
use super::sentinel::{Report, SentinelReport};
use crate::config::{FencePolicy, HostPort};
use crate::lifecycle::Lifecycle;
use crate::metrics as m;
use crate::route::{RouteState, RouteWriter};

/// Why each unreachable Sentinel is unreachable, for /readyz; written by the controller only.
#[derive(Clone, Default)]
pub struct LinkProblems(Arc<Mutex<BTreeMap<SocketAddr, String>>>);

impl LinkProblems {
    /// One line per Sentinel that is not connected, with its last error.
    pub fn lines(&self) -> Vec<String> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(a, why)| format!("Sentinel {a} unreachable: {why}"))
            .collect()
    }

    fn set(&self, sentinel: SocketAddr, why: Option<String>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match why {
            Some(w) => map.insert(sentinel, w),
            None => map.remove(&sentinel),
        };
    }
}

pub struct Controller {
    machine: Machine,
    writer: RouteWriter,
    checkers: HashMap<HostPort, Checker>,
    check_settings: CheckSettings,
    health_tx: mpsc::Sender<HealthReport>,
    lifecycle: Lifecycle,
    problems: LinkProblems,
    started: Instant,
}

impl Controller {
    pub fn new(
        writer: RouteWriter,
        check_settings: CheckSettings,
        settings: Settings,
        problems: LinkProblems,
        health_tx: mpsc::Sender<HealthReport>,
        lifecycle: Lifecycle,
    ) -> Controller {
        Controller {
            machine: Machine::new(settings),
            writer,
            checkers: HashMap::new(),
            check_settings,
            health_tx,
            lifecycle,
            problems,
            started: Instant::now(),
        }
    }

    /// Run (until the stop drops this future).
    pub async fn run(
        mut self,
        mut sentinel_rx: mpsc::Receiver<SentinelReport>,
        mut health_rx: mpsc::Receiver<HealthReport>,
    ) {
        // The state families exist from the start, so "no master yet" is visible to alerts.
        let start = self.writer.current();
        export_route(&start, None);
        // Re-evaluates expiring holds and fences even when no report arrives.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            let input = tokio::select! {
                Some(r) = sentinel_rx.recv() => sentinel_input(r),
                Some(h) = health_rx.recv() => Input::Role { node: h.node, addr: h.addr, role: h.role },
                _ = tick.tick() => Input::Tick,
            };
            let now = self.started.elapsed();
            for effect in self.machine.step(now, input) {
                self.apply(effect);
            }
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Publish {
                decision,
                since_switch,
            } => {
                let previous = self.writer.current();
                let route = self
                    .writer
                    .publish(decision.state, decision.master, decision.replicas);
                export_route(&route, Some(&previous));
                tracing::info!(
                    generation = route.generation,
                    state = ?route.state,
                    master = route.master.as_ref().map(|n| n.name.to_string()).unwrap_or_default(),
                    replicas = route.replicas.len(),
                    since_switch_ms = since_switch.map(|d| d.as_secs_f64() * 1000.0),
                    "route published"
                );
            }
            Effect::StartChecker(node) => {
                let c = spawn_checker(
                    node.clone(),
                    self.check_settings.clone(),
                    self.health_tx.clone(),
                    &self.lifecycle,
                );
                self.checkers.insert(node, c);
            }
            Effect::StopChecker(node) => {
                self.checkers.remove(&node);
            }
            Effect::Poke(node) => {
                if let Some(c) = self.checkers.get(&node) {
                    c.poke.notify_one();
                }
            }
            Effect::Note(note) => self.note(note),
        }
    }

    fn note(&self, note: Note) {
        match note {
            Note::LinkUp(s) => {
                tracing::info!(sentinel = %s, "Sentinel link up");
                gauge!(m::SENTINEL_LINK_UP, "sentinel" => s.to_string()).set(1.0);
                self.problems.set(s, None);
            }
            Note::LinkDown {
                sentinel,
                reason,
                first,
            } => {
                if first {
                    tracing::warn!(%sentinel, error = %reason, "Sentinel unreachable (check the address, SENTINEL_PASSWORD and that it monitors the master name); retrying");
                } else {
                    tracing::debug!(%sentinel, error = %reason, "Sentinel still unreachable");
                }
                gauge!(m::SENTINEL_LINK_UP, "sentinel" => sentinel.to_string()).set(0.0);
                counter!(m::SENTINEL_LINK_ERRORS, "sentinel" => sentinel.to_string()).increment(1);
                self.problems.set(sentinel, Some(reason));
            }
            Note::Removed(s) => {
                tracing::info!(sentinel = %s, "Sentinel left DNS; forgotten");
                gauge!(m::SENTINEL_LINK_UP, "sentinel" => s.to_string()).set(0.0);
                self.problems.set(s, None);
            }
            Note::EventSeen { sentinel, name } => {
                tracing::debug!(%sentinel, event = %name, "Sentinel event");
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                gauge!(m::SENTINEL_LAST_EVENT, "sentinel" => sentinel.to_string()).set(now);
                counter!(m::SENTINEL_EVENTS, "event" => name).increment(1);
            }
            Note::MasterAgreed {
                master,
                epoch,
                sentinels,
            } => {
                tracing::info!(%master, epoch, sentinels, "master agreed by a majority of Sentinels")
            }
            Note::MajorityMoved {
                master,
                epoch,
                previous,
            } => tracing::warn!(%master, epoch, %previous,
                "a majority of Sentinels moved to a newer master without an event we saw"),
            Note::SwitchAdopted {
                sentinel,
                old,
                new,
                epoch,
            } => {
                counter!(m::FAILOVERS).increment(1);
                tracing::info!(%sentinel, %old, %new, epoch, "+switch-master adopted");
            }
            Note::SwitchDuplicate {
                sentinel,
                new,
                epoch,
            } => {
                counter!(m::SWITCHES_IGNORED, "why" => "duplicate").increment(1);
                tracing::debug!(%sentinel, %new, epoch, "+switch-master to the routed master: duplicate");
            }
            Note::SwitchStale {
                sentinel,
                new,
                epoch,
                routed_epoch,
            } => {
                counter!(m::SWITCHES_IGNORED, "why" => "stale").increment(1);
                tracing::info!(%sentinel, %new, epoch, routed_epoch,
                    "+switch-master older than the routed master's epoch: a late announcement, ignored");
            }
            Note::HoldStarted {
                master,
                sentinel,
                event,
            } => {
                tracing::info!(%master, %sentinel, %event, "failover announced: holding new commands")
            }
            Note::HoldEnded {
                master,
                why,
                held_for,
            } => match why {
                HoldEnd::Timeout => tracing::warn!(%master, after = ?held_for,
                    "announced failover neither switched nor aborted within the hold timeout; resuming"),
                HoldEnd::Aborted => tracing::info!(%master, after = ?held_for, "failover aborted"),
                HoldEnd::Switched => tracing::debug!(%master, after = ?held_for, "failover switched"),
            },
            Note::HoldSuspended { master, suspended } => {
                if suspended {
                    tracing::warn!(%master, "failover stalled: the promoted replica is a replica of the held master again and it is still master; resuming");
                } else {
                    tracing::info!(%master, "stalled failover moving again: holding");
                }
            }
            Note::HoldSeconds(d) => histogram!(m::HOLD_SECONDS).record(d.as_secs_f64()),
            Note::Disagreement {
                sentinel,
                reports,
                routed,
            } => {
                counter!(m::SENTINEL_DISAGREEMENTS).increment(1);
                tracing::warn!(%sentinel, reports = ?reports.map(|h| h.to_string()),
                    routed = ?routed.map(|h| h.to_string()),
                    "a Sentinel keeps reporting another master; ignored");
            }
            Note::Fence {
                fenced,
                after,
                policy,
            } => match (fenced, policy) {
                (true, FencePolicy::Hold) => tracing::warn!(?after,
                    "no Sentinel reachable: fence policy hold, forwarding stops until one is back"),
                (true, FencePolicy::Serve) => tracing::warn!(?after,
                    "no Sentinel reachable: fence policy serve, still routing to the ROLE-confirmed master"),
                (false, _) => tracing::info!("a Sentinel is reachable again; fence lifted"),
            },
            Note::NodeRole { node, role } => export_role(&node, &role),
        }
    }
}

fn sentinel_input(r: SentinelReport) -> Input {
    let sentinel = r.sentinel;
    match r.report {
        Report::Known => {
            // Registered at 0 so the family is there before the first error.
            counter!(m::SENTINEL_LINK_ERRORS, "sentinel" => sentinel.to_string()).increment(0);
            Input::SentinelKnown(sentinel)
        }
        Report::LinkUp => Input::SentinelUp(sentinel),
        Report::LinkDown(reason) => Input::SentinelDown { sentinel, reason },
        Report::Removed => Input::SentinelRemoved(sentinel),
        Report::View(view) => Input::View { sentinel, view },
        Report::Event(event) => Input::Event { sentinel, event },
    }
}

fn export_role(node: &HostPort, role: &Role) {
    match role {
        Role::Down(reason) | Role::Unusable(reason) => {
            tracing::warn!(%node, %reason, "node check failed")
        }
        role => tracing::info!(%node, ?role, "node role"),
    }
    let (ok, name) = match role {
        Role::Master => (1.0, "master"),
        Role::Replica {
            connected: true, ..
        } => (1.0, "replica"),
        Role::Replica { .. } => (0.0, "replica"),
        _ => (0.0, "unknown"),
    };
    for r in ["master", "replica", "unknown"] {
        let v = if r == name { ok } else { 0.0 };
        gauge!(m::NODE_HEALTHY, "node" => node.to_string(), "role" => r).set(v);
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
