//! RESP framing for the proxy: a resumable frame scanner ([`Scanner`]) for client requests and
//! node replies, and helpers to split small complete requests into arguments ([`args`]).
//!
//! The module depends only on `std`, `memchr`, `bytes` and `thiserror`, and on nothing else in
//! the crate.

pub mod args;
pub mod scanner;
mod split;
#[cfg(test)]
mod tests;

pub use scanner::{
    FrameInfo, FrameKind, Head, Limits, Mode, ProtocolError, Scan, Scanner, HEAD_CAPACITY,
    MAX_REPLY_DEPTH,
};
