//! Reply mode.

use super::*;

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
