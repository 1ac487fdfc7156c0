//! Request mode.

use super::*;

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
