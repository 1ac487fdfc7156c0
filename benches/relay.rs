//! Round trips through the relay over loopback: an in-process proxy (`sentinel_proxy_core::start`, as
//! the integration tests run it) in front of a real redis-server, next to the same round trips
//! straight to that redis-server, so the difference is what the proxy adds.
//!
//! `PING` and `SET k <32 bytes>`, unpipelined (one command, wait for its reply) and pipelined 16
//! (16 commands in one write, wait for all 16 replies), on one client connection.
//!
//! Needs `redis-server` and `redis-sentinel` on PATH (`make deps`); starts 1 redis-server and 1
//! Sentinel on free loopback ports and kills them at the end. Run with
//! `cargo bench --bench relay`; under `cargo test --all-targets` every case runs once.
//!
//! Loopback round trips on a shared machine are noisy: compare medians of runs made back to
//! back, and use `scripts/bench-vs-haproxy` for throughput and CPU per request under load.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentinel_bench::lab::{Lab, LabOptions};
use sentinel_proxy_core::config::{Config, HostPort};
use sentinel_proxy_core::resp::args::encode_command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One client connection sending a fixed request batch and reading a fixed-size answer.
struct Client {
    stream: TcpStream,
    request: Vec<u8>,
    reply_len: usize,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr, command: &[&[u8]], reply: &[u8], depth: usize) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let one = encode_command(command);
        let mut c = Client {
            stream,
            request: one.repeat(depth),
            reply_len: reply.len() * depth,
            buf: vec![0; 64 * 1024],
        };
        // The first round trip connects the proxy's upstream; check the bytes once.
        c.round_trip().await;
        c.stream.write_all(&one).await.expect("write");
        let mut got = vec![0; reply.len()];
        c.stream.read_exact(&mut got).await.expect("read");
        assert_eq!(got, reply, "unexpected reply through {addr}");
        c
    }

    async fn round_trip(&mut self) {
        self.stream.write_all(&self.request).await.expect("write");
        let mut got = 0;
        while got < self.reply_len {
            let n = self.stream.read(&mut self.buf).await.expect("read");
            assert!(n > 0, "connection closed");
            got += n;
        }
    }
}

fn relay(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let lab = Lab::start(LabOptions {
        replicas: 0,
        sentinels: 1,
        quorum: 1,
        ..LabOptions::default()
    })
    .expect("lab starts (are redis-server and redis-sentinel installed? `make deps`)");
    let master = lab.redis[0].addr;
    let proxy = rt.block_on(start_proxy(&lab));
    let value = [b'v'; 32];
    // (name, command, its reply)
    type Case<'a> = (&'a str, Vec<&'a [u8]>, &'a [u8]);
    let cases: [Case; 2] = [
        ("ping", vec![b"PING"], b"+PONG\r\n"),
        ("set", vec![b"SET", b"bench:relay", &value], b"+OK\r\n"),
    ];
    for (name, command, reply) in &cases {
        for depth in [1usize, 16] {
            let mut g = c.benchmark_group(format!("relay_{name}_pipeline_{depth}"));
            g.throughput(Throughput::Elements(depth as u64));
            for (target, addr) in [("direct", master), ("proxy", proxy.bound.listen)] {
                let mut client = rt.block_on(Client::connect(addr, command, reply, depth));
                g.bench_function(BenchmarkId::from_parameter(target), |b| {
                    b.iter_custom(|iters| {
                        rt.block_on(async {
                            let start = Instant::now();
                            for _ in 0..iters {
                                client.round_trip().await;
                            }
                            start.elapsed()
                        })
                    })
                });
            }
            g.finish();
        }
    }
    rt.block_on(proxy.stop());
    drop(lab);
}

async fn start_proxy(lab: &Lab) -> sentinel_proxy_core::Running {
    let sentinels = lab
        .sentinel_addrs()
        .iter()
        .map(|a| HostPort::parse(&a.to_string()).expect("sentinel address"))
        .collect();
    let config = Config::for_sentinels(sentinels, &lab.opts.master_name);
    let proxy = sentinel_proxy_core::start(config)
        .await
        .expect("proxy starts");
    tokio::time::timeout(
        Duration::from_secs(30),
        proxy.route().wait_for(|r| r.serving_master().is_some()),
    )
    .await
    .expect("the proxy confirms a master");
    proxy
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = relay
}
criterion_main!(benches);
