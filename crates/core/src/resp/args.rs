//! Arguments of small complete requests, and encoding of commands.

use std::borrow::Cow;

use bytes::{BufMut, Bytes};
use memchr::memchr;

use super::split::split_line;

/// Arguments of one complete, small request frame, as found by the request
/// [`Scanner`](super::Scanner): a multibulk array of bulks (arguments borrowed from `frame`),
/// or an inline line split the way Redis' `sdssplitargs` does, with `"..."` / `'...'` quoting
/// and `\xHH` escapes (arguments owned). An ignored request (`*0\r\n`, `*-1\r\n`, a blank
/// line) gives no arguments.
///
/// Returns `None` when `frame` is not exactly one well-formed request (unbalanced quotes,
/// bad lengths or terminators, missing or trailing bytes). No length limits are applied here:
/// the scanner already did.
pub fn request_args(frame: &[u8]) -> Option<Vec<Cow<'_, [u8]>>> {
    match frame.first()? {
        b'*' => multibulk_args(frame),
        _ => Some(inline_args(frame)?.into_iter().map(Cow::Owned).collect()),
    }
}

/// [`request_args`] on a `Bytes` frame: multibulk arguments share the frame's memory.
pub fn request_args_bytes(frame: &Bytes) -> Option<Vec<Bytes>> {
    let args = request_args(frame)?;
    Some(
        args.into_iter()
            .map(|a| match a {
                Cow::Borrowed(s) => frame.slice_ref(s),
                Cow::Owned(v) => Bytes::from(v),
            })
            .collect(),
    )
}

/// Splits one inline line (without its `\n`) like Redis' `sdssplitargs`. `None` on unbalanced
/// quotes, or on a closing quote followed by something else than a blank.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    split_line(line)
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let size: usize = args.iter().map(|a| a.len() + 16).sum::<usize>() + 16;
    let mut out = Vec::with_capacity(size);
    encode_command_into(&mut out, args);
    out
}

/// Appends a command, encoded as a RESP array of bulk strings, to `out` (`Vec<u8>`,
/// `BytesMut`, ...).
pub fn encode_command_into<B: BufMut, A: AsRef<[u8]>>(out: &mut B, args: &[A]) {
    put_header(out, b'*', args.len());
    for a in args {
        let a = a.as_ref();
        put_header(out, b'$', a.len());
        out.put_slice(a);
        out.put_slice(b"\r\n");
    }
}

fn put_header<B: BufMut>(out: &mut B, prefix: u8, mut n: usize) {
    let mut tmp = [0u8; 24];
    let mut i = tmp.len() - 2;
    tmp[i] = b'\r';
    tmp[i + 1] = b'\n';
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    i -= 1;
    tmp[i] = prefix;
    out.put_slice(&tmp[i..]);
}

/// Redis' `string2ll`: optional `-`, no `+`, no leading zeros, no `-0`, fits `i64`.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        (v <= 1u64 << 63).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// `<ty><int>\r\n` at `pos`: the number and the position after the line.
fn header_at(frame: &[u8], pos: usize, ty: u8) -> Option<(i64, usize)> {
    if *frame.get(pos)? != ty {
        return None;
    }
    let rest = &frame[pos + 1..];
    let cr = memchr(b'\r', rest)?;
    if rest.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    Some((parse_i64(&rest[..cr])?, pos + 1 + cr + 2))
}

fn multibulk_args(frame: &[u8]) -> Option<Vec<Cow<'_, [u8]>>> {
    let (n, mut pos) = header_at(frame, 0, b'*')?;
    if n <= 0 {
        return (pos == frame.len()).then(Vec::new);
    }
    // Each element takes at least 6 bytes ("$0\r\n\r\n"): never trust the announced count.
    let cap = usize::try_from(n)
        .unwrap_or(usize::MAX)
        .min((frame.len() - pos) / 6);
    let mut out = Vec::with_capacity(cap);
    for _ in 0..n {
        let (len, start) = header_at(frame, pos, b'$')?;
        let len = usize::try_from(len).ok()?;
        let end = start.checked_add(len)?;
        if frame.get(end..end.checked_add(2)?)? != b"\r\n" {
            return None;
        }
        out.push(Cow::Borrowed(&frame[start..end]));
        pos = end + 2;
    }
    (pos == frame.len()).then_some(out)
}

fn inline_args(frame: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = frame.strip_suffix(b"\n")?;
    if memchr(b'\n', line).is_some() {
        return None;
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    split_line(line)
}

#[cfg(test)]
mod tests {
    use super::super::{FrameKind, Head, Limits, Mode, ProtocolError, Scan, Scanner};
    use super::*;

    fn owned(v: Option<Vec<Cow<'_, [u8]>>>) -> Option<Vec<Vec<u8>>> {
        v.map(|v| v.into_iter().map(|a| a.into_owned()).collect())
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_args_are_borrowed() {
        let f = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n";
        let a = request_args(f).unwrap();
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|a| matches!(a, Cow::Borrowed(_))));
        assert_eq!(&*a[2], b"v\r\nx");
        assert_eq!(owned(request_args(b"*0\r\n")), Some(vec![]));
        assert_eq!(owned(request_args(b"*-1\r\n")), Some(vec![]));
        assert_eq!(owned(request_args(b"*1\r\n$0\r\n\r\n")), Some(vec![vec![]]));
    }

    #[test]
    fn malformed_multibulk_is_none() {
        for f in [
            &b""[..],
            b"*",
            b"*1\r\n",
            b"*1\r\n$3\r\nab\r\n",
            b"*1\r\n$3\r\nabcX\n",
            b"*1\r\n$3\r\nabc\r\nextra",
            b"*0\r\nx",
            b"*1\r\n+abc\r\n",
            b"*1\r\n$-1\r\n",
            b"*01\r\n$1\r\na\r\n",
            b"*1\r\n$01\r\na\r\n",
            b"*2\r\n$1\r\na\r\n",
            b"*9223372036854775807\r\n$1\r\na\r\n",
            b"*1\r\n$9223372036854775807\r\na\r\n",
            b"*1\n$1\r\na\r\n",
        ] {
            assert_eq!(
                owned(request_args(f)),
                None,
                "{:?}",
                String::from_utf8_lossy(f)
            );
        }
    }

    #[test]
    fn inline_args_split_like_sdssplitargs() {
        let cases: &[(&[u8], Option<&[&str]>)] = &[
            (b"PING\r\n", Some(&["PING"])),
            (b"PING\n", Some(&["PING"])),
            (b"\r\n", Some(&[])),
            (b"\n", Some(&[])),
            (b" \t \x0b\x0c \r\n", Some(&[])),
            (b"set  k   v\r\n", Some(&["set", "k", "v"])),
            (b"set \"a b\" 'c d'\r\n", Some(&["set", "a b", "c d"])),
            (
                b"set \"\\x41\\x4a\\n\\r\\t\\\\\\\"\" x\r\n",
                Some(&["set", "AJ\n\r\t\\\"", "x"]),
            ),
            (b"echo \"\\xZZ\\x4\"\n", Some(&["echo", "xZZx4"])),
            (b"echo 'it\\'s' '\\n'\n", Some(&["echo", "it's", "\\n"])),
            (b"echo a\"b c\"d\n", None),
            (b"echo a\"b c\" d\n", Some(&["echo", "ab c", "d"])),
            (b"echo \"\"\n", Some(&["echo", ""])),
            (b"\"\"\n", Some(&[""])),
            (b"echo \"abc\n", None),
            (b"echo 'abc\n", None),
            (b"echo \"a\"b\n", None),
            (b"echo \"abc\r\n", None),
            (b"echo \"ab\rc\"\r\n", Some(&["echo", "ab\rc"])),
            (b"get a\0b c\r\n", Some(&["get", "a"])),
            (b"\0get\r\n", Some(&[])),
            (b"get \"a\0\"\r\n", None),
            (b"get\x0bx y\n", Some(&["get\x0bx", "y"])),
            (b"get x\r\r\n", Some(&["get", "x"])),
        ];
        for (frame, want) in cases {
            let got = owned(request_args(frame));
            let want = want.map(strs);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(frame));
            // The scanner agrees on quotes, emptiness and the head.
            let mut s = Scanner::new(Mode::Request, Limits::default());
            let r = s.scan(frame);
            match &want {
                None => assert_eq!(r, Err(ProtocolError::UnbalancedQuotes)),
                Some(args) => {
                    let Ok(Scan::Frame(info)) = r else {
                        panic!("{r:?}")
                    };
                    assert_eq!(info.len, frame.len());
                    if args.is_empty() {
                        assert_eq!(info.kind, FrameKind::Empty);
                    } else {
                        assert_eq!(info.kind, FrameKind::Inline);
                        assert_eq!(info.head.as_bytes(), args[0].to_ascii_uppercase());
                    }
                }
            }
        }
        assert_eq!(owned(request_args(b"PING")), None);
        assert_eq!(owned(request_args(b"PING\nPING\n")), None);
    }

    /// A direct port of Redis' `sdssplitargs` (pointer walking with lookahead), to check the
    /// incremental splitter against.
    fn sdssplitargs(line: &[u8]) -> Option<Vec<Vec<u8>>> {
        // C string: stops at the first NUL.
        let end = line.iter().position(|&c| c == 0).unwrap_or(line.len());
        let s = &line[..end];
        let at = |i: usize| s.get(i).copied().unwrap_or(0);
        let isspace = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
        let ishex = |c: u8| c.is_ascii_hexdigit();
        let hv = |c: u8| (c as char).to_digit(16).unwrap() as u8;
        let mut p = 0;
        let mut out = Vec::new();
        loop {
            while at(p) != 0 && isspace(at(p)) {
                p += 1;
            }
            if at(p) == 0 {
                return Some(out);
            }
            let (mut inq, mut insq, mut done) = (false, false, false);
            let mut cur = Vec::new();
            while !done {
                if inq {
                    if at(p) == b'\\' && at(p + 1) == b'x' && ishex(at(p + 2)) && ishex(at(p + 3)) {
                        cur.push(hv(at(p + 2)) * 16 + hv(at(p + 3)));
                        p += 3;
                    } else if at(p) == b'\\' && at(p + 1) != 0 {
                        p += 1;
                        cur.push(match at(p) {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            c => c,
                        });
                    } else if at(p) == b'"' {
                        if at(p + 1) != 0 && !isspace(at(p + 1)) {
                            return None;
                        }
                        done = true;
                    } else if at(p) == 0 {
                        return None;
                    } else {
                        cur.push(at(p));
                    }
                } else if insq {
                    if at(p) == b'\\' && at(p + 1) == b'\'' {
                        p += 1;
                        cur.push(b'\'');
                    } else if at(p) == b'\'' {
                        if at(p + 1) != 0 && !isspace(at(p + 1)) {
                            return None;
                        }
                        done = true;
                    } else if at(p) == 0 {
                        return None;
                    } else {
                        cur.push(at(p));
                    }
                } else {
                    match at(p) {
                        b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                        b'"' => inq = true,
                        b'\'' => insq = true,
                        c => cur.push(c),
                    }
                }
                if at(p) != 0 {
                    p += 1;
                }
            }
            out.push(cur);
        }
    }

    #[test]
    fn splitter_matches_reference_port_on_random_lines() {
        let alphabet = b"ab x\"'\\\t\r\x0b\0AF09";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            assert_eq!(
                split_args(&line),
                sdssplitargs(&line),
                "{:?}",
                String::from_utf8_lossy(&line)
            );
            // The scanner reaches the same verdict fed byte by byte.
            let mut frame = line.clone();
            frame.extend_from_slice(b"\r\n");
            let mut s = Scanner::new(Mode::Request, Limits::default());
            let mut r = Ok(Scan::Incomplete);
            if frame[0] != b'*' {
                for end in 1..=frame.len() {
                    r = s.scan(&frame[..end]);
                    if !matches!(r, Ok(Scan::Incomplete)) {
                        break;
                    }
                }
                match sdssplitargs(&line) {
                    None => assert_eq!(r, Err(ProtocolError::UnbalancedQuotes)),
                    Some(args) => {
                        let Ok(Scan::Frame(info)) = r else {
                            panic!("{r:?}")
                        };
                        assert_eq!(info.len, frame.len());
                        let want = args.first().map(|a| Head::from_bytes(a));
                        match want {
                            None => assert_eq!(info.kind, FrameKind::Empty),
                            Some(h) => assert_eq!(info.head, h),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn request_args_bytes_shares_memory() {
        let f = Bytes::from_static(b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
        let a = request_args_bytes(&f).unwrap();
        assert_eq!(
            a,
            vec![Bytes::from_static(b"GET"), Bytes::from_static(b"key")]
        );
        assert_eq!(a[1].as_ptr(), f[17..].as_ptr());
        let i = Bytes::from_static(b"get \"a b\"\r\n");
        assert_eq!(
            request_args_bytes(&i).unwrap(),
            vec![Bytes::from_static(b"get"), Bytes::from_static(b"a b")]
        );
    }

    #[test]
    fn encode_roundtrips() {
        assert_eq!(encode_command(&[&b"PING"[..]]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(encode_command(&[]), b"*0\r\n");
        let big = vec![b'x'; 12345];
        let args: Vec<&[u8]> = vec![b"SET", b"k\r\n", b"", &big];
        let enc = encode_command(&args);
        assert_eq!(
            owned(request_args(&enc)).unwrap(),
            args.iter().map(|a| a.to_vec()).collect::<Vec<_>>()
        );
        let mut bm = bytes::BytesMut::new();
        encode_command_into(&mut bm, &["GET", "k"]);
        assert_eq!(&bm[..], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        let mut s = Scanner::new(Mode::Request, Limits::default());
        let Ok(Scan::Frame(info)) = s.scan(&enc) else {
            panic!()
        };
        assert_eq!(info.len, enc.len());
        assert!(info.head.is(b"SET"));
    }

    #[test]
    fn parse_i64_is_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
