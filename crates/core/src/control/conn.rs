//! A small RESP2 client for the control plane (Sentinels, ROLE checks, session replay helpers).
//! Frames are decoded with redis-protocol; replies are bounded in size so a node that answers
//! garbage or floods us costs a bounded buffer and a typed error, never a panic.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::types::{BytesFrame, Resp2Frame};
use tokio::io::AsyncReadExt;

use crate::config::Secret;
use crate::tls::{Dialer, Side, Stream};

/// The largest reply the control plane accepts (SENTINEL REPLICAS of a big cluster fits easily).
const MAX_REPLY: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed by peer")]
    Closed,
    #[error("malformed reply: {0}")]
    Protocol(String),
    #[error("reply larger than {MAX_REPLY} bytes")]
    TooLarge,
    #[error("error reply: {0}")]
    Redis(String),
}

pub struct RespConn {
    stream: Stream,
    buf: BytesMut,
    pub addr: SocketAddr,
}

impl RespConn {
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<RespConn, ConnError> {
        RespConn::connect_with(&Dialer::plain(Side::Upstream), addr, timeout).await
    }

    /// Connect through `dialer` (plain TCP, or TLS with its settings).
    pub async fn connect_with(
        dialer: &Dialer,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<RespConn, ConnError> {
        let stream = dialer.connect(addr, timeout).await.map_err(|source| {
            if source.kind() == std::io::ErrorKind::TimedOut {
                ConnError::Timeout(timeout)
            } else {
                ConnError::Connect { addr, source }
            }
        })?;
        Ok(RespConn {
            stream,
            buf: BytesMut::with_capacity(1024),
            addr,
        })
    }

    /// Connect and authenticate (when a password is set; `AUTH <user> <password>` when it
    /// belongs to an ACL user) within `timeout`.
    pub async fn connect_auth(
        addr: SocketAddr,
        password: Option<&Secret>,
        timeout: Duration,
    ) -> Result<RespConn, ConnError> {
        RespConn::connect_auth_with(&Dialer::plain(Side::Upstream), addr, password, timeout).await
    }

    /// [`RespConn::connect_auth`] through `dialer`.
    pub async fn connect_auth_with(
        dialer: &Dialer,
        addr: SocketAddr,
        password: Option<&Secret>,
        timeout: Duration,
    ) -> Result<RespConn, ConnError> {
        let fut = async {
            let mut conn = RespConn::connect_with(dialer, addr, timeout).await?;
            if let Some(p) = password {
                let pass = p.expose().as_bytes();
                match p.username() {
                    Some(user) => conn.command(&[b"AUTH", user.as_bytes(), pass]).await?,
                    None => conn.command(&[b"AUTH", pass]).await?,
                };
            }
            Ok(conn)
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| ConnError::Timeout(timeout))?
    }

    pub async fn send(&mut self, args: &[&[u8]]) -> Result<(), ConnError> {
        let bytes = crate::resp::args::encode_command(args);
        self.stream.write_all_flush(&bytes).await?;
        Ok(())
    }

    /// Read one frame (error replies are returned as frames, not as `Err`).
    pub async fn read_frame(&mut self) -> Result<BytesFrame, ConnError> {
        loop {
            match decode_bytes_mut(&mut self.buf) {
                Ok(Some((frame, _, _))) => return Ok(frame),
                Ok(None) => {}
                Err(e) => return Err(ConnError::Protocol(e.to_string())),
            }
            if self.buf.len() > MAX_REPLY {
                return Err(ConnError::TooLarge);
            }
            self.buf.reserve(4096);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(ConnError::Closed);
            }
        }
    }

    /// Send a command and read its reply; an error reply becomes `ConnError::Redis`.
    pub async fn command(&mut self, args: &[&[u8]]) -> Result<BytesFrame, ConnError> {
        self.send(args).await?;
        match self.read_frame().await? {
            BytesFrame::Error(e) => Err(ConnError::Redis(e.to_string())),
            f => Ok(f),
        }
    }
}

/// Text of a simple/bulk string frame.
pub fn frame_str(f: &BytesFrame) -> Option<&str> {
    match f {
        BytesFrame::SimpleString(b) | BytesFrame::BulkString(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// Integer value of an integer frame or a numeric string.
pub fn frame_int(f: &BytesFrame) -> Option<i64> {
    match f {
        BytesFrame::Integer(i) => Some(*i),
        other => frame_str(other).and_then(|s| s.parse().ok()),
    }
}

/// Flatten a `[k1, v1, k2, v2…]` array (SENTINEL REPLICAS entries) into a lookup.
pub fn field<'a>(pairs: &'a [BytesFrame], key: &str) -> Option<&'a str> {
    pairs
        .chunks_exact(2)
        .find(|kv| frame_str(&kv[0]) == Some(key))
        .and_then(|kv| frame_str(&kv[1]))
}

/// Kind-of-frame name for log messages that must not print values.
pub fn frame_kind(f: &BytesFrame) -> &'static str {
    match f.kind() {
        redis_protocol::resp2::types::FrameKind::SimpleString => "simple string",
        redis_protocol::resp2::types::FrameKind::Error => "error",
        redis_protocol::resp2::types::FrameKind::Integer => "integer",
        redis_protocol::resp2::types::FrameKind::BulkString => "bulk string",
        redis_protocol::resp2::types::FrameKind::Array => "array",
        redis_protocol::resp2::types::FrameKind::Null => "null",
    }
}
