//! The scanner is fed the same byte stream three ways and must say the same thing each time.
//!
//! Input layout (all of it is mutated by the fuzzer):
//! - byte 0: configuration — bits 0-1 pick the [`Limits`] (default, small, tiny, or
//!   `max_inline_len` from bits 4-7), bits 2-3 the reply nesting bound (128, 1, 2, 4);
//! - bytes 1..9: the read plan, one byte per read, used cyclically: bits 0-3 + 1 are the read
//!   size, times 16 when bit 4 is set; bits 5-7 say how much of the scanned prefix the
//!   "session" forwards (`consume`) when the scan ends incomplete mid-frame;
//! - the rest: the byte stream.
//!
//! The three ways: (1) the whole stream in one buffer; (2) reads and `consume` calls per the
//! plan; (3) one byte per read, everything scanned consumed after each read (a frame streaming
//! through a zero-byte window). Invariants:
//! - no panic, and no allocation in proportion to an announced length (libFuzzer's
//!   `-rss_limit_mb`/`-malloc_limit_mb`);
//! - a `Frame` never claims more bytes than the buffer holds, and never zero bytes;
//! - after `Incomplete`, every buffered byte was examined (`scanned() == buf.len()`), and
//!   `mid_frame()` is true exactly when bytes of an unfinished frame were seen;
//! - bytes fed = sum of the frames' total lengths (consumed mid-frame + `info.len`) + the
//!   unfinished frame's bytes, at every step;
//! - frames (total length, kind, head) and the final outcome (unfinished length, or the error)
//!   are the same for the three ways;
//! - an error is sticky: the next `scan` (same buffer, empty buffer, more bytes) returns it
//!   again; after `reset()` the scanner behaves like a new one;
//! - request mode: every frame is accepted by `args::request_args` with as many arguments as
//!   its kind says (none for `Empty`), and its head is the uppercased first argument.

use sentinel_proxy_core::resp::{
    args, FrameKind, Head, Limits, Mode, ProtocolError, Scan, Scanner, MAX_REPLY_DEPTH,
};

/// One frame as the caller sees it, whatever the chunking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Bytes consumed mid-frame plus `FrameInfo::len`.
    pub total: usize,
    pub kind: FrameKind,
    pub head: Head,
}

/// How a stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Waiting for more bytes; `partial` bytes of an unfinished frame were seen.
    Incomplete {
        partial: usize,
    },
    Error(ProtocolError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub frames: Vec<Frame>,
    pub end: End,
}

/// Scanner settings picked by the configuration byte.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub limits: Limits,
    pub max_depth: usize,
}

impl Config {
    pub fn from_byte(b: u8) -> Config {
        let limits = match b & 3 {
            0 => Limits::default(),
            1 => Limits {
                max_bulk_len: 64,
                max_multibulk_len: 16,
                max_inline_len: 64,
            },
            2 => Limits {
                max_bulk_len: 8,
                max_multibulk_len: 2,
                max_inline_len: 4,
            },
            _ => Limits {
                max_bulk_len: 64,
                max_multibulk_len: 1024 * 1024,
                max_inline_len: usize::from(b >> 4),
            },
        };
        let max_depth = [MAX_REPLY_DEPTH, 1, 2, 4][usize::from((b >> 2) & 3)];
        Config { limits, max_depth }
    }

    pub fn scanner(&self, mode: Mode) -> Scanner {
        Scanner::new(mode, self.limits).with_max_depth(self.max_depth)
    }
}

/// Entry point of `request_scanner` and `reply_scanner`.
pub fn check(mode: Mode, data: &[u8]) {
    let (cfg, plan, stream) = split_input(data);
    let whole = scan_whole(mode, &cfg, stream);
    let planned = scan_planned(mode, &cfg, stream, &plan);
    assert_eq!(planned, whole, "read plan {plan:?} differs from one read");
    let bytewise = scan_bytewise(mode, &cfg, stream);
    assert_eq!(bytewise, whole, "byte-per-read differs from one read");
}

/// Splits an input into its configuration, read plan and stream.
pub fn split_input(data: &[u8]) -> (Config, [u8; 8], &[u8]) {
    let cfg = Config::from_byte(data.first().copied().unwrap_or(0));
    let mut plan = [0u8; 8];
    let head = data.get(1..9.min(data.len())).unwrap_or(&[]);
    plan[..head.len()].copy_from_slice(head);
    let stream = data.get(9..).unwrap_or(&[]);
    (cfg, plan, stream)
}

/// Way 1: the whole stream in one buffer. Also checks stickiness, `reset`, and (requests) that
/// `args::request_args` agrees with each frame.
pub fn scan_whole(mode: Mode, cfg: &Config, data: &[u8]) -> Outcome {
    let mut s = cfg.scanner(mode);
    let mut frames = Vec::new();
    let mut off = 0;
    loop {
        let rest = &data[off..];
        match s.scan(rest) {
            Ok(Scan::Frame(f)) => {
                assert!(f.len > 0 && f.len <= rest.len(), "frame length {f:?}");
                if mode == Mode::Request {
                    check_args(&rest[..f.len], f.kind, &f.head);
                }
                frames.push(Frame {
                    total: f.len,
                    kind: f.kind,
                    head: f.head,
                });
                off += f.len;
                assert!(!s.mid_frame());
                assert_eq!(s.scanned(), 0);
            }
            Ok(Scan::Incomplete) => {
                assert_eq!(s.scanned(), rest.len(), "not every byte examined");
                assert_eq!(s.mid_frame(), !rest.is_empty());
                return Outcome {
                    frames,
                    end: End::Incomplete {
                        partial: rest.len(),
                    },
                };
            }
            Err(e) => {
                check_sticky(&mut s, &e, rest);
                // After reset the scanner is a new one (same mode and limits).
                s.reset();
                assert!(!s.mid_frame());
                assert_eq!(s.scanned(), 0);
                let again = rest.get(1..).unwrap_or(&[]);
                assert_eq!(s.scan(again), cfg.scanner(mode).scan(again), "reset");
                return Outcome {
                    frames,
                    end: End::Error(e),
                };
            }
        }
    }
}

fn check_sticky(s: &mut Scanner, e: &ProtocolError, rest: &[u8]) {
    assert_eq!(s.scan(rest).as_ref(), Err(e), "error not sticky");
    assert_eq!(s.scan(&[]).as_ref(), Err(e), "error not sticky (empty)");
    let mut more = rest.to_vec();
    more.extend_from_slice(b"\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(s.scan(&more).as_ref(), Err(e), "error not sticky (more)");
}

/// A request frame the scanner accepted is one well-formed request for `args`, and its head
/// is its uppercased first argument.
fn check_args(frame: &[u8], kind: FrameKind, head: &Head) {
    let a = args::request_args(frame).unwrap_or_else(|| {
        panic!(
            "request_args rejects a {kind:?} frame the scanner accepted: {:?}",
            String::from_utf8_lossy(frame)
        )
    });
    match kind {
        FrameKind::Empty => assert!(a.is_empty(), "Empty frame with arguments"),
        FrameKind::Array | FrameKind::Inline => {
            assert!(!a.is_empty(), "{kind:?} frame without arguments");
            assert_eq!(*head, Head::from_bytes(&a[0]), "head vs first argument");
        }
        other => panic!("request frame of kind {other:?}"),
    }
}

/// Read size and forward policy of one plan byte.
fn plan_step(p: u8) -> (usize, u8) {
    let mut size = usize::from(p & 0x0f) + 1;
    if p & 0x10 != 0 {
        size *= 16;
    }
    (size, p >> 5)
}

/// Way 2: reads per the plan; when a scan ends mid-frame, forward part of what was scanned.
pub fn scan_planned(mode: Mode, cfg: &Config, data: &[u8], plan: &[u8; 8]) -> Outcome {
    let mut s = cfg.scanner(mode);
    let mut buf: Vec<u8> = Vec::new();
    let mut frames = Vec::new();
    let mut fed = 0usize;
    let mut done = 0usize; // bytes of completed frames
    let mut consumed = 0usize; // bytes of the current frame forwarded mid-frame
    let mut step = 0usize;
    let mut off = 0usize;
    while off < data.len() {
        let (size, policy) = plan_step(plan[step % plan.len()]);
        step += 1;
        let piece = &data[off..(off + size).min(data.len())];
        off += piece.len();
        fed += piece.len();
        buf.extend_from_slice(piece);
        loop {
            let before = s.scanned();
            match s.scan(&buf) {
                Ok(Scan::Frame(f)) => {
                    assert!(f.len <= buf.len(), "frame longer than the buffer");
                    let total = consumed + f.len;
                    assert!(total > 0, "empty frame");
                    buf.drain(..f.len);
                    done += total;
                    consumed = 0;
                    frames.push(Frame {
                        total,
                        kind: f.kind,
                        head: f.head,
                    });
                    assert_eq!(done + buf.len(), fed, "frame lengths do not add up");
                }
                Ok(Scan::Incomplete) => {
                    let n = s.scanned();
                    assert!(n >= before, "scanned() went backwards");
                    assert_eq!(n, buf.len(), "not every byte examined");
                    assert_eq!(s.mid_frame(), consumed + n > 0, "mid_frame()");
                    let k = match policy {
                        3 | 7 => n,
                        4 => n / 2,
                        5 => n.min(1),
                        6 => n.saturating_sub(1),
                        _ => 0,
                    };
                    if k > 0 {
                        buf.drain(..k);
                        s.consume(k);
                        consumed += k;
                        assert_eq!(s.scanned(), buf.len(), "consume");
                        assert!(s.mid_frame(), "consume ended the frame");
                    }
                    if policy == 7 {
                        // A scan with nothing new changes nothing.
                        assert_eq!(s.scan(&buf), Ok(Scan::Incomplete));
                        assert_eq!(s.scanned(), buf.len());
                    }
                    assert_eq!(done + consumed + buf.len(), fed, "bytes lost");
                    break;
                }
                Err(e) => {
                    check_sticky(&mut s, &e, &buf);
                    return Outcome {
                        frames,
                        end: End::Error(e),
                    };
                }
            }
        }
    }
    Outcome {
        frames,
        end: End::Incomplete {
            partial: consumed + buf.len(),
        },
    }
}

/// Way 3: one byte per read, everything scanned forwarded at once.
pub fn scan_bytewise(mode: Mode, cfg: &Config, data: &[u8]) -> Outcome {
    let mut s = cfg.scanner(mode);
    let mut frames = Vec::new();
    let mut consumed = 0usize;
    for b in data.chunks(1) {
        match s.scan(b) {
            Ok(Scan::Frame(f)) => {
                assert_eq!(f.len, 1, "frame ends on the byte just read");
                frames.push(Frame {
                    total: consumed + 1,
                    kind: f.kind,
                    head: f.head,
                });
                consumed = 0;
            }
            Ok(Scan::Incomplete) => {
                assert_eq!(s.scanned(), 1);
                s.consume(1);
                consumed += 1;
            }
            Err(e) => {
                return Outcome {
                    frames,
                    end: End::Error(e),
                }
            }
        }
    }
    Outcome {
        frames,
        end: End::Incomplete { partial: consumed },
    }
}
