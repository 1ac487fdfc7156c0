//! The commands Redis added after 7.0 (hash field expiry, vector sets, the 8.2 stream
//! commands, WAITAOF, CLIENT SETINFO / NO-TOUCH, …) pass through the proxy unchanged: writes
//! on the master port, reads on the replica port once they replicated, every reply asserted
//! byte for byte.
//!
//! Every test here needs Redis 8, so each is `#[ignore]`d: the default run uses Debian's 7.0.
//! `make test` runs them with `--ignored` when `SENTINEL_BENCH_REDIS_SERVER` names a Redis 8
//! server (CI installs one with `scripts/install-redis8.sh`); run by hand:
//!
//! ```text
//! eval "$(scripts/install-redis8.sh)"
//! cargo test --test redis8 -- --ignored
//! ```
//!
//! Run on an older server, they fail naming the version instead of passing.
//! [`NEW_SINCE_7_0`] lists the commands covered; a server that knows a command 7.0 did not, and
//! that is not listed there, fails `every_command_new_since_7_0_is_tested_here`.

use std::collections::BTreeSet;

use sentinel_bench::lab::{self, Lab, LabOptions};
use sentinel_proxy_core::Running;
use test_support::*;

/// Every command (`name` or `name|subcommand`, as `COMMAND LIST` spells them) that Redis 8.2
/// has and 7.0 had not, each exercised below through both ports.
const NEW_SINCE_7_0: &[&str] = &[
    // Hash field expiry (7.4: HEXPIRE … HPERSIST; 8.0: HGETDEL, HGETEX, HSETEX).
    "hexpire",
    "hexpireat",
    "hexpiretime",
    "hgetdel",
    "hgetex",
    "hpersist",
    "hpexpire",
    "hpexpireat",
    "hpexpiretime",
    "hpttl",
    "hsetex",
    "httl",
    // Vector sets (8.0, built into the server as the `vectorset` module).
    "vadd",
    "vcard",
    "vdim",
    "vemb",
    "vgetattr",
    "vinfo",
    "vismember",
    "vlinks",
    "vrandmember",
    "vrem",
    "vsetattr",
    "vsim",
    // Streams (8.2).
    "xackdel",
    "xdelex",
    // 7.2.
    "waitaof",
    "client|no-touch",
    "client|setinfo",
    // Cluster only (7.2, 8.2): a standalone server refuses them; the refusal passes through.
    "cluster|myshardid",
    "cluster|slot-stats",
];

// ---- RESP, spelled out ---------------------------------------------------------------------

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

fn bulk(s: &str) -> Vec<u8> {
    bulk_bytes(s.as_bytes())
}

fn bulk_bytes(b: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", b.len()).into_bytes();
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
    out
}

fn simple(s: &str) -> Vec<u8> {
    format!("+{s}\r\n").into_bytes()
}

const NIL: &[u8] = b"$-1\r\n";
const OK: &[u8] = b"+OK\r\n";

fn arr(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend_from_slice(i);
    }
    out
}

fn ints(ns: &[i64]) -> Vec<u8> {
    arr(&ns.iter().map(|&n| int(n)).collect::<Vec<_>>())
}

fn bulks(ss: &[&str]) -> Vec<u8> {
    arr(&ss.iter().map(|s| bulk(s)).collect::<Vec<_>>())
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `*1\r\n:<n>\r\n` → n.
fn single_int(reply: &[u8]) -> i64 {
    show(reply)
        .strip_prefix("*1\r\n:")
        .and_then(|r| r.strip_suffix("\r\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a one-integer array: {:?}", show(reply)))
}

/// The bulk strings of a flat array reply (RESP2), sorted.
fn sorted_bulks(reply: &[u8]) -> Vec<String> {
    let text = show(reply);
    let mut lines = text.split("\r\n");
    let head = lines.next().unwrap_or_default();
    assert!(head.starts_with('*'), "not an array: {text:?}");
    let mut out: Vec<String> = Vec::new();
    while let Some(l) = lines.next() {
        if l.starts_with('$') {
            out.push(lines.next().unwrap_or_default().to_string());
        }
    }
    out.sort();
    out
}

// ---- the topology --------------------------------------------------------------------------

/// A master, one replica, one Sentinel, the proxy with its replica port, and one connection
/// to each port.
struct Ports {
    lab: Lab,
    _proxy: Running,
    master: RawConn,
    replica: RawConn,
}

async fn ports() -> Ports {
    require_redis((8, 0));
    let lab = lab(LabOptions {
        replicas: 1,
        sentinels: 1,
        quorum: 1,
        ..LabOptions::default()
    })
    .await;
    let proxy = proxy_with_replica_port(&lab).await;
    let mut master = RawConn::connect(proxy.bound.listen).await;
    let mut replica = RawConn::connect(proxy.bound.replica.expect("replica port")).await;
    // Each port reaches the node it should.
    assert!(show(&master.call(&["ROLE"]).await).starts_with("*3\r\n$6\r\nmaster\r\n"));
    assert!(show(&replica.call(&["ROLE"]).await).starts_with("*5\r\n$5\r\nslave\r\n"));
    Ports {
        lab,
        _proxy: proxy,
        master,
        replica,
    }
}

impl Ports {
    /// Send on the master port and check the reply.
    async fn write(&mut self, args: &[&str], want: &[u8]) {
        let got = self.master.call(args).await;
        assert_eq!(show(&got), show(want), "master port: {args:?}");
    }

    /// Poll the replica port until `args` answers `want` (replication is asynchronous);
    /// fail after [`PATIENCE`] with the last answer.
    async fn replicated(&mut self, args: &[&str], want: &[u8]) {
        let start = tokio::time::Instant::now();
        loop {
            let got = self.replica.call(args).await;
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "after {PATIENCE:?} the replica port still answers {args:?} with {:?}, not {:?}",
                show(&got),
                show(want)
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Read on the replica port (after [`Ports::replicated`] showed the data is there).
    async fn read(&mut self, args: &[&str], want: &[u8]) {
        let got = self.replica.call(args).await;
        assert_eq!(show(&got), show(want), "replica port: {args:?}");
    }

    /// The same command through the replica port and straight to the replica node: a reply
    /// that depends on the node (an error, its own state) passes through unchanged.
    async fn replica_same_as_direct(&mut self, args: &[&str]) -> Vec<u8> {
        let node = self.lab.redis[1].addr;
        let mut direct = RawConn::connect(node).await;
        let want = direct.call(args).await;
        let got = self.replica.call(args).await;
        assert_eq!(show(&got), show(&want), "replica port vs {node}: {args:?}");
        got
    }
}

// ---- the commands --------------------------------------------------------------------------

/// 2100-01-01T00:00:00Z: a field expiry far enough away to read back exactly.
const FAR: &str = "4102444800";
const FAR_MS: &str = "4102444800000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis 8: set SENTINEL_BENCH_REDIS_SERVER (make test does it in CI)"]
async fn hash_field_expiry_through_both_ports() {
    let mut t = ports().await;
    t.write(
        &[
            "HSETEX", "h", "FNX", "EX", "100", "FIELDS", "2", "f1", "v1", "f2", "v2",
        ],
        &int(1),
    )
    .await;
    t.write(&["HSETEX", "h", "FNX", "FIELDS", "1", "f1", "x"], &int(0))
        .await;
    t.write(
        &["HSETEX", "h", "FXX", "KEEPTTL", "FIELDS", "1", "f1", "v1b"],
        &int(1),
    )
    .await;
    t.write(
        &["HGETEX", "h", "PERSIST", "FIELDS", "1", "f1"],
        &bulks(&["v1b"]),
    )
    .await;
    let ex = t
        .master
        .call(&["HGETEX", "h", "EX", "50", "FIELDS", "2", "f1", "nope"])
        .await;
    assert_eq!(show(&ex), show(&arr(&[bulk("v1b"), NIL.to_vec()])));
    let ttl = single_int(&t.master.call(&["HTTL", "h", "FIELDS", "1", "f1"]).await);
    assert!((1..=50).contains(&ttl), "HTTL after HGETEX EX 50: {ttl}");
    let pttl = single_int(&t.master.call(&["HPTTL", "h", "FIELDS", "1", "f2"]).await);
    assert!(
        (1..=100_000).contains(&pttl),
        "HPTTL after HSETEX EX 100: {pttl}"
    );
    t.write(
        &["HPERSIST", "h", "FIELDS", "2", "f1", "nope"],
        &ints(&[1, -2]),
    )
    .await;
    t.write(
        &["HEXPIRE", "h", "100", "NX", "FIELDS", "1", "f1"],
        &ints(&[1]),
    )
    .await;
    t.write(
        &["HEXPIRE", "h", "100", "NX", "FIELDS", "1", "f1"],
        &ints(&[0]),
    )
    .await;
    t.write(
        &["HPEXPIRE", "h", "200000", "XX", "FIELDS", "1", "f1"],
        &ints(&[1]),
    )
    .await;
    t.write(
        &["HEXPIREAT", "h", FAR, "FIELDS", "2", "f2", "nope"],
        &ints(&[1, -2]),
    )
    .await;
    t.write(
        &["HPEXPIREAT", "h", FAR_MS, "FIELDS", "1", "f1"],
        &ints(&[1]),
    )
    .await;
    t.write(&["HPERSIST", "h", "FIELDS", "1", "f1"], &ints(&[1]))
        .await;
    let times = ints(&[-1, 4_102_444_800, -2]);
    t.write(
        &["HEXPIRETIME", "h", "FIELDS", "3", "f1", "f2", "nope"],
        &times,
    )
    .await;
    t.write(
        &["HPEXPIRETIME", "h", "FIELDS", "1", "f2"],
        &ints(&[4_102_444_800_000]),
    )
    .await;

    // The replica has the same fields and expiry times.
    t.replicated(
        &["HEXPIRETIME", "h", "FIELDS", "3", "f1", "f2", "nope"],
        &times,
    )
    .await;
    t.read(
        &["HPEXPIRETIME", "h", "FIELDS", "2", "f2", "f1"],
        &ints(&[4_102_444_800_000, -1]),
    )
    .await;
    t.read(
        &["HTTL", "h", "FIELDS", "2", "f1", "nope"],
        &ints(&[-1, -2]),
    )
    .await;
    t.read(&["HPTTL", "h", "FIELDS", "1", "f1"], &ints(&[-1]))
        .await;
    let f2_ttl = single_int(&t.replica.call(&["HTTL", "h", "FIELDS", "1", "f2"]).await);
    assert!(
        f2_ttl > 2_000_000_000,
        "HTTL of a field expiring in 2100: {f2_ttl}"
    );
    // (A hash with field expiry keeps its fields ordered by expiry: read them by name.)
    t.read(&["HMGET", "h", "f1", "f2"], &bulks(&["v1b", "v2"]))
        .await;
    // HGETEX, HGETDEL and HSETEX are writes: a replica refuses them, and the refusal reaches
    // the client as the replica sent it.
    let refused = t
        .replica_same_as_direct(&["HGETEX", "h", "FIELDS", "1", "f1"])
        .await;
    assert!(
        show(&refused).starts_with("-READONLY"),
        "{}",
        show(&refused)
    );

    // A field that expires on the master is deleted on the replica too (HLEN counts fields
    // not yet deleted, so it proves the master's HDEL replicated).
    t.write(&["HPEXPIRE", "h", "50", "FIELDS", "1", "f2"], &ints(&[1]))
        .await;
    t.replicated(&["HLEN", "h"], &int(1)).await;
    t.read(&["HTTL", "h", "FIELDS", "1", "f2"], &ints(&[-2]))
        .await;

    // HGETDEL returns the values and deletes the fields, and the key with its last field.
    t.write(&["HSET", "h", "f3", "v3"], &int(1)).await;
    t.write(
        &["HGETDEL", "h", "FIELDS", "2", "f3", "nope"],
        &arr(&[bulk("v3"), NIL.to_vec()]),
    )
    .await;
    t.replicated(&["HKEYS", "h"], &bulks(&["f1"])).await;
    t.write(&["HGETDEL", "h", "FIELDS", "1", "f1"], &bulks(&["v1b"]))
        .await;
    t.write(&["EXISTS", "h"], &int(0)).await;
    t.replicated(&["EXISTS", "h"], &int(0)).await;
}

/// `[x, y, z]` as VADD's FP32 blob (little-endian floats).
fn fp32(v: [f32; 3]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis 8: set SENTINEL_BENCH_REDIS_SERVER (make test does it in CI)"]
async fn vector_sets_through_both_ports() {
    let mut t = ports().await;
    // Module commands are in the server's table like any other (vectorset ships built in).
    let info = t.master.call(&["COMMAND", "INFO", "VADD"]).await;
    assert!(show(&info).contains("$4\r\nVADD\r\n"), "{}", show(&info));

    // a = x, b = y (orthogonal: score 0.5), c = -2x (opposite: score 0, norm 2), unquantized so
    // that VEMB reads back the exact vectors.
    t.write(
        &["VADD", "v", "VALUES", "3", "1", "0", "0", "a", "NOQUANT"],
        &int(1),
    )
    .await;
    let b = [
        "VADD",
        "v",
        "VALUES",
        "3",
        "0",
        "1",
        "0",
        "b",
        "NOQUANT",
        "SETATTR",
        r#"{"n":2}"#,
    ];
    t.write(&b, &int(1)).await;
    let blob = fp32([-2.0, 0.0, 0.0]);
    let c: [&[u8]; 6] = [b"VADD", b"v", b"FP32", &blob, b"c", b"NOQUANT"];
    assert_eq!(show(&t.master.call_bytes(&c).await), show(&int(1)));
    t.write(
        &["VADD", "v", "VALUES", "3", "1", "0", "0", "a", "NOQUANT"],
        &int(0),
    )
    .await;
    t.write(&["VSETATTR", "v", "a", r#"{"n":1}"#], &int(1))
        .await;

    // The reads, on the master port, then on the replica port once VCARD shows all three.
    let normalized_c = fp32([-1.0, 0.0, 0.0]);
    let reads: Vec<(Vec<&str>, Vec<u8>)> = vec![
        (vec!["VCARD", "v"], int(3)),
        (vec!["VDIM", "v"], int(3)),
        (vec!["VEMB", "v", "c"], bulks(&["-2", "0", "0"])),
        (
            vec!["VEMB", "v", "c", "RAW"],
            arr(&[simple("f32"), bulk_bytes(&normalized_c), bulk("2")]),
        ),
        (vec!["VGETATTR", "v", "b"], bulk(r#"{"n":2}"#)),
        (vec!["VGETATTR", "v", "a"], bulk(r#"{"n":1}"#)),
        (vec!["VGETATTR", "v", "c"], NIL.to_vec()),
        (vec!["VISMEMBER", "v", "a"], int(1)),
        (vec!["VISMEMBER", "v", "zz"], int(0)),
        (
            vec![
                "VSIM",
                "v",
                "VALUES",
                "3",
                "1",
                "0",
                "0",
                "WITHSCORES",
                "COUNT",
                "3",
            ],
            bulks(&["a", "1", "b", "0.5", "c", "0"]),
        ),
        (
            vec!["VSIM", "v", "ELE", "a", "FILTER", ".n == 2"],
            bulks(&["b"]),
        ),
        (
            vec!["VSIM", "v", "ELE", "c", "COUNT", "1", "WITHATTRIBS"],
            arr(&[bulk("c"), NIL.to_vec()]),
        ),
    ];
    for (args, want) in &reads {
        t.write(args, want).await;
    }
    t.replicated(&["VCARD", "v"], &int(3)).await;
    for (args, want) in &reads {
        t.read(args, want).await;
    }
    // Random or graph-shaped answers: compared as sets. With three nodes, every node links to
    // the two others on level 0 (a node's higher levels, drawn at random, hold fewer).
    for reply in [
        t.master.call(&["VRANDMEMBER", "v", "5"]).await,
        t.replica.call(&["VRANDMEMBER", "v", "5"]).await,
    ] {
        assert_eq!(sorted_bulks(&reply), ["a", "b", "c"]);
    }
    for reply in [
        t.master.call(&["VLINKS", "v", "a"]).await,
        t.replica.call(&["VLINKS", "v", "a"]).await,
    ] {
        let mut links = sorted_bulks(&reply);
        links.dedup();
        assert_eq!(links, ["b", "c"], "{}", show(&reply));
    }
    for reply in [
        t.master.call(&["VINFO", "v"]).await,
        t.replica.call(&["VINFO", "v"]).await,
    ] {
        let text = show(&reply);
        for field in [
            "+quant-type\r\n+f32\r\n",
            "+vector-dim\r\n:3\r\n",
            "+size\r\n:3\r\n",
        ] {
            assert!(text.contains(field), "VINFO has {field:?}: {text:?}");
        }
    }
    // A replica refuses VADD; the refusal passes through the replica port unchanged.
    let refused = t
        .replica_same_as_direct(&["VADD", "v", "VALUES", "3", "0", "0", "1", "d"])
        .await;
    assert!(
        show(&refused).starts_with("-READONLY"),
        "{}",
        show(&refused)
    );

    t.write(&["VREM", "v", "a"], &int(1)).await;
    t.write(&["VREM", "v", "a"], &int(0)).await;
    t.write(&["VCARD", "v"], &int(2)).await;
    t.replicated(&["VCARD", "v"], &int(2)).await;
    t.read(&["VISMEMBER", "v", "a"], &int(0)).await;
}

/// RESP3 replies of the new commands: doubles, maps and nulls inside arrays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis 8: set SENTINEL_BENCH_REDIS_SERVER (make test does it in CI)"]
async fn new_commands_answer_resp3_through_both_ports() {
    let mut t = ports().await;
    t.write(
        &["VADD", "v", "VALUES", "3", "1", "0", "0", "a", "NOQUANT"],
        &int(1),
    )
    .await;
    t.write(
        &["VADD", "v", "VALUES", "3", "0", "1", "0", "b", "NOQUANT"],
        &int(1),
    )
    .await;
    t.write(&["HSETEX", "h", "FIELDS", "1", "f", "v"], &int(1))
        .await;
    t.replicated(&["EXISTS", "h"], &int(1)).await;
    for conn in [&mut t.master, &mut t.replica] {
        let hello = conn.call(&["HELLO", "3"]).await;
        assert!(show(&hello).starts_with("%7\r\n"), "{}", show(&hello));
        let vsim = [
            "VSIM",
            "v",
            "VALUES",
            "3",
            "1",
            "0",
            "0",
            "WITHSCORES",
            "COUNT",
            "2",
        ];
        assert_eq!(
            show(&conn.call(&vsim).await),
            "%2\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n,0.5\r\n"
        );
        assert_eq!(
            show(&conn.call(&["VEMB", "v", "b"]).await),
            "*3\r\n,0\r\n,1\r\n,0\r\n"
        );
        let info = show(&conn.call(&["VINFO", "v"]).await);
        assert!(info.starts_with("%9\r\n+quant-type\r\n+f32\r\n"), "{info}");
        assert_eq!(
            show(&conn.call(&["HTTL", "h", "FIELDS", "2", "f", "nope"]).await),
            show(&ints(&[-1, -2]))
        );
        assert_eq!(
            show(&conn.call(&["HMGET", "h", "f", "nope"]).await),
            "*2\r\n$1\r\nv\r\n_\r\n"
        );
    }
    assert_eq!(
        show(
            &t.master
                .call(&["HGETEX", "h", "FIELDS", "2", "f", "nope"])
                .await
        ),
        "*2\r\n$1\r\nv\r\n_\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis 8: set SENTINEL_BENCH_REDIS_SERVER (make test does it in CI)"]
async fn streams_waitaof_client_and_cluster_commands_through_both_ports() {
    let mut t = ports().await;
    // XACKDEL and XDELEX (8.2): delete entries with a choice about consumer-group references.
    for id in ["1-0", "2-0", "3-0"] {
        t.write(&["XADD", "s", id, "a", &id[..1]], &bulk(id)).await;
    }
    t.write(&["XGROUP", "CREATE", "s", "g", "0"], OK).await;
    let delivered = t
        .master
        .call(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ])
        .await;
    assert!(
        show(&delivered).contains("$3\r\n2-0\r\n"),
        "{}",
        show(&delivered)
    );
    t.write(
        &["XACKDEL", "s", "g", "KEEPREF", "IDS", "2", "1-0", "9-0"],
        &ints(&[1, -1]),
    )
    .await;
    t.write(&["XDELEX", "s", "IDS", "2", "2-0", "9-0"], &ints(&[1, -1]))
        .await;
    // 3-0 was never delivered to the group: ACKED keeps it.
    t.write(&["XDELEX", "s", "ACKED", "IDS", "1", "3-0"], &ints(&[2]))
        .await;
    t.write(&["XADD", "s", "KEEPREF", "4-0", "a", "4"], &bulk("4-0"))
        .await;
    let entries = arr(&[
        arr(&[bulk("3-0"), bulks(&["a", "3"])]),
        arr(&[bulk("4-0"), bulks(&["a", "4"])]),
    ]);
    t.write(&["XRANGE", "s", "-", "+"], &entries).await;
    t.replicated(&["XRANGE", "s", "-", "+"], &entries).await;

    // WAITAOF (7.2) blocks until the write is in the AOF of the master and of one replica
    // (the lab runs without AOF: switched on here, on the replica directly and on the master
    // through the proxy); a replica refuses it, and the refusal passes through.
    let replica_node = t.lab.redis[1].addr;
    tokio::task::block_in_place(|| {
        t.lab
            .redis_call(replica_node, &["CONFIG", "SET", "appendonly", "yes"])
    })
    .expect("AOF on the replica");
    t.write(&["CONFIG", "SET", "appendonly", "yes"], OK).await;
    t.write(&["SET", "k", "v"], OK).await;
    t.write(&["WAITAOF", "1", "1", "20000"], &ints(&[1, 1]))
        .await;
    let refused = t.replica_same_as_direct(&["WAITAOF", "0", "0", "10"]).await;
    assert!(
        show(&refused).starts_with("-ERR WAITAOF"),
        "{}",
        show(&refused)
    );

    // CLIENT SETINFO and CLIENT NO-TOUCH (7.2) reach the node behind each port.
    for conn in [&mut t.master, &mut t.replica] {
        assert_eq!(
            conn.call(&["CLIENT", "SETINFO", "LIB-NAME", "sp-test"])
                .await,
            OK
        );
        assert_eq!(
            conn.call(&["CLIENT", "SETINFO", "LIB-VER", "1.2.3"]).await,
            OK
        );
        assert_eq!(conn.call(&["CLIENT", "NO-TOUCH", "ON"]).await, OK);
        let info = show(&conn.call(&["CLIENT", "INFO"]).await);
        assert!(info.contains(" lib-name=sp-test lib-ver=1.2.3 "), "{info}");
        assert!(info.contains(" flags=T "), "NO-TOUCH sets flag T: {info}");
    }

    // Cluster-only subcommands: the standalone server's refusal passes through both ports.
    let disabled = b"-ERR This instance has cluster support disabled\r\n";
    for args in [
        &["CLUSTER", "MYSHARDID"][..],
        &["CLUSTER", "SLOT-STATS", "SLOTSRANGE", "0", "10"],
    ] {
        assert_eq!(show(&t.master.call(args).await), show(disabled));
        assert_eq!(show(&t.replica_same_as_direct(args).await), show(disabled));
    }

    // New arguments of old commands: BITOP DIFF (8.2), ZRANK WITHSCORE (7.2), HSCAN NOVALUES
    // (7.4).
    t.write(&["SET", "x", "abc"], OK).await;
    t.write(&["SET", "y", "abd"], OK).await;
    t.write(&["BITOP", "DIFF", "d", "x", "y"], &int(3)).await;
    t.write(&["ZADD", "z", "1.5", "m"], &int(1)).await;
    t.write(&["HSET", "hh", "f", "v"], &int(1)).await;
    t.replicated(&["GET", "d"], &bulk_bytes(&[0, 0, 3])).await;
    let zrank = arr(&[int(0), bulk("1.5")]);
    let hscan = arr(&[bulk("0"), bulks(&["f"])]);
    t.write(&["ZRANK", "z", "m", "WITHSCORE"], &zrank).await;
    t.replicated(&["ZRANK", "z", "m", "WITHSCORE"], &zrank)
        .await;
    t.write(&["HSCAN", "hh", "0", "NOVALUES"], &hscan).await;
    t.replicated(&["HSCAN", "hh", "0", "NOVALUES"], &hscan)
        .await;
}

/// Every command the server knows and 7.0 did not is in [`NEW_SINCE_7_0`], so each has a test
/// above; a newer Redis (the seeds deploy 8.8) that adds commands fails here naming them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis 8: set SENTINEL_BENCH_REDIS_SERVER (make test does it in CI)"]
async fn every_command_new_since_7_0_is_tested_here() {
    require_redis((8, 0));
    let lab = single_node_lab().await;
    let node = lab.redis[0].addr;
    let listed = tokio::task::block_in_place(|| lab::call(node, None, &["COMMAND", "LIST"]))
        .expect("COMMAND LIST");
    let redis_protocol::resp2::types::BytesFrame::Array(names) = listed else {
        panic!("COMMAND LIST answers an array: {listed:?}");
    };
    let known: BTreeSet<&str> = include_str!("data/redis-7.0-commands.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let tested: BTreeSet<&str> = NEW_SINCE_7_0.iter().copied().collect();
    let mut untested = Vec::new();
    for name in names.iter().filter_map(lab::text) {
        let name = name.to_ascii_lowercase();
        if !known.contains(name.as_str()) && !tested.contains(name.as_str()) {
            untested.push(name);
        }
    }
    untested.sort();
    assert!(
        untested.is_empty(),
        "commands new since Redis 7.0 without a pass-through test in tests/redis8.rs: \
         {untested:?} (add each to a test and to NEW_SINCE_7_0)"
    );
}
