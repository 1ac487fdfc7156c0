//! A session's phases: where it stands with its upstream ([`Link`]) and why it ended
//! ([`CloseReason`]).

use std::time::Instant;

use std::net::SocketAddr;

use super::upstream::{Target, Upstream};
use crate::resp::ProtocolError;

/// Why a session ended: the label of sentinel_proxy_sessions_closed_total, with the error
/// that caused it where there is one (logged when the session closes).
#[derive(Debug)]
pub enum CloseReason {
    ClientClosed,
    ClientError(std::io::Error),
    /// The client sent malformed RESP (it was answered with Redis's error first).
    ProtocolError(ProtocolError),
    /// The upstream closed (None: end of stream) where the session could not go on.
    UpstreamClosed(Option<std::io::Error>),
    /// A write to the upstream failed, or it sent malformed RESP.
    UpstreamError(std::io::Error),
    MasterChanged,
    /// MULTI/WATCH/MONITOR (or untrackable replies) when the master changed: cannot move.
    InTransaction,
    ReplayFailed,
    /// Internal: a fresh upstream did not confirm it is master (never closes a client).
    NotMaster,
    ReplicaGone,
    IdleTimeout,
    Shutdown,
}

impl CloseReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::ClientError(_) => "client_error",
            CloseReason::ProtocolError(_) => "protocol_error",
            CloseReason::UpstreamClosed(_) => "upstream_closed",
            CloseReason::UpstreamError(_) => "upstream_error",
            CloseReason::MasterChanged => "master_changed",
            CloseReason::InTransaction => "in_transaction",
            CloseReason::ReplayFailed => "replay_failed",
            CloseReason::NotMaster => "not_master",
            CloseReason::ReplicaGone => "replica_gone",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::Shutdown => "shutdown",
        }
    }

    /// The error behind the close, if one caused it.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CloseReason::ClientError(e) | CloseReason::UpstreamError(e) => Some(e),
            CloseReason::UpstreamClosed(Some(e)) => Some(e),
            CloseReason::ProtocolError(e) => Some(e),
            _ => None,
        }
    }
}

/// Where a session stands with its upstream. Every connection and disconnection is a
/// transition of this one value, so "an upstream to drain" or "a backoff while connected"
/// cannot be expressed by mistake.
pub(super) enum Link {
    /// No upstream. `replay`: the session had one before, so the next gets the session's
    /// state replayed. `retry_at`: a connect or verification failed; no attempt before then.
    /// `lost`: the last upstream closed while the route still sent traffic there.
    Down {
        replay: bool,
        retry_at: Option<Instant>,
        lost: Option<LostFrom>,
    },
    /// Connected to where the route sends this listener's traffic (or to a master the route
    /// holds: written to again once it serves).
    Up(Upstream),
    /// The route moved away while replies were owed; they are awaited until
    /// `since` + the session's drain timeout (2 s), then answered as outcome-unknown.
    Stale { up: Upstream, since: Instant },
}

/// Where an upstream was when the server closed it outside a route change. Reaching the
/// same node again (same route generation for a master) proves the node is alive and still
/// the route's choice: the server ended the connection (CLIENT KILL, its `timeout`,
/// maxclients), it was no failover, and the client must learn it, as with Redis itself. A
/// crash refuses the reconnect instead, and a failover changes the generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LostFrom {
    addr: SocketAddr,
    generation: Option<u64>,
}

impl LostFrom {
    pub(super) fn of(target: &Target) -> LostFrom {
        match target {
            Target::Master { node, generation } => LostFrom {
                addr: node.addr,
                generation: Some(*generation),
            },
            Target::Replica { node } => LostFrom {
                addr: node.addr,
                generation: None,
            },
        }
    }
}

impl Link {
    pub(super) fn upstream(&self) -> Option<&Upstream> {
        match self {
            Link::Up(up) | Link::Stale { up, .. } => Some(up),
            Link::Down { .. } => None,
        }
    }

    pub(super) fn upstream_mut(&mut self) -> Option<&mut Upstream> {
        match self {
            Link::Up(up) | Link::Stale { up, .. } => Some(up),
            Link::Down { .. } => None,
        }
    }

    /// Leave the upstream (if any); the next one replays the session's state.
    pub(super) fn disconnect(&mut self) {
        if !matches!(self, Link::Down { .. }) {
            *self = Link::Down {
                replay: true,
                retry_at: None,
                lost: None,
            };
        }
    }
}
