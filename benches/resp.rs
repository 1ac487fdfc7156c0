//! Throughput of the RESP frame scanner (bytes scanned per second).
//!
//! Run quickly with `cargo bench --bench resp -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentinel_proxy_core::resp::args::encode_command;
use sentinel_proxy_core::resp::{Limits, Mode, Scan, Scanner};

/// 1000 small commands: SET with a 32-byte value / GET, as a pipelining client sends them.
fn request_mix() -> Vec<u8> {
    let mut out = Vec::new();
    let value = [b'v'; 32];
    for i in 0..1000 {
        let key = format!("user:{i}:session");
        if i % 2 == 0 {
            out.extend(encode_command(&[&b"SET"[..], key.as_bytes(), &value]));
        } else {
            out.extend(encode_command(&[&b"GET"[..], key.as_bytes()]));
        }
    }
    out
}

/// 1000 replies of the usual shapes.
fn reply_mix() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..1000 {
        match i % 8 {
            0 => out.extend(b"+OK\r\n"),
            1 => out.extend(format!("$32\r\n{}\r\n", "v".repeat(32)).bytes()),
            2 => out.extend(format!(":{}\r\n", i * 7919).bytes()),
            3 => out.extend(b"$-1\r\n"),
            4 => out.extend(b"*3\r\n$7\r\nmessage\r\n$7\r\nchannel\r\n$5\r\nhello\r\n"),
            5 => out.extend(b"-READONLY You can't write against a read only replica.\r\n"),
            6 => {
                out.extend(b"*10\r\n");
                for j in 0..10 {
                    out.extend(format!("$6\r\nkey:{j:02}\r\n").bytes());
                }
            }
            _ => out.extend(b"%2\r\n+first\r\n:1\r\n+second\r\n,2.5\r\n"),
        }
    }
    out
}

/// `data` arrives in reads of `chunk` bytes; each frame is split off the front of the buffer.
fn scan_chunks(s: &mut Scanner, data: &[u8], chunk: usize) -> usize {
    let (mut start, mut end, mut frames) = (0, 0, 0);
    while end < data.len() {
        end = (end + chunk).min(data.len());
        while let Scan::Frame(f) = s.scan(&data[start..end]).unwrap() {
            start += f.len;
            frames += 1;
        }
    }
    frames
}

/// Like `scan_chunks`, but the buffer holds at most `window` bytes: when it is full, the
/// scanned prefix is forwarded (`consume`).
fn scan_streaming(s: &mut Scanner, data: &[u8], chunk: usize, window: usize) -> usize {
    let (mut start, mut end, mut frames) = (0, 0, 0);
    while end < data.len() {
        end = (end + chunk).min(data.len()).min(start + window);
        loop {
            match s.scan(&data[start..end]).unwrap() {
                Scan::Frame(f) => {
                    start += f.len;
                    frames += 1;
                }
                Scan::Incomplete => {
                    if end - start == window {
                        let k = s.scanned();
                        s.consume(k);
                        start += k;
                    }
                    break;
                }
            }
        }
    }
    frames
}

fn bench_mix(c: &mut Criterion, name: &str, mode: Mode, data: &[u8]) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(data.len() as u64));
    for chunk in [usize::MAX, 16 * 1024, 7, 1] {
        let label = if chunk == usize::MAX {
            "one_read".to_string()
        } else {
            format!("reads_of_{chunk}")
        };
        g.bench_with_input(BenchmarkId::from_parameter(label), &chunk, |b, &chunk| {
            let mut s = Scanner::new(mode, Limits::default());
            b.iter(|| scan_chunks(&mut s, black_box(data), chunk.min(data.len())))
        });
    }
    g.finish();
}

fn requests(c: &mut Criterion) {
    bench_mix(c, "requests_set_get", Mode::Request, &request_mix());
}

fn replies(c: &mut Criterion) {
    bench_mix(c, "replies_mix", Mode::Reply, &reply_mix());
}

fn big_bulk(c: &mut Criterion) {
    let payload = vec![b'x'; 1 << 20];
    let data = encode_command(&[&b"SET"[..], b"big", &payload]);
    let mut g = c.benchmark_group("big_bulk_1MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("one_read", |b| {
        let mut s = Scanner::new(Mode::Request, Limits::default());
        b.iter(|| scan_chunks(&mut s, black_box(&data), data.len()))
    });
    g.bench_function("streamed_16KiB_reads_64KiB_window", |b| {
        let mut s = Scanner::new(Mode::Request, Limits::default());
        b.iter(|| scan_streaming(&mut s, black_box(&data), 16 * 1024, 64 * 1024))
    });
    g.finish();
}

criterion_group!(benches, requests, replies, big_bulk);
criterion_main!(benches);
