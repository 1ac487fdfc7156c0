//! Listening sockets and the accept loop.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::session::{ConnGuard, Session};
use super::Shared;
use crate::metrics::{self as m, Listener};
use crate::tls::Stream;

/// Bind a listening socket with room for `backlog` pending connections. `[::]:PORT` listens
/// on IPv4 too (dual stack), as HAProxy's `v4v6`.
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    TcpListener::from_std(socket.into())
}

/// Accept clients (until the drain drops this future); with an acceptor, each session begins
/// with its TLS handshake (in the session's task, so a slow client holds up nobody).
pub async fn accept_loop(
    listener: TcpListener,
    kind: Listener,
    shared: Arc<Shared>,
    tls: Option<crate::tls::Acceptor>,
) {
    let handles = m::handles().listener(kind);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                tracing::warn!(error = %e, listener = kind.as_str(), "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        handles.accepted.increment(1);
        if !shared.client_allow.is_empty()
            && !shared.client_allow.iter().any(|c| c.contains(peer.ip()))
        {
            m::handles().rejected_not_allowed.increment(1);
            m::client_error(m::ClientError::NotAllowed, 1);
            tracing::debug!(%peer, "client address not in client_allow; refused");
            shared.lifecycle.spawn_session(refuse(
                stream,
                b"-ERR sentinel-proxy: client address not allowed\r\n",
            ));
            continue;
        }
        let _ = stream.set_nodelay(true);
        let open = shared.clients.fetch_add(1, Ordering::AcqRel) + 1;
        if open > shared.max_clients {
            shared.clients.fetch_sub(1, Ordering::AcqRel);
            m::handles().rejected_max_clients.increment(1);
            m::client_error(m::ClientError::MaxClients, 1);
            shared
                .lifecycle
                .spawn_session(refuse(stream, b"-ERR max number of clients reached\r\n"));
            continue;
        }
        handles.connections.increment(1.0);
        let guard = ConnGuard {
            gauge: handles.connections.clone(),
            shared: shared.clone(),
        };
        match &tls {
            None => {
                let session = Box::new(Session::new(shared.clone(), kind, Stream::Plain(stream)));
                shared.lifecycle.spawn_session(async move {
                    session.run().await;
                    drop(guard);
                });
            }
            Some(acceptor) => {
                let (acceptor, shared2) = (acceptor.clone(), shared.clone());
                shared.lifecycle.spawn_session(async move {
                    let stop = shared2.lifecycle.stop().clone();
                    let stream = tokio::select! {
                        r = acceptor.accept(stream, peer) => r,
                        () = stop.cancelled() => return,
                    };
                    if let Ok(stream) = stream {
                        Box::new(Session::new(shared2, kind, stream)).run().await;
                    }
                    drop(guard);
                });
            }
        }
    }
}

/// Tell a refused client why (as Redis does for max clients), then close.
async fn refuse(mut stream: TcpStream, why: &'static [u8]) {
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.write_all(why)).await;
    let _ = stream.shutdown().await;
}
