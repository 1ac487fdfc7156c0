//! Client-side caching (CLIENT TRACKING) across a failover: the new master must track the
//! session's reads, and nothing cached from the old master may survive the switch.

use std::process::Stdio;
use std::time::Duration;

use sentinel_bench::lab::LabOptions;
use test_support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const INVALIDATE_ALL: &[u8] = b">2\r\n$10\r\ninvalidate\r\n_\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_follows_the_session_and_the_cache_is_flushed_at_a_failover() {
    let lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let mut c = TcpStream::connect(p.bound.listen).await.unwrap();
    // HELLO's map, TRACKING's +OK, the missing key's null: k is now cached (as absent).
    c.write_all(b"HELLO 3\r\nCLIENT TRACKING ON\r\nGET k\r\n")
        .await
        .unwrap();
    read_until(&mut c, b"+OK\r\n_\r\n").await;

    failover_and_wait(&lab, &p).await;
    // The session moves without a command from the client (it serves reads from its cache)
    // and tells it to drop everything it cached.
    read_until(&mut c, INVALIDATE_ALL).await;

    // Reads are tracked on the new master: a write by another client invalidates the key.
    c.write_all(b"GET k\r\n").await.unwrap();
    read_until(&mut c, b"_\r\n").await;
    let mut w = client(p.bound.listen).await;
    let () = redis::cmd("SET")
        .arg("k")
        .arg("v2")
        .query_async(&mut w)
        .await
        .unwrap();
    read_until(&mut c, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n").await;
    p.stop().await;
}

/// redis-py's client-side cache (`cache_config`, RESP3): read a key, fail over, write it
/// through another client; the caching client must then read the new value.
const CACHING_CLIENT: &str = r#"
import sys, time, redis
from redis.cache import CacheConfig
host, port = sys.argv[1], int(sys.argv[2])
w = redis.Redis(host=host, port=port)
r = redis.Redis(host=host, port=port, protocol=3, cache_config=CacheConfig())
w.set("k", "v1")
assert r.get("k") == b"v1"
assert r.get("k") == b"v1"
print("READY", flush=True)
sys.stdin.readline()
w.set("k", "v2")
deadline = time.time() + 10
v = r.get("k")
while v != b"v2" and time.time() < deadline:
    time.sleep(0.05)
    v = r.get("k")
print("READ", v.decode(), flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis >= 7.4 (redis-py refuses client-side caching on older servers) and \
            redis-py 8; the Redis 8 pass of `make test` runs it"]
async fn redis_py_cache_reads_the_new_value_after_a_failover() {
    let lab = lab(LabOptions::default()).await;
    let p = proxy(config_for(&lab)).await;
    let addr = p.bound.listen;
    let mut py = tokio::process::Command::new("python3")
        .args([
            "-c",
            CACHING_CLIENT,
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (scripts/install-deps.sh installs redis-py)");
    let mut lines = BufReader::new(py.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the caching client answers")
            .unwrap()
            .expect("the caching client failed (its error is above)")
    };
    assert_eq!(next().await, "READY");
    failover_and_wait(&lab, &p).await;
    py.stdin.as_mut().unwrap().write_all(b"go\n").await.unwrap();
    assert_eq!(
        next().await,
        "READ v2",
        "the cache served the old master's value"
    );
    p.stop().await;
}
