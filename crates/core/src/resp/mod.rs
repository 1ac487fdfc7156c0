//! RESP framing for the proxy: a resumable frame scanner ([`Scanner`]) for client requests and
//! node replies, and helpers to split small complete requests into arguments ([`args`]).
//!
//! The module depends only on `std`, `memchr`, `bytes` and `thiserror`, and on nothing else in
//! the crate.
//!
//! A session's read loop, forwarding whole frames without copying and streaming a frame larger
//! than its budget:
//!
//! ```
//! use bytes::BytesMut;
//! use sentinel_proxy_core::resp::{FrameKind, Limits, Mode, Scan, Scanner};
//!
//! let mut scanner = Scanner::new(Mode::Request, Limits::default());
//! let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*0\r\n*1\r\n$4\r\nQU"[..]);
//! let mut forwarded = Vec::new();
//! while let Scan::Frame(info) = scanner.scan(&buf)? {
//!     let frame = buf.split_to(info.len).freeze();
//!     if info.kind != FrameKind::Empty {
//!         forwarded.push((info.head, frame));
//!     }
//! }
//! assert_eq!(forwarded.len(), 2); // `*0` is dropped: Redis ignores it.
//! assert!(forwarded[0].0.is(b"GET") && forwarded[1].0.is(b"PING"));
//!
//! // Over budget mid-frame: forward what was scanned, say so, keep reading.
//! assert!(scanner.mid_frame());
//! let n = scanner.scanned();
//! let _prefix = buf.split_to(n).freeze();
//! scanner.consume(n);
//! buf.extend_from_slice(b"IT\r\n");
//! let Scan::Frame(info) = scanner.scan(&buf)? else { unreachable!() };
//! assert_eq!(info.len, 4); // what is left of the frame in `buf`
//! assert!(info.head.is(b"QUIT")); // captured across the split
//! # Ok::<(), sentinel_proxy_core::resp::ProtocolError>(())
//! ```

pub mod args;
mod frame;
mod numbers;
pub mod scanner;
mod split;
#[cfg(test)]
mod tests;

pub use scanner::{
    FrameInfo, FrameKind, Head, Limits, Mode, ProtocolError, Scan, Scanner, HEAD_CAPACITY,
    MAX_REPLY_DEPTH,
};
