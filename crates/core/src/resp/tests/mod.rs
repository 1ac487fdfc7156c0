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

mod differential;
mod replies;
mod requests;
