//! The shared pipeline's hot path without sockets (crates/core/src/proxy/pipe.rs):
//! - `match`: one read holding the replies of 50 clients (one each, `+OK` or a 32-byte bulk),
//!   scanned, matched in FIFO order and delivered to each client's inbox, then taken out as the
//!   client's session does;
//! - `batch`: 50 clients each appending one `SET k <32 bytes>` (or 16 of them), then the
//!   pipeline's task taking the whole outbox for one write.
//!
//! Run with `cargo bench --bench pipe`; under `cargo test --all-targets` every case runs once.
//! Per-request costs here are what multiplexing adds in user space; the syscalls it saves are
//! measured by scripts/bench-vs-haproxy.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentinel_proxy_core::proxy::pipe::bench::{Batcher, Matcher};
use sentinel_proxy_core::resp::args::encode_command;
use sentinel_proxy_core::resp::Limits;

const CLIENTS: usize = 50;

fn matching(c: &mut Criterion) {
    let mut g = c.benchmark_group("match");
    let bulk = format!("$32\r\n{}\r\n", "v".repeat(32));
    for (name, reply) in [("ok", "+OK\r\n".to_string()), ("bulk32", bulk)] {
        let read: Vec<u8> = reply.repeat(CLIENTS).into_bytes();
        g.throughput(Throughput::Elements(CLIENTS as u64));
        g.bench_with_input(BenchmarkId::new(name, CLIENTS), &read, |b, read| {
            let mut m = Matcher::new(CLIENTS, Limits::default());
            let mut rbuf = BytesMut::with_capacity(64 * 1024);
            let mut out = BytesMut::with_capacity(1024);
            b.iter(|| {
                for i in 0..CLIENTS {
                    m.expect(i, 1);
                }
                rbuf.extend_from_slice(read);
                m.feed(&mut rbuf).expect("in sync");
                for member in &m.members {
                    out.clear();
                    let _ = member.read_into(&mut out);
                }
            })
        });
    }
    g.finish();
}

fn batching(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch");
    let set = encode_command(&[b"SET", b"key:000001", "v".repeat(32).as_bytes()]);
    for depth in [1usize, 16] {
        let frames = set.repeat(depth);
        g.throughput(Throughput::Elements((CLIENTS * depth) as u64));
        g.bench_with_input(BenchmarkId::new("set", depth), &frames, |b, frames| {
            let batcher = Batcher::new(CLIENTS);
            let mut spare = BytesMut::with_capacity(64 * 1024);
            b.iter(|| {
                for i in 0..CLIENTS {
                    batcher.submit(i, frames, depth as u32);
                }
                let (mut written, n) = batcher.take(std::mem::take(&mut spare));
                assert_eq!(n, CLIENTS);
                written.clear();
                spare = written;
            })
        });
    }
    g.finish();
}

criterion_group!(benches, matching, batching);
criterion_main!(benches);
