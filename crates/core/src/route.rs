//! The routing state shared by the control plane (one writer) and every session (readers).
//!
//! [`RouteWriter`] is deliberately not `Clone`: the controller task owns the only one. Readers
//! load the current [`Route`] lock-free from an `ArcSwap` and are woken through a `watch`
//! channel when it changes, so sessions never poll.
//!
//! Publishing a new master is fenced: a session checks the generation and writes to its
//! upstream while holding the read side of `gate`, and the writer swaps the route under the
//! write side. Once `publish` returns, no session can still be writing to the previous master.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use arc_swap::ArcSwap;
use tokio::sync::watch;

/// A node the proxy may connect to: the address Sentinel reported, resolved once when adopted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    /// As Sentinel reports it (`ip:port`, or `host:port` with announce-hostnames).
    pub name: Arc<str>,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    /// No master confirmed yet (startup, or Sentinels disagree): commands wait, then fail.
    NoMaster,
    /// A confirmed master takes commands.
    Serving,
    /// A failover is under way or the master stopped answering: commands wait.
    Holding,
}

/// One immutable snapshot of where traffic goes.
#[derive(Debug, Clone)]
pub struct Route {
    /// Bumped every time the master changes; sessions bound to an older generation must not
    /// write to their upstream any more.
    pub generation: u64,
    pub state: RouteState,
    pub master: Option<Node>,
    /// Healthy replicas (ROLE slave, link connected), for the replica port.
    pub replicas: Vec<Node>,
}

impl Route {
    /// The master, only while commands may be sent to it.
    pub fn serving_master(&self) -> Option<&Node> {
        match self.state {
            RouteState::Serving => self.master.as_ref(),
            _ => None,
        }
    }
}

struct Shared {
    current: ArcSwap<Route>,
    gate: RwLock<()>,
    /// Bumped after every publication: sessions compare it with one atomic load per wakeup
    /// instead of polling the watch channel.
    publications: AtomicU64,
    /// Wakes subscribers on every publication.
    tx: watch::Sender<u64>,
}

/// The single writer of the route, owned by the controller task.
pub struct RouteWriter {
    shared: Arc<Shared>,
}

/// A cheap, cloneable read handle for sessions, listeners and the admin endpoint.
#[derive(Clone)]
pub struct RouteReader {
    shared: Arc<Shared>,
}

/// Create the route table with no master.
pub fn table() -> (RouteWriter, RouteReader) {
    let shared = Arc::new(Shared {
        current: ArcSwap::from_pointee(Route {
            generation: 0,
            state: RouteState::NoMaster,
            master: None,
            replicas: Vec::new(),
        }),
        gate: RwLock::new(()),
        publications: AtomicU64::new(0),
        tx: watch::channel(0).0,
    });
    (
        RouteWriter {
            shared: shared.clone(),
        },
        RouteReader { shared },
    )
}

impl RouteWriter {
    pub fn current(&self) -> Arc<Route> {
        self.shared.current.load_full()
    }

    /// Publish a new route. When the master changes the generation is bumped here, under the
    /// write side of the gate, so the caller cannot forget it.
    pub fn publish(
        &self,
        state: RouteState,
        master: Option<Node>,
        replicas: Vec<Node>,
    ) -> Arc<Route> {
        let old = self.shared.current.load_full();
        let master_changed = old.master.as_ref().map(|n| n.addr) != master.as_ref().map(|n| n.addr);
        let generation = old.generation + u64::from(master_changed);
        let route = Arc::new(Route {
            generation,
            state,
            master,
            replicas,
        });
        {
            // Poisoning only means a session panicked mid-write; the route must still move on.
            let _fence = self.shared.gate.write().unwrap_or_else(|e| e.into_inner());
            self.shared.current.store(route.clone());
        }
        self.shared.publications.fetch_add(1, Ordering::Release);
        self.shared.tx.send_modify(|v| *v += 1);
        route
    }
}

impl RouteReader {
    pub fn load(&self) -> Arc<Route> {
        self.shared.current.load_full()
    }

    /// The generation now, without cloning the route (hot path).
    pub fn generation(&self) -> u64 {
        self.shared.current.load().generation
    }

    /// The generation while the route serves a master, without cloning it (hot path).
    pub fn serving_generation(&self) -> Option<u64> {
        let r = self.shared.current.load();
        (r.state == RouteState::Serving).then_some(r.generation)
    }

    /// Hold while checking the generation and writing to an upstream (see the module docs).
    /// Never hold it across an `.await`.
    pub fn fence(&self) -> RwLockReadGuard<'_, ()> {
        self.shared.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How many routes have been published so far (one atomic load, for the hot path).
    pub fn publications(&self) -> u64 {
        self.shared.publications.load(Ordering::Acquire)
    }

    /// Wake every session as a publication would, without changing the route: sessions read
    /// the lifecycle's stage when they wake, so the drain needs no waiter of its own in each
    /// idle session (one less ~90-byte future per connection).
    pub fn wake_sessions(&self) {
        self.shared.tx.send_modify(|_| {});
    }

    /// A receiver that wakes on every publication.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.tx.subscribe()
    }

    /// Wait until the route satisfies `f` (checked now and after every publication).
    pub async fn wait_for(&self, mut f: impl FnMut(&Route) -> bool) -> Arc<Route> {
        let mut rx = self.subscribe();
        loop {
            rx.borrow_and_update();
            let r = self.load();
            if f(&r) {
                return r;
            }
            // The sender lives as long as any reader: this cannot fail.
            let _ = rx.changed().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(port: u16) -> Node {
        Node {
            name: format!("127.0.0.1:{port}").into(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    #[test]
    fn generation_moves_only_with_the_master() {
        let (w, r) = table();
        assert_eq!(r.generation(), 0);
        w.publish(RouteState::Serving, Some(node(1)), vec![]);
        assert_eq!(r.generation(), 1);
        w.publish(RouteState::Serving, Some(node(1)), vec![node(2)]);
        assert_eq!(r.generation(), 1, "replica change keeps the generation");
        w.publish(RouteState::Holding, Some(node(1)), vec![node(2)]);
        assert_eq!(r.generation(), 1, "holding keeps the generation");
        assert!(r.load().serving_master().is_none());
        w.publish(RouteState::Serving, Some(node(2)), vec![]);
        assert_eq!(r.generation(), 2);
        assert_eq!(r.load().serving_master().unwrap().addr.port(), 2);
    }

    #[tokio::test]
    async fn readers_are_woken() {
        let (w, r) = table();
        let waiter = tokio::spawn({
            let r = r.clone();
            async move { r.wait_for(|r| r.serving_master().is_some()).await }
        });
        tokio::task::yield_now().await;
        w.publish(RouteState::Serving, Some(node(9)), vec![]);
        let got = waiter.await.unwrap();
        assert_eq!(got.master.as_ref().unwrap().addr.port(), 9);
    }
}
