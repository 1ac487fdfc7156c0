//! The whole-frame fast path must agree with the resumable path on everything: frames, kinds,
//! heads and errors. Fed one byte at a time the scanner never takes the fast path (a frame is
//! never complete in its first read), so comparing that with one-shot and other read sizes
//! compares the two paths.

use super::*;

type Outcome = (Vec<(Vec<u8>, FrameKind, Head)>, Option<ProtocolError>);

fn run(mode: Mode, limits: Limits, data: &[u8], chunk: usize) -> Outcome {
    let mut s = Scanner::new(mode, limits);
    let (mut frames, mut buf, mut start) = (Vec::new(), Vec::new(), 0);
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match s.scan(&buf[start..]) {
                Ok(Scan::Frame(f)) => {
                    frames.push((buf[start..start + f.len].to_vec(), f.kind, f.head));
                    start += f.len;
                }
                Ok(Scan::Incomplete) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fn check(mode: Mode, limits: Limits, data: &[u8]) {
    let slow = run(mode, limits, data, 1);
    for chunk in [data.len(), 2, 3, 7, 64] {
        assert_eq!(
            run(mode, limits, data, chunk),
            slow,
            "{mode:?} {limits:?} reads of {chunk}: {:?}",
            String::from_utf8_lossy(data)
        );
    }
}

const REQUESTS: &[&[u8]] = &[
    b"*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n",
    b"*1\r\n$4\r\nping\r\n*2\r\n$3\r\nget\r\n$1\r\nk\r\n",
    b"*1\r\n$0\r\n\r\n",
    b"*1\r\n$40\r\nabcdefghijklmnopqrstuvwxyzabcdefghijklmn\r\n",
    b"*0\r\n*-1\r\n*1\r\n$4\r\nQUIT\r\n",
    b"*2\r\n$3\r\nGET\r\n$01\r\nk\r\n",
    b"*2\r\n$3\r\nGET\r\n$-1\r\n",
    b"*01\r\n$4\r\nPING\r\n",
    b"*-0\r\n",
    b"*1\r\n$4\r\nPINGxx",
    b"*1\r\n$4\r\nPING\n\r",
    b"*1\r\n:4\r\nPING\r\n",
    b"*2\r\n$3\r\nSET\r\n",
    b"PING\r\n*1\r\n$4\r\nPING\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20\r\n01234567890123456789\r\n",
    b"*99999999999999999999\r\n",
    b"*1\r\n$99999999999999999999\r\n",
];

const REPLIES: &[&[u8]] = &[
    b"+OK\r\n$3\r\nxxx\r\n$-1\r\n:1\r\n:-42\r\n:+7\r\n",
    b"-ERR unknown command\r\n-READONLY You can't write\r\n-\r\n",
    b"-AVERYLONGERRORCODEWORDTHATISOVERTHIRTYTWOBYTES x\r\n",
    b"$0\r\n\r\n$3\r\nab\r\n",
    b"$-2\r\n",
    b":12a\r\n",
    b":\r\n",
    b"+OK\n",
    b"+OK\r",
    b"*2\r\n$3\r\nfoo\r\n:1\r\n*-1\r\n*0\r\n",
    b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n",
    b"*2\r\n+subscribe\r\n:1\r\n*1\r\n-ERR x\r\n",
    b"*2\r\n*1\r\n:1\r\n:2\r\n",
    b"*2\r\n:1\r\n$3\r\nabc\r\n",
    b"*1\r\n$-1\r\n*1\r\n$40\r\nabcdefghijklmnopqrstuvwxyzabcdefghijklmn\r\n",
    b"*-2\r\n",
    b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n%1\r\n+a\r\n:1\r\n",
    b"|1\r\n+k\r\n+v\r\n+OK\r\n_\r\n,1.5\r\n#t\r\n",
    b"*2\r\n$3\r\nfoo\r\n",
];

fn tiny() -> Limits {
    Limits {
        max_bulk_len: 4,
        max_multibulk_len: 2,
        max_inline_len: 3,
    }
}

#[test]
fn corpus_agrees_with_the_resumable_path() {
    for limits in [Limits::default(), tiny()] {
        for data in REQUESTS {
            check(Mode::Request, limits, data);
        }
        for data in REPLIES {
            check(Mode::Reply, limits, data);
        }
    }
}

#[test]
fn mutations_agree_with_the_resumable_path() {
    const ALPHABET: &[u8] = b"*$+-:_#,%>|\r\n0123456789-abcSET ";
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (mode, corpus) in [(Mode::Request, REQUESTS), (Mode::Reply, REPLIES)] {
        for _ in 0..3000 {
            let mut data = corpus[next() as usize % corpus.len()].to_vec();
            for _ in 0..1 + next() % 3 {
                let i = next() as usize % (data.len() + 1);
                let c = ALPHABET[next() as usize % ALPHABET.len()];
                match next() % 3 {
                    0 if i < data.len() => data[i] = c,
                    1 if i < data.len() => {
                        data.remove(i);
                    }
                    _ => data.insert(i, c),
                }
            }
            let limits = if next() % 4 == 0 {
                tiny()
            } else {
                Limits::default()
            };
            check(mode, limits, &data);
        }
    }
}
