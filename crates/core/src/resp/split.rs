//! Incremental port of Redis' `sdssplitargs`, the splitter of inline requests.
//!
//! It is fed one byte at a time (so the scanner can run it over a line that streams through
//! the buffer) and reports tokens to a [`Sink`]. Rules, as in Redis:
//! - blanks between tokens are `isspace` bytes (space, `\t`, `\n`, `\v`, `\f`, `\r`);
//! - an unquoted token ends at space, `\t`, `\n`, `\r` (not at `\v` or `\f`);
//! - `"..."` understands `\xHH` and the escapes `\n \r \t \b \a` (any other escaped byte
//!   stands for itself); `'...'` only understands `\'`;
//! - a quote may start in the middle of a token (`a"b c"` is the token `ab c`), but a closing
//!   quote must be followed by a blank or the end of the line;
//! - an unterminated quote is an error (Redis: "unbalanced quotes in request");
//! - Redis splits a C string, so a NUL byte ends the line: what follows it is ignored, and a
//!   NUL inside quotes is an unterminated quote.

/// Receives the tokens found by a [`Splitter`].
pub(crate) trait Sink {
    /// A token with index `token` starts (it may stay empty, e.g. `""`).
    fn start(&mut self, token: u32);
    /// One byte of token `token`, escapes already resolved.
    fn byte(&mut self, token: u32, b: u8);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Between tokens.
    Skip,
    /// Inside an unquoted part of a token.
    Word,
    /// Inside `"..."`.
    Dq,
    /// After a backslash inside `"..."`.
    DqEsc,
    /// After `\x` inside `"..."`.
    DqHex1,
    /// After `\x` and one hex digit inside `"..."`.
    DqHex2(u8),
    /// Inside `'...'`.
    Sq,
    /// After a backslash inside `'...'`.
    SqEsc,
    /// Just after a closing quote: a blank or the end must follow.
    Closed,
    /// After a NUL byte: the rest of the line is ignored.
    Ended,
}

/// Incremental `sdssplitargs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Splitter {
    st: St,
    err: bool,
    tokens: u32,
}

/// `isspace` in the C locale.
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[inline]
fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl Splitter {
    pub(crate) const fn new() -> Self {
        Splitter {
            st: St::Skip,
            err: false,
            tokens: 0,
        }
    }

    /// Number of tokens started so far.
    pub(crate) fn tokens(&self) -> u32 {
        self.tokens
    }

    #[inline]
    fn cur(&self) -> u32 {
        self.tokens.saturating_sub(1)
    }

    /// Feeds one byte of the line (the line excludes its final `\n` and the `\r` before it).
    pub(crate) fn feed<S: Sink>(&mut self, c: u8, sink: &mut S) {
        if self.err {
            return;
        }
        match self.st {
            St::Ended => {}
            St::Skip => {
                if c == 0 {
                    self.st = St::Ended;
                } else if !is_space(c) {
                    self.tokens = self.tokens.saturating_add(1);
                    sink.start(self.cur());
                    self.word(c, sink);
                }
            }
            St::Word => self.word(c, sink),
            St::Dq => match c {
                b'\\' => self.st = St::DqEsc,
                b'"' => self.st = St::Closed,
                0 => self.err = true,
                _ => sink.byte(self.cur(), c),
            },
            St::DqEsc => match c {
                b'x' => self.st = St::DqHex1,
                0 => self.err = true,
                _ => {
                    let e = match c {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    };
                    sink.byte(self.cur(), e);
                    self.st = St::Dq;
                }
            },
            St::DqHex1 => {
                if hex_val(c).is_some() {
                    self.st = St::DqHex2(c);
                } else {
                    // Not a `\xHH` escape: `\x` stands for `x`, then `c` is read normally.
                    sink.byte(self.cur(), b'x');
                    self.st = St::Dq;
                    self.feed(c, sink);
                }
            }
            St::DqHex2(h) => match (hex_val(h), hex_val(c)) {
                (Some(hi), Some(lo)) => {
                    sink.byte(self.cur(), hi * 16 + lo);
                    self.st = St::Dq;
                }
                _ => {
                    sink.byte(self.cur(), b'x');
                    sink.byte(self.cur(), h);
                    self.st = St::Dq;
                    self.feed(c, sink);
                }
            },
            St::Sq => match c {
                b'\\' => self.st = St::SqEsc,
                b'\'' => self.st = St::Closed,
                0 => self.err = true,
                _ => sink.byte(self.cur(), c),
            },
            St::SqEsc => {
                if c == b'\'' {
                    sink.byte(self.cur(), b'\'');
                    self.st = St::Sq;
                } else {
                    sink.byte(self.cur(), b'\\');
                    self.st = St::Sq;
                    self.feed(c, sink);
                }
            }
            St::Closed => {
                if c == 0 {
                    self.st = St::Ended;
                } else if is_space(c) {
                    self.st = St::Skip;
                } else {
                    self.err = true;
                }
            }
        }
    }

    #[inline]
    fn word<S: Sink>(&mut self, c: u8, sink: &mut S) {
        match c {
            b' ' | b'\n' | b'\r' | b'\t' => self.st = St::Skip,
            0 => self.st = St::Ended,
            b'"' => self.st = St::Dq,
            b'\'' => self.st = St::Sq,
            _ => {
                self.st = St::Word;
                sink.byte(self.cur(), c);
            }
        }
    }

    /// The line ended. Returns false when it had unbalanced quotes (or a closing quote
    /// followed by something else than a blank).
    pub(crate) fn finish(&mut self) -> bool {
        !self.err && matches!(self.st, St::Skip | St::Word | St::Closed | St::Ended)
    }
}

/// Splits a whole line like `sdssplitargs`. `None` on unbalanced quotes.
pub(crate) fn split_line(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    struct Tokens(Vec<Vec<u8>>);
    impl Sink for Tokens {
        fn start(&mut self, _token: u32) {
            self.0.push(Vec::new());
        }
        fn byte(&mut self, _token: u32, b: u8) {
            if let Some(t) = self.0.last_mut() {
                t.push(b);
            }
        }
    }
    let mut sp = Splitter::new();
    let mut out = Tokens(Vec::new());
    for &c in line {
        sp.feed(c, &mut out);
    }
    if sp.finish() {
        Some(out.0)
    } else {
        None
    }
}
