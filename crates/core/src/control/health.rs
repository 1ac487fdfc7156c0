//! ROLE checks: one task per node, asking `ROLE` every interval on a kept connection, and at
//! once when the controller needs an answer (a `+switch-master` names a new master).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_protocol::resp2::types::BytesFrame;
use tokio::sync::{mpsc, Notify};

use super::conn::{frame_int, frame_str, ConnError, RespConn};
use crate::config::{HostPort, Secret};
use crate::lifecycle::Lifecycle;

/// What a node said it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Master,
    /// A replica, its master, and whether its replication link is up (`connected`).
    Replica {
        master: HostPort,
        connected: bool,
    },
    /// Anything we must not route to (a Sentinel, an unexpected answer), with the reason.
    Unusable(String),
    /// No answer: refused, timed out, AUTH failed …
    Down(String),
}

#[derive(Debug, Clone)]
pub struct HealthReport {
    pub node: HostPort,
    /// The address the check connected to (what sessions will connect to).
    pub addr: Option<SocketAddr>,
    pub role: Role,
    pub at: Instant,
}

#[derive(Clone)]
pub struct CheckSettings {
    pub password: Option<Secret>,
    /// Plain or TLS, with the node port mapping (upstream_tls_port).
    pub dialer: crate::tls::Dialer,
    pub interval: Duration,
    pub timeout: Duration,
}

/// Interpret a ROLE reply.
pub fn parse_role(frame: &BytesFrame) -> Role {
    let BytesFrame::Array(items) = frame else {
        return Role::Unusable("ROLE reply is not an array".into());
    };
    match items.first().and_then(frame_str) {
        Some("master") => Role::Master,
        Some("slave") => {
            let host = items.get(1).and_then(frame_str);
            let port = items.get(2).and_then(frame_int);
            let state = items.get(3).and_then(frame_str);
            match (host, port) {
                (Some(h), Some(p)) if (1..=65535).contains(&p) => Role::Replica {
                    master: HostPort {
                        host: h.to_string(),
                        port: p as u16,
                    },
                    connected: state == Some("connected"),
                },
                _ => Role::Unusable("ROLE slave reply without master address".into()),
            }
        }
        Some(other) => Role::Unusable(format!("ROLE answered {other}")),
        None => Role::Unusable("ROLE reply is empty".into()),
    }
}

async fn resolve(node: &HostPort) -> Result<SocketAddr, ConnError> {
    let mut addrs = tokio::net::lookup_host((node.host.as_str(), node.port)).await?;
    addrs.next().ok_or_else(|| {
        ConnError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{node} resolves to no address"),
        ))
    })
}

/// A running checker: `poke` asks for an answer now.
pub struct Checker {
    pub poke: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn spawn_checker(
    node: HostPort,
    settings: CheckSettings,
    tx: mpsc::Sender<HealthReport>,
    lifecycle: &Lifecycle,
) -> Checker {
    let poke = Arc::new(Notify::new());
    let task = lifecycle.spawn_until_stop(check_loop(node, settings, tx, poke.clone()));
    Checker { poke, task }
}

async fn check_loop(
    node: HostPort,
    settings: CheckSettings,
    tx: mpsc::Sender<HealthReport>,
    poke: Arc<Notify>,
) {
    let mut conn: Option<RespConn> = None;
    let mut addr: Option<SocketAddr> = None;
    loop {
        let reused = conn.is_some();
        let mut result = check_once(&node, &settings, &mut conn, &mut addr).await;
        if result.is_err() && reused {
            // A kept connection may have been killed on purpose (Sentinel sends CLIENT KILL
            // when it reconfigures a node): one fresh attempt before calling the node down.
            conn = None;
            result = check_once(&node, &settings, &mut conn, &mut addr).await;
        }
        let role = match result {
            Ok(role) => role,
            Err(e) => {
                conn = None;
                Role::Down(e.to_string())
            }
        };
        let report = HealthReport {
            node: node.clone(),
            addr,
            role,
            at: Instant::now(),
        };
        if tx.send(report).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.interval) => {}
            _ = poke.notified() => {}
        }
    }
}

async fn check_once(
    node: &HostPort,
    settings: &CheckSettings,
    conn: &mut Option<RespConn>,
    addr: &mut Option<SocketAddr>,
) -> Result<Role, ConnError> {
    let t = settings.timeout;
    if conn.is_none() {
        let a = tokio::time::timeout(t, resolve(node))
            .await
            .map_err(|_| ConnError::Timeout(t))??;
        *addr = Some(a);
        let c = RespConn::connect_auth_with(&settings.dialer, a, settings.password.as_ref(), t)
            .await
            .map_err(|e| match e {
                ConnError::Redis(m) if m.contains("NOAUTH") || m.contains("WRONGPASS") => {
                    ConnError::Redis(format!(
                        "{m} (check REDIS_PASSWORD: it must be the nodes' requirepass)"
                    ))
                }
                other => other,
            })?;
        *conn = Some(c);
    }
    let c = conn.as_mut().expect("connected above");
    let started = Instant::now();
    let frame = tokio::time::timeout(t, c.command(&[b"ROLE"]))
        .await
        .map_err(|_| ConnError::Timeout(t))??;
    metrics::histogram!(crate::metrics::ROLE_CHECK_LATENCY, "node" => node.to_string())
        .record(started.elapsed().as_secs_f64());
    Ok(parse_role(&frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn bulk(s: &str) -> BytesFrame {
        BytesFrame::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn role_replies() {
        let master = BytesFrame::Array(vec![
            bulk("master"),
            BytesFrame::Integer(10),
            BytesFrame::Array(vec![]),
        ]);
        assert_eq!(parse_role(&master), Role::Master);
        let replica = BytesFrame::Array(vec![
            bulk("slave"),
            bulk("127.0.0.1"),
            BytesFrame::Integer(6379),
            bulk("connected"),
            BytesFrame::Integer(5),
        ]);
        assert!(matches!(
            parse_role(&replica),
            Role::Replica {
                connected: true,
                ..
            }
        ));
        let syncing = BytesFrame::Array(vec![
            bulk("slave"),
            bulk("127.0.0.1"),
            BytesFrame::Integer(6379),
            bulk("sync"),
            BytesFrame::Integer(-1),
        ]);
        assert!(matches!(
            parse_role(&syncing),
            Role::Replica {
                connected: false,
                ..
            }
        ));
        let sentinel = BytesFrame::Array(vec![bulk("sentinel"), BytesFrame::Array(vec![])]);
        assert!(matches!(parse_role(&sentinel), Role::Unusable(_)));
        assert!(matches!(
            parse_role(&BytesFrame::Integer(1)),
            Role::Unusable(_)
        ));
        assert!(matches!(
            parse_role(&BytesFrame::Array(vec![bulk("slave")])),
            Role::Unusable(_)
        ));
    }
}
