//! Scanner tests, all on raw bytes.

use super::*;

type R = Result<Vec<FrameInfo>, ProtocolError>;

fn enc(args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    args::encode_command(&args)
}

fn req() -> Scanner {
    Scanner::new(Mode::Request, Limits::default())
}

fn rep() -> Scanner {
    Scanner::new(Mode::Reply, Limits::default())
}

/// Scans `data` held whole in one buffer: the frames, then an error or the leftover bytes.
fn scan_whole(s: &mut Scanner, data: &[u8]) -> (R, usize) {
    let mut out = Vec::new();
    let mut off = 0;
    loop {
        match s.scan(&data[off..]) {
            Ok(Scan::Frame(f)) => {
                assert!(f.len > 0 && off + f.len <= data.len());
                off += f.len;
                out.push(f);
            }
            Ok(Scan::Incomplete) => return (Ok(out), data.len() - off),
            Err(e) => return (Err(e), data.len() - off),
        }
    }
}

fn frames(mode: Mode, data: &[u8]) -> R {
    let mut s = Scanner::new(mode, Limits::default());
    let (r, left) = scan_whole(&mut s, data);
    if r.is_ok() {
        assert_eq!(left, 0, "leftover bytes");
        assert!(!s.mid_frame());
    }
    r
}

/// Like a proxy session: reads arrive `chunk` bytes at a time into a buffer, frames are split
/// off its front.
fn scan_chunked(mode: Mode, data: &[u8], chunk: usize) -> (R, usize) {
    let mut s = Scanner::new(mode, Limits::default());
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = s.scanned();
            match s.scan(&buf) {
                Ok(Scan::Frame(f)) => {
                    buf.drain(..f.len);
                    out.push(f);
                }
                Ok(Scan::Incomplete) => {
                    assert!(s.scanned() >= before);
                    assert_eq!(s.scanned(), buf.len(), "everything buffered is examined");
                    break;
                }
                Err(e) => return (Err(e), buf.len()),
            }
        }
    }
    (Ok(out), buf.len())
}

/// Every way to cut `data` in two reads, and one byte at a time, gives the same result as one
/// read.
fn assert_split_invariant(mode: Mode, data: &[u8]) -> R {
    let whole = {
        let mut s = Scanner::new(mode, Limits::default());
        scan_whole(&mut s, data).0
    };
    for cut in 0..=data.len() {
        let mut s = Scanner::new(mode, Limits::default());
        let mut out = Vec::new();
        let mut off = 0;
        let mut res: Option<ProtocolError> = None;
        // First read: the prefix.
        loop {
            match s.scan(&data[off..cut]) {
                Ok(Scan::Frame(f)) => {
                    off += f.len;
                    out.push(f);
                }
                Ok(Scan::Incomplete) => break,
                Err(e) => {
                    res = Some(e);
                    break;
                }
            }
        }
        if res.is_none() {
            // Second read: everything.
            loop {
                match s.scan(&data[off..]) {
                    Ok(Scan::Frame(f)) => {
                        off += f.len;
                        out.push(f);
                    }
                    Ok(Scan::Incomplete) => break,
                    Err(e) => {
                        res = Some(e);
                        break;
                    }
                }
            }
        }
        let got = match res {
            Some(e) => Err(e),
            None => Ok(out),
        };
        assert_eq!(
            got,
            whole,
            "cut at {cut} of {:?}",
            String::from_utf8_lossy(data)
        );
    }
    for chunk in [1, 2, 3, 7] {
        assert_eq!(
            scan_chunked(mode, data, chunk).0,
            whole,
            "chunks of {chunk}"
        );
    }
    whole
}

fn one(mode: Mode, data: &[u8]) -> FrameInfo {
    let r = assert_split_invariant(mode, data).unwrap();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].len, data.len());
    r[0]
}

fn err(mode: Mode, data: &[u8]) -> ProtocolError {
    match assert_split_invariant(mode, data) {
        Err(e) => e,
        Ok(f) => panic!(
            "expected an error for {:?}, got {f:?}",
            String::from_utf8_lossy(data)
        ),
    }
}

fn incomplete(mode: Mode, data: &[u8]) {
    let mut s = Scanner::new(mode, Limits::default());
    assert_eq!(
        s.scan(data),
        Ok(Scan::Incomplete),
        "{:?}",
        String::from_utf8_lossy(data)
    );
    assert!(s.mid_frame() || data.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Request mode

#[test]
fn request_shapes() {
    let cases: &[(&[u8], FrameKind, &str)] = &[
        (b"*1\r\n$4\r\nPING\r\n", FrameKind::Array, "PING"),
        (
            b"*3\r\n$3\r\nset\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
            FrameKind::Array,
            "SET",
        ),
        (b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n", FrameKind::Array, "GET"),
        (
            b"*2\r\n$4\r\necho\r\n$6\r\n\r\n\r\n\r\n\r\n",
            FrameKind::Array,
            "ECHO",
        ),
        (b"*1\r\n$0\r\n\r\n", FrameKind::Array, ""),
        (
            b"*1\r\n$3\r\n\x00\xff*\r\n",
            FrameKind::Array,
            "\u{0}\u{fffd}*",
        ),
        (b"*0\r\n", FrameKind::Empty, ""),
        (b"*-1\r\n", FrameKind::Empty, ""),
        (b"*-5\r\n", FrameKind::Empty, ""),
        (b"*-9223372036854775808\r\n", FrameKind::Empty, ""),
        (b"PING\r\n", FrameKind::Inline, "PING"),
        (b"ping\n", FrameKind::Inline, "PING"),
        (b"  get   k\r\n", FrameKind::Inline, "GET"),
        (b"\"set\" 'k' \"v v\"\r\n", FrameKind::Inline, "SET"),
        (b"$abc\r\n", FrameKind::Inline, "$ABC"),
        (b"+OK\r\n", FrameKind::Inline, "+OK"),
        (b"\"\"\r\n", FrameKind::Inline, ""),
        (b"\r\n", FrameKind::Empty, ""),
        (b"\n", FrameKind::Empty, ""),
        (b" \t \r\n", FrameKind::Empty, ""),
        (b"\0 PING\r\n", FrameKind::Empty, ""),
    ];
    for (data, kind, head) in cases {
        let f = one(Mode::Request, data);
        assert_eq!(f.kind, *kind, "{:?}", String::from_utf8_lossy(data));
        assert_eq!(String::from_utf8_lossy(f.head.as_bytes()), *head);
        assert!(!f.head.truncated());
    }
}

#[test]
fn request_pipeline() {
    let mut data = Vec::new();
    let mut want = Vec::new();
    for i in 0..500 {
        let key = format!("key:{i}");
        let val = "v".repeat(i % 40);
        match i % 5 {
            0 => {
                data.extend(enc(&["SET", &key, &val]));
                want.push((FrameKind::Array, "SET"));
            }
            1 => {
                data.extend(enc(&["get", &key]));
                want.push((FrameKind::Array, "GET"));
            }
            2 => {
                data.extend(format!("INCR {key}\r\n").bytes());
                want.push((FrameKind::Inline, "INCR"));
            }
            3 => {
                data.extend(b"*0\r\n");
                want.push((FrameKind::Empty, ""));
            }
            _ => {
                data.extend(enc(&["MSET", &key, &val, "x", ""]));
                want.push((FrameKind::Array, "MSET"));
            }
        }
    }
    let got = frames(Mode::Request, &data).unwrap();
    assert_eq!(got.len(), want.len());
    for (f, (k, h)) in got.iter().zip(&want) {
        assert_eq!(f.kind, *k);
        assert_eq!(f.head.as_bytes(), h.as_bytes());
    }
    for chunk in [1, 7, 13, 4096] {
        let (r, left) = scan_chunked(Mode::Request, &data, chunk);
        assert_eq!(r.unwrap(), got);
        assert_eq!(left, 0);
    }
    // A smaller pipeline, cut everywhere.
    let small = [
        &b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..],
        b"PING\r\n",
        b"*0\r\n",
        b"\r\n",
        b"*1\r\n$4\r\nQUIT\r\n",
    ]
    .concat();
    assert_eq!(
        assert_split_invariant(Mode::Request, &small).unwrap().len(),
        5
    );
}

#[test]
fn request_every_split_of_every_shape() {
    for data in [
        &b"*3\r\n$3\r\nSET\r\n$10\r\nkey\r\n\r\nkey\r\n$2\r\n\r\n\r\n"[..],
        b"*12\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n$1\r\ni\r\n$1\r\nj\r\n$1\r\nk\r\n$1\r\nl\r\n",
        b"set \"a\\x41\\\"b\" 'c\\'d'\r\n",
        b"echo \"a\rb\"\r\n",
        b"*-1\r\n",
    ] {
        let f = one(Mode::Request, data);
        assert_ne!(f.kind, FrameKind::Other);
    }
}

#[test]
fn incomplete_requests_say_so() {
    for data in [
        &b"*"[..],
        b"*3",
        b"*3\r",
        b"*3\r\n",
        b"*3\r\n$",
        b"*3\r\n$3\r\nSET\r",
        b"*1\r\n$3\r\nSET",
        b"*1\r\n$300000000\r\nabc",
        b"*1000000\r\n",
        b"PING",
        b"PING\r",
        b"\r",
        b"echo \"abc",
    ] {
        incomplete(Mode::Request, data);
    }
    let s = req();
    assert!(!s.mid_frame());
    assert_eq!(req().scan(b""), Ok(Scan::Incomplete));
}

#[test]
fn request_errors_match_redis_texts() {
    use ProtocolError::*;
    let cases: &[(&[u8], ProtocolError, &str)] = &[
        (
            b"*abc\r\n",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (b"*abc", InvalidMultibulkLength, "invalid multibulk length"),
        (b"*\r\n", InvalidMultibulkLength, "invalid multibulk length"),
        (
            b"*-\r\n",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (
            b"*-0\r\n",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (
            b"*01\r\n",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (
            b"*+1\r\n",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (
            b"* 1\r\n",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (
            b"*1 \r\n",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (
            b"*1\r\r",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (b"*1\n", InvalidMultibulkLength, "invalid multibulk length"),
        (
            b"*1048577\r\n",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (
            b"*9223372036854775808\r\n",
            InvalidMultibulkLength,
            "invalid multibulk length",
        ),
        (
            b"*2\r\n+foo\r\n",
            ExpectedDollar(b'+'),
            "expected '$', got '+'",
        ),
        (b"*2\r\n+foo", ExpectedDollar(b'+'), "expected '$', got '+'"),
        (
            b"*1\r\n*1\r\n$1\r\na\r\n",
            ExpectedDollar(b'*'),
            "expected '$', got '*'",
        ),
        (
            b"*1\r\n\r\n",
            ExpectedDollar(b'\r'),
            "expected '$', got ' '",
        ),
        (
            b"*1\r\n:1\r\n",
            ExpectedDollar(b':'),
            "expected '$', got ':'",
        ),
        (b"*1\r\n$abc\r\n", InvalidBulkLength, "invalid bulk length"),
        (b"*1\r\n$abc", InvalidBulkLength, "invalid bulk length"),
        (b"*1\r\n$-1\r\n", InvalidBulkLength, "invalid bulk length"),
        (b"*1\r\n$-5\r\n", InvalidBulkLength, "invalid bulk length"),
        (b"*1\r\n$\r\n", InvalidBulkLength, "invalid bulk length"),
        (b"*1\r\n$07\r\n", InvalidBulkLength, "invalid bulk length"),
        (b"*1\r\n$?\r\n", InvalidBulkLength, "invalid bulk length"),
        (
            b"*1\r\n$536870913\r\n",
            InvalidBulkLength,
            "invalid bulk length",
        ),
        (
            b"*1\r\n$99999999999999999999\r\n",
            InvalidBulkLength,
            "invalid bulk length",
        ),
        (
            b"*1\r\n$3\r\nfooX\r\n",
            InvalidBulkTerminator,
            "invalid bulk terminator",
        ),
        (
            b"*1\r\n$3\r\nfoo\rX",
            InvalidBulkTerminator,
            "invalid bulk terminator",
        ),
        (
            b"*1\r\n$3\r\nfoo\n\r",
            InvalidBulkTerminator,
            "invalid bulk terminator",
        ),
        (
            b"*1\r\n$3\r\nfoobar\r\n",
            InvalidBulkTerminator,
            "invalid bulk terminator",
        ),
        (
            b"echo \"abc\r\n",
            UnbalancedQuotes,
            "unbalanced quotes in request",
        ),
        (
            b"echo 'abc\n",
            UnbalancedQuotes,
            "unbalanced quotes in request",
        ),
        (
            b"echo \"a\"b\r\n",
            UnbalancedQuotes,
            "unbalanced quotes in request",
        ),
        (
            b"\xff\xfe\"\x00\x01\r\n",
            UnbalancedQuotes,
            "unbalanced quotes in request",
        ),
    ];
    for (data, want, text) in cases {
        let e = err(Mode::Request, data);
        assert_eq!(&e, want, "{:?}", String::from_utf8_lossy(data));
        assert_eq!(e.to_string(), *text);
    }
    // Valid bulk exactly at the limit passes the header.
    incomplete(Mode::Request, b"*1\r\n$536870912\r\n");
    incomplete(Mode::Request, b"*1048576\r\n");
    // The exact reply bytes, raw byte included.
    assert_eq!(
        ProtocolError::ExpectedDollar(0xff).redis_reply(),
        b"-ERR Protocol error: expected '$', got '\xff'\r\n"
    );
    assert_eq!(
        ProtocolError::ExpectedDollar(0xff).to_string(),
        "expected '$', got '\\xff'"
    );
    assert_eq!(
        ProtocolError::InvalidMultibulkLength.redis_reply(),
        b"-ERR Protocol error: invalid multibulk length\r\n"
    );
}

#[test]
fn custom_limits_apply() {
    let limits = Limits {
        max_bulk_len: 10,
        max_multibulk_len: 3,
        max_inline_len: 16,
    };
    let mut s = Scanner::new(Mode::Request, limits);
    assert!(matches!(s.scan(b"*3\r\n$10\r\n"), Ok(Scan::Incomplete)));
    let mut s = Scanner::new(Mode::Request, limits);
    assert_eq!(
        s.scan(b"*4\r\n"),
        Err(ProtocolError::InvalidMultibulkLength)
    );
    let mut s = Scanner::new(Mode::Request, limits);
    assert_eq!(
        s.scan(b"*1\r\n$11\r\n"),
        Err(ProtocolError::InvalidBulkLength)
    );
    // 16 bytes of line plus "\r\n": the '\r' counts, as in Redis (bytes without '\n').
    let mut s = Scanner::new(Mode::Request, limits);
    assert!(matches!(s.scan(b"0123456789abcdef\n"), Ok(Scan::Frame(f)) if f.len == 17));
    let mut s = Scanner::new(Mode::Request, limits);
    assert_eq!(
        s.scan(b"0123456789abcdef\r\n"),
        Err(ProtocolError::TooBigInline)
    );
    let mut s = Scanner::new(Mode::Request, limits);
    assert_eq!(
        s.scan(b"0123456789abcdefg"),
        Err(ProtocolError::TooBigInline)
    );
    let mut s = Scanner::new(Mode::Request, limits);
    assert_eq!(
        s.scan(b"*0000000000000000"),
        Err(ProtocolError::TooBigMbulkCount)
    );
    let mut s = Scanner::new(Mode::Request, limits);
    assert_eq!(s.scan(b"*000000000000000"), Ok(Scan::Incomplete));
}

#[test]
fn header_and_inline_size_limits() {
    let limit = Limits::default().max_inline_len; // 65536, Redis' PROTO_INLINE_MAX_SIZE
                                                  // '*' plus 65535 digits is 65536 bytes without '\r': Redis waits; one more byte fails.
    let mut data = vec![b'*'];
    data.extend(std::iter::repeat_n(b'1', limit - 1));
    incomplete(Mode::Request, &data);
    data.push(b'1');
    let mut s = req();
    assert_eq!(s.scan(&data), Err(ProtocolError::TooBigMbulkCount));
    assert_eq!(
        ProtocolError::TooBigMbulkCount.to_string(),
        "too big mbulk count string"
    );
    // Growing one byte at a time gives the same.
    let (r, _) = scan_chunked(Mode::Request, &data, 1000);
    assert_eq!(r, Err(ProtocolError::TooBigMbulkCount));

    let mut data = b"*1\r\n$".to_vec();
    data.extend(std::iter::repeat_n(b'9', limit - 1));
    incomplete(Mode::Request, &data);
    data.push(b'9');
    assert_eq!(req().scan(&data), Err(ProtocolError::TooBigBulkCount));
    assert_eq!(
        ProtocolError::TooBigBulkCount.to_string(),
        "too big bulk count string"
    );
    // A long line of digits that does end is just an invalid length.
    let mut data = b"*1\r\n$".to_vec();
    data.extend(std::iter::repeat_n(b'9', 100));
    data.extend(b"\r\n");
    assert_eq!(req().scan(&data), Err(ProtocolError::InvalidBulkLength));

    // Inline: 65536 bytes without '\n' wait; 65537 fail; 65536 plus '\n' pass.
    let mut line = vec![b'a'; limit];
    incomplete(Mode::Request, &line);
    line.push(b'\n');
    let Ok(Scan::Frame(f)) = req().scan(&line) else {
        panic!()
    };
    assert_eq!(
        (f.len, f.kind, f.head.truncated()),
        (limit + 1, FrameKind::Inline, true)
    );
    let mut line = vec![b'a'; limit + 1];
    assert_eq!(req().scan(&line), Err(ProtocolError::TooBigInline));
    assert_eq!(
        ProtocolError::TooBigInline.to_string(),
        "too big inline request"
    );
    line.push(b'\n');
    assert_eq!(req().scan(&line), Err(ProtocolError::TooBigInline));
    // Binary garbage without newline is an oversized inline request.
    let garbage: Vec<u8> = (0..limit + 1000)
        .map(|i| (i * 7 % 251) as u8)
        .filter(|&b| b != b'\n')
        .collect();
    let (r, _) = scan_chunked(Mode::Request, &garbage, 4096);
    assert_eq!(r, Err(ProtocolError::TooBigInline));
}

#[test]
fn errors_are_sticky_until_reset() {
    let mut s = req();
    assert_eq!(s.scan(b"*x"), Err(ProtocolError::InvalidMultibulkLength));
    assert_eq!(
        s.scan(b"*1\r\n$1\r\na\r\n"),
        Err(ProtocolError::InvalidMultibulkLength)
    );
    s.reset();
    assert!(!s.mid_frame());
    assert!(matches!(s.scan(b"*1\r\n$1\r\na\r\n"), Ok(Scan::Frame(f)) if f.len == 11));
}

#[test]
fn scanner_state_is_resumable_and_never_rescans() {
    let mut s = req();
    let data = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
    for end in 0..data.len() {
        assert_eq!(s.scan(&data[..end]), Ok(Scan::Incomplete));
        assert_eq!(s.scanned(), end);
        assert_eq!(s.mid_frame(), end > 0);
    }
    let Ok(Scan::Frame(f)) = s.scan(data) else {
        panic!()
    };
    assert_eq!(f.len, data.len());
    assert!(f.head.is(b"GET"));
    assert_eq!(s.scanned(), 0);
    assert!(!s.mid_frame());
}

#[test]
fn consume_mid_header_and_mid_payload() {
    // Forward every scanned byte as soon as possible, with buffers of 1..=9 bytes.
    let data = b"*3\r\n$3\r\nSET\r\n$13\r\nkey\r\n12345678\r\n$4\r\nv\r\nv\r\n";
    for window in 1..=9 {
        let mut s = req();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut forwarded = 0;
        let f = loop {
            while buf.len() < window && fed < data.len() {
                buf.push(data[fed]);
                fed += 1;
            }
            match s.scan(&buf).unwrap() {
                Scan::Frame(f) => break f,
                Scan::Incomplete => {
                    let n = s.scanned();
                    assert_eq!(n, buf.len());
                    buf.drain(..n);
                    s.consume(n);
                    forwarded += n;
                    assert!(s.mid_frame());
                }
            }
        };
        assert_eq!(forwarded + f.len, data.len());
        assert!(f.head.is(b"SET"), "{:?}", f.head);
        assert_eq!(f.kind, FrameKind::Array);
    }
}

#[test]
fn streaming_a_big_bulk_through_a_small_window() {
    const BIG: usize = 1 << 20;
    const WINDOW: usize = 4096;
    let payload: Vec<u8> = (0..BIG).map(|i| (i % 253) as u8).collect();
    let mut data = args::encode_command(&[b"SET", b"big:key", &payload]);
    let first_len = data.len();
    data.extend(enc(&["GET", "k"]));
    let mut s = req();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut forwarded = 0;
    let mut got = Vec::new();
    let mut max_buf = 0;
    while got.len() < 2 {
        let room = WINDOW - buf.len();
        let n = room.min(data.len() - fed).min(1000);
        buf.extend_from_slice(&data[fed..fed + n]);
        fed += n;
        max_buf = max_buf.max(buf.len());
        loop {
            match s.scan(&buf).unwrap() {
                Scan::Frame(f) => {
                    buf.drain(..f.len);
                    forwarded += f.len;
                    got.push(f);
                }
                Scan::Incomplete => {
                    if buf.len() == WINDOW {
                        let k = s.scanned();
                        buf.drain(..k);
                        s.consume(k);
                        forwarded += k;
                    }
                    break;
                }
            }
        }
    }
    assert!(max_buf <= WINDOW);
    assert_eq!(forwarded, data.len());
    assert!(got[0].head.is(b"SET") && got[0].kind == FrameKind::Array);
    assert!(got[0].len < WINDOW && got[0].len > 0);
    assert!(got[1].head.is(b"GET"));
    assert_eq!(got[1].len, data.len() - first_len);
}

#[test]
fn announced_lengths_cost_nothing_until_bytes_arrive() {
    // 4 GiB bulk and a huge count in reply mode: only counters.
    let mut s = Scanner::new(
        Mode::Request,
        Limits {
            max_bulk_len: u64::MAX,
            ..Limits::default()
        },
    );
    assert_eq!(
        s.scan(b"*2\r\n$3\r\nSET\r\n$4294967296\r\nab"),
        Ok(Scan::Incomplete)
    );
    assert_eq!(s.scanned(), 28);
    let mut r = rep();
    assert_eq!(
        r.scan(b"*9223372036854775807\r\n:1\r\n"),
        Ok(Scan::Incomplete)
    );
    assert_eq!(
        r.scan(b"*9223372036854775807\r\n:1\r\n$9223372036854775807\r\nab"),
        Ok(Scan::Incomplete)
    );
}

#[test]
fn head_capture() {
    let f = one(Mode::Request, &enc(&["subscribe", "ch"]));
    assert!(f.head.is(b"SUBSCRIBE") && f.head.as_bytes() == b"SUBSCRIBE");
    // Exactly 32 bytes is kept; 33 is truncated (and empty).
    let n32 = "a".repeat(32);
    let f = one(Mode::Request, &enc(&[n32.as_str()]));
    assert_eq!(f.head.as_bytes(), "A".repeat(32).as_bytes());
    assert!(!f.head.truncated());
    let n33 = "a".repeat(33);
    let f = one(Mode::Request, &enc(&[n33.as_str(), "x"]));
    assert!(f.head.truncated() && f.head.as_bytes().is_empty() && f.head.is_empty());
    assert_eq!(f.head.prefix(), "A".repeat(32).as_bytes());
    assert!(!f.head.is(b""));
    let f = one(Mode::Request, format!("{n33} x\r\n").as_bytes());
    assert!(f.head.truncated());
    // Only the first element.
    let f = one(Mode::Request, &enc(&["", "GET"]));
    assert!(f.head.is(b"") && !f.head.truncated());
    assert_eq!(Head::from_bytes(b"get"), Head::from_bytes(b"GET"));
    assert_eq!(format!("{:?}", Head::from_bytes(b"get")), "Head(\"GET\")");
}

// ---------------------------------------------------------------------------------------------
// Reply mode

#[test]
fn reply_all_types() {
    use FrameKind::*;
    let cases: &[(&[u8], FrameKind, &str)] = &[
        (b"+OK\r\n", Other, ""),
        (b"+\r\n", Other, ""),
        (b"-ERR unknown command 'foo'\r\n", Error, "ERR"),
        (b"-READONLY You can't write against a read only replica.\r\n", Error, "READONLY"),
        (b"-NOREPLICAS Not enough good replicas to write.\r\n", Error, "NOREPLICAS"),
        (b"-LOADING Redis is loading the dataset in memory\r\n", Error, "LOADING"),
        (b"-MASTERDOWN Link with MASTER is down\r\n", Error, "MASTERDOWN"),
        (b"-MOVED 3999 127.0.0.1:6381\r\n", Error, "MOVED"),
        (b"-ERR\r\n", Error, "ERR"),
        (b"-\r\n", Error, ""),
        (b":0\r\n", Other, ""),
        (b":-9223372036854775808\r\n", Other, ""),
        (b"$5\r\nhello\r\n", Other, ""),
        (b"$0\r\n\r\n", Other, ""),
        (b"$-1\r\n", Other, ""),
        (b"$4\r\n\r\n\r\n\r\n", Other, ""),
        (b"*-1\r\n", Array, ""),
        (b"*0\r\n", Array, ""),
        (b"*2\r\n$3\r\nfoo\r\n:1\r\n", Array, "FOO"),
        (b"*2\r\n+bar\r\n:1\r\n", Array, "BAR"),
        (b"*2\r\n:1\r\n$3\r\nfoo\r\n", Array, ""),
        (b"*1\r\n$-1\r\n", Array, ""),
        (b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n", Array, "MESSAGE"),
        (b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$1\r\nx\r\n", Array, "PMESSAGE"),
        (b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", Array, "SUBSCRIBE"),
        (b"*2\r\n*1\r\n$1\r\na\r\n$1\r\nb\r\n", Array, ""),
        (b"_\r\n", Other, ""),
        (b",3.14\r\n", Other, ""),
        (b",-inf\r\n", Other, ""),
        (b",nan\r\n", Other, ""),
        (b",1.5e-10\r\n", Other, ""),
        (b"#t\r\n", Other, ""),
        (b"#f\r\n", Other, ""),
        (b"!21\r\nSYNTAX invalid syntax\r\n", Error, "SYNTAX"),
        (b"!3\r\nERR\r\n", Error, "ERR"),
        (b"=15\r\ntxt:Some string\r\n", Other, ""),
        (b"(3492890328409238509324850943850943825024385\r\n", Other, ""),
        (b"(-1\r\n", Other, ""),
        (b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", Other, "FIRST"),
        (b"%0\r\n", Other, ""),
        (b"~3\r\n+orange\r\n+apple\r\n#t\r\n", Other, "ORANGE"),
        (b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", Push, "MESSAGE"),
        (b">4\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n:1\r\n:2\r\n", Push, "INVALIDATE"),
        (b">0\r\n", Push, ""),
        (b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.19\r\n$1\r\nb\r\n,0.05\r\n*2\r\n:2039123\r\n:9543892\r\n", Array, ""),
        (b"|1\r\n+ttl\r\n:3600\r\n$5\r\nvalue\r\n", Other, ""),
        (b"|1\r\n+a\r\n+b\r\n-ERR x\r\n", Error, "ERR"),
        (b"|1\r\n+a\r\n+b\r\n>2\r\n$7\r\nmessage\r\n:1\r\n", Push, "MESSAGE"),
        (b"|0\r\n:1\r\n", Other, ""),
        (b"*2\r\n|1\r\n+a\r\n+b\r\n$7\r\nmessage\r\n:1\r\n", Array, "MESSAGE"),
        (b"*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n", Array, ""),
        (b"*1\r\n|1\r\n+a\r\n*1\r\n|1\r\n+b\r\n+c\r\n+d\r\n:1\r\n", Array, ""),
        (b"%1\r\n|1\r\n+a\r\n+b\r\n+k\r\n|1\r\n+c\r\n+d\r\n+v\r\n", Other, "K"),
        (b"*1\r\n-ERR inside\r\n", Array, ""),
    ];
    for (data, kind, head) in cases {
        let f = one(Mode::Reply, data);
        assert_eq!(f.kind, *kind, "{:?}", String::from_utf8_lossy(data));
        assert_eq!(
            String::from_utf8_lossy(f.head.as_bytes()),
            *head,
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }
    // All of them as one pipeline, cut everywhere.
    let all: Vec<u8> = cases.iter().flat_map(|c| c.0.iter().copied()).collect();
    let got = assert_split_invariant(Mode::Reply, &all).unwrap();
    assert_eq!(got.len(), cases.len());
}

#[test]
fn reply_heads_when_streamed() {
    let mut data = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$100000\r\n".to_vec();
    data.extend(std::iter::repeat_n(b'x', 100_000));
    data.extend(b"\r\n-READONLY You can't write\r\n");
    for window in [1, 5, 64, 1000] {
        let mut s = rep();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut forwarded = 0;
        let mut fed = 0;
        while fed < data.len() {
            let n = (window - buf.len()).min(data.len() - fed);
            buf.extend_from_slice(&data[fed..fed + n]);
            fed += n;
            loop {
                match s.scan(&buf).unwrap() {
                    Scan::Frame(f) => {
                        buf.drain(..f.len);
                        forwarded += f.len;
                        got.push(f);
                    }
                    Scan::Incomplete => {
                        let k = s.scanned();
                        buf.drain(..k);
                        s.consume(k);
                        forwarded += k;
                        break;
                    }
                }
            }
        }
        assert_eq!(forwarded, data.len());
        assert_eq!(got.len(), 2);
        assert!(
            got[0].head.is(b"MESSAGE"),
            "window {window}: {:?}",
            got[0].head
        );
        assert_eq!(
            (got[1].kind, got[1].head),
            (FrameKind::Error, Head::from_bytes(b"READONLY"))
        );
    }
}

#[test]
fn reply_errors() {
    use ProtocolError::*;
    let cases: &[(&[u8], ProtocolError)] = &[
        (b"HTTP/1.1 400 Bad Request\r\n", InvalidReplyType(b'H')),
        (b"\x00\xff\xfe", InvalidReplyType(0)),
        (b"\xff", InvalidReplyType(0xff)),
        (b"*1\r\n\x01", InvalidReplyType(1)),
        (b";4\r\nabcd\r\n", InvalidReplyType(b';')),
        (b"+OK\n", InvalidLineTerminator),
        (b"+OK\rX", InvalidLineTerminator),
        (b"-ERR\r\r\n", InvalidLineTerminator),
        (b":12a\r\n", InvalidReplyValue(b':')),
        (b":\r\n", InvalidReplyValue(b':')),
        (b":-\r\n", InvalidReplyValue(b':')),
        (b"#x\r\n", InvalidReplyValue(b'#')),
        (b"#tt\r\n", InvalidReplyValue(b'#')),
        (b"#\r\n", InvalidReplyValue(b'#')),
        (b"_x\r\n", InvalidReplyValue(b'_')),
        (b",\r\n", InvalidReplyValue(b',')),
        (b",1 2\r\n", InvalidReplyValue(b',')),
        (b"(1x\r\n", InvalidReplyValue(b'(')),
        (b"$-2\r\n", InvalidBulkLength),
        (b"!-1\r\n", InvalidBulkLength),
        (b"$x\r\n", InvalidBulkLength),
        (b"$3\r\nabcd\r\n", InvalidBulkTerminator),
        (b"*-2\r\n", InvalidMultibulkLength),
        (b"%-1\r\n", InvalidMultibulkLength),
        (b"*1x\r\n", InvalidMultibulkLength),
        (b"*1\r\r\n", InvalidMultibulkLength),
        (b"$?\r\n;4\r\nabcd\r\n;0\r\n", Streamed),
        (b"*?\r\n:1\r\n.\r\n", Streamed),
        (b"%?\r\n", Streamed),
    ];
    for (data, want) in cases {
        assert_eq!(
            &err(Mode::Reply, data),
            want,
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }
    assert_eq!(
        InvalidReplyType(b'H').to_string(),
        "invalid reply type byte 'H'"
    );
    assert_eq!(
        InvalidReplyValue(b':').to_string(),
        "invalid ':' reply value"
    );
}

#[test]
fn reply_depth_limit() {
    let nest = |d: usize| {
        let mut v = b"*1\r\n".repeat(d);
        v.extend(b":1\r\n");
        v
    };
    assert_eq!(
        one(Mode::Reply, &nest(MAX_REPLY_DEPTH)).kind,
        FrameKind::Array
    );
    assert_eq!(
        rep().scan(&nest(MAX_REPLY_DEPTH + 1)),
        Err(ProtocolError::TooDeep)
    );
    assert_eq!(ProtocolError::TooDeep.to_string(), "reply nesting too deep");
    // Attributes count; the bound can be changed.
    let mut s = Scanner::new(Mode::Reply, Limits::default()).with_max_depth(2);
    assert_eq!(
        s.scan(b"*1\r\n|1\r\n+a\r\n*1\r\n"),
        Err(ProtocolError::TooDeep)
    );
    let mut s = Scanner::new(Mode::Reply, Limits::default()).with_max_depth(2);
    assert!(matches!(s.scan(b"*1\r\n*1\r\n:1\r\n"), Ok(Scan::Frame(_))));
    // Wide is fine: no depth, no allocation per element.
    let mut wide = b"*100000\r\n".to_vec();
    for _ in 0..100_000 {
        wide.extend(b"*0\r\n");
    }
    assert_eq!(frames(Mode::Reply, &wide).unwrap().len(), 1);
}

#[test]
fn incomplete_replies_say_so() {
    for data in [
        &b"+OK"[..],
        b"+OK\r",
        b"$5\r\nhel",
        b"$5\r\nhello",
        b"$5\r\nhello\r",
        b"*2\r\n:1\r\n",
        b"%1\r\n+a\r\n",
        b"|1\r\n+a\r\n+b\r\n",
        b"|0\r\n",
        b">2\r\n+a\r\n",
        b"*1\r\n|1\r\n+a\r\n+b\r\n",
    ] {
        incomplete(Mode::Reply, data);
    }
}

// ---------------------------------------------------------------------------------------------
// Differential tests against redis-protocol.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn text(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n)
            .map(|_| b" abcXYZ019-_:*$+"[self.below(16) as usize])
            .collect()
    }
    fn binary(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n)
            .map(|_| {
                if self.below(4) == 0 {
                    b"\r\n"[self.below(2) as usize]
                } else {
                    self.next() as u8
                }
            })
            .collect()
    }
}

fn gen_resp2(rng: &mut Rng, depth: u32, out: &mut Vec<u8>) {
    let t = rng.below(if depth >= 4 { 5 } else { 8 });
    match t {
        0 => {
            out.push(b'+');
            out.extend(rng.text(20));
            out.extend(b"\r\n");
        }
        1 => {
            out.extend(b"-ERR ");
            out.extend(rng.text(20));
            out.extend(b"\r\n");
        }
        2 => out.extend(format!(":{}\r\n", rng.next() as i64 >> rng.below(64)).bytes()),
        3 => {
            let p = rng.binary(40);
            out.extend(format!("${}\r\n", p.len()).bytes());
            out.extend(p);
            out.extend(b"\r\n");
        }
        4 => out.extend(b"$-1\r\n"),
        5 => out.extend(b"*-1\r\n"),
        _ => {
            let n = rng.below(6);
            out.extend(format!("*{n}\r\n").bytes());
            for _ in 0..n {
                gen_resp2(rng, depth + 1, out);
            }
        }
    }
}

#[test]
fn differential_resp2_against_redis_protocol() {
    use redis_protocol::resp2::decode::decode_range;
    let mut rng = Rng(0x5eed_0001);
    for case in 0..4000 {
        let mut buf = Vec::new();
        let count = 1 + rng.below(5);
        for _ in 0..count {
            gen_resp2(&mut rng, 0, &mut buf);
        }
        let mut s = rep();
        let mut off = 0;
        let mut first_len = 0;
        while off < buf.len() {
            let theirs = decode_range(&buf[off..])
                .unwrap_or_else(|e| panic!("case {case}: {e:?}"))
                .expect("complete")
                .1;
            let ours = match s.scan(&buf[off..]) {
                Ok(Scan::Frame(f)) => f.len,
                other => panic!(
                    "case {case}: {other:?} on {:?}",
                    String::from_utf8_lossy(&buf[off..])
                ),
            };
            assert_eq!(ours, theirs, "case {case}");
            if off == 0 {
                first_len = ours;
            }
            off += ours;
        }
        // Truncations of the first frame are incomplete for both.
        for _ in 0..3 {
            let cut = rng.below(first_len as u64) as usize;
            assert!(
                matches!(decode_range(&buf[..cut]), Ok(None)),
                "case {case} cut {cut}"
            );
            assert_eq!(
                rep().scan(&buf[..cut]),
                Ok(Scan::Incomplete),
                "case {case} cut {cut}"
            );
        }
        // And the same buffer scanned in small reads.
        if case % 20 == 0 {
            let (r, left) = scan_chunked(Mode::Reply, &buf, 1 + rng.below(9) as usize);
            assert_eq!(r.unwrap().len() as u64, count);
            assert_eq!(left, 0);
        }
    }
}

fn gen_resp3_key(rng: &mut Rng, out: &mut Vec<u8>) {
    match rng.below(3) {
        0 => {
            out.push(b'+');
            out.extend(rng.text(10));
            out.extend(b"\r\n");
        }
        1 => out.extend(format!(":{}\r\n", rng.next() as i32).bytes()),
        _ => {
            let p = rng.binary(10);
            out.extend(format!("${}\r\n", p.len()).bytes());
            out.extend(p);
            out.extend(b"\r\n");
        }
    }
}

fn gen_resp3(rng: &mut Rng, depth: u32, out: &mut Vec<u8>, allow_attr: bool) {
    let t = rng.below(if depth >= 3 { 11 } else { 16 });
    match t {
        0 => {
            out.push(b'+');
            out.extend(rng.text(20));
            out.extend(b"\r\n");
        }
        1 => {
            out.extend(b"-ERR ");
            out.extend(rng.text(20));
            out.extend(b"\r\n");
        }
        2 => out.extend(format!(":{}\r\n", rng.next() as i64).bytes()),
        3 => {
            let p = rng.binary(30);
            out.extend(format!("${}\r\n", p.len()).bytes());
            out.extend(p);
            out.extend(b"\r\n");
        }
        4 => out.extend(b"_\r\n"),
        5 => {
            let v = ["1.5", "-0.25", "inf", "-inf", "3", "1e10"][rng.below(6) as usize];
            out.extend(format!(",{v}\r\n").bytes());
        }
        6 => out.extend(if rng.below(2) == 0 {
            &b"#t\r\n"[..]
        } else {
            b"#f\r\n"
        }),
        7 => {
            let p = rng.binary(30);
            out.extend(format!("!{}\r\n", p.len()).bytes());
            out.extend(p);
            out.extend(b"\r\n");
        }
        8 => {
            let p = rng.binary(20);
            out.extend(format!("={}\r\ntxt:", p.len() + 4).bytes());
            out.extend(p);
            out.extend(b"\r\n");
        }
        9 => out.extend(format!("({}{}\r\n", rng.next(), rng.next()).bytes()),
        10 => out.extend(b"*0\r\n"),
        11 | 12 => {
            let ty = [b'*', b'>'][rng.below(2) as usize];
            let n = rng.below(5);
            out.extend(format!("{}{n}\r\n", ty as char).bytes());
            for _ in 0..n {
                gen_resp3(rng, depth + 1, out, true);
            }
        }
        13 => {
            let n = rng.below(4);
            out.extend(format!("%{n}\r\n").bytes());
            for _ in 0..n {
                gen_resp3_key(rng, out);
                gen_resp3(rng, depth + 1, out, true);
            }
        }
        14 => {
            let n = rng.below(4);
            out.extend(format!("~{n}\r\n").bytes());
            for _ in 0..n {
                gen_resp3_key(rng, out);
            }
        }
        _ => {
            if !allow_attr {
                out.extend(b"+x\r\n");
                return;
            }
            let n = rng.below(3);
            out.extend(format!("|{n}\r\n").bytes());
            for _ in 0..n {
                gen_resp3_key(rng, out);
                gen_resp3(rng, depth + 1, out, true);
            }
            // The decorated value: not null, not another attribute (redis-protocol rejects both).
            loop {
                let mut v = Vec::new();
                gen_resp3(rng, depth + 1, &mut v, false);
                if v != b"_\r\n" && v != b"$-1\r\n" {
                    out.extend(v);
                    break;
                }
            }
        }
    }
}

#[test]
fn differential_resp3_against_redis_protocol() {
    use redis_protocol::resp3::decode::complete::decode_range;
    let mut rng = Rng(0x5eed_0003);
    for case in 0..3000 {
        let mut buf = Vec::new();
        gen_resp3(&mut rng, 0, &mut buf, true);
        let theirs = match decode_range(&buf) {
            Ok(Some((_, n))) => n,
            other => panic!(
                "case {case}: {other:?} on {:?}",
                String::from_utf8_lossy(&buf)
            ),
        };
        let ours = match rep().scan(&buf) {
            Ok(Scan::Frame(f)) => f.len,
            other => panic!(
                "case {case}: {other:?} on {:?}",
                String::from_utf8_lossy(&buf)
            ),
        };
        assert_eq!(
            ours,
            theirs,
            "case {case}: {:?}",
            String::from_utf8_lossy(&buf)
        );
        assert_eq!(ours, buf.len());
        let cut = rng.below(buf.len() as u64) as usize;
        assert!(
            matches!(decode_range(&buf[..cut]), Ok(None)),
            "case {case} cut {cut}"
        );
        assert_eq!(rep().scan(&buf[..cut]), Ok(Scan::Incomplete));
        let (r, left) = scan_chunked(Mode::Reply, &buf, 1 + rng.below(5) as usize);
        assert_eq!(r.unwrap().len(), 1);
        assert_eq!(left, 0);
    }
}

/// Random bytes never panic, and whatever happens does not depend on how they are cut.
#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng(0x5eed_0004);
    let alphabet = b"*$+-:_,#!=(%~>|?\r\n0123456789 \"'\\x\0";
    for _ in 0..3000 {
        let n = rng.below(40) as usize;
        let data: Vec<u8> = (0..n)
            .map(|_| {
                if rng.below(8) == 0 {
                    rng.next() as u8
                } else {
                    alphabet[rng.below(alphabet.len() as u64) as usize]
                }
            })
            .collect();
        for mode in [Mode::Request, Mode::Reply] {
            let whole = {
                let mut s = Scanner::new(mode, Limits::default());
                scan_whole(&mut s, &data).0
            };
            let chunk = 1 + rng.below(6) as usize;
            assert_eq!(scan_chunked(mode, &data, chunk).0, whole);
        }
    }
}

#[test]
fn tiny_limits_do_not_depend_on_read_boundaries() {
    let limits = Limits {
        max_bulk_len: 1000,
        max_multibulk_len: 1000,
        max_inline_len: 3,
    };
    for data in [
        &b"*123\r\n"[..],
        b"*12\r\n",
        b"*1\r\n$100\r\n",
        b"abcd\r\n",
        b"abc\n",
    ] {
        let mut whole = Scanner::new(Mode::Request, limits);
        let want = whole.scan(data);
        let mut s = Scanner::new(Mode::Request, limits);
        let mut got = Ok(Scan::Incomplete);
        for end in 1..=data.len() {
            got = s.scan(&data[..end]);
            if !matches!(got, Ok(Scan::Incomplete)) {
                break;
            }
        }
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(data));
    }
    assert_eq!(
        Scanner::new(Mode::Request, limits).scan(b"*123\r\n"),
        Err(ProtocolError::TooBigMbulkCount)
    );
}

#[test]
fn streamed_long_command_name_is_truncated() {
    let name = "x".repeat(100);
    let data = enc(&[name.as_str(), "arg"]);
    let mut s = req();
    let mut buf: Vec<u8> = Vec::new();
    let mut info = None;
    for &b in &data {
        buf.push(b);
        match s.scan(&buf).unwrap() {
            Scan::Frame(f) => info = Some(f),
            Scan::Incomplete => {
                let k = s.scanned();
                buf.drain(..k);
                s.consume(k);
            }
        }
    }
    let f = info.unwrap();
    assert!(f.head.truncated() && f.head.as_bytes().is_empty());
    assert_eq!(f.head.prefix(), "X".repeat(32).as_bytes());
}
