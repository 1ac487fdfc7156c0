//! The Sentinel event timeline: one `PSUBSCRIBE *` per Sentinel, every message timestamped
//! against the benchmark's clock. `__sentinel__:hello` gossip is left out; so are events about
//! other masters the Sentinels may monitor.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_protocol::resp2::types::BytesFrame;
use serde::Serialize;
use tokio::sync::watch;

use sentinel_proxy_core::config::Secret;
use sentinel_proxy_core::control::conn::{frame_str, RespConn};

/// One message a Sentinel published.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// Milliseconds since the benchmark started.
    pub t_ms: f64,
    /// The Sentinel's address.
    pub sentinel: String,
    /// The channel: `+switch-master`, `+sdown`, … (or `link-lost` / `link-up` for our own
    /// subscription to that Sentinel).
    pub event: String,
    pub payload: String,
}

impl Event {
    /// Is this event about the master itself (`master <name> …`), not a replica or a Sentinel?
    pub fn is_about_master(&self) -> bool {
        self.payload.starts_with("master ")
    }

    /// Events the report and the plot mark: the steps of a failover and the master going down.
    pub fn is_milestone(&self) -> bool {
        match self.event.as_str() {
            "+try-failover" | "+switch-master" | "+failover-end" | "+failover-end-for-timeout" => {
                true
            }
            "+sdown" | "+odown" | "-sdown" | "-odown" => self.is_about_master(),
            e => e.starts_with("-failover-abort"),
        }
    }
}

/// Does a Sentinel event concern `master_name`? Events that name no master at all (a new epoch,
/// a vote) are kept.
pub fn concerns(event: &str, payload: &str, master_name: &str) -> bool {
    if matches!(
        event,
        "+new-epoch" | "+vote-for-leader" | "+tilt" | "-tilt" | "link-lost" | "link-up"
    ) {
        return true;
    }
    payload.split_whitespace().any(|w| w == master_name)
}

/// Subscriptions to every Sentinel; `stop` ends them and returns the timeline.
pub struct Watcher {
    events: Arc<Mutex<Vec<Event>>>,
    subscribed: watch::Receiver<usize>,
    switch: watch::Receiver<Option<f64>>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Shared {
    events: Arc<Mutex<Vec<Event>>>,
    subscribed: watch::Sender<usize>,
    switch: watch::Sender<Option<f64>>,
    start: Instant,
    master_name: String,
}

impl Shared {
    fn push(&self, sentinel: SocketAddr, event: &str, payload: &str) {
        if event == "__sentinel__:hello" || !concerns(event, payload, &self.master_name) {
            return;
        }
        let t_ms = self.start.elapsed().as_secs_f64() * 1e3;
        if event == "+switch-master" {
            self.switch.send_if_modified(|s| {
                if s.is_none() {
                    *s = Some(t_ms);
                    true
                } else {
                    false
                }
            });
        }
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Event {
                t_ms: (t_ms * 10.0).round() / 10.0,
                sentinel: sentinel.to_string(),
                event: event.to_string(),
                payload: payload.to_string(),
            });
    }
}

/// Subscribe to every Sentinel in `sentinels` (reconnecting until stopped).
pub fn watch(
    sentinels: &[SocketAddr],
    password: Option<Secret>,
    master_name: &str,
    start: Instant,
) -> Watcher {
    let events = Arc::new(Mutex::new(Vec::new()));
    let (subscribed_tx, subscribed) = watch::channel(0usize);
    let (switch_tx, switch) = watch::channel(None);
    let (stop, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        events: events.clone(),
        subscribed: subscribed_tx,
        switch: switch_tx,
        start,
        master_name: master_name.to_string(),
    });
    let tasks = sentinels
        .iter()
        .map(|addr| {
            tokio::spawn(subscriber(
                *addr,
                password.clone(),
                shared.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    Watcher {
        events,
        subscribed,
        switch,
        stop,
        tasks,
    }
}

async fn subscriber(
    addr: SocketAddr,
    password: Option<Secret>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut link = Link::default();
    while !*stop.borrow() {
        let outcome = tokio::select! {
            r = session(addr, password.as_ref(), &shared, &mut link) => r,
            _ = stop.changed() => return,
        };
        let Err(e) = outcome;
        if link.ever_subscribed {
            shared.push(addr, "link-lost", &e);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[derive(Default)]
struct Link {
    ever_subscribed: bool,
}

/// One subscription, until it fails.
async fn session(
    addr: SocketAddr,
    password: Option<&Secret>,
    shared: &Shared,
    link: &mut Link,
) -> Result<std::convert::Infallible, String> {
    let mut c = RespConn::connect_auth(addr, password, Duration::from_secs(2))
        .await
        .map_err(|e| e.to_string())?;
    c.send(&[b"PSUBSCRIBE", b"*"])
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let items = match c.read_frame().await.map_err(|e| e.to_string())? {
            BytesFrame::Array(items) => items,
            BytesFrame::Error(e) => return Err(e.to_string()),
            _ => continue,
        };
        let parts: Vec<&str> = items.iter().filter_map(frame_str).collect();
        match parts.first().copied() {
            Some("psubscribe") => {
                if link.ever_subscribed {
                    shared.push(addr, "link-up", "subscription restored");
                } else {
                    link.ever_subscribed = true;
                    shared.subscribed.send_modify(|n| *n += 1);
                }
            }
            Some("pmessage") if parts.len() == 4 => shared.push(addr, parts[2], parts[3]),
            _ => {}
        }
    }
}

impl Watcher {
    /// Wait until `n` Sentinels confirmed the subscription (or `patience` ran out); returns
    /// how many did.
    pub async fn wait_subscribed(&mut self, n: usize, patience: Duration) -> usize {
        let _ = tokio::time::timeout(patience, self.subscribed.wait_for(|c| *c >= n)).await;
        *self.subscribed.borrow()
    }

    /// When the first `+switch-master` arrived (ms since start), if one did.
    pub fn switched_at(&self) -> Option<f64> {
        *self.switch.borrow()
    }

    /// Wait for the first `+switch-master`, at most `patience`.
    pub async fn wait_switch(&mut self, patience: Duration) -> Option<f64> {
        let _ = tokio::time::timeout(patience, self.switch.wait_for(|s| s.is_some())).await;
        self.switched_at()
    }

    /// How many events so far.
    pub fn count(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A handle that counts the events so far (for a progress display).
    pub fn counter(&self) -> impl Fn() -> usize + Send + 'static {
        let events = self.events.clone();
        move || events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// End the subscriptions; the timeline in time order.
    pub async fn stop(self) -> Vec<Event> {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let mut events =
            std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()));
        events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_other_masters_and_keeps_global_events() {
        assert!(concerns(
            "+switch-master",
            "mymaster 127.0.0.1 1 127.0.0.1 2",
            "mymaster"
        ));
        assert!(concerns(
            "+slave",
            "slave 127.0.0.1:2 127.0.0.1 2 @ mymaster 127.0.0.1 1",
            "mymaster"
        ));
        assert!(!concerns("+sdown", "master other 127.0.0.1 1", "mymaster"));
        assert!(concerns("+new-epoch", "7", "mymaster"));
    }

    #[test]
    fn milestones_are_failover_steps_and_master_down() {
        let e = |event: &str, payload: &str| Event {
            t_ms: 0.0,
            sentinel: "s".into(),
            event: event.into(),
            payload: payload.into(),
        };
        assert!(e("+switch-master", "m a 1 b 2").is_milestone());
        assert!(e("+odown", "master m 127.0.0.1 1 #quorum 2/2").is_milestone());
        assert!(!e("+sdown", "slave 127.0.0.1:2 127.0.0.1 2 @ m 127.0.0.1 1").is_milestone());
        assert!(e("-failover-abort-not-elected", "master m 127.0.0.1 1").is_milestone());
        assert!(!e("+slave", "slave x").is_milestone());
    }
}
