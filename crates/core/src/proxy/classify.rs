//! Which commands may share an upstream connection with other clients' commands.
//!
//! The answer comes from the server itself: at every shared pipeline's handshake the proxy
//! asks `COMMAND LIST` (every command the node knows, modules included) and `ACL CAT` for the
//! categories whose commands make a connection stateful or hold it (blocking, pubsub,
//! transaction, connection). A command is shared only when the node knows it and it is in none
//! of those categories nor in [`ALWAYS_PINNED`]; anything else (unknown, misspelt, newer than
//! the node, a truncated name) pins the session to a dedicated connection, where it behaves
//! exactly as on a direct connection.

use std::collections::HashSet;

use crate::resp::args::request_args;
use crate::resp::Head;

/// The categories `ACL CAT <category>` is asked for; a command in any of them pins.
pub const PINNING_CATEGORIES: [&str; 4] = ["blocking", "pubsub", "transaction", "connection"];

/// Commands that pin whatever their categories say: they change or read what belongs to one
/// connection (its replies, its replication stream, its client id), or hold it for long.
const ALWAYS_PINNED: &[&[u8]] = &[
    b"AUTH",
    b"HELLO",
    b"SELECT",
    b"CLIENT",
    b"RESET",
    b"QUIT",
    b"MONITOR",
    b"MULTI",
    b"EXEC",
    b"DISCARD",
    b"WATCH",
    b"UNWATCH",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"PSUBSCRIBE",
    b"PUNSUBSCRIBE",
    b"SSUBSCRIBE",
    b"SUNSUBSCRIBE",
    b"READONLY",
    b"READWRITE",
    b"ASKING",
    b"WAIT",
    b"WAITAOF",
    b"SYNC",
    b"PSYNC",
    b"REPLCONF",
    b"DEBUG",
    b"SHUTDOWN",
];

/// Commands of the `connection` category that only answer the caller and change nothing.
const CONNECTION_SHAREABLE: &[&[u8]] = &[b"PING", b"ECHO"];

/// The shareable commands of one server, by upper-cased name.
#[derive(Debug, Default)]
pub struct Classes {
    shareable: HashSet<Box<[u8]>>,
}

impl Classes {
    /// From the server's replies: `COMMAND LIST` and one `ACL CAT <category>` per
    /// [`PINNING_CATEGORIES`] entry (whole reply frames). None when a reply is not a list of
    /// names (an error such as NOAUTH, or a server without the command): then nothing is
    /// shared.
    pub fn from_replies(command_list: &[u8], categories: &[&[u8]]) -> Option<Classes> {
        let names = name_list(command_list)?;
        let mut pinned: HashSet<Box<[u8]>> = ALWAYS_PINNED.iter().map(|n| (*n).into()).collect();
        for reply in categories {
            for name in name_list(reply)? {
                // `client|pause`: a subcommand pins its whole command (the head is all the
                // data path looks at).
                let top = name.split(|&b| b == b'|').next().unwrap_or_default();
                if !CONNECTION_SHAREABLE.contains(&top) {
                    pinned.insert(top.into());
                }
            }
        }
        let shareable = names
            .into_iter()
            .filter(|n| !n.contains(&b'|') && !pinned.contains(n.as_slice()))
            .map(Vec::into_boxed_slice)
            .collect();
        Some(Classes { shareable })
    }

    /// May a command with this head go on a shared pipeline?
    pub fn shareable(&self, head: &Head) -> bool {
        let name = head.as_bytes();
        !name.is_empty() && self.shareable.contains(name)
    }

    pub fn len(&self) -> usize {
        self.shareable.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shareable.is_empty()
    }
}

/// Connection set-up that client libraries send at connect and that a shared pipeline (RESP2,
/// database 0, no client name) can take without a connection of the session's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// `HELLO`, `HELLO 2`, `SELECT 0`: already true of the pipeline; sent as they are.
    AsIs,
    /// `CLIENT SETINFO LIB-NAME|LIB-VER value` (redis-py, redis-rs, go-redis send it): kept for
    /// the session (replayed if it pins later), and sent as `SELECT 0`, which answers `+OK` in
    /// order and changes nothing on the pipeline.
    AnswerOk,
}

/// What [`Setup::AnswerOk`] sends instead.
pub const ANSWER_OK: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";

/// Is this request (head and whole frame) set-up a shared pipeline can take?
pub fn setup_on_shared(head: &Head, frame: &[u8]) -> Option<Setup> {
    let name = head.as_bytes();
    if !matches!(name, b"HELLO" | b"SELECT" | b"CLIENT") {
        return None;
    }
    let args = request_args(frame)?;
    let arg = |i: usize| args.get(i).map(|a| a.as_ref());
    match (name, args.len()) {
        (b"HELLO", 1) => Some(Setup::AsIs),
        (b"HELLO", 2) if arg(1) == Some(b"2") => Some(Setup::AsIs),
        (b"SELECT", 2) if arg(1) == Some(b"0") => Some(Setup::AsIs),
        (b"CLIENT", 4)
            if arg(1).is_some_and(|a| a.eq_ignore_ascii_case(b"SETINFO"))
                && arg(2).is_some_and(|a| {
                    a.eq_ignore_ascii_case(b"LIB-NAME") || a.eq_ignore_ascii_case(b"LIB-VER")
                }) =>
        {
            Some(Setup::AnswerOk)
        }
        _ => None,
    }
}

/// Does this request only choose what a shared pipeline can be keyed by — the user (`AUTH`),
/// the protocol (`HELLO 2|3 [AUTH u p]`), the database (`SELECT n`)? A session pinned for
/// such commands alone goes back to a shared pipeline of its own kind once they are answered.
pub fn profile_cmd(head: &Head, frame: &[u8]) -> bool {
    match head.as_bytes() {
        b"AUTH" | b"SELECT" => true,
        b"HELLO" => {
            let Some(args) = request_args(frame) else {
                return false;
            };
            // HELLO [protover [AUTH user pass]]: SETNAME names one connection.
            matches!(args.len(), 1 | 2)
                || (args.len() == 5 && args[2].eq_ignore_ascii_case(b"AUTH"))
        }
        _ => false,
    }
}

/// An array reply of names, upper-cased (RESP2 or RESP3; bulk or simple strings).
fn name_list(reply: &[u8]) -> Option<Vec<Vec<u8>>> {
    if !matches!(reply.first(), Some(b'*' | b'~')) {
        return None;
    }
    // A reply array of bulk strings has the shape of a request frame; a RESP3 set (`~`) only
    // differs in its first byte.
    let mut frame = reply.to_vec();
    frame[0] = b'*';
    let args = request_args(&frame)?;
    Some(args.iter().map(|a| a.to_ascii_uppercase()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::args::encode_command;

    fn list(names: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        encode_command(&args)
    }

    fn head(name: &str) -> Head {
        Head::from_bytes(name.as_bytes())
    }

    #[test]
    fn the_servers_categories_decide() {
        let all = list(&[
            "get",
            "set",
            "blpop",
            "subscribe",
            "multi",
            "ping",
            "echo",
            "hello",
            "client",
            "xread",
            "newcmd",
            "select",
            "object",
        ]);
        let blocking = list(&["blpop", "xread"]);
        let pubsub = list(&["subscribe"]);
        let transaction = list(&["multi"]);
        let connection = list(&["ping", "echo", "hello", "client|kill", "select"]);
        let c = Classes::from_replies(&all, &[&blocking, &pubsub, &transaction, &connection])
            .expect("lists");
        for shared in ["GET", "SET", "PING", "ECHO", "NEWCMD", "OBJECT"] {
            assert!(c.shareable(&head(shared)), "{shared} should be shared");
        }
        for pinned in [
            "BLPOP",
            "XREAD",
            "SUBSCRIBE",
            "MULTI",
            "HELLO",
            "CLIENT",
            "SELECT",
            // Not known to this server: pinned, so the server's own error reaches the client
            // from a connection of its own.
            "GETEX",
            "",
        ] {
            assert!(!c.shareable(&head(pinned)), "{pinned:?} should pin");
        }
    }

    #[test]
    fn always_pinned_even_when_the_categories_miss_them() {
        let all = list(&["monitor", "wait", "auth", "get"]);
        let empty = list(&[]);
        let c = Classes::from_replies(&all, &[&empty, &empty, &empty, &empty]).unwrap();
        assert!(c.shareable(&head("GET")));
        assert!(!c.shareable(&head("MONITOR")));
        assert!(!c.shareable(&head("WAIT")));
        assert!(!c.shareable(&head("AUTH")));
    }

    #[test]
    fn errors_and_odd_replies_share_nothing() {
        let all = list(&["get"]);
        let noauth = b"-NOAUTH Authentication required.\r\n".to_vec();
        assert!(Classes::from_replies(&noauth, &[]).is_none());
        assert!(Classes::from_replies(&all, &[&noauth]).is_none());
        assert!(Classes::from_replies(b"+OK\r\n", &[]).is_none());
        assert!(Classes::from_replies(b"*1\r\n:1\r\n", &[]).is_none());
        // A RESP3 set is a list too.
        let mut set = list(&["get"]);
        set[0] = b'~';
        let c = Classes::from_replies(&set, &[]).unwrap();
        assert!(c.shareable(&head("GET")));
    }

    #[test]
    fn connection_setup_that_a_shared_pipeline_can_take() {
        let cases: [(&[&str], Option<Setup>); 9] = [
            (&["HELLO"], Some(Setup::AsIs)),
            (&["hello", "2"], Some(Setup::AsIs)),
            (&["HELLO", "3"], None),
            (&["HELLO", "2", "AUTH", "u", "p"], None),
            (&["SELECT", "0"], Some(Setup::AsIs)),
            (&["SELECT", "1"], None),
            (
                &["CLIENT", "SETINFO", "lib-name", "redis-py"],
                Some(Setup::AnswerOk),
            ),
            (
                &["CLIENT", "SETINFO", "LIB-VER", "5.0"],
                Some(Setup::AnswerOk),
            ),
            (&["CLIENT", "SETNAME", "x"], None),
        ];
        for (args, want) in cases {
            let frame = list(args);
            assert_eq!(setup_on_shared(&head(args[0]), &frame), want, "{args:?}");
        }
        assert_eq!(setup_on_shared(&head("GET"), &list(&["GET", "k"])), None);
    }

    #[test]
    fn profile_commands() {
        for (args, want) in [
            (&["AUTH", "pw"][..], true),
            (&["AUTH", "user", "pw"], true),
            (&["SELECT", "5"], true),
            (&["HELLO", "3"], true),
            (&["HELLO", "3", "AUTH", "u", "p"], true),
            (&["HELLO", "3", "SETNAME", "x"], false),
            (&["HELLO", "3", "AUTH", "u", "p", "SETNAME", "x"], false),
            (&["CLIENT", "SETNAME", "x"], false),
            (&["GET", "k"], false),
        ] {
            assert_eq!(profile_cmd(&head(args[0]), &list(args)), want, "{args:?}");
        }
    }

    #[test]
    fn a_truncated_head_pins() {
        let long = "X".repeat(200);
        let all = list(&[&long]);
        let c = Classes::from_replies(&all, &[]).unwrap();
        assert!(!c.shareable(&head(&long)));
    }
}
