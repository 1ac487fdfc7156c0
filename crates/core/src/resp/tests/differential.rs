//! Differential tests against redis-protocol, random input, limits.

use super::*;

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
