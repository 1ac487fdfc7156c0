//! Reply scanner (default limits and depth) against redis-protocol 6.0's RESP2
//! `resp2::decode::decode_range` on arbitrary bytes, frame after frame.
//!
//! redis-protocol is more lenient than we are, on purpose (we follow Redis' own rules). The
//! known, intended differences — and only these — are excused:
//!
//! | input                                                  | redis-protocol          | us                          |
//! |--------------------------------------------------------|-------------------------|-----------------------------|
//! | bulk payload followed by 2 bytes other than `\r\n`     | skips them, frame ok    | `InvalidBulkTerminator`     |
//! | bare `\r` or `\n` inside a `+`/`-` line                | part of the line        | `InvalidLineTerminator`     |
//! | `$`/`*` length not in Redis' `string2ll` form (`+3`, `03`, `-0`, `-01`) | Rust `parse::<isize>` accepts | `InvalidBulkLength` / `InvalidMultibulkLength` |
//! | more than 128 nested non-empty arrays                  | no bound (recursion)    | `TooDeep`                   |
//! | RESP3 type byte (`_ , # ! = ( % ~ > \|`)               | "Invalid frame type"    | a RESP3 value               |
//! | `:` integer outside `i64`                              | parse error             | accepted (syntax only)      |
//! | an impossible byte before the frame can end            | `Ok(None)`, waits for CRLF | fails at once (fail-fast) |
//!
//! To excuse exactly these, [`model`] re-implements redis-protocol's RESP2 grammar (its
//! result is asserted equal to `decode_range`'s: same length, incomplete, or error) and notes
//! where the input deviates from what we accept, and builds the canonical re-encoding of what
//! redis-protocol decoded. Then:
//! - they decode `n` bytes and nothing deviates → we find a frame of exactly `n` bytes;
//! - they decode `n` bytes with deviations → our error is the one of the *first* deviation,
//!   and (unless it is a CR/LF in a line or depth) we accept the canonical re-encoding as one
//!   frame of its full length, as do they;
//! - they wait for more bytes → we must not report a frame (an error is fine: fail-fast);
//! - they fail → if we report a frame or wait, their failure must be a RESP3 type byte or an
//!   out-of-range `:` integer inside what we examined.

use redis_protocol::resp2::decode::decode_range;
use sentinel_proxy_core::resp::{Limits, Mode, ProtocolError, Scan, Scanner, MAX_REPLY_DEPTH};

/// Why redis-protocol rejects an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// A type byte other than `+ - : $ *`.
    TypeByte(u8),
    /// A `:` line that `str::parse::<i64>` rejects.
    IntParse,
    /// A `$`/`*` length that `str::parse::<isize>` rejects.
    LenParse,
    /// A length below -1.
    NegLen,
}

/// Where an input accepted by redis-protocol is not accepted by us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dev {
    BulkTerminator,
    LineCrLf,
    NonCanonical(u8),
    TooDeep,
}

impl Dev {
    pub fn our_error(self) -> ProtocolError {
        match self {
            Dev::BulkTerminator => ProtocolError::InvalidBulkTerminator,
            Dev::LineCrLf => ProtocolError::InvalidLineTerminator,
            Dev::NonCanonical(b'$') => ProtocolError::InvalidBulkLength,
            Dev::NonCanonical(_) => ProtocolError::InvalidMultibulkLength,
            Dev::TooDeep => ProtocolError::TooDeep,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Model {
    Complete {
        len: usize,
        canon: Vec<u8>,
        /// First deviation: (position, rank within the position, what).
        first: Option<(usize, u8, Dev)>,
        /// A deviation that the canonical form keeps (CR/LF in a line, depth).
        sticky: bool,
    },
    Incomplete,
    Error {
        pos: usize,
        why: Why,
    },
}

enum Step {
    Incomplete,
    Error(usize, Why),
}

struct Walk<'a> {
    b: &'a [u8],
    canon: Vec<u8>,
    first: Option<(usize, u8, Dev)>,
    sticky: bool,
}

impl<'a> Walk<'a> {
    fn dev(&mut self, pos: usize, rank: u8, d: Dev) {
        if matches!(d, Dev::LineCrLf | Dev::TooDeep) {
            self.sticky = true;
        }
        if self.first.is_none_or(|(p, r, _)| (pos, rank) < (p, r)) {
            self.first = Some((pos, rank, d));
        }
    }

    /// nom's streaming `terminated(take_until("\r\n"), take(2))`: the line and the position
    /// after its CRLF.
    fn line(&self, pos: usize) -> Result<(&'a [u8], usize), Step> {
        let b: &'a [u8] = self.b;
        let rest = b.get(pos..).unwrap_or(&[]);
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(i) => Ok((&rest[..i], pos + i + 2)),
            None => Err(Step::Incomplete),
        }
    }

    /// A `$`/`*` length as redis-protocol reads it (`to_isize`), noting non-canonical forms.
    fn length(&mut self, ty: u8, pos: usize) -> Result<(isize, usize), Step> {
        let (text, next) = self.line(pos + 1)?;
        let v = std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse::<isize>().ok())
            .ok_or(Step::Error(pos, Why::LenParse))?;
        if text != v.to_string().as_bytes() {
            self.dev(pos, 0, Dev::NonCanonical(ty));
        }
        Ok((v, next))
    }

    fn value(&mut self, pos: usize, depth: usize) -> Result<usize, Step> {
        let Some(&ty) = self.b.get(pos) else {
            return Err(Step::Incomplete);
        };
        match ty {
            b'+' | b'-' | b':' => {
                let (text, next) = self.line(pos + 1)?;
                if ty == b':' {
                    std::str::from_utf8(text)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .ok_or(Step::Error(pos, Why::IntParse))?;
                } else if let Some(i) = text.iter().position(|&c| c == b'\r' || c == b'\n') {
                    self.dev(pos + 1 + i, 0, Dev::LineCrLf);
                }
                self.canon.push(ty);
                self.canon.extend_from_slice(text);
                self.canon.extend_from_slice(b"\r\n");
                Ok(next)
            }
            b'$' => {
                let (len, next) = self.length(ty, pos)?;
                if len == -1 {
                    self.canon.extend_from_slice(b"$-1\r\n");
                    return Ok(next);
                }
                let len = usize::try_from(len).map_err(|_| Step::Error(pos, Why::NegLen))?;
                let end = next.checked_add(len).ok_or(Step::Incomplete)?;
                let Some(term) = self.b.get(end..end + 2) else {
                    return Err(Step::Incomplete);
                };
                if term != b"\r\n" {
                    self.dev(end, 0, Dev::BulkTerminator);
                }
                self.canon
                    .extend_from_slice(format!("${len}\r\n").as_bytes());
                self.canon.extend_from_slice(&self.b[next..end]);
                self.canon.extend_from_slice(b"\r\n");
                Ok(end + 2)
            }
            b'*' => {
                let (n, mut next) = self.length(ty, pos)?;
                if n == -1 {
                    self.canon.extend_from_slice(b"*-1\r\n");
                    return Ok(next);
                }
                let n = usize::try_from(n).map_err(|_| Step::Error(pos, Why::NegLen))?;
                let depth = if n > 0 { depth + 1 } else { depth };
                if depth > MAX_REPLY_DEPTH {
                    self.dev(pos, 1, Dev::TooDeep);
                }
                self.canon.extend_from_slice(format!("*{n}\r\n").as_bytes());
                for _ in 0..n {
                    next = self.value(next, depth)?;
                }
                Ok(next)
            }
            other => Err(Step::Error(pos, Why::TypeByte(other))),
        }
    }
}

/// redis-protocol's RESP2 grammar, with our deviations noted.
pub fn model(b: &[u8]) -> Model {
    let mut w = Walk {
        b,
        canon: Vec::new(),
        first: None,
        sticky: false,
    };
    match w.value(0, 0) {
        Ok(len) => Model::Complete {
            len,
            canon: w.canon,
            first: w.first,
            sticky: w.sticky,
        },
        Err(Step::Incomplete) => Model::Incomplete,
        Err(Step::Error(pos, why)) => Model::Error { pos, why },
    }
}

fn theirs(b: &[u8]) -> Result<Option<usize>, ()> {
    match decode_range(b) {
        Ok(Some((_, n))) => Ok(Some(n)),
        Ok(None) => Ok(None),
        Err(_) => Err(()),
    }
}

fn ours(b: &[u8]) -> Result<Scan, ProtocolError> {
    Scanner::new(Mode::Reply, Limits::default()).scan(b)
}

/// A line `[+-]?[0-9]+` (what our `:` check accepts).
fn int_syntax(line: &[u8]) -> bool {
    let digits = match line.first() {
        Some(b'+' | b'-') => &line[1..],
        _ => line,
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// Their failure at `pos` is one we knowingly accept.
fn excused(b: &[u8], pos: usize, why: Why) -> bool {
    match why {
        Why::TypeByte(t) => b"_,#!=(%~>|".contains(&t),
        Why::IntParse => {
            let rest = &b[pos + 1..];
            let end = rest.iter().position(|&c| c == b'\r').unwrap_or(rest.len());
            int_syntax(&rest[..end])
        }
        Why::LenParse | Why::NegLen => false,
    }
}

/// Entry point of `reply_differential`.
pub fn check(data: &[u8]) {
    let mut s = Scanner::new(Mode::Reply, Limits::default());
    let mut off = 0;
    while off < data.len() {
        let rest = &data[off..];
        let m = model(rest);
        let t = theirs(rest);
        // The model is redis-protocol.
        match (&m, t) {
            (Model::Complete { len, .. }, Ok(Some(n))) => assert_eq!(*len, n, "model length"),
            (Model::Incomplete, Ok(None)) | (Model::Error { .. }, Err(())) => {}
            (m, t) => panic!("model {m:?} but redis-protocol {t:?}"),
        }
        let o = s.scan(rest);
        match m {
            Model::Complete {
                len, first: None, ..
            } => match o {
                Ok(Scan::Frame(f)) if f.len == len => off += len,
                _ => panic!("redis-protocol decodes {len} bytes, we say {o:?}"),
            },
            Model::Complete {
                len,
                canon,
                first: Some((_, _, dev)),
                sticky,
            } => {
                assert_eq!(
                    o,
                    Err(dev.our_error()),
                    "redis-protocol decodes {len} bytes; first deviation {dev:?}"
                );
                if !sticky {
                    let n = canon.len();
                    assert!(
                        matches!(ours(&canon), Ok(Scan::Frame(f)) if f.len == n),
                        "canonical form {:?} rejected: {:?}",
                        String::from_utf8_lossy(&canon),
                        ours(&canon)
                    );
                    assert_eq!(theirs(&canon), Ok(Some(n)), "canonical form (theirs)");
                }
                return;
            }
            Model::Incomplete => {
                assert!(
                    !matches!(o, Ok(Scan::Frame(_))),
                    "redis-protocol waits for more bytes, we say {o:?}"
                );
                return;
            }
            Model::Error { pos, why } => {
                match o {
                    Ok(Scan::Frame(f)) => assert!(
                        pos < f.len && excused(rest, pos, why),
                        "redis-protocol fails ({why:?} at {pos}), we accept {} bytes",
                        f.len
                    ),
                    Ok(Scan::Incomplete) => assert!(
                        excused(rest, pos, why),
                        "redis-protocol fails ({why:?} at {pos}), we wait"
                    ),
                    Err(_) => {}
                }
                return;
            }
        }
    }
}
