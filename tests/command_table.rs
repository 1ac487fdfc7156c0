//! The server's own command table (`COMMAND`) against the proxy's classification of requests
//! (`sentinel_proxy_core::proxy::state`), on whatever server the lab runs (Redis 7.0 by
//! default, 8.x with `SENTINEL_BENCH_REDIS_SERVER`).
//!
//! The proxy peeks at each request's name. Every request that `needs_tracking` does not claim
//! is *plain*: the proxy assumes it draws exactly one reply, changes nothing that a new
//! upstream would have to be told (AUTH, HELLO, SELECT, CLIENT SETNAME, subscriptions), leaves
//! the session movable to another node (unlike MULTI, WATCH, MONITOR, CLIENT REPLY) and makes
//! the server send nothing but its reply (no pub/sub messages, no MONITOR lines).
//!
//! A command is **mishandled** when the server's metadata says it may break one of those
//! assumptions and the proxy treats it as plain without anyone having checked that plain is
//! right. The metadata that says so: the `pubsub` flag (a new SUBSCRIBE-like command draws one
//! confirmation per channel and then messages), the `blocking` flag (the reply can take
//! forever: the session must count it as in flight, so no idle timeout and a bounded wait at a
//! failover), the `@transaction` and `@connection` ACL categories (connection state), and the
//! `no_multi` flag (SYNC, PSYNC, SHUTDOWN: the connection turns into something else). Every
//! such command must either be tracked by the proxy or be listed in [`REVIEWED_PLAIN`] with the
//! reason plain is right (or the known limitation). CLIENT is tracked as a whole but handled
//! per subcommand, so each CLIENT subcommand is listed in [`CLIENT_SUBCOMMANDS`], and what the
//! proxy really does with it is checked by feeding it to a `SessionState`.
//!
//! A new Redis (the seeds deploy 8.8) with a new command of those kinds fails this test
//! naming it, until someone decides how the proxy must treat it.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use redis_protocol::resp2::types::BytesFrame;
use sentinel_bench::lab;
use sentinel_proxy_core::proxy::state::{
    effect_of, is_subscription, needs_tracking, Effect, SessionState,
};
use sentinel_proxy_core::resp::{Head, HEAD_CAPACITY};
use test_support::*;

/// The commands `needs_tracking` claims (checked both ways against the server's table).
const TRACKED: &[&str] = &[
    "quit",
    "auth",
    "hello",
    "select",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
    "multi",
    "exec",
    "discard",
    "watch",
    "unwatch",
    "monitor",
    "reset",
    "client",
];

/// Commands the metadata marks as special that the proxy relays as plain, and why that is
/// right, or what it costs.
const REVIEWED_PLAIN: &[(&str, &str)] = &[
    // pubsub, one reply each.
    ("publish", "one reply (the receiver count)"),
    ("spublish", "one reply (the receiver count)"),
    ("pubsub", "one reply per subcommand (introspection)"),
    // blocking: one reply, however late; the session counts it in flight meanwhile.
    ("blpop", "blocking, one reply"),
    ("brpop", "blocking, one reply"),
    ("brpoplpush", "blocking, one reply"),
    ("blmove", "blocking, one reply"),
    ("blmpop", "blocking, one reply"),
    ("bzpopmin", "blocking, one reply"),
    ("bzpopmax", "blocking, one reply"),
    ("bzmpop", "blocking, one reply"),
    ("xread", "blocking, one reply"),
    ("xreadgroup", "blocking, one reply"),
    ("wait", "blocking, one reply; counts the replicas of the node it reaches"),
    ("waitaof", "blocking (7.2), one reply; counts the node it reaches"),
    // @connection without state the proxy must keep.
    ("ping", "one reply (PONG), no state"),
    ("echo", "one reply, no state"),
    ("command", "introspection of the node, one reply"),
    ("asking", "cluster only: a standalone node refuses it"),
    ("readonly", "cluster only: a standalone node refuses it"),
    ("readwrite", "cluster only: a standalone node refuses it"),
    // no_multi.
    ("save", "one reply"),
    ("shutdown", "the node exits: the session sees its upstream close"),
    (
        "sync",
        "NOT PROXIED: the reply is a replication stream (RDB without a CRLF); the session ends with \
         a protocol error. Replicas connect to their master directly, never through the proxy",
    ),
    (
        "psync",
        "NOT PROXIED: as sync (+FULLRESYNC then the RDB payload)",
    ),
];

/// What the proxy does with `CLIENT <sub>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// Replayed on a new upstream.
    Replayed,
    /// Replies can no longer be counted: the session is closed at a failover, not moved.
    Untracked,
    /// Relayed as plain, and that is right: no connection state the session depends on.
    Plain,
    /// Relayed as plain although it sets connection state, which a migration to a new master
    /// would lose (none today: a new CLIENT subcommand with state goes here until replayed).
    NotReplayed,
}

const CLIENT_SUBCOMMANDS: &[(&str, Client)] = &[
    ("setname", Client::Replayed),
    ("reply", Client::Untracked),
    ("getname", Client::Plain),
    ("id", Client::Plain),
    ("info", Client::Plain),
    ("list", Client::Plain),
    ("kill", Client::Plain),
    ("pause", Client::Plain),
    ("unpause", Client::Plain),
    ("unblock", Client::Plain),
    ("help", Client::Plain),
    ("getredir", Client::Plain),
    ("trackinginfo", Client::Plain),
    // Applies to the next command only (OPTIN/OPTOUT tracking): nothing to replay.
    ("caching", Client::Plain),
    ("tracking", Client::Replayed),
    ("no-evict", Client::Replayed),
    ("no-touch", Client::Replayed),
    ("setinfo", Client::Replayed),
];

/// One entry of the server's `COMMAND` reply (a subcommand is named `parent|sub`).
#[derive(Debug)]
struct Cmd {
    name: String,
    flags: BTreeSet<String>,
    categories: BTreeSet<String>,
}

fn words(f: Option<&BytesFrame>) -> BTreeSet<String> {
    match f {
        Some(BytesFrame::Array(items)) => items
            .iter()
            .filter_map(lab::text)
            .map(|s| s.to_ascii_lowercase())
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn walk(entry: &BytesFrame, out: &mut Vec<Cmd>) {
    let BytesFrame::Array(fields) = entry else {
        panic!("a COMMAND entry is an array: {entry:?}");
    };
    let name = fields
        .first()
        .and_then(lab::text)
        .expect("a COMMAND entry starts with its name")
        .to_ascii_lowercase();
    out.push(Cmd {
        name,
        flags: words(fields.get(2)),
        categories: words(fields.get(6)),
    });
    if let Some(BytesFrame::Array(subs)) = fields.get(9) {
        for s in subs {
            walk(s, out);
        }
    }
}

/// What the proxy's session state does with `CLIENT <sub> <typical arguments>` answered `+OK`.
fn client_effect(sub: &str) -> Client {
    let args: &[&[u8]] = match sub {
        "tracking" | "no-evict" | "no-touch" => &[b"on"],
        "setinfo" => &[b"lib-name", b"x"],
        _ => &[b"x"],
    };
    let mut parts: Vec<&[u8]> = vec![b"CLIENT", sub.as_bytes()];
    parts.extend_from_slice(args);
    let frame = Bytes::from(sentinel_proxy_core::resp::args::encode_command(&parts));
    let mut s = SessionState::default();
    s.on_request(&Head::from_bytes(b"CLIENT"), &frame);
    s.on_reply(&Head::from_bytes(b"OK"), false, false);
    if s.untracked {
        return Client::Untracked;
    }
    let (credentials, rest, _) = s.replay_frames();
    if credentials.is_empty() && rest.is_empty() {
        Client::Plain
    } else {
        Client::Replayed
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_classifies_every_command_the_server_knows() {
    let lab = single_node_lab().await;
    let node = lab.redis[0].addr;
    let version = lab::redis_version().expect("redis-server --version");
    let table = tokio::task::block_in_place(|| lab::call(node, None, &["COMMAND"]))
        .expect("COMMAND answers");
    let BytesFrame::Array(entries) = table else {
        panic!("COMMAND answers an array: {table:?}");
    };
    let mut cmds = Vec::new();
    for e in &entries {
        walk(e, &mut cmds);
    }
    assert!(
        cmds.len() > 200,
        "COMMAND listed only {} commands",
        cmds.len()
    );
    let reviewed: BTreeMap<&str, &str> = REVIEWED_PLAIN.iter().copied().collect();
    let client_subs: BTreeMap<&str, Client> = CLIENT_SUBCOMMANDS.iter().copied().collect();
    let tracked: BTreeSet<&str> = TRACKED.iter().copied().collect();
    let names: BTreeSet<&str> = cmds.iter().map(|c| c.name.as_str()).collect();

    let mut problems: Vec<String> = Vec::new();
    for c in &cmds {
        let (top, sub) = match c.name.split_once('|') {
            Some((t, s)) => (t, Some(s)),
            None => (c.name.as_str(), None),
        };
        let head = Head::from_bytes(top.as_bytes());
        if top.len() > HEAD_CAPACITY {
            problems.push(format!(
                "{}: the name is longer than the proxy's head ({HEAD_CAPACITY} bytes), so it \
                 can never be classified",
                c.name
            ));
        }
        let is_tracked = needs_tracking(&head);
        if sub.is_none() && is_tracked != tracked.contains(top) {
            problems.push(format!(
                "{top}: needs_tracking says {is_tracked}, this test's TRACKED list disagrees"
            ));
        }
        if let ("client", Some(sub)) = (top, sub) {
            match client_subs.get(sub) {
                None => problems.push(format!(
                    "client|{sub}: a CLIENT subcommand nobody reviewed (the proxy relays it as \
                     plain); add it to CLIENT_SUBCOMMANDS, or handle it in proxy/state.rs"
                )),
                Some(&want) => {
                    let got = client_effect(sub);
                    let want_seen = if want == Client::NotReplayed {
                        Client::Plain
                    } else {
                        want
                    };
                    if got != want_seen {
                        problems.push(format!(
                            "client|{sub}: listed as {want:?}, but the session state treats it as \
                             {got:?}; update CLIENT_SUBCOMMANDS"
                        ));
                    }
                }
            }
            continue;
        }
        let special: Vec<&str> = [
            ("pubsub flag", c.flags.contains("pubsub")),
            ("blocking flag", c.flags.contains("blocking")),
            ("no_multi flag", c.flags.contains("no_multi")),
            ("@transaction", c.categories.contains("@transaction")),
            ("@connection", c.categories.contains("@connection")),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(why, _)| why)
        .collect();
        if special.is_empty() || is_tracked || reviewed.contains_key(top) {
            continue;
        }
        problems.push(format!(
            "{}: {} but the proxy relays it as plain (one reply, no state) and nobody reviewed \
             that; track it in proxy/state.rs or add it to REVIEWED_PLAIN with the reason",
            c.name,
            special.join(", ")
        ));
    }
    // The subscribe commands: their confirmations are recognised as such, too.
    for c in cmds.iter().filter(|c| c.flags.contains("pubsub")) {
        let head = Head::from_bytes(c.name.as_bytes());
        if let Effect::Subscribe(..) = effect_of(&head) {
            if !is_subscription(&head) {
                problems.push(format!(
                    "{}: subscribes, but its confirmations are not recognised",
                    c.name
                ));
            }
        }
    }
    // Every name the proxy or this test knows is one the server knows (a typo never matches).
    // (WAITAOF, CLIENT NO-TOUCH and CLIENT SETINFO arrived in 7.2.)
    let since_7_2 = ["waitaof", "client|no-touch", "client|setinfo"];
    let listed = TRACKED
        .iter()
        .chain(REVIEWED_PLAIN.iter().map(|(n, _)| n))
        .map(|n| n.to_string())
        .chain(
            CLIENT_SUBCOMMANDS
                .iter()
                .map(|(s, _)| format!("client|{s}")),
        );
    for name in listed {
        let newer = version < (7, 2, 0) && since_7_2.contains(&name.as_str());
        if !newer && !names.contains(name.as_str()) {
            problems.push(format!("{name}: listed here, unknown to the server"));
        }
    }
    let not_replayed: Vec<&str> = CLIENT_SUBCOMMANDS
        .iter()
        .filter(|(s, k)| {
            *k == Client::NotReplayed && names.contains(format!("client|{s}").as_str())
        })
        .map(|(s, _)| *s)
        .collect();
    eprintln!(
        "Redis {}.{}.{}: {} commands; tracked {}, reviewed plain {}, CLIENT subcommands whose \
         state a migration loses: {not_replayed:?}",
        version.0,
        version.1,
        version.2,
        cmds.len(),
        TRACKED.len(),
        REVIEWED_PLAIN.len()
    );
    assert!(
        problems.is_empty(),
        "the proxy would mishandle these commands of Redis {}.{}.{} (or this test's tables are \
         out of date):\n  {}",
        version.0,
        version.1,
        version.2,
        problems.join("\n  ")
    );
}
