//! What the scanner reports: frame kinds, the captured command name ([`Head`]), limits and
//! protocol errors (with Redis's texts).

use thiserror::Error;

/// Default bound on nested aggregates (attributes count) in reply mode.
pub const MAX_REPLY_DEPTH: usize = 128;

/// Bytes kept by a [`Head`].
pub const HEAD_CAPACITY: usize = 32;

/// Which side of the conversation the scanner reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Client requests: multibulk arrays of bulk strings, or inline lines.
    Request,
    /// Node replies: any RESP2/RESP3 value.
    Reply,
}

/// Request-mode limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest bulk argument (Redis `proto-max-bulk-len`, default 512 MiB).
    pub max_bulk_len: u64,
    /// Largest argument count of a multibulk (Redis 7 accepts up to `INT_MAX`, older versions
    /// 1024*1024; we default to 1,048,576 and never exceed `INT_MAX`).
    pub max_multibulk_len: u64,
    /// Longest inline line, and longest `*`/`$` header line without `\r` (Redis
    /// `PROTO_INLINE_MAX_SIZE`, 64 KiB).
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
        }
    }
}

/// Result of [`Scanner::scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// The current frame needs more bytes.
    Incomplete,
    /// A frame ends at `buf[info.len]`.
    Frame(FrameInfo),
}

/// A complete frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Bytes of this frame still in the buffer: its total length minus what was consumed.
    pub len: usize,
    pub kind: FrameKind,
    pub head: Head,
}

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A request multibulk, or a reply `*` array (including the null array `*-1`).
    Array,
    /// A request inline command line.
    Inline,
    /// A request Redis silently ignores (`*0`, `*-1`, any `*<n<=0>`, an inline line without
    /// arguments): drop it, no reply comes.
    Empty,
    /// A reply `>` (RESP3 push: not the reply to a command).
    Push,
    /// A reply `-` or `!` error.
    Error,
    /// Any other reply (`+ : $ _ , # = ( % ~`), attributes not counted.
    Other,
}

/// Up to [`HEAD_CAPACITY`] bytes, ASCII-uppercased, that identify a frame:
/// - requests: the command name (first element / first word of an inline line);
/// - reply aggregates and pushes: their first element when it is a simple or bulk string
///   (`MESSAGE`, `PMESSAGE`, `SUBSCRIBE`, ...);
/// - reply errors: the first word (`ERR`, `READONLY`, `MOVED`, `LOADING`, ...).
///
/// Empty otherwise, and empty with [`Head::truncated`] set when the item is longer than
/// [`HEAD_CAPACITY`] (its first bytes stay available through [`Head::prefix`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Head {
    buf: [u8; HEAD_CAPACITY],
    len: u8,
    truncated: bool,
}

impl Head {
    /// An empty head.
    pub const EMPTY: Head = Head {
        buf: [0; HEAD_CAPACITY],
        len: 0,
        truncated: false,
    };

    /// A head holding `bytes` uppercased (truncated when longer than [`HEAD_CAPACITY`]).
    pub fn from_bytes(bytes: &[u8]) -> Head {
        let mut h = Head::EMPTY;
        for &b in bytes {
            if !h.push(b) {
                break;
            }
        }
        h
    }

    /// The head, or nothing when it was truncated.
    pub fn as_bytes(&self) -> &[u8] {
        if self.truncated {
            &[]
        } else {
            self.prefix()
        }
    }

    /// The bytes kept, even when truncated.
    pub fn prefix(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// Whether the head equals `upper` (ASCII case-insensitively). Never true when truncated.
    pub fn is(&self, upper: &[u8]) -> bool {
        !self.truncated && self.prefix().eq_ignore_ascii_case(upper)
    }

    /// Whether the item was longer than [`HEAD_CAPACITY`].
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Whether there is no (untruncated) head.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// Appends bytes; false once the head is truncated.
    #[inline]
    pub(super) fn push_slice(&mut self, bytes: &[u8]) -> bool {
        if self.truncated {
            return false;
        }
        let len = self.len as usize;
        let n = bytes.len().min(HEAD_CAPACITY - len);
        for (d, s) in self.buf[len..len + n].iter_mut().zip(bytes) {
            *d = s.to_ascii_uppercase();
        }
        self.len += n as u8;
        if n < bytes.len() {
            self.truncated = true;
            return false;
        }
        true
    }

    /// Appends one byte; false once the head is truncated.
    #[inline]
    pub(super) fn push(&mut self, b: u8) -> bool {
        if self.truncated {
            return false;
        }
        if self.len as usize == HEAD_CAPACITY {
            self.truncated = true;
            return false;
        }
        self.buf[self.len as usize] = b.to_ascii_uppercase();
        self.len += 1;
        true
    }
}

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Head({:?}", String::from_utf8_lossy(self.prefix()))?;
        if self.truncated {
            f.write_str(", truncated")?;
        }
        f.write_str(")")
    }
}

/// A framing error. For requests, `Display` is the text Redis puts after
/// `-ERR Protocol error: ` (reply with `-ERR Protocol error: {e}\r\n`, or use
/// [`ProtocolError::redis_reply`] for the exact bytes), and the connection must be closed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Error)]
pub enum ProtocolError {
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// A request element that is not a bulk string (Redis shows the byte raw; `Display`
    /// escapes bytes >= 0x80 as `\xNN`, and `\r`/`\n` become a space as in Redis).
    #[error("expected '$', got '{}'", ByteDisplay(*.0))]
    ExpectedDollar(u8),
    #[error("too big mbulk count string")]
    TooBigMbulkCount,
    #[error("too big bulk count string")]
    TooBigBulkCount,
    #[error("too big inline request")]
    TooBigInline,
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// Not in Redis: a bulk payload not followed by `\r\n`.
    #[error("invalid bulk terminator")]
    InvalidBulkTerminator,
    /// Reply mode: a value starting with an unknown type byte.
    #[error("invalid reply type byte '{}'", ByteDisplay(*.0))]
    InvalidReplyType(u8),
    /// Reply mode: a line with a bare `\r` or `\n`.
    #[error("invalid line terminator")]
    InvalidLineTerminator,
    /// Reply mode: a `:`, `(`, `,`, `_` or `#` line with an invalid value.
    #[error("invalid '{}' reply value", ByteDisplay(*.0))]
    InvalidReplyValue(u8),
    /// Reply mode: RESP3 streamed strings or aggregates (`$?`, `*?`, ...).
    #[error("streamed RESP3 values are not supported")]
    Streamed,
    /// Reply mode: aggregates nested deeper than the scanner's bound.
    #[error("reply nesting too deep")]
    TooDeep,
}

impl ProtocolError {
    /// The exact error reply Redis sends: `-ERR Protocol error: <text>\r\n` (the offending byte
    /// of [`ProtocolError::ExpectedDollar`] raw, `\r`/`\n` replaced by a space).
    pub fn redis_reply(&self) -> Vec<u8> {
        let mut out = b"-ERR Protocol error: ".to_vec();
        match self {
            ProtocolError::ExpectedDollar(b) => {
                out.extend_from_slice(b"expected '$', got '");
                out.push(if matches!(b, b'\r' | b'\n') { b' ' } else { *b });
                out.push(b'\'');
            }
            other => out.extend_from_slice(other.to_string().as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

struct ByteDisplay(u8);

impl std::fmt::Display for ByteDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            b'\r' | b'\n' => f.write_str(" "),
            b if b.is_ascii() => write!(f, "{}", b as char),
            b => write!(f, "\\x{b:02x}"),
        }
    }
}
