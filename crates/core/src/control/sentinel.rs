//! Sentinel watchers: one task per Sentinel address, reporting to the controller.
//!
//! Each configured entry may be a DNS name (a headless Service); a supervisor resolves it again
//! whenever one of its links drops and every address behind it becomes one watcher. A watcher
//! keeps two connections: one subscribed to every event (`PSUBSCRIBE *`), one for queries.
//! It subscribes first and queries after, because events published while we were not
//! subscribed are lost and only a fresh query covers that gap.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use redis_protocol::resp2::types::BytesFrame;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::conn::{field, frame_str, ConnError, RespConn};
use super::event::{parse_event, requery_after, Event};
use crate::config::{HostPort, Secret};
use crate::lifecycle::Lifecycle;

/// What a Sentinel told us about our master.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterView {
    /// Where this Sentinel says the master is (None: it does not know the name).
    pub master: Option<HostPort>,
    /// The configuration epoch of that view; higher wins when Sentinels disagree.
    pub epoch: u64,
    /// Replicas this Sentinel sees, without the ones it flags down or disconnected.
    pub replicas: Vec<HostPort>,
    /// Flags of the master as this Sentinel sees it (`s_down`, `o_down`, `failover_in_progress`…).
    pub flags: String,
}

impl MasterView {
    /// This Sentinel sees its master objectively down or is failing it over.
    pub fn failing_over(&self) -> bool {
        self.flags
            .split(',')
            .any(|f| matches!(f, "o_down" | "failover_in_progress"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A configured entry resolved to this address; it counts in the majority from now on.
    Known,
    LinkUp,
    LinkDown(String),
    View(MasterView),
    Event(Event),
    /// The address left DNS; forget this Sentinel.
    Removed,
}

#[derive(Debug, Clone)]
pub struct SentinelReport {
    pub sentinel: SocketAddr,
    pub report: Report,
}

/// Settings every watcher shares.
#[derive(Clone)]
pub struct WatchSettings {
    pub master_name: String,
    /// Plain or TLS (sentinel_tls).
    pub dialer: crate::tls::Dialer,
    pub password: Option<Secret>,
    pub connect_timeout: Duration,
    pub query_interval: Duration,
}

fn parse_view(master: &BytesFrame, replicas: &BytesFrame) -> Result<MasterView, ConnError> {
    let bad = |what: &str| ConnError::Protocol(format!("SENTINEL reply: {what}"));
    let fields = match master {
        BytesFrame::Array(items) => items,
        _ => return Err(bad("SENTINEL MASTER is not an array")),
    };
    let ip = field(fields, "ip").ok_or_else(|| bad("no ip"))?;
    let port = field(fields, "port")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| bad("no port"))?;
    let epoch = field(fields, "config-epoch")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let flags = field(fields, "flags").unwrap_or("").to_string();
    let mut list = Vec::new();
    if let BytesFrame::Array(items) = replicas {
        for item in items {
            let BytesFrame::Array(kv) = item else {
                return Err(bad("SENTINEL REPLICAS entry is not an array"));
            };
            let flags = field(kv, "flags").unwrap_or("");
            if flags
                .split(',')
                .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"))
            {
                continue;
            }
            let (Some(ip), Some(port)) = (
                field(kv, "ip"),
                field(kv, "port").and_then(|p| p.parse().ok()),
            ) else {
                return Err(bad("replica without ip or port"));
            };
            list.push(HostPort {
                host: ip.to_string(),
                port,
            });
        }
    } else {
        return Err(bad("SENTINEL REPLICAS is not an array"));
    }
    list.sort();
    Ok(MasterView {
        master: Some(HostPort {
            host: ip.to_string(),
            port,
        }),
        epoch,
        replicas: list,
        flags,
    })
}

async fn query(conn: &mut RespConn, name: &str) -> Result<MasterView, ConnError> {
    let master = match conn
        .command(&[b"SENTINEL", b"MASTER", name.as_bytes()])
        .await
    {
        Ok(f) => f,
        // Sentinel answers an error for a master name it does not monitor.
        Err(ConnError::Redis(e)) if e.contains("No such master") => {
            return Ok(MasterView {
                master: None,
                epoch: 0,
                replicas: Vec::new(),
                flags: String::new(),
            })
        }
        Err(e) => return Err(e),
    };
    let replicas = conn
        .command(&[b"SENTINEL", b"REPLICAS", name.as_bytes()])
        .await?;
    parse_view(&master, &replicas)
}

/// Decode a `pmessage` frame into (channel, payload).
fn pmessage(frame: &BytesFrame) -> Option<(&str, &str)> {
    let BytesFrame::Array(items) = frame else {
        return None;
    };
    match items.as_slice() {
        [kind, _pattern, channel, payload] if frame_str(kind) == Some("pmessage") => {
            Some((frame_str(channel)?, frame_str(payload)?))
        }
        _ => None,
    }
}

/// One link to one Sentinel address; returns when the link fails.
async fn watch_once(
    addr: SocketAddr,
    settings: &WatchSettings,
    tx: &mpsc::Sender<SentinelReport>,
) -> Result<(), ConnError> {
    let t = settings.connect_timeout;
    let pw = settings.password.as_ref();
    let mut events = RespConn::connect_auth_with(&settings.dialer, addr, pw, t).await?;
    events.send(&[b"PSUBSCRIBE", b"*"]).await?;
    let confirm = tokio::time::timeout(t, events.read_frame())
        .await
        .map_err(|_| ConnError::Timeout(t))??;
    if let BytesFrame::Array(items) = &confirm {
        if items.first().and_then(frame_str) != Some("psubscribe") {
            return Err(ConnError::Protocol("PSUBSCRIBE not confirmed".into()));
        }
    } else if let BytesFrame::Error(e) = &confirm {
        return Err(ConnError::Redis(e.to_string()));
    }
    let mut queries = RespConn::connect_auth_with(&settings.dialer, addr, pw, t).await?;
    let send = |report| {
        let tx = tx.clone();
        async move {
            tx.send(SentinelReport {
                sentinel: addr,
                report,
            })
            .await
            .is_ok()
        }
    };
    send(Report::LinkUp).await;
    let mut tick = tokio::time::interval(settings.query_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let requery = tokio::select! {
            _ = tick.tick() => true,
            frame = events.read_frame() => {
                let frame = frame?;
                match pmessage(&frame) {
                    Some((channel, payload)) => {
                        match parse_event(channel, payload, &settings.master_name) {
                            Some(ev) => {
                                let again = requery_after(&ev.kind, &ev.name);
                                if !send(Report::Event(ev)).await { return Ok(()); }
                                again
                            }
                            None => false,
                        }
                    }
                    None => return Err(ConnError::Protocol(format!(
                        "unexpected {} on the event link", super::conn::frame_kind(&frame)))),
                }
            }
        };
        if requery {
            let view = tokio::time::timeout(t, query(&mut queries, &settings.master_name))
                .await
                .map_err(|_| ConnError::Timeout(t))??;
            if !send(Report::View(view)).await {
                return Ok(());
            }
        }
    }
}

/// Keep one Sentinel address watched (until the stop or the supervisor drops this future);
/// `lost` tells the supervisor to re-resolve.
async fn watcher(
    addr: SocketAddr,
    settings: WatchSettings,
    tx: mpsc::Sender<SentinelReport>,
    lost: mpsc::UnboundedSender<()>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let result = watch_once(addr, &settings, &tx).await;
        let reason = match result {
            Ok(()) => "closed".to_string(),
            Err(e) => e.to_string(),
        };
        let up_report = SentinelReport {
            sentinel: addr,
            report: Report::LinkDown(reason),
        };
        if tx.send(up_report).await.is_err() {
            return;
        }
        let _ = lost.send(());
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(settings.query_interval.max(Duration::from_millis(500)));
    }
}

/// Resolve `entry` now and then, keeping exactly one watcher per address behind it.
pub async fn supervise(
    entry: HostPort,
    settings: WatchSettings,
    tx: mpsc::Sender<SentinelReport>,
    lifecycle: Lifecycle,
) {
    let (lost_tx, mut lost_rx) = mpsc::unbounded_channel::<()>();
    let mut watchers: HashMap<SocketAddr, JoinHandle<()>> = HashMap::new();
    // Re-resolve on every lost link, and at least this often so scale-ups are noticed.
    let refresh = Duration::from_secs(30);
    loop {
        match tokio::net::lookup_host((entry.host.as_str(), entry.port)).await {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                for gone in watchers
                    .keys()
                    .filter(|a| !addrs.contains(a))
                    .copied()
                    .collect::<Vec<_>>()
                {
                    if let Some(h) = watchers.remove(&gone) {
                        h.abort();
                    }
                    let _ = tx
                        .send(SentinelReport {
                            sentinel: gone,
                            report: Report::Removed,
                        })
                        .await;
                }
                for a in addrs {
                    if !watchers.contains_key(&a) {
                        // Announce the address before its watcher can report a view, so the
                        // controller counts it in the majority from the start.
                        let _ = tx
                            .send(SentinelReport {
                                sentinel: a,
                                report: Report::Known,
                            })
                            .await;
                    }
                    watchers.entry(a).or_insert_with(|| {
                        lifecycle.spawn_until_stop(watcher(
                            a,
                            settings.clone(),
                            tx.clone(),
                            lost_tx.clone(),
                        ))
                    });
                }
            }
            Err(e) => {
                tracing::warn!(sentinel = %entry, error = %e, "cannot resolve Sentinel address; retrying");
            }
        }
        let wait = if watchers.is_empty() {
            Duration::from_secs(1)
        } else {
            refresh
        };
        tokio::select! {
            _ = lost_rx.recv() => {
                // Several links may drop at once; one resolution covers them all.
                tokio::time::sleep(Duration::from_millis(200)).await;
                while lost_rx.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
