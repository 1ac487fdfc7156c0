//! Reader for the redis-ha Helm chart's `haproxy.cfg`.
//!
//! The chart (DandyDeveloper/charts `charts/redis-ha`, `templates/_configs.tpl`,
//! define `config-haproxy.cfg`) runs HAProxy as
//! `haproxy -W -db -f /usr/local/etc/haproxy/haproxy.cfg`. sentinel-proxy takes
//! that command line and this module turns the file into a [`HaproxyConfig`]:
//!
//! * `backend check_if_redis_is_master_<N>`: its `server` lines are the Sentinels,
//!   `tcp-check send SENTINEL\ get-master-addr-by-name\ <name>\r\n` gives the
//!   master name and `tcp-check send "AUTH ${SENTINELAUTH}"\r\n` the Sentinel password;
//! * `backend bk_redis_master`: `server` lines are the Redis nodes and
//!   `tcp-check send "AUTH ${AUTH}"\r\n` the Redis password;
//! * `frontend ft_redis_master` / `ft_redis_slave` binds, the `monitor-uri`
//!   listener, the `prometheus-exporter` frontend, `defaults` timeouts and `maxconn`.
//!
//! Tokenising follows HAProxy's `parse_line()`: `#` comments, `"weak"` and
//! `'strong'` quoting, backslash escapes (`\ `, `\\`, `\#`, `\"`, `\'`, `\r`,
//! `\n`, `\t`, `\xNN`, and `\$` inside double quotes), `$VAR`, `${VAR}`,
//! `${VAR-default}` and `${VAR[*]}` expansion inside double quotes (unset
//! variables expand to nothing), a line ends at `\n`, `\r` or NUL, and there is
//! no line continuation. Unlike HAProxy, a `${VAR}` outside double quotes is
//! expanded too (with a warning), because a literal `${AUTH}` password is never
//! what the author meant.
//!
//! Lines that sentinel-proxy does not act on are listed in
//! [`HaproxyConfig::ignored`]; lines that are the chart's own health-check
//! scaffolding (`option tcp-check`, `tcp-check expect ...`, `use-server ...`,
//! `mode tcp`, ...) are replaced by following Sentinel and are not listed.
//! An unused section is listed once, by its header line.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the HAProxy image (and so the chart) looks for its configuration.
pub const DEFAULT_CONFIG_PATH: &str = "/usr/local/etc/haproxy/haproxy.cfg";

/// A `host:port` pair, the same type the configuration uses. Host names are kept as written;
/// the proxy resolves them.
pub use sentinel_proxy_core::config::HostPort;

/// One listening address from a `bind` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bind {
    pub addr: SocketAddr,
    /// `v4v6` on an IPv6 address: accept IPv4 too (clear `IPV6_V6ONLY`).
    pub dual_stack: bool,
    /// `v6only` on an IPv6 address: set `IPV6_V6ONLY`. With neither option the
    /// OS default applies (on Linux `net.ipv6.bindv6only`, normally dual-stack).
    pub v6only: bool,
}

impl Bind {
    pub fn new(addr: SocketAddr) -> Self {
        Bind {
            addr,
            dual_stack: false,
            v6only: false,
        }
    }
}

/// Timeouts in HAProxy's sense. `Some(Duration::ZERO)` means the value was
/// written as `0`, which HAProxy treats as "no timeout".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub check: Option<Duration>,
    pub tunnel: Option<Duration>,
}

impl Timeouts {
    /// Field by field: `top` where set, else `self`.
    fn overlay(self, top: Timeouts) -> Timeouts {
        Timeouts {
            connect: top.connect.or(self.connect),
            client: top.client.or(self.client),
            server: top.server.or(self.server),
            check: top.check.or(self.check),
            tunnel: top.tunnel.or(self.tunnel),
        }
    }
}

/// What sentinel-proxy needs from the chart's `haproxy.cfg`. Its `Debug`
/// output shows passwords as `<redacted>`.
#[derive(Clone, PartialEq)]
pub struct HaproxyConfig {
    /// Sentinels: the `server` lines of every `check_if_redis_is_master_*`
    /// backend, in order, without duplicates.
    pub sentinels: Vec<HostPort>,
    /// From `SENTINEL get-master-addr-by-name <name>` (identical in every backend).
    pub master_name: String,
    /// ACL user name, when the AUTH line reads `AUTH <user> <password>`.
    pub sentinel_username: Option<String>,
    /// From `tcp-check send "AUTH ${SENTINELAUTH}"\r\n` in the check backends.
    pub sentinel_password: Option<String>,
    /// ACL user name, when bk_redis_master's AUTH line reads `AUTH <user> <password>`.
    pub redis_username: Option<String>,
    /// From bk_redis_master's `tcp-check send "AUTH ${AUTH}"\r\n`.
    pub redis_password: Option<String>,
    /// `server` lines of bk_redis_master (informational; nodes come from Sentinel).
    pub nodes: Vec<HostPort>,
    /// `frontend ft_redis_master` binds (always at least one).
    pub master_bind: Vec<Bind>,
    /// `frontend ft_redis_slave` binds (empty when haproxy.readOnly is off).
    pub replica_bind: Vec<Bind>,
    /// Binds of the section with `http-request use-service prometheus-exporter`.
    pub metrics_bind: Vec<Bind>,
    /// The path in `... prometheus-exporter if { path <p> }`; `None` = any path.
    pub metrics_path: Option<String>,
    /// Binds of the section with `monitor-uri`.
    pub health_bind: Vec<Bind>,
    /// Its `monitor-uri` (the chart uses `/healthz`).
    pub health_uri: Option<String>,
    /// `defaults` timeouts, overridden by ft_redis_master (client) and
    /// bk_redis_master (connect, server, check, tunnel) where those set their own.
    pub timeouts: Timeouts,
    /// The tightest of `global` maxconn and ft_redis_master's maxconn (its own
    /// or its `defaults`').
    pub maxconn: Option<u32>,
    /// `inter` of the Sentinel `server` lines (chart value `haproxy.checkInterval`).
    pub sentinel_check_interval: Option<Duration>,
    /// `(line, directive)` of lines sentinel-proxy does not act on. The directive
    /// is the keyword(s) and section, never argument values (no secrets). When
    /// several files are parsed the directive starts with `<file>: `.
    pub ignored: Vec<(usize, String)>,
    /// Things worth a log line (each starts with `<file> line <n>:` where known).
    pub warnings: Vec<String>,
}

impl fmt::Debug for HaproxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |p: &Option<String>| p.as_ref().map(|_| "<redacted>");
        f.debug_struct("HaproxyConfig")
            .field("sentinels", &self.sentinels)
            .field("master_name", &self.master_name)
            .field("sentinel_username", &self.sentinel_username)
            .field("sentinel_password", &redact(&self.sentinel_password))
            .field("redis_username", &self.redis_username)
            .field("redis_password", &redact(&self.redis_password))
            .field("nodes", &self.nodes)
            .field("master_bind", &self.master_bind)
            .field("replica_bind", &self.replica_bind)
            .field("metrics_bind", &self.metrics_bind)
            .field("metrics_path", &self.metrics_path)
            .field("health_bind", &self.health_bind)
            .field("health_uri", &self.health_uri)
            .field("timeouts", &self.timeouts)
            .field("maxconn", &self.maxconn)
            .field("sentinel_check_interval", &self.sentinel_check_interval)
            .field("ignored", &self.ignored)
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// Broad class of a [`HaproxyCfgError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// Quoting, escaping or variable syntax.
    Syntax,
    /// A value that is not valid (address, port, time, number, ...).
    Invalid,
    /// Valid HAProxy that sentinel-proxy cannot honour (TLS, unix sockets, ...).
    Unsupported,
    /// Something the chart's file always has is missing.
    Missing,
    /// Two places disagree (master name, Sentinel password, duplicate names).
    Inconsistent,
}

/// `haproxy.cfg line 12: <what is wrong and what would be valid>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct HaproxyCfgError {
    pub kind: ErrorKind,
    /// The file, when parsing files (`None` for [`parse`], shown as `haproxy.cfg`).
    pub file: Option<PathBuf>,
    /// 1-based line number; 0 when the error is about the whole file.
    pub line: usize,
    pub message: String,
}

impl HaproxyCfgError {
    fn render(&self) -> String {
        let file = match &self.file {
            Some(p) => p.display().to_string(),
            None => "haproxy.cfg".to_string(),
        };
        if self.line == 0 {
            format!("{file}: {}", self.message)
        } else {
            format!("{file} line {}: {}", self.line, self.message)
        }
    }
}

/// Reads variables from the process environment (for `env` arguments).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Parses one configuration text. Errors show the file as `haproxy.cfg`.
pub fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HaproxyConfig, HaproxyCfgError> {
    let src = Source {
        name: None,
        lines: text
            .split('\n')
            .map(|l| RawLine {
                text: l.to_string(),
                bad_utf8: false,
            })
            .collect(),
    };
    Parser::run(vec![src], env)
}

/// Parses the files given with `-f`, in order, as HAProxy does: each is read on
/// its own (a section does not continue into the next file) and the results are
/// combined. A directory stands for its `*.cfg` files in lexical order.
pub fn parse_files(
    paths: &[PathBuf],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HaproxyConfig, HaproxyCfgError> {
    let io_err = |p: &Path, message: String| HaproxyCfgError {
        kind: ErrorKind::Io,
        file: Some(p.to_path_buf()),
        line: 0,
        message,
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let rd = std::fs::read_dir(path)
                .map_err(|e| io_err(path, format!("cannot list directory: {e}")))?;
            let mut found = Vec::new();
            for entry in rd {
                let entry =
                    entry.map_err(|e| io_err(path, format!("cannot list directory: {e}")))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let is_file = entry.file_type().map(|t| !t.is_dir()).unwrap_or(false);
                if is_file && name.ends_with(".cfg") && !name.starts_with('.') {
                    found.push(entry.path());
                }
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        return Err(HaproxyCfgError {
            kind: ErrorKind::Missing,
            file: paths.first().cloned(),
            line: 0,
            message: "no configuration file given (expected -f /usr/local/etc/haproxy/haproxy.cfg)"
                .to_string(),
        });
    }
    let mut sources = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| io_err(&file, format!("cannot read: {e}")))?;
        let lines = bytes
            .split(|b| *b == b'\n')
            .map(|l| match std::str::from_utf8(l) {
                Ok(s) => RawLine {
                    text: s.to_string(),
                    bad_utf8: false,
                },
                Err(_) => RawLine {
                    text: String::from_utf8_lossy(l).into_owned(),
                    bad_utf8: true,
                },
            })
            .collect();
        sources.push(Source {
            name: Some(file),
            lines,
        });
    }
    Parser::run(sources, env)
}

/// HAProxy time syntax: a decimal number with an optional unit `us`, `ms`, `s`,
/// `m`, `h` or `d`; no unit means milliseconds. Values above 2147483647 ms are
/// rejected, as HAProxy does.
pub fn parse_time(s: &str) -> Result<Duration, String> {
    let hint = "expected a whole number with an optional unit us, ms, s, m, h or d \
                (no unit = milliseconds), e.g. 4s, 500ms, 1h";
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("invalid time '{s}': {hint}"));
    }
    let too_big = || {
        format!("time '{s}' is too large: HAProxy timers are limited to 2147483647 ms (about 24.8 days)")
    };
    let n: u64 = s[..digits].parse().map_err(|_| too_big())?;
    let secs = |mult: u64| n.checked_mul(mult).map(Duration::from_secs);
    let d = match &s[digits..] {
        "" | "ms" => Some(Duration::from_millis(n)),
        "us" => Some(Duration::from_micros(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => return Err(format!("invalid time '{s}': {hint}")),
    };
    match d {
        Some(d) if d.as_millis() <= i32::MAX as u128 => Ok(d),
        _ => Err(too_big()),
    }
}

// ---------------------------------------------------------------------------
// Input representation

struct RawLine {
    text: String,
    bad_utf8: bool,
}

struct Source {
    name: Option<PathBuf>,
    lines: Vec<RawLine>,
}

/// A piece of a word: literal bytes or the expansion of a variable.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(Vec<u8>),
    Var(Vec<u8>),
}

#[derive(Debug, Clone, Default)]
struct Word {
    segs: Vec<Seg>,
}

impl Word {
    fn push_lit(&mut self, b: u8) {
        if let Some(Seg::Lit(v)) = self.segs.last_mut() {
            v.push(b);
        } else {
            self.segs.push(Seg::Lit(vec![b]));
        }
    }
    fn push_var(&mut self, v: &[u8]) {
        self.segs.push(Seg::Var(v.to_vec()));
    }
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &self.segs {
            match s {
                Seg::Lit(v) | Seg::Var(v) => out.extend_from_slice(v),
            }
        }
        out
    }
    fn is_empty(&self) -> bool {
        self.segs.iter().all(|s| match s {
            Seg::Lit(v) | Seg::Var(v) => v.is_empty(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    src: usize,
    line: usize,
}

#[derive(Debug, Clone)]
struct Line {
    loc: Loc,
    /// Expanded words, lossily decoded.
    words: Vec<String>,
    raw_words: Vec<Word>,
    /// First syntax problem on the line (fatal only if the line is used).
    problem: Option<String>,
    /// A `${VAR}` outside double quotes was expanded.
    unquoted_env: bool,
    /// Line number of the enclosing `.if`, if any.
    cond: Option<usize>,
}

impl Line {
    fn w(&self, i: usize) -> &str {
        self.words.get(i).map(String::as_str).unwrap_or("")
    }
}

struct Env<'a> {
    base: &'a dyn Fn(&str) -> Option<String>,
    overlay: HashMap<String, Option<String>>,
    /// After `resetenv`: only these base variables stay visible.
    keep: Option<Vec<String>>,
    /// Every value a variable expanded to (3 bytes or more): errors and warnings never show
    /// them, since any of them may be a password (`inter ${AUTH}` by mistake).
    expanded: RefCell<BTreeSet<String>>,
}

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        let v = self.lookup(name)?;
        if v.len() >= 3 {
            self.expanded.borrow_mut().insert(v.clone());
        }
        Some(v)
    }

    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.overlay.get(name) {
            return v.clone();
        }
        if let Some(keep) = &self.keep {
            if !keep.iter().any(|k| k == name) {
                return None;
            }
        }
        (self.base)(name)
    }

    /// `text` with every expanded value replaced by `${...}`, longest first.
    fn redact(&self, text: String) -> String {
        let expanded = self.expanded.borrow();
        if !expanded.iter().any(|v| text.contains(v.as_str())) {
            return text;
        }
        let mut values: Vec<&String> = expanded.iter().collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values
            .into_iter()
            .fold(text, |t, v| t.replace(v.as_str(), "${...}"))
    }
}

fn is_var_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_var_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

struct Tokens {
    words: Vec<Word>,
    problem: Option<String>,
    unquoted_env: bool,
}

/// Bound on the bytes that variables expand to on one line. Without it,
/// `setenv A "$A$A"` repeated doubles the line at each step and a few hundred
/// bytes of configuration exhaust memory (found by fuzzing).
const MAX_LINE_EXPANSION: usize = 64 * 1024;

/// HAProxy's `parse_line()` for configuration files, made total: it always
/// returns words and reports the first problem instead of stopping.
fn tokenize(line: &str, env: &Env<'_>) -> Tokens {
    let b = line.as_bytes();
    let mut words: Vec<Word> = Vec::new();
    let mut cur = Word::default();
    let mut started = false;
    let mut squote = false;
    let mut dquote = false;
    let mut problem: Option<String> = None;
    let mut unquoted_env = false;
    let mut expanded = 0usize;
    let note = |p: &mut Option<String>, msg: String| {
        if p.is_none() {
            *p = Some(msg);
        }
    };
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() && b[i] != b'\n' && b[i] != b'\r' {
        i += 1;
    }
    while i < b.len() {
        let c = b[i];
        if c == 0 || c == b'\n' || c == b'\r' {
            break;
        }
        if c == b'#' && !squote && !dquote {
            break;
        }
        if c == b'"' && !squote {
            dquote = !dquote;
            started = true;
            i += 1;
            continue;
        }
        if c == b'\'' && !dquote {
            squote = !squote;
            started = true;
            i += 1;
            continue;
        }
        if c == b'\\' && !squote {
            started = true;
            let next = b.get(i + 1).copied();
            match next {
                Some(n @ (b' ' | b'\\' | b'#' | b'\'' | b'"')) => {
                    cur.push_lit(n);
                    i += 2;
                }
                Some(b't') => {
                    cur.push_lit(b'\t');
                    i += 2;
                }
                Some(b'n') => {
                    cur.push_lit(b'\n');
                    i += 2;
                }
                Some(b'r') => {
                    cur.push_lit(b'\r');
                    i += 2;
                }
                Some(b'$') if dquote => {
                    cur.push_lit(b'$');
                    i += 2;
                }
                Some(b'x') => {
                    let h = |k: usize| b.get(k).and_then(|x| (*x as char).to_digit(16));
                    match (h(i + 2), h(i + 3)) {
                        (Some(hi), Some(lo)) => {
                            cur.push_lit((hi * 16 + lo) as u8);
                            i += 4;
                        }
                        _ => {
                            note(
                                &mut problem,
                                "invalid \\x escape: expected two hex digits as in \\x0a"
                                    .to_string(),
                            );
                            cur.push_lit(b'\\');
                            i += 1;
                        }
                    }
                }
                _ => {
                    cur.push_lit(b'\\');
                    i += 1;
                }
            }
            continue;
        }
        if c.is_ascii_whitespace() && !squote && !dquote {
            if started || !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            started = false;
            while i < b.len() && b[i].is_ascii_whitespace() && b[i] != b'\n' && b[i] != b'\r' {
                i += 1;
            }
            continue;
        }
        let unquoted_brace = c == b'$' && !dquote && !squote && b.get(i + 1) == Some(&b'{');
        if c == b'$' && (dquote || unquoted_brace) {
            started = true;
            match expand_var(b, i, env) {
                Ok((consumed, value, split)) => {
                    if unquoted_brace {
                        unquoted_env = true;
                    }
                    let mut value = value.unwrap_or_default();
                    expanded = expanded.saturating_add(value.len());
                    if expanded > MAX_LINE_EXPANSION {
                        note(
                            &mut problem,
                            format!(
                                "variables expand to more than {MAX_LINE_EXPANSION} bytes \
                                 on this line"
                            ),
                        );
                        value.clear();
                    }
                    if split {
                        // `${VAR[*]}`: one word per whitespace-separated piece.
                        let mut first = true;
                        for piece in value.split_ascii_whitespace() {
                            if !first {
                                words.push(std::mem::take(&mut cur));
                            }
                            first = false;
                            cur.push_var(piece.as_bytes());
                        }
                    } else {
                        cur.push_var(value.as_bytes());
                    }
                    i += consumed;
                }
                Err(msg) => {
                    if dquote {
                        note(&mut problem, msg);
                    }
                    cur.push_lit(b'$');
                    i += 1;
                }
            }
            continue;
        }
        started = true;
        cur.push_lit(c);
        i += 1;
    }
    if squote || dquote {
        note(
            &mut problem,
            format!(
                "unmatched {} quote: close it or escape it with a backslash",
                if dquote { "double" } else { "single" }
            ),
        );
    }
    // HAProxy drops a trailing empty argument.
    if !cur.is_empty() {
        words.push(cur);
    }
    Tokens {
        words,
        problem,
        unquoted_env,
    }
}

/// Expands the variable reference at `b[i] == '$'`. Returns the bytes consumed,
/// the value (`None` = unset and no default) and whether `[*]` was given.
fn expand_var(b: &[u8], i: usize, env: &Env<'_>) -> Result<(usize, Option<String>, bool), String> {
    let mut j = i + 1;
    let brace = b.get(j) == Some(&b'{');
    if brace {
        j += 1;
    }
    if !b.get(j).copied().is_some_and(is_var_start) {
        return Err(
            "invalid variable name after '$': names start with a letter or '_' \
                    (write \\$ for a literal dollar)"
                .to_string(),
        );
    }
    let start = j;
    while b.get(j).copied().is_some_and(is_var_char) {
        j += 1;
    }
    let name = String::from_utf8_lossy(&b[start..j]).into_owned();
    let mut value = env.get(&name);
    let mut split = false;
    if brace {
        if b.get(j) == Some(&b'[') {
            if b.get(j + 1) == Some(&b'*') && b.get(j + 2) == Some(&b']') {
                split = true;
                j += 3;
            } else {
                return Err("invalid word expansion: only ${NAME[*]} is allowed".to_string());
            }
        }
        if b.get(j) == Some(&b'-') {
            let dstart = j + 1;
            let mut k = dstart;
            while k < b.len() && b[k] != b'}' {
                k += 1;
            }
            if k >= b.len() {
                return Err(format!("unmatched brace in ${{{name}-...}}"));
            }
            if value.is_none() {
                value = Some(String::from_utf8_lossy(&b[dstart..k]).into_owned());
            }
            j = k;
        }
        if b.get(j) != Some(&b'}') {
            return Err(format!("unmatched brace after ${{{name}: expected '}}'"));
        }
        j += 1;
    }
    Ok((j - i, value, split))
}

// ---------------------------------------------------------------------------
// Sections

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
    Other,
}

const OTHER_SECTIONS: &[&str] = &[
    "resolvers",
    "peers",
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "fcgi-app",
    "log-forward",
    "crt-store",
    "traces",
    "acme",
];

fn section_kind(word: &str) -> Option<Kind> {
    Some(match word {
        "global" => Kind::Global,
        "defaults" => Kind::Defaults,
        "frontend" => Kind::Frontend,
        "backend" => Kind::Backend,
        "listen" => Kind::Listen,
        w if OTHER_SECTIONS.contains(&w) => Kind::Other,
        _ => return None,
    })
}

struct Section {
    kind: Kind,
    name: String,
    header: Line,
    lines: Vec<Line>,
    /// Index of the `defaults` section in effect (or named with `from`).
    defaults: Option<usize>,
}

impl Section {
    fn label(&self) -> String {
        if self.name.is_empty() {
            shown_word(&self.header, 0)
        } else {
            // The name is always the header's second word.
            format!(
                "{} {}",
                shown_word(&self.header, 0),
                shown_word(&self.header, 1)
            )
        }
    }
    fn is_front(&self) -> bool {
        matches!(self.kind, Kind::Frontend | Kind::Listen)
    }
    fn is_back(&self) -> bool {
        matches!(self.kind, Kind::Backend | Kind::Listen)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Roles {
    global: bool,
    defaults: bool,
    master_front: bool,
    replica_front: bool,
    health: bool,
    metrics: bool,
    sentinel_check: bool,
    master_back: bool,
    replica_back: bool,
}

impl Roles {
    fn any(&self) -> bool {
        self.global
            || self.defaults
            || self.master_front
            || self.replica_front
            || self.health
            || self.metrics
            || self.sentinel_check
            || self.master_back
            || self.replica_back
    }
    fn any_front(&self) -> bool {
        self.master_front || self.replica_front || self.health || self.metrics
    }
    fn any_redis_back(&self) -> bool {
        self.sentinel_check || self.master_back || self.replica_back
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Disp {
    Ignored,
    Covered,
    Used,
}

/// Credentials from an AUTH command.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cred {
    user: Option<String>,
    pass: String,
}

#[derive(Debug, Clone, Default)]
struct ServerDefaults {
    inter: Option<Duration>,
    check_port: Option<u16>,
    check_addr: Option<String>,
    tls: bool,
}

#[derive(Debug, Clone)]
struct ServerSpec {
    addr: HostPort,
    inter: Option<Duration>,
    disabled: bool,
}

/// What one section contributed.
#[derive(Debug, Default)]
struct SecData {
    master_binds: Vec<(Bind, Loc)>,
    replica_binds: Vec<(Bind, Loc)>,
    health_binds: Vec<(Bind, Loc)>,
    metrics_binds: Vec<(Bind, Loc)>,
    monitor_uri: Option<String>,
    metrics_path: Option<Option<String>>,
    sentinels: Vec<ServerSpec>,
    nodes: Vec<ServerSpec>,
    /// `Some((loc, None))` = an AUTH line that expanded to nothing.
    auth: Option<(Loc, Option<Cred>)>,
    master_name: Option<(Loc, String)>,
    timeouts: Timeouts,
    maxconn: Option<u32>,
    server_defaults: ServerDefaults,
    connect_port: Option<u16>,
}

struct Parser<'a> {
    sources: Vec<Source>,
    env: Env<'a>,
    ignored: Vec<(usize, String)>,
    warnings: Vec<String>,
}

const TLS_HINT: &str = "TLS is not supported by sentinel-proxy; terminate TLS in front of it \
                        (or set haproxy.tls.enabled=false in the chart)";

impl<'a> Parser<'a> {
    fn run(
        sources: Vec<Source>,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Result<HaproxyConfig, HaproxyCfgError> {
        let mut p = Parser {
            sources,
            env: Env {
                base: env,
                overlay: HashMap::new(),
                keep: None,
                expanded: Default::default(),
            },
            ignored: Vec::new(),
            warnings: Vec::new(),
        };
        let sections = p.split_sections();
        p.interpret(sections)
    }

    fn where_(&self, loc: Loc) -> String {
        let file = self
            .sources
            .get(loc.src)
            .and_then(|s| s.name.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "haproxy.cfg".to_string());
        format!("{file} line {}", loc.line)
    }

    fn err(&self, loc: Loc, kind: ErrorKind, message: impl Into<String>) -> HaproxyCfgError {
        HaproxyCfgError {
            kind,
            file: self.sources.get(loc.src).and_then(|s| s.name.clone()),
            line: loc.line,
            message: self.env.redact(message.into()),
        }
    }

    fn warn(&mut self, loc: Loc, message: impl fmt::Display) {
        let w = format!(
            "{}: {}",
            self.where_(loc),
            self.env.redact(message.to_string())
        );
        self.warnings.push(w);
    }

    fn ignore(&mut self, loc: Loc, directive: String) {
        let directive = if self.sources.len() > 1 {
            let file = self
                .sources
                .get(loc.src)
                .and_then(|s| s.name.as_ref())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            format!("{file}: {directive}")
        } else {
            directive
        };
        self.ignored.push((loc.line, directive));
    }

    /// The last line of the input, for "missing" errors.
    fn end_loc(&self) -> Loc {
        let src = self.sources.len().saturating_sub(1);
        let mut line = self.sources.get(src).map(|s| s.lines.len()).unwrap_or(0);
        // A final newline yields an empty last element; point at the real last line.
        if let Some(s) = self.sources.get(src) {
            if line > 1 && s.lines.last().is_some_and(|l| l.text.is_empty()) {
                line -= 1;
            }
        }
        Loc {
            src,
            line: line.max(1),
        }
    }

    /// Pass 1: tokenise every line (applying `setenv` & co. as HAProxy does, in
    /// order) and group lines into sections.
    fn split_sections(&mut self) -> Vec<Section> {
        let mut sections: Vec<Section> = Vec::new();
        let mut last_defaults: Option<usize> = None;
        for src in 0..self.sources.len() {
            let mut current: Option<usize> = None;
            let mut conds: Vec<usize> = Vec::new();
            let n = self.sources[src].lines.len();
            for idx in 0..n {
                let loc = Loc { src, line: idx + 1 };
                let (tokens, bad_utf8) = {
                    let raw = &self.sources[src].lines[idx];
                    (tokenize(&raw.text, &self.env), raw.bad_utf8)
                };
                if tokens.words.is_empty() {
                    if let Some(p) = tokens.problem {
                        self.warn(loc, format!("{p} (line ignored)"));
                    }
                    continue;
                }
                let words: Vec<String> = tokens
                    .words
                    .iter()
                    .map(|w| String::from_utf8_lossy(&w.bytes()).into_owned())
                    .collect();
                let mut problem = tokens.problem;
                if bad_utf8 && problem.is_none() {
                    problem = Some("the line is not valid UTF-8".to_string());
                }
                let line = Line {
                    loc,
                    words,
                    raw_words: tokens.words,
                    problem,
                    unquoted_env: tokens.unquoted_env,
                    cond: conds.first().copied(),
                };
                let kw = line.w(0).to_string();
                // Conditional blocks are not evaluated; lines inside are marked.
                if kw.starts_with('.') {
                    match kw.as_str() {
                        ".if" => conds.push(loc.line),
                        ".elif" | ".else" => {}
                        ".endif" if conds.pop().is_none() => {
                            self.warn(loc, ".endif without .if");
                        }
                        _ => {}
                    }
                    let shown = shown_word(&line, 0);
                    self.ignore(
                        loc,
                        format!("{shown} (conditional blocks are not evaluated)"),
                    );
                    continue;
                }
                if let Some(kind) = section_kind(&kw) {
                    let mut header = line;
                    let (name, from) = match kind {
                        Kind::Global => (String::new(), None),
                        Kind::Defaults => {
                            // defaults [<name>] [from <defaults>]
                            if header.w(1) == "from" {
                                (String::new(), Some(header.w(2).to_string()))
                            } else {
                                let from = (header.w(2) == "from").then(|| header.w(3).to_string());
                                (header.w(1).to_string(), from)
                            }
                        }
                        _ => {
                            let from = (header.w(2) == "from").then(|| header.w(3).to_string());
                            (header.w(1).to_string(), from)
                        }
                    };
                    let defaults = match (&from, kind) {
                        (_, Kind::Global | Kind::Other) => None,
                        (Some(f), _) => {
                            let found = sections
                                .iter()
                                .rposition(|s| s.kind == Kind::Defaults && s.name == *f);
                            if found.is_none() && header.problem.is_none() {
                                header.problem = Some(format!(
                                    "'from {f}' names no earlier 'defaults {f}' section"
                                ));
                            }
                            found
                        }
                        (None, Kind::Defaults) => None,
                        (None, _) => last_defaults,
                    };
                    if kind == Kind::Defaults {
                        last_defaults = Some(sections.len());
                    }
                    sections.push(Section {
                        kind,
                        name,
                        header,
                        lines: Vec::new(),
                        defaults,
                    });
                    current = Some(sections.len() - 1);
                    continue;
                }
                match current {
                    Some(c) => {
                        let sec = &mut sections[c];
                        if sec.kind == Kind::Global && line.cond.is_none() && line.problem.is_none()
                        {
                            apply_env_directive(&mut self.env, &line);
                        }
                        sec.lines.push(line);
                    }
                    None => {
                        if let Some(p) = &line.problem {
                            let p = p.clone();
                            self.warn(loc, format!("{p} (line ignored)"));
                        }
                        self.ignore(loc, format!("{} (outside any section)", keyword_of(&line)));
                    }
                }
            }
            if let Some(open) = conds.first() {
                let loc = Loc { src, line: *open };
                self.warn(loc, ".if without .endif");
            }
        }
        sections
    }

    /// Pass 2.
    fn interpret(&mut self, sections: Vec<Section>) -> Result<HaproxyConfig, HaproxyCfgError> {
        // Roles.
        let roles: Vec<Roles> = sections.iter().map(classify).collect();

        // Duplicate names among used proxies (HAProxy rejects them).
        let mut fronts: HashMap<&str, usize> = HashMap::new();
        let mut backs: HashMap<&str, usize> = HashMap::new();
        for (i, s) in sections.iter().enumerate() {
            let mut earlier = None;
            if s.is_front() {
                earlier = earlier.or(fronts.get(s.name.as_str()).copied());
                fronts.entry(&s.name).or_insert(i);
            }
            if s.is_back() {
                earlier = earlier.or(backs.get(s.name.as_str()).copied());
                backs.entry(&s.name).or_insert(i);
            }
            if let Some(j) = earlier.filter(|_| roles[i].any()) {
                return Err(self.err(
                    s.header.loc,
                    ErrorKind::Inconsistent,
                    format!(
                        "'{}' is declared twice (first at {}); HAProxy rejects duplicate proxy names",
                        s.label(),
                        self.where_(sections[j].header.loc)
                    ),
                ));
            }
        }

        let mut data: Vec<SecData> = Vec::with_capacity(sections.len());
        // Effective (inherited) defaults per defaults section.
        let mut eff_defaults: HashMap<usize, (Timeouts, Option<u32>)> = HashMap::new();
        for (i, sec) in sections.iter().enumerate() {
            let r = roles[i];
            let mut d = SecData::default();
            if !r.any() {
                let n = sec.lines.len();
                let what = if sec.is_front() || sec.is_back() {
                    "not used by sentinel-proxy"
                } else {
                    "not needed by sentinel-proxy"
                };
                self.ignore(
                    sec.header.loc,
                    format!("{} (section {what}; {n} lines ignored)", sec.label()),
                );
                data.push(d);
                continue;
            }
            self.check_clean(&sec.header, &format!("section '{}'", sec.label()))?;
            if r.sentinel_check {
                // `tcp-check connect port N` applies to every server of the backend.
                for line in &sec.lines {
                    if line.w(0) == "tcp-check" && line.w(1) == "connect" {
                        if let Some(i) = line.words.iter().position(|w| w == "port") {
                            self.check_clean(line, "tcp-check connect")?;
                            d.connect_port = Some(self.parse_port(line, i + 1)?);
                        }
                    }
                }
            }
            for line in &sec.lines {
                let disp = self.handle_line(sec, r, line, &mut d)?;
                match disp {
                    Disp::Used => {
                        if line.unquoted_env {
                            self.warn(
                                line.loc,
                                "a ${VAR} outside double quotes was expanded; HAProxy itself \
                                 only expands variables inside double quotes (write \"${VAR}\")",
                            );
                        }
                    }
                    Disp::Covered => {
                        if let Some(p) = &line.problem {
                            let p = p.clone();
                            self.warn(line.loc, format!("{p} (line not needed)"));
                        }
                    }
                    Disp::Ignored => {
                        if let Some(p) = &line.problem {
                            let p = p.clone();
                            self.warn(line.loc, format!("{p} (line ignored)"));
                        }
                        self.ignore(
                            line.loc,
                            format!("{} (in {})", keyword_of(line), sec.label()),
                        );
                    }
                }
            }
            if sec.kind == Kind::Defaults {
                let parent = sec
                    .defaults
                    .and_then(|p| eff_defaults.get(&p).copied())
                    .unwrap_or_default();
                let eff = (parent.0.overlay(d.timeouts), d.maxconn.or(parent.1));
                eff_defaults.insert(i, eff);
            }
            data.push(d);
        }
        self.assemble(&sections, &roles, &data, &eff_defaults)
    }

    /// Errors if a line that is about to be used has a syntax problem or sits
    /// inside an unevaluated `.if` block.
    fn check_clean(&self, line: &Line, what: &str) -> Result<(), HaproxyCfgError> {
        if let Some(p) = &line.problem {
            return Err(self.err(line.loc, ErrorKind::Syntax, p.clone()));
        }
        if let Some(c) = line.cond {
            return Err(self.err(
                line.loc,
                ErrorKind::Unsupported,
                format!(
                    "{what} is inside the conditional block opened at line {c}; \
                     sentinel-proxy does not evaluate .if/.else, move it out of the block"
                ),
            ));
        }
        Ok(())
    }

    fn handle_line(
        &mut self,
        sec: &Section,
        r: Roles,
        line: &Line,
        d: &mut SecData,
    ) -> Result<Disp, HaproxyCfgError> {
        let kw = line.w(0);
        let a1 = line.w(1);
        let mut disp = Disp::Ignored;
        match kw {
            "maxconn" if r.global || r.defaults || r.master_front => {
                self.check_clean(line, "maxconn")?;
                let n: u32 = a1.parse().map_err(|_| {
                    self.err(
                        line.loc,
                        ErrorKind::Invalid,
                        format!("maxconn '{a1}' is not a number: expected e.g. 'maxconn 4096'"),
                    )
                })?;
                d.maxconn = Some(n);
                disp = Disp::Used;
            }
            "setenv" | "presetenv" | "unsetenv" | "resetenv" if r.global => {
                self.check_clean(line, kw)?;
                disp = Disp::Used;
            }
            "timeout" => {
                let wanted = match a1 {
                    "connect" | "server" | "check" | "tunnel" => r.defaults || r.master_back,
                    "client" => r.defaults || r.master_front,
                    _ => false,
                };
                if wanted {
                    self.check_clean(line, "timeout")?;
                    let v = line.w(2);
                    let t = parse_time(v).map_err(|e| {
                        self.err(line.loc, ErrorKind::Invalid, format!("timeout {a1}: {e}"))
                    })?;
                    let slot = match a1 {
                        "connect" => &mut d.timeouts.connect,
                        "server" => &mut d.timeouts.server,
                        "check" => &mut d.timeouts.check,
                        "tunnel" => &mut d.timeouts.tunnel,
                        _ => &mut d.timeouts.client,
                    };
                    *slot = Some(t);
                    disp = Disp::Used;
                }
            }
            "mode" => {
                let tcp_role =
                    r.defaults || r.master_front || r.replica_front || r.any_redis_back();
                if (a1 == "tcp" && tcp_role) || (a1 == "http" && (r.health || r.metrics)) {
                    disp = Disp::Covered;
                }
            }
            "bind" if r.any_front() => {
                self.check_clean(line, "bind")?;
                let binds = self.parse_bind(line)?;
                for b in binds {
                    if r.master_front {
                        d.master_binds.push((b, line.loc));
                    }
                    if r.replica_front {
                        d.replica_binds.push((b, line.loc));
                    }
                    if r.health {
                        d.health_binds.push((b, line.loc));
                    }
                    if r.metrics {
                        d.metrics_binds.push((b, line.loc));
                    }
                }
                disp = Disp::Used;
            }
            "use_backend" | "default_backend"
                if (r.master_front && a1 == "bk_redis_master")
                    || (r.replica_front && a1 == "bk_redis_slave") =>
            {
                disp = Disp::Covered;
            }
            "monitor-uri" if r.health => {
                self.check_clean(line, "monitor-uri")?;
                if a1.is_empty() {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Invalid,
                        "monitor-uri needs a path, e.g. 'monitor-uri /healthz'",
                    ));
                }
                if d.monitor_uri.is_none() {
                    d.monitor_uri = Some(a1.to_string());
                }
                disp = Disp::Used;
            }
            "http-request"
                if r.metrics && a1 == "use-service" && line.w(2) == "prometheus-exporter" =>
            {
                self.check_clean(line, "http-request use-service")?;
                let rest: Vec<&str> = line.words.iter().skip(3).map(String::as_str).collect();
                let path = match rest.as_slice() {
                    [] => None,
                    ["if", "{", "path", paths @ .., "}"] if !paths.is_empty() => {
                        if paths.len() > 1 {
                            self.warn(
                                line.loc,
                                "several metrics paths given; only the first is served",
                            );
                        }
                        Some(paths[0].to_string())
                    }
                    _ => {
                        self.warn(
                            line.loc,
                            "prometheus-exporter condition not understood (only \
                             'if { path <p> }' is); metrics will be served on every path",
                        );
                        None
                    }
                };
                if d.metrics_path.is_none() {
                    d.metrics_path = Some(path);
                }
                disp = Disp::Used;
            }
            "option" => match a1 {
                "dontlognull" if r.health => disp = Disp::Covered,
                "http-use-htx" if r.metrics => disp = Disp::Covered,
                "tcp-check" if r.any_redis_back() => disp = Disp::Covered,
                _ => {}
            },
            "balance" | "hash-type" | "use-server" if r.master_back => disp = Disp::Covered,
            "default-server" if r.any_redis_back() => {
                self.check_clean(line, "default-server")?;
                let mut sd = d.server_defaults.clone();
                self.parse_server_params(line, 1, &mut sd, &mut None, &mut false, &mut false)?;
                d.server_defaults = sd;
                disp = Disp::Used;
            }
            "server" if r.any_redis_back() => {
                self.check_clean(line, "server")?;
                let spec = self.parse_server(line, r, d)?;
                if spec.disabled {
                    self.warn(line.loc, "server is 'disabled'; it is not used");
                } else if r.sentinel_check {
                    d.sentinels.push(spec);
                } else if r.master_back {
                    d.nodes.push(spec);
                }
                disp = if r.sentinel_check || r.master_back {
                    Disp::Used
                } else {
                    Disp::Covered
                };
            }
            "server-template" if r.any_redis_back() => {
                self.warn(
                    line.loc,
                    "server-template is not expanded by sentinel-proxy; list servers with 'server' lines",
                );
            }
            "tcp-check" if r.any_redis_back() => {
                disp = self.handle_tcp_check(sec, r, line, d)?;
            }
            _ => {}
        }
        Ok(disp)
    }

    fn handle_tcp_check(
        &mut self,
        sec: &Section,
        r: Roles,
        line: &Line,
        d: &mut SecData,
    ) -> Result<Disp, HaproxyCfgError> {
        match line.w(1) {
            "expect" | "comment" => Ok(Disp::Covered),
            "connect" => {
                let mut i = 2;
                let mut disp = Disp::Covered;
                while i < line.words.len() {
                    match line.w(i) {
                        "ssl" => {
                            self.check_clean(line, "tcp-check connect")?;
                            return Err(self.err(
                                line.loc,
                                ErrorKind::Unsupported,
                                format!("'tcp-check connect ssl' in {}: {TLS_HINT}", sec.label()),
                            ));
                        }
                        "port" if r.sentinel_check => {
                            disp = Disp::Used;
                            i += 2;
                        }
                        "port" | "addr" | "sni" | "alpn" | "proto" | "comment" => i += 2,
                        _ => i += 1,
                    }
                }
                Ok(disp)
            }
            sub @ ("send" | "send-lf" | "send-binary" | "send-binary-lf") => {
                let Some(word) = line.raw_words.get(2) else {
                    return Ok(Disp::Ignored);
                };
                let text = word.bytes();
                let is_lf = sub.ends_with("-lf");
                let is_bin = sub.starts_with("send-binary");
                if is_lf && text.contains(&b'%') {
                    // A log-format string: cannot be evaluated here.
                    let lower = String::from_utf8_lossy(&text).to_ascii_lowercase();
                    if lower.contains("auth") || lower.contains("get-master-addr-by-name") {
                        return Err(self.err(
                            line.loc,
                            ErrorKind::Unsupported,
                            format!(
                                "'tcp-check {sub}' uses log-format expressions, which sentinel-proxy \
                                 cannot evaluate; use 'tcp-check send' with \"${{VAR}}\" instead"
                            ),
                        ));
                    }
                    return Ok(Disp::Ignored);
                }
                let (data, segs_usable) = if is_bin {
                    match hex_decode(&text) {
                        Some(v) => (v, false),
                        None => {
                            self.check_clean(line, "tcp-check send-binary")?;
                            return Err(self.err(
                                line.loc,
                                ErrorKind::Invalid,
                                "tcp-check send-binary expects an even number of hex digits",
                            ));
                        }
                    }
                } else {
                    (text, true)
                };
                let Some(args) = split_redis_command(&data) else {
                    // Unparsable: maybe an AUTH with odd quoting in the password.
                    if starts_with_ci(&data, b"auth ") && (r.sentinel_check || r.master_back) {
                        self.check_clean(line, "tcp-check send")?;
                        let rest = trim_crlf(&data[5..]);
                        let cred = self.cred_from(line, None, rest, false)?;
                        self.warn(
                            line.loc,
                            "the AUTH command is not valid Redis inline syntax (quotes?); \
                             using everything after 'AUTH ' as the password",
                        );
                        self.set_auth(sec, line, d, cred)?;
                        return Ok(Disp::Used);
                    }
                    return Ok(Disp::Ignored);
                };
                let cmd = args
                    .first()
                    .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
                    .unwrap_or_default();
                match cmd.as_str() {
                    "AUTH" if r.sentinel_check || r.master_back || r.replica_back => {
                        self.check_clean(line, "tcp-check send AUTH")?;
                        // bk_redis_slave's AUTH is only compared with bk_redis_master's.
                        let quiet = !(r.sentinel_check || r.master_back);
                        let cred = if segs_usable && single_var_auth(word) {
                            // `"AUTH ${VAR}"\r\n`: the variable is the password, verbatim.
                            let value = word
                                .segs
                                .iter()
                                .find_map(|s| match s {
                                    Seg::Var(v) => Some(v.clone()),
                                    Seg::Lit(_) => None,
                                })
                                .unwrap_or_default();
                            self.cred_from(line, None, &value, quiet)?
                        } else {
                            match args.len() {
                                1 => self.cred_from(line, None, b"", quiet)?,
                                2 => self.cred_from(line, None, &args[1], quiet)?,
                                3 => self.cred_from(line, Some(&args[1]), &args[2], quiet)?,
                                n => {
                                    return Err(self.err(
                                        line.loc,
                                        ErrorKind::Invalid,
                                        format!(
                                            "AUTH with {} arguments: expected AUTH <password> \
                                             or AUTH <user> <password>",
                                            n - 1
                                        ),
                                    ))
                                }
                            }
                        };
                        if quiet {
                            // Compared with bk_redis_master's later.
                            d.auth = Some((line.loc, cred));
                            return Ok(Disp::Covered);
                        }
                        self.set_auth(sec, line, d, cred)?;
                        Ok(Disp::Used)
                    }
                    "SENTINEL" if r.sentinel_check => {
                        let sub = args
                            .get(1)
                            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
                            .unwrap_or_default();
                        if sub != "get-master-addr-by-name" {
                            return Ok(Disp::Ignored);
                        }
                        self.check_clean(line, "tcp-check send SENTINEL")?;
                        let name = match args.as_slice() {
                            [_, _, name] if !name.is_empty() => {
                                String::from_utf8_lossy(name).into_owned()
                            }
                            _ => {
                                return Err(self.err(
                                    line.loc,
                                    ErrorKind::Invalid,
                                    "SENTINEL get-master-addr-by-name needs exactly one master \
                                     name, e.g. SENTINEL\\ get-master-addr-by-name\\ mymaster\\r\\n",
                                ))
                            }
                        };
                        if let Some((prev, prev_name)) = &d.master_name {
                            if *prev_name != name {
                                return Err(self.err(
                                    line.loc,
                                    ErrorKind::Inconsistent,
                                    format!(
                                        "master name '{name}' differs from '{prev_name}' at {}",
                                        self.where_(*prev)
                                    ),
                                ));
                            }
                        } else {
                            d.master_name = Some((line.loc, name));
                        }
                        Ok(Disp::Used)
                    }
                    "PING" | "QUIT" => Ok(Disp::Covered),
                    "INFO" if r.master_back || r.replica_back => Ok(Disp::Covered),
                    _ => Ok(Disp::Ignored),
                }
            }
            _ => Ok(Disp::Ignored),
        }
    }

    fn set_auth(
        &mut self,
        sec: &Section,
        line: &Line,
        d: &mut SecData,
        cred: Option<Cred>,
    ) -> Result<(), HaproxyCfgError> {
        if let Some((prev, prev_cred)) = &d.auth {
            if *prev_cred != cred {
                return Err(self.err(
                    line.loc,
                    ErrorKind::Inconsistent,
                    format!(
                        "a second, different AUTH in {} (first at {})",
                        sec.label(),
                        self.where_(*prev)
                    ),
                ));
            }
            return Ok(());
        }
        d.auth = Some((line.loc, cred));
        Ok(())
    }

    /// Builds credentials; an empty password yields `None` plus a warning.
    fn cred_from(
        &mut self,
        line: &Line,
        user: Option<&[u8]>,
        pass: &[u8],
        quiet: bool,
    ) -> Result<Option<Cred>, HaproxyCfgError> {
        let warnings_before = self.warnings.len();
        let cred = self.cred_from_inner(line, user, pass)?;
        if quiet {
            self.warnings.truncate(warnings_before);
        }
        Ok(cred)
    }

    fn cred_from_inner(
        &mut self,
        line: &Line,
        user: Option<&[u8]>,
        pass: &[u8],
    ) -> Result<Option<Cred>, HaproxyCfgError> {
        let text = |v: &[u8]| {
            String::from_utf8(v.to_vec()).map_err(|_| {
                self.err(
                    line.loc,
                    ErrorKind::Invalid,
                    "the AUTH credentials are not valid UTF-8",
                )
            })
        };
        let mut pass = text(pass)?;
        let user = user.map(text).transpose()?;
        if pass == "REPLACE_AUTH_SECRET" {
            // Older charts had haproxy_init.sh substitute this placeholder.
            match self.env.get("AUTH").filter(|v| !v.is_empty()) {
                Some(v) => {
                    self.warn(
                        line.loc,
                        "password placeholder REPLACE_AUTH_SECRET was not substituted by the \
                         init container; using $AUTH instead",
                    );
                    pass = v;
                }
                None => {
                    self.warn(
                        line.loc,
                        "password placeholder REPLACE_AUTH_SECRET was not substituted and AUTH \
                         is not set; connecting without a password",
                    );
                    return Ok(None);
                }
            }
        }
        if pass.is_empty() {
            self.warn(
                line.loc,
                "the AUTH password is empty (is the variable set in the environment?); \
                 connecting without a password",
            );
            return Ok(None);
        }
        Ok(Some(Cred { user, pass }))
    }

    fn parse_port(&self, line: &Line, i: usize) -> Result<u16, HaproxyCfgError> {
        let v = line.w(i);
        match v.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(self.err(
                line.loc,
                ErrorKind::Invalid,
                format!("port '{v}' is not valid: expected a number from 1 to 65535"),
            )),
        }
    }

    /// `server <name> <address>[:<port>] [params...]`
    fn parse_server(
        &mut self,
        line: &Line,
        r: Roles,
        d: &SecData,
    ) -> Result<ServerSpec, HaproxyCfgError> {
        let (name, addr) = (line.w(1), line.w(2));
        if name.is_empty() || addr.is_empty() {
            return Err(self.err(
                line.loc,
                ErrorKind::Invalid,
                "server needs a name and an address, e.g. 'server R0 redis-ha-announce-0:26379 check'",
            ));
        }
        let (host, port) = parse_server_addr(addr)
            .map_err(|e| self.err(line.loc, ErrorKind::Invalid, format!("server {name}: {e}")))?;
        let mut sd = d.server_defaults.clone();
        let mut check_addr = None;
        let mut disabled = false;
        let mut send_proxy = false;
        self.parse_server_params(
            line,
            3,
            &mut sd,
            &mut check_addr,
            &mut disabled,
            &mut send_proxy,
        )?;
        if sd.tls {
            return Err(self.err(
                line.loc,
                ErrorKind::Unsupported,
                format!("server {name} uses 'ssl': {TLS_HINT}"),
            ));
        }
        if send_proxy && !r.sentinel_check {
            return Err(self.err(
                line.loc,
                ErrorKind::Unsupported,
                format!(
                    "server {name} uses send-proxy: sentinel-proxy does not send the PROXY \
                     protocol header to Redis"
                ),
            ));
        }
        // For Sentinel checks what matters is where the check goes.
        let (host, port) = if r.sentinel_check {
            let host = check_addr.or(sd.check_addr.clone()).unwrap_or(host);
            let port = d.connect_port.or(sd.check_port).or(port);
            (host, port)
        } else {
            (host, port)
        };
        let Some(port) = port else {
            return Err(self.err(
                line.loc,
                ErrorKind::Invalid,
                format!("server {name} has no port: write '{addr}:<port>'"),
            ));
        };
        Ok(ServerSpec {
            addr: HostPort { host, port },
            inter: sd.inter,
            disabled,
        })
    }

    fn parse_server_params(
        &self,
        line: &Line,
        from: usize,
        sd: &mut ServerDefaults,
        check_addr: &mut Option<String>,
        disabled: &mut bool,
        send_proxy: &mut bool,
    ) -> Result<(), HaproxyCfgError> {
        let mut i = from;
        while i < line.words.len() {
            let p = line.w(i);
            match p {
                "inter" => {
                    let t = parse_time(line.w(i + 1)).map_err(|e| {
                        self.err(line.loc, ErrorKind::Invalid, format!("inter: {e}"))
                    })?;
                    sd.inter = Some(t);
                    i += 2;
                }
                "port" => {
                    sd.check_port = Some(self.parse_port(line, i + 1)?);
                    i += 2;
                }
                "addr" => {
                    let a = line.w(i + 1);
                    if a.is_empty() {
                        return Err(self.err(
                            line.loc,
                            ErrorKind::Invalid,
                            "addr needs an address",
                        ));
                    }
                    *check_addr = Some(a.trim_start_matches('[').trim_end_matches(']').to_string());
                    i += 2;
                }
                "ssl" | "check-ssl" => {
                    sd.tls = true;
                    i += 1;
                }
                "no-ssl" | "no-check-ssl" => {
                    sd.tls = false;
                    i += 1;
                }
                "disabled" => {
                    *disabled = true;
                    i += 1;
                }
                "enabled" => {
                    *disabled = false;
                    i += 1;
                }
                _ if p.starts_with("send-proxy") => {
                    *send_proxy = true;
                    i += 1;
                }
                _ if SERVER_VALUE_KEYWORDS.contains(&p) => i += 2,
                _ => i += 1,
            }
        }
        Ok(())
    }

    fn parse_bind(&mut self, line: &Line) -> Result<Vec<Bind>, HaproxyCfgError> {
        let spec = line.w(1);
        if spec.is_empty() {
            return Err(self.err(
                line.loc,
                ErrorKind::Invalid,
                "bind needs an address, e.g. 'bind [::]:6379 v4v6' or 'bind :6379'",
            ));
        }
        let addrs = parse_bind_addrs(spec)
            .map_err(|e| self.err(line.loc, ErrorKind::Invalid, format!("bind '{spec}': {e}")))?;
        let mut v4v6 = false;
        let mut v6only = false;
        let mut i = 2;
        while i < line.words.len() {
            let o = line.w(i);
            if is_tls_bind_option(o) {
                return Err(self.err(
                    line.loc,
                    ErrorKind::Unsupported,
                    format!("bind option '{o}': {TLS_HINT}"),
                ));
            }
            match o {
                "v4v6" => v4v6 = true,
                "v6only" => v6only = true,
                "name" | "id" | "process" | "thread" | "shards" | "guid-prefix" => i += 1,
                "backlog" | "maxconn" | "mss" | "tcp-ut" | "nice" | "mode" | "uid" | "gid"
                | "user" | "group" | "level" | "severity-output" | "expose-fd" | "proto"
                | "idle-ping" => {
                    if line.words.len() <= i + 1 {
                        return Err(self.err(
                            line.loc,
                            ErrorKind::Invalid,
                            format!("bind option '{o}' needs a value"),
                        ));
                    }
                    self.warn(line.loc, format!("bind option '{o}' is ignored by sentinel-proxy"));
                    i += 1;
                }
                "tfo" | "defer-accept" => {
                    self.warn(line.loc, format!("bind option '{o}' is ignored by sentinel-proxy"));
                }
                "accept-proxy" | "accept-netscaler-cip" => {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Unsupported,
                        format!("bind option '{o}': sentinel-proxy does not accept the PROXY/NetScaler protocol"),
                    ))
                }
                "transparent" | "interface" | "namespace" => {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Unsupported,
                        format!("bind option '{o}' is not supported by sentinel-proxy"),
                    ))
                }
                _ => {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Unsupported,
                        format!(
                            "unknown bind option '{o}': sentinel-proxy understands v4v6, v6only, \
                             name, id, process, thread (and ignores backlog, maxconn, mss, tfo, ...)"
                        ),
                    ))
                }
            }
            i += 1;
        }
        if v4v6 && v6only {
            return Err(self.err(
                line.loc,
                ErrorKind::Invalid,
                "bind has both v4v6 and v6only: keep one",
            ));
        }
        Ok(addrs
            .into_iter()
            .map(|addr| Bind {
                addr,
                dual_stack: v4v6 && addr.is_ipv6(),
                v6only: v6only && addr.is_ipv6(),
            })
            .collect())
    }

    fn assemble(
        &mut self,
        sections: &[Section],
        roles: &[Roles],
        data: &[SecData],
        eff_defaults: &HashMap<usize, (Timeouts, Option<u32>)>,
    ) -> Result<HaproxyConfig, HaproxyCfgError> {
        let not_chart = "this does not look like the redis-ha chart's haproxy.cfg";
        let defaults_of = |s: &Section| {
            s.defaults
                .and_then(|i| eff_defaults.get(&i).copied())
                .unwrap_or_default()
        };

        // Master frontend.
        let masters: Vec<usize> = (0..sections.len())
            .filter(|&i| roles[i].master_front)
            .collect();
        let Some(&mf) = masters.first() else {
            return Err(self.err(
                self.end_loc(),
                ErrorKind::Missing,
                format!(
                    "no 'frontend ft_redis_master' (the client-facing Redis listener) was found \
                     before the end of the configuration; {not_chart}"
                ),
            ));
        };
        let mut master_bind = Vec::new();
        for &i in &masters {
            if data[i].master_binds.is_empty() {
                return Err(self.err(
                    sections[i].header.loc,
                    ErrorKind::Missing,
                    format!(
                        "{} has no bind line (e.g. 'bind [::]:6379 v4v6')",
                        sections[i].label()
                    ),
                ));
            }
            master_bind.extend(data[i].master_binds.iter().copied());
        }

        // Sentinels, master name, Sentinel AUTH.
        let checks: Vec<usize> = (0..sections.len())
            .filter(|&i| roles[i].sentinel_check)
            .collect();
        let Some(&first_check) = checks.first() else {
            return Err(self.err(
                self.end_loc(),
                ErrorKind::Missing,
                format!(
                    "no Sentinel check backends ('backend check_if_redis_is_master_<N>' with \
                     'server <name> <sentinel>:26379' lines) were found; {not_chart}"
                ),
            ));
        };
        let mut sentinels: Vec<HostPort> = Vec::new();
        let mut inter = None;
        let mut master_name: Option<(Loc, String)> = None;
        let mut sentinel_auth: Option<(Loc, Option<Cred>)> = None;
        for &i in &checks {
            let d = &data[i];
            for s in &d.sentinels {
                push_unique(&mut sentinels, &s.addr);
                inter = inter.or(s.inter);
            }
            if let Some((loc, name)) = &d.master_name {
                match &master_name {
                    Some((first, n)) if n != name => {
                        return Err(self.err(
                            *loc,
                            ErrorKind::Inconsistent,
                            format!(
                                "master name '{name}' differs from '{n}' at {}; all \
                                 check_if_redis_is_master_* backends must ask about the same master",
                                self.where_(*first)
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => master_name = Some((*loc, name.clone())),
                }
            } else {
                self.warn(
                    sections[i].header.loc,
                    format!(
                        "{} sends no SENTINEL get-master-addr-by-name",
                        sections[i].label()
                    ),
                );
            }
            let this = d
                .auth
                .clone()
                .map(|(l, c)| (Some(l), c))
                .unwrap_or((None, None));
            match &sentinel_auth {
                None => sentinel_auth = Some((this.0.unwrap_or(sections[i].header.loc), this.1)),
                Some((first, c)) if *c != this.1 => {
                    return Err(self.err(
                        this.0.unwrap_or(sections[i].header.loc),
                        ErrorKind::Inconsistent,
                        format!(
                            "the Sentinel AUTH of {} differs from the one at {}; every \
                             check_if_redis_is_master_* backend must authenticate the same way",
                            sections[i].label(),
                            self.where_(*first)
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if sentinels.is_empty() {
            return Err(self.err(
                sections[first_check].header.loc,
                ErrorKind::Missing,
                format!(
                    "{} lists no Sentinels: expected 'server R0 <host>:26379 check ...' lines; {not_chart}",
                    sections[first_check].label()
                ),
            ));
        }
        let Some((_, master_name)) = master_name else {
            return Err(self.err(
                sections[first_check].header.loc,
                ErrorKind::Missing,
                format!(
                    "no 'tcp-check send SENTINEL\\ get-master-addr-by-name\\ <name>\\r\\n' in the \
                     Sentinel check backends, so the master name is unknown; {not_chart}"
                ),
            ));
        };
        let sentinel_cred = sentinel_auth.and_then(|(_, c)| c);

        // Redis nodes and password.
        let mut nodes = Vec::new();
        let mut redis_cred: Option<Cred> = None;
        let mut master_back = None;
        if let Some(i) = (0..sections.len()).find(|&i| roles[i].master_back) {
            master_back = Some(i);
            for n in &data[i].nodes {
                push_unique(&mut nodes, &n.addr);
            }
            redis_cred = data[i].auth.clone().and_then(|(_, c)| c);
        }
        if master_back.is_none() {
            self.warn(
                sections[mf].header.loc,
                "no 'backend bk_redis_master': the Redis password (its tcp-check AUTH) is unknown",
            );
        }
        for (i, s) in sections.iter().enumerate() {
            if roles[i].replica_back && !roles[i].master_back {
                if let Some((loc, c)) = &data[i].auth {
                    if master_back.is_some() && *c != redis_cred {
                        self.warn(
                            *loc,
                            format!(
                                "{} authenticates differently from bk_redis_master; \
                                 sentinel-proxy uses bk_redis_master's password for all nodes",
                                s.label()
                            ),
                        );
                    }
                }
            }
        }

        // Other listeners.
        let collect = |pick: fn(&SecData) -> &Vec<(Bind, Loc)>| {
            let mut v: Vec<(Bind, Loc)> = Vec::new();
            for d in data {
                v.extend(pick(d).iter().copied());
            }
            v
        };
        let replica_bind = collect(|d| &d.replica_binds);
        let health_bind = collect(|d| &d.health_binds);
        let metrics_bind = collect(|d| &d.metrics_binds);
        let mut health_uri: Option<String> = None;
        let mut metrics_path: Option<Option<String>> = None;
        for (i, d) in data.iter().enumerate() {
            if let Some(u) = &d.monitor_uri {
                match &health_uri {
                    None => health_uri = Some(u.clone()),
                    Some(h) if h != u => self.warn(
                        sections[i].header.loc,
                        format!("a second monitor-uri '{u}' differs from '{h}'; '{h}' is used"),
                    ),
                    Some(_) => {}
                }
            }
            if let Some(p) = &d.metrics_path {
                metrics_path.get_or_insert_with(|| p.clone());
            }
        }

        // The same address bound twice cannot work.
        // A dual-stack [::]:P also takes every IPv4 address on port P.
        let mut seen: HashMap<SocketAddr, Loc> = HashMap::new();
        let mut v4_ports: HashMap<u16, Loc> = HashMap::new();
        let mut dual_ports: HashMap<u16, Loc> = HashMap::new();
        for list in [&master_bind, &replica_bind, &health_bind, &metrics_bind] {
            for (b, loc) in list.iter() {
                let port = b.addr.port();
                let dual = b.dual_stack && b.addr.ip().is_unspecified();
                let clash = seen
                    .get(&b.addr)
                    .or_else(|| b.addr.is_ipv4().then(|| dual_ports.get(&port)).flatten())
                    .or_else(|| dual.then(|| v4_ports.get(&port)).flatten());
                if let Some(other) = clash {
                    return Err(self.err(
                        *loc,
                        ErrorKind::Inconsistent,
                        format!(
                            "address {} is already bound at {}; each listener needs its own port",
                            b.addr,
                            self.where_(*other)
                        ),
                    ));
                }
                seen.insert(b.addr, *loc);
                if b.addr.is_ipv4() {
                    v4_ports.entry(port).or_insert(*loc);
                }
                if dual {
                    dual_ports.entry(port).or_insert(*loc);
                }
            }
        }

        // Timeouts and maxconn.
        let (mf_def_t, mf_def_max) = defaults_of(&sections[mf]);
        let mut timeouts = mf_def_t;
        timeouts.client = data[mf].timeouts.client.or(mf_def_t.client);
        if let Some(mb) = master_back {
            let (mb_def, _) = defaults_of(&sections[mb]);
            let own = data[mb].timeouts;
            timeouts.connect = own.connect.or(mb_def.connect);
            timeouts.server = own.server.or(mb_def.server);
            timeouts.check = own.check.or(mb_def.check);
            timeouts.tunnel = own.tunnel.or(mb_def.tunnel);
        }
        let global_max = sections
            .iter()
            .zip(data)
            .filter(|(s, _)| s.kind == Kind::Global)
            .filter_map(|(_, d)| d.maxconn)
            .next_back();
        let front_max = data[mf].maxconn.or(mf_def_max);
        let maxconn = match (global_max, front_max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };

        let strip = |v: Vec<(Bind, Loc)>| v.into_iter().map(|(b, _)| b).collect::<Vec<_>>();
        let (sentinel_username, sentinel_password) = split_cred(sentinel_cred);
        let (redis_username, redis_password) = split_cred(redis_cred);
        Ok(HaproxyConfig {
            sentinels,
            master_name,
            sentinel_username,
            sentinel_password,
            redis_username,
            redis_password,
            nodes,
            master_bind: strip(master_bind),
            replica_bind: strip(replica_bind),
            metrics_bind: strip(metrics_bind),
            metrics_path: metrics_path.flatten(),
            health_bind: strip(health_bind),
            health_uri,
            timeouts,
            maxconn,
            sentinel_check_interval: inter,
            ignored: std::mem::take(&mut self.ignored),
            warnings: std::mem::take(&mut self.warnings),
        })
    }
}

fn split_cred(c: Option<Cred>) -> (Option<String>, Option<String>) {
    match c {
        Some(c) => (c.user, Some(c.pass)),
        None => (None, None),
    }
}

fn push_unique(list: &mut Vec<HostPort>, hp: &HostPort) {
    if !list
        .iter()
        .any(|x| x.port == hp.port && x.host.eq_ignore_ascii_case(&hp.host))
    {
        list.push(hp.clone());
    }
}

/// Applies `setenv`, `presetenv`, `unsetenv` and `resetenv` from `global`.
fn apply_env_directive(env: &mut Env<'_>, line: &Line) {
    match line.w(0) {
        "setenv" if line.words.len() >= 3 => {
            env.overlay
                .insert(line.w(1).to_string(), Some(line.w(2).to_string()));
        }
        "presetenv" if line.words.len() >= 3 && env.get(line.w(1)).is_none() => {
            env.overlay
                .insert(line.w(1).to_string(), Some(line.w(2).to_string()));
        }
        "unsetenv" => {
            for name in line.words.iter().skip(1) {
                env.overlay.insert(name.clone(), None);
            }
        }
        "resetenv" => {
            let keep: Vec<String> = line.words.iter().skip(1).cloned().collect();
            env.overlay.retain(|k, _| keep.contains(k));
            env.keep = Some(keep);
        }
        _ => {}
    }
}

/// Roles a section plays, from its kind, name and content.
fn classify(s: &Section) -> Roles {
    let has = |pred: &dyn Fn(&Line) -> bool| s.lines.iter().any(pred);
    let points_to = |backend: &str| {
        has(&|l: &Line| matches!(l.w(0), "use_backend" | "default_backend") && l.w(1) == backend)
    };
    let mut r = Roles::default();
    match s.kind {
        Kind::Global => r.global = true,
        Kind::Defaults => r.defaults = true,
        Kind::Other => {}
        Kind::Frontend | Kind::Backend | Kind::Listen => {
            if s.is_front() {
                r.master_front = s.name == "ft_redis_master" || points_to("bk_redis_master");
                r.replica_front = s.name == "ft_redis_slave" || points_to("bk_redis_slave");
                r.health = has(&|l: &Line| l.w(0) == "monitor-uri");
                r.metrics = has(&|l: &Line| {
                    l.w(0) == "http-request"
                        && l.w(1) == "use-service"
                        && l.w(2) == "prometheus-exporter"
                });
            }
            if s.is_back() {
                r.master_back = s.name == "bk_redis_master";
                r.replica_back = s.name == "bk_redis_slave";
                r.sentinel_check = s.name.starts_with("check_if_redis_is_master_")
                    || has(&|l: &Line| {
                        l.w(0) == "tcp-check"
                            && l.w(1).starts_with("send")
                            && l.w(2)
                                .to_ascii_lowercase()
                                .contains("get-master-addr-by-name")
                    });
            }
        }
    }
    r
}

/// The directive's keyword(s), without values (values may be secrets).
fn keyword_of(line: &Line) -> String {
    let w0 = line.w(0);
    let two = [
        "option",
        "timeout",
        "tcp-check",
        "http-check",
        "http-request",
        "http-response",
        "http-after-response",
        "tcp-request",
        "tcp-response",
        "stats",
        "balance",
        "hash-type",
        "mode",
    ];
    if (w0 == "no" || w0 == "default") && line.w(1) == "option" && !line.w(2).is_empty() {
        format!("{w0} option {}", shown_word(line, 2))
    } else if two.contains(&w0) && !line.w(1).is_empty() {
        format!("{w0} {}", shown_word(line, 1))
    } else {
        shown_word(line, 0)
    }
}

/// Word `i` of a line for display: what a variable expanded to is never shown
/// (it may be a secret), `${...}` stands for it.
fn shown_word(line: &Line, i: usize) -> String {
    match line.raw_words.get(i) {
        Some(w) if w.segs.iter().any(|s| matches!(s, Seg::Var(_))) => {
            let mut out = String::new();
            for s in &w.segs {
                match s {
                    Seg::Lit(v) => out.push_str(&String::from_utf8_lossy(v)),
                    Seg::Var(_) => out.push_str("${...}"),
                }
            }
            out
        }
        _ => line.w(i).to_string(),
    }
}

/// True when the word is `AUTH ${VAR}` (any case) optionally followed by a
/// line ending: the whole variable is then the password.
fn single_var_auth(w: &Word) -> bool {
    let mut segs: Vec<&Seg> = w.segs.iter().collect();
    if let Some(Seg::Lit(v)) = segs.last() {
        if v.as_slice() == b"\r\n" || v.as_slice() == b"\n" {
            segs.pop();
        }
    }
    matches!(segs.as_slice(), [Seg::Lit(a), Seg::Var(_)] if a.eq_ignore_ascii_case(b"AUTH "))
}

fn starts_with_ci(data: &[u8], prefix: &[u8]) -> bool {
    data.len() >= prefix.len() && data[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn trim_crlf(mut v: &[u8]) -> &[u8] {
    // Only the first command line counts.
    if let Some(p) = v.iter().position(|b| *b == b'\n') {
        v = &v[..p];
    }
    if v.last() == Some(&b'\r') {
        v = &v[..v.len() - 1];
    }
    v
}

fn hex_decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks(2)
        .map(|c| {
            let h = (c[0] as char).to_digit(16)?;
            let l = (c[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

/// Splits the first command in `data` into arguments the way Redis reads it:
/// a RESP array (`*2\r\n$4\r\nAUTH\r\n...`) or an inline command line with
/// Redis' quoting rules (`sdssplitargs`). `None` if it cannot be parsed.
fn split_redis_command(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    if data.first() == Some(&b'*') {
        return parse_resp_array(data);
    }
    split_inline(trim_crlf(data))
}

fn parse_resp_array(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    fn read_line(d: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
        let rest = d.get(*pos..)?;
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        let l = rest[..end].to_vec();
        *pos += end + 2;
        Some(l)
    }
    let mut pos = 1;
    let n: usize = std::str::from_utf8(&read_line(data, &mut pos)?)
        .ok()?
        .parse()
        .ok()?;
    if n > 64 {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let hdr = read_line(data, &mut pos)?;
        let len: usize = std::str::from_utf8(hdr.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        let bytes = data.get(pos..pos.checked_add(len)?)?.to_vec();
        pos += len;
        if data.get(pos..pos + 2)? != b"\r\n" {
            return None;
        }
        pos += 2;
        out.push(bytes);
    }
    Some(out)
}

/// Redis' `sdssplitargs`.
fn split_inline(s: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16);
    loop {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= s.len() {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        loop {
            let c = s.get(i).copied();
            if inq {
                match c {
                    None => return None,
                    Some(b'\\') if s.get(i + 1) == Some(&b'x') => {
                        match (
                            s.get(i + 2).and_then(|b| hex(*b)),
                            s.get(i + 3).and_then(|b| hex(*b)),
                        ) {
                            (Some(h), Some(l)) => {
                                cur.push((h * 16 + l) as u8);
                                i += 3;
                            }
                            _ => {
                                cur.push(b'\\');
                            }
                        }
                    }
                    Some(b'\\') if i + 1 < s.len() => {
                        i += 1;
                        cur.push(match s[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if s.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => cur.push(b),
                }
            } else if insq {
                match c {
                    None => return None,
                    Some(b'\\') if s.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        cur.push(b'\'');
                    }
                    Some(b'\'') => {
                        if s.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => cur.push(b),
                }
            } else {
                match c {
                    None => break,
                    Some(b) if b.is_ascii_whitespace() => break,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(b) => cur.push(b),
                }
            }
            i += 1;
        }
        out.push(cur);
        if out.len() > 64 {
            return None;
        }
    }
}

const SERVER_VALUE_KEYWORDS: &[&str] = &[
    "agent-addr",
    "agent-inter",
    "agent-port",
    "agent-send",
    "alpn",
    "ca-file",
    "check-alpn",
    "check-proto",
    "check-sni",
    "ciphers",
    "ciphersuites",
    "client-sigalgs",
    "cookie",
    "crl-file",
    "crt",
    "curves",
    "downinter",
    "error-limit",
    "fall",
    "fastinter",
    "guid",
    "hash-key",
    "id",
    "init-addr",
    "init-state",
    "interface",
    "log-bufsize",
    "log-proto",
    "max-reuse",
    "maxconn",
    "maxqueue",
    "minconn",
    "namespace",
    "npn",
    "observe",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "pool-conn-name",
    "pool-low-conn",
    "pool-max-conn",
    "pool-purge-delay",
    "proto",
    "redir",
    "resolve-net",
    "resolve-opts",
    "resolve-prefer",
    "resolvers",
    "rise",
    "set-proxy-v2-tlv-fmt",
    "shard",
    "sigalgs",
    "slowstart",
    "sni",
    "socks4",
    "source",
    "ssl-max-ver",
    "ssl-min-ver",
    "tcp-ut",
    "track",
    "usesrc",
    "verify",
    "verifyhost",
    "weight",
    "ws",
];

fn is_tls_bind_option(o: &str) -> bool {
    const EXACT: &[&str] = &[
        "ssl",
        "crt",
        "crt-list",
        "ciphers",
        "ciphersuites",
        "curves",
        "ecdhe",
        "sigalgs",
        "client-sigalgs",
        "alpn",
        "npn",
        "verify",
        "strict-sni",
        "generate-certificates",
        "prefer-client-ciphers",
        "allow-0rtt",
        "crl-file",
        "ocsp-update",
    ];
    EXACT.contains(&o)
        || [
            "ssl-",
            "tls-",
            "no-ssl",
            "no-tls",
            "force-ssl",
            "force-tls",
            "ca-",
            "crt-",
            "quic",
        ]
        .iter()
        .any(|p| o.starts_with(p))
        || o == "no-ca-names"
}

/// Address prefixes HAProxy accepts; `Some(Some(v6))` forces a family,
/// `Some(None)` is a plain TCP prefix, `None` = not a TCP address.
fn strip_family(spec: &str) -> Result<(&str, Option<bool>), String> {
    if let Some((prefix, rest)) = spec.split_once('@') {
        return match prefix {
            "ipv4" | "tcp4" => Ok((rest, Some(false))),
            "ipv6" | "tcp6" => Ok((rest, Some(true))),
            "tcp" => Ok((rest, None)),
            _ => Err(format!(
                "'{prefix}@' addresses are not supported: sentinel-proxy serves TCP on IP addresses only"
            )),
        };
    }
    if spec.starts_with('/') {
        return Err("unix sockets are not supported: use an IP address and port".to_string());
    }
    Ok((spec, None))
}

fn parse_port_range(p: &str) -> Result<Vec<u16>, String> {
    let one = |s: &str| match s.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "port '{s}' is not valid: expected a number from 1 to 65535"
        )),
    };
    let (a, b) = match p.split_once('-') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => {
            let a = one(p)?;
            (a, a)
        }
    };
    if b < a || usize::from(b - a) >= 1024 {
        return Err(format!("port range '{p}' is not valid or too large"));
    }
    Ok((a..=b).collect())
}

/// `[::]:6379`, `:6379`, `*:6379`, `10.0.0.1:6379`, `ipv6@:6379`, lists
/// separated by commas, and port ranges `6379-6380`.
fn parse_bind_addrs(spec: &str) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        if part.is_empty() {
            return Err("empty address in list".to_string());
        }
        let (rest, v6) = strip_family(part)?;
        let (host, ports) = if let Some(r) = rest.strip_prefix('[') {
            let (h, after) = r
                .split_once(']')
                .ok_or_else(|| "missing ']' after IPv6 address".to_string())?;
            let p = after
                .strip_prefix(':')
                .ok_or_else(|| "missing ':<port>' after ']'".to_string())?;
            (h, p)
        } else {
            rest.rsplit_once(':')
                .ok_or_else(|| "missing port: write [::]:6379, :6379 or <ip>:6379".to_string())?
        };
        let ip: IpAddr = match host {
            "" | "*" => {
                if v6 == Some(true) {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                } else {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                }
            }
            h => h.parse().map_err(|_| {
                format!("'{h}' is not an IP address (host names are not supported in bind lines)")
            })?,
        };
        match (v6, ip) {
            (Some(true), IpAddr::V4(_)) | (Some(false), IpAddr::V6(_)) => {
                return Err(format!("address family prefix does not match '{host}'"))
            }
            _ => {}
        }
        for port in parse_port_range(ports)? {
            out.push(SocketAddr::new(ip, port));
        }
        if out.len() > 1024 {
            return Err("too many addresses".to_string());
        }
    }
    Ok(out)
}

/// `host:port`, `[v6]:port`, `v6:port` (last colon), optional `ipv4@`-style prefix.
/// The port may be absent (`None`) when a check `port` supplies it.
fn parse_server_addr(spec: &str) -> Result<(String, Option<u16>), String> {
    let (rest, _) = strip_family(spec)?;
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r
            .split_once(']')
            .ok_or_else(|| format!("'{spec}': missing ']' after IPv6 address"))?;
        match after {
            "" => (h, None),
            a => (
                h,
                Some(
                    a.strip_prefix(':')
                        .ok_or_else(|| format!("'{spec}': expected ':<port>' after ']'"))?,
                ),
            ),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(format!(
            "'{spec}' has no host (an unset environment variable?): expected <host>:<port>"
        ));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("'{spec}' is not a valid host name"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.starts_with('+') || p.starts_with('-') => {
            return Err(format!(
                "'{spec}': port offsets are not supported, give the port number"
            ))
        }
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(format!(
                    "'{spec}': port '{p}' is not valid (expected a number from 1 to 65535)"
                ))
            }
        },
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Current chart (DandyDeveloper/charts redis-ha 4.3x, `config-haproxy.cfg`)
    /// rendered by hand for release `prod`, replicas 3, auth=true,
    /// sentinel.auth=true, haproxy.readOnly.enabled=true,
    /// haproxy.metrics.enabled=true, haproxy.stickyBalancing=true, IPv6 on
    /// (default), after haproxy_init.sh replaced REPLACE_ANNOUNCE<N>.
    /// The redis-ha chart's haproxy.cfg, rendered with every option on (also used by compat's
    /// tests).
    pub(crate) const CHART_FULL: &str = r#"defaults REDIS
  mode tcp
  timeout connect 4s
  timeout server 330s
  timeout client 330s
  timeout check 2s

listen health_check_http_url
  bind [::]:8888  v4v6
  mode http
  monitor-uri /healthz
  option      dontlognull
# Check Sentinel and whether they are nominated master
backend check_if_redis_is_master_0
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send "AUTH ${SENTINELAUTH}"\r\n
  tcp-check expect string +OK
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send SENTINEL\ get-master-addr-by-name\ mymaster\r\n
  tcp-check expect string 10.43.0.10
  tcp-check send QUIT\r\n
  server R0 prod-redis-ha-announce-0:26379 check inter 1s
  server R1 prod-redis-ha-announce-1:26379 check inter 1s
  server R2 prod-redis-ha-announce-2:26379 check inter 1s
# Check Sentinel and whether they are nominated master
backend check_if_redis_is_master_1
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send "AUTH ${SENTINELAUTH}"\r\n
  tcp-check expect string +OK
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send SENTINEL\ get-master-addr-by-name\ mymaster\r\n
  tcp-check expect string 10.43.0.11
  tcp-check send QUIT\r\n
  server R0 prod-redis-ha-announce-0:26379 check inter 1s
  server R1 prod-redis-ha-announce-1:26379 check inter 1s
  server R2 prod-redis-ha-announce-2:26379 check inter 1s
# Check Sentinel and whether they are nominated master
backend check_if_redis_is_master_2
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send "AUTH ${SENTINELAUTH}"\r\n
  tcp-check expect string +OK
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send SENTINEL\ get-master-addr-by-name\ mymaster\r\n
  tcp-check expect string 10.43.0.12
  tcp-check send QUIT\r\n
  server R0 prod-redis-ha-announce-0:26379 check inter 1s
  server R1 prod-redis-ha-announce-1:26379 check inter 1s
  server R2 prod-redis-ha-announce-2:26379 check inter 1s

# decide redis backend to use
#master
frontend ft_redis_master
  bind [::]:6379 v4v6
  use_backend bk_redis_master
#slave
frontend ft_redis_slave
  bind [::]:6380 v4v6
  use_backend bk_redis_slave
# Check all redis servers to see if they think they are master
backend bk_redis_master
  balance source
  hash-type consistent
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send "AUTH ${AUTH}"\r\n
  tcp-check expect string +OK
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send info\ replication\r\n
  tcp-check expect string role:master
  tcp-check send QUIT\r\n
  tcp-check expect string +OK
  use-server R0 if { srv_is_up(R0) } { nbsrv(check_if_redis_is_master_0) ge 2 }
  server R0 prod-redis-ha-announce-0:6379 check inter 1s fall 1 rise 1
  use-server R1 if { srv_is_up(R1) } { nbsrv(check_if_redis_is_master_1) ge 2 }
  server R1 prod-redis-ha-announce-1:6379 check inter 1s fall 1 rise 1
  use-server R2 if { srv_is_up(R2) } { nbsrv(check_if_redis_is_master_2) ge 2 }
  server R2 prod-redis-ha-announce-2:6379 check inter 1s fall 1 rise 1
backend bk_redis_slave
  balance source
  hash-type consistent
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send "AUTH ${AUTH}"\r\n
  tcp-check expect string +OK
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send info\ replication\r\n
  tcp-check expect  string role:slave
  tcp-check send QUIT\r\n
  tcp-check expect string +OK
  server R0 prod-redis-ha-announce-0:6379 check inter 1s fall 1 rise 1
  server R1 prod-redis-ha-announce-1:6379 check inter 1s fall 1 rise 1
  server R2 prod-redis-ha-announce-2:6379 check inter 1s fall 1 rise 1
frontend stats
  mode http
  bind [::]:9101 v4v6
  http-request use-service prometheus-exporter if { path /metrics }
  stats enable
  stats uri /stats
  stats refresh 10s
"#;

    /// The haproxy.cfg that Argo CD ships (argoproj/argo-cd
    /// manifests/ha/base/redis-ha/chart/upstream.yaml, chart redis-ha-4.33.2:
    /// IPv6 off, auth on, sentinel auth off, metrics on, checkInterval 3s,
    /// timeouts server/client 6m, extraConfig `global / maxconn 4096`), after
    /// the init container. Note the trailing blanks on the bind lines.
    const CHART_ARGOCD: &str = "defaults REDIS
  mode tcp
  timeout connect 4s
  timeout server 6m
  timeout client 6m
  timeout check 2s

listen health_check_http_url
  bind :8888  \n  mode http
  monitor-uri /healthz
  option      dontlognull
# Check Sentinel and whether they are nominated master
backend check_if_redis_is_master_0
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send PING\\r\\n
  tcp-check expect string +PONG
  tcp-check send SENTINEL\\ get-master-addr-by-name\\ argocd\\r\\n
  tcp-check expect string 10.96.10.1
  tcp-check send QUIT\\r\\n
  server R0 argocd-redis-ha-announce-0:26379 check inter 3s
  server R1 argocd-redis-ha-announce-1:26379 check inter 3s
  server R2 argocd-redis-ha-announce-2:26379 check inter 3s
# Check Sentinel and whether they are nominated master
backend check_if_redis_is_master_1
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send PING\\r\\n
  tcp-check expect string +PONG
  tcp-check send SENTINEL\\ get-master-addr-by-name\\ argocd\\r\\n
  tcp-check expect string 10.96.10.2
  tcp-check send QUIT\\r\\n
  server R0 argocd-redis-ha-announce-0:26379 check inter 3s
  server R1 argocd-redis-ha-announce-1:26379 check inter 3s
  server R2 argocd-redis-ha-announce-2:26379 check inter 3s
# Check Sentinel and whether they are nominated master
backend check_if_redis_is_master_2
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send PING\\r\\n
  tcp-check expect string +PONG
  tcp-check send SENTINEL\\ get-master-addr-by-name\\ argocd\\r\\n
  tcp-check expect string 10.96.10.3
  tcp-check send QUIT\\r\\n
  server R0 argocd-redis-ha-announce-0:26379 check inter 3s
  server R1 argocd-redis-ha-announce-1:26379 check inter 3s
  server R2 argocd-redis-ha-announce-2:26379 check inter 3s

# decide redis backend to use
#master
frontend ft_redis_master
  bind :6379 \n  use_backend bk_redis_master
# Check all redis servers to see if they think they are master
backend bk_redis_master
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send \"AUTH ${AUTH}\"\\r\\n
  tcp-check expect string +OK
  tcp-check send PING\\r\\n
  tcp-check expect string +PONG
  tcp-check send info\\ replication\\r\\n
  tcp-check expect string role:master
  tcp-check send QUIT\\r\\n
  tcp-check expect string +OK
  use-server R0 if { srv_is_up(R0) } { nbsrv(check_if_redis_is_master_0) ge 2 }
  server R0 argocd-redis-ha-announce-0:6379 check inter 3s fall 1 rise 1
  use-server R1 if { srv_is_up(R1) } { nbsrv(check_if_redis_is_master_1) ge 2 }
  server R1 argocd-redis-ha-announce-1:6379 check inter 3s fall 1 rise 1
  use-server R2 if { srv_is_up(R2) } { nbsrv(check_if_redis_is_master_2) ge 2 }
  server R2 argocd-redis-ha-announce-2:6379 check inter 3s fall 1 rise 1
frontend stats
  mode http
  bind :9101 \n  http-request use-service prometheus-exporter if { path /metrics }
  stats enable
  stats uri /stats
  stats refresh 10s
# Additional configuration
global
  maxconn 4096

";

    /// An older chart (4.x before IPv6/TLS support) rendered for release
    /// `cache`, auth=true, readOnly on, metrics on: `bind *:<port>`,
    /// `frontend metrics` with `option http-use-htx`, and the password written
    /// into the file by haproxy_init.sh (`sed s/REPLACE_AUTH_SECRET/$AUTH/`).
    const CHART_OLD: &str = r#"defaults REDIS
  mode tcp
  timeout connect 4s
  timeout server 330s
  timeout client 330s
  timeout check 2s

listen health_check_http_url
  bind :8888
  mode http
  monitor-uri /healthz
  option      dontlognull
# Check Sentinel and whether they are nominated master
backend check_if_redis_is_master_0
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send SENTINEL\ get-master-addr-by-name\ mymaster\r\n
  tcp-check expect string 10.0.0.20
  tcp-check send QUIT\r\n
  tcp-check expect string +OK
  server R0 cache-redis-ha-announce-0:26379 check inter 1s
  server R1 cache-redis-ha-announce-1:26379 check inter 1s
# Check Sentinel and whether they are nominated master
backend check_if_redis_is_master_1
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send SENTINEL\ get-master-addr-by-name\ mymaster\r\n
  tcp-check expect string 10.0.0.21
  tcp-check send QUIT\r\n
  tcp-check expect string +OK
  server R0 cache-redis-ha-announce-0:26379 check inter 1s
  server R1 cache-redis-ha-announce-1:26379 check inter 1s

# decide redis backend to use
#master
frontend ft_redis_master
  bind *:6379
  use_backend bk_redis_master
#slave
frontend ft_redis_slave
  bind *:6380
  use_backend bk_redis_slave
# Check all redis servers to see if they think they are master
backend bk_redis_master
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send AUTH\ p4ss\#w0rd\r\n
  tcp-check expect string +OK
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send info\ replication\r\n
  tcp-check expect string role:master
  tcp-check send QUIT\r\n
  tcp-check expect string +OK
  use-server R0 if { srv_is_up(R0) } { nbsrv(check_if_redis_is_master_0) ge 2 }
  server R0 cache-redis-ha-announce-0:6379 check inter 1s fall 1 rise 1
  use-server R1 if { srv_is_up(R1) } { nbsrv(check_if_redis_is_master_1) ge 2 }
  server R1 cache-redis-ha-announce-1:6379 check inter 1s fall 1 rise 1
backend bk_redis_slave
  mode tcp
  option tcp-check
  tcp-check connect
  tcp-check send AUTH\ p4ss\#w0rd\r\n
  tcp-check expect string +OK
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send info\ replication\r\n
  tcp-check expect  string role:slave
  tcp-check send QUIT\r\n
  tcp-check expect string +OK
  server R0 cache-redis-ha-announce-0:6379 check inter 1s fall 1 rise 1
  server R1 cache-redis-ha-announce-1:6379 check inter 1s fall 1 rise 1
frontend metrics
  mode http
  bind *:9101
  option http-use-htx
  http-request use-service prometheus-exporter if { path /metrics }
"#;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn hp(h: &str, p: u16) -> HostPort {
        HostPort::new(h, p)
    }

    fn bind(s: &str, dual: bool) -> Bind {
        Bind {
            addr: s.parse().unwrap(),
            dual_stack: dual,
            v6only: false,
        }
    }

    /// 1-based line number of the `nth` (0-based) line equal to `needle` after trimming.
    fn line_of(text: &str, needle: &str, nth: usize) -> usize {
        text.split('\n')
            .enumerate()
            .filter(|(_, l)| l.trim() == needle)
            .nth(nth)
            .map(|(i, _)| i + 1)
            .unwrap_or_else(|| panic!("{needle:?} #{nth} not in fixture"))
    }

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    fn chart_timeouts() -> Timeouts {
        Timeouts {
            connect: secs(4),
            client: secs(330),
            server: secs(330),
            check: secs(2),
            tunnel: None,
        }
    }

    fn nodes(prefix: &str, n: usize, port: u16) -> Vec<HostPort> {
        (0..n)
            .map(|i| hp(&format!("{prefix}-redis-ha-announce-{i}"), port))
            .collect()
    }

    /// A minimal valid config for focused tests; `extra` goes at the end.
    fn minimal(extra: &str) -> String {
        format!(
            "defaults\n  timeout connect 4s\nbackend check_if_redis_is_master_0\n  \
             tcp-check send SENTINEL\\ get-master-addr-by-name\\ mymaster\\r\\n\n  \
             server R0 s0:26379 check\nfrontend ft_redis_master\n  bind :6379\n  \
             use_backend bk_redis_master\nbackend bk_redis_master\n  server R0 r0:6379 check\n{extra}"
        )
    }

    #[test]
    fn current_chart_full_render() {
        let env = env_of(&[("AUTH", "redis-pw"), ("SENTINELAUTH", "sentinel-pw")]);
        let cfg = parse(CHART_FULL, &env).unwrap();
        let t = CHART_FULL;
        let expected = HaproxyConfig {
            sentinels: nodes("prod", 3, 26379),
            master_name: "mymaster".into(),
            sentinel_username: None,
            sentinel_password: Some("sentinel-pw".into()),
            redis_username: None,
            redis_password: Some("redis-pw".into()),
            nodes: nodes("prod", 3, 6379),
            master_bind: vec![bind("[::]:6379", true)],
            replica_bind: vec![bind("[::]:6380", true)],
            metrics_bind: vec![bind("[::]:9101", true)],
            metrics_path: Some("/metrics".into()),
            health_bind: vec![bind("[::]:8888", true)],
            health_uri: Some("/healthz".into()),
            timeouts: chart_timeouts(),
            maxconn: None,
            sentinel_check_interval: secs(1),
            ignored: vec![
                (
                    line_of(t, "balance source", 1),
                    "balance source (in backend bk_redis_slave)".into(),
                ),
                (
                    line_of(t, "hash-type consistent", 1),
                    "hash-type consistent (in backend bk_redis_slave)".into(),
                ),
                (
                    line_of(t, "stats enable", 0),
                    "stats enable (in frontend stats)".into(),
                ),
                (
                    line_of(t, "stats uri /stats", 0),
                    "stats uri (in frontend stats)".into(),
                ),
                (
                    line_of(t, "stats refresh 10s", 0),
                    "stats refresh (in frontend stats)".into(),
                ),
            ],
            warnings: vec![],
        };
        assert_eq!(cfg, expected);
    }

    #[test]
    fn argocd_render() {
        assert!(
            CHART_ARGOCD.contains("bind :8888  \n"),
            "fixture lost its trailing blanks"
        );
        let cfg = parse(CHART_ARGOCD, &env_of(&[("AUTH", "argo-pw")])).unwrap();
        let t = CHART_ARGOCD;
        let expected = HaproxyConfig {
            sentinels: nodes("argocd", 3, 26379),
            master_name: "argocd".into(),
            sentinel_username: None,
            sentinel_password: None,
            redis_username: None,
            redis_password: Some("argo-pw".into()),
            nodes: nodes("argocd", 3, 6379),
            master_bind: vec![bind("0.0.0.0:6379", false)],
            replica_bind: vec![],
            metrics_bind: vec![bind("0.0.0.0:9101", false)],
            metrics_path: Some("/metrics".into()),
            health_bind: vec![bind("0.0.0.0:8888", false)],
            health_uri: Some("/healthz".into()),
            timeouts: Timeouts {
                connect: secs(4),
                client: secs(360),
                server: secs(360),
                check: secs(2),
                tunnel: None,
            },
            maxconn: Some(4096),
            sentinel_check_interval: secs(3),
            ignored: vec![
                (
                    line_of(t, "stats enable", 0),
                    "stats enable (in frontend stats)".into(),
                ),
                (
                    line_of(t, "stats uri /stats", 0),
                    "stats uri (in frontend stats)".into(),
                ),
                (
                    line_of(t, "stats refresh 10s", 0),
                    "stats refresh (in frontend stats)".into(),
                ),
            ],
            warnings: vec![],
        };
        assert_eq!(cfg, expected);
    }

    #[test]
    fn old_chart_render_with_literal_password() {
        let cfg = parse(CHART_OLD, &no_env).unwrap();
        let expected = HaproxyConfig {
            sentinels: nodes("cache", 2, 26379),
            master_name: "mymaster".into(),
            sentinel_username: None,
            sentinel_password: None,
            redis_username: None,
            redis_password: Some("p4ss#w0rd".into()),
            nodes: nodes("cache", 2, 6379),
            master_bind: vec![bind("0.0.0.0:6379", false)],
            replica_bind: vec![bind("0.0.0.0:6380", false)],
            metrics_bind: vec![bind("0.0.0.0:9101", false)],
            metrics_path: Some("/metrics".into()),
            health_bind: vec![bind("0.0.0.0:8888", false)],
            health_uri: Some("/healthz".into()),
            timeouts: chart_timeouts(),
            maxconn: None,
            sentinel_check_interval: secs(1),
            ignored: vec![],
            warnings: vec![],
        };
        assert_eq!(cfg, expected);
    }

    #[test]
    fn chart_tls_render_is_rejected_naming_the_line() {
        // haproxy.tls.enabled=true renders an `ssl crt` bind and a blank-ish line.
        let text = CHART_FULL.replace(
            "  bind [::]:6379 v4v6\n",
            "  bind [::]:6379 ssl crt /tmp/redis.pem v4v6\n      \n",
        );
        let e = parse(&text, &no_env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert_eq!(
            e.line,
            line_of(&text, "bind [::]:6379 ssl crt /tmp/redis.pem v4v6", 0)
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("haproxy.cfg line {}: ", e.line)),
            "{msg}"
        );
        assert!(msg.contains("TLS"), "{msg}");
    }

    #[test]
    fn unset_auth_variable_means_no_password_and_a_warning() {
        let cfg = parse(CHART_FULL, &env_of(&[("SENTINELAUTH", "s")])).unwrap();
        assert_eq!(cfg.redis_password, None);
        assert_eq!(cfg.sentinel_password.as_deref(), Some("s"));
        let auth_line = line_of(CHART_FULL, r#"tcp-check send "AUTH ${AUTH}"\r\n"#, 0);
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        assert!(cfg.warnings[0].starts_with(&format!("haproxy.cfg line {auth_line}: ")));
        assert!(cfg.warnings[0].contains("empty"));
        // Set but empty behaves the same.
        let cfg = parse(CHART_FULL, &env_of(&[("AUTH", ""), ("SENTINELAUTH", "s")])).unwrap();
        assert_eq!(cfg.redis_password, None);
    }

    #[test]
    fn env_expansion_forms() {
        let env = env_of(&[
            ("PW", "a b\"c"),
            ("NAME", "mm"),
            ("HOSTS", "h1:26379 h2:26379"),
            ("H", "sx"),
        ]);
        // Quoted variable: the value is the password verbatim (spaces, quotes).
        let text = minimal("").replace(
            "  server R0 r0:6379 check\n",
            "  server R0 r0:6379 check\n  tcp-check send \"AUTH ${PW}\"\\r\\n\n",
        );
        let cfg = parse(&text, &env).unwrap();
        assert_eq!(cfg.redis_password.as_deref(), Some("a b\"c"));
        assert_eq!(cfg.redis_username, None);

        // $NAME form, default values, escaped dollar, single quotes.
        let text = "backend check_if_redis_is_master_0\n  \
            tcp-check send \"SENTINEL get-master-addr-by-name $NAME\"\\r\\n\n  \
            server R0 \"${UNSET-fallback}:26379\"\n  \
            server R1 \"${H-unused}:26379\"\n  \
            server R2 '${H}:26379'\n\
            frontend ft_redis_master\n  bind \":${PORT-6379}\"\n";
        let cfg = parse(text, &env).unwrap();
        assert_eq!(cfg.master_name, "mm");
        assert_eq!(
            cfg.sentinels,
            vec![hp("fallback", 26379), hp("sx", 26379), hp("${H}", 26379)]
        );
        assert_eq!(cfg.master_bind, vec![bind("0.0.0.0:6379", false)]);

        // Unquoted ${VAR} is expanded (unlike HAProxy) with a warning.
        let text = minimal("").replace("server R0 s0:26379", "server R0 ${H}:26379");
        let cfg = parse(&text, &env).unwrap();
        assert_eq!(cfg.sentinels, vec![hp("sx", 26379)]);
        assert!(cfg
            .warnings
            .iter()
            .any(|w| w.contains("outside double quotes")));

        // ${VAR[*]} splits into words; escaped \$ stays literal.
        let env2 = env_of(&[("X", "A B")]);
        let t = tokenize(
            "w \"${X[*]}\" \"\\$X\" $X",
            &Env {
                base: &env2,
                overlay: HashMap::new(),
                keep: None,
                expanded: Default::default(),
            },
        );
        let words: Vec<String> = t
            .words
            .iter()
            .map(|w| String::from_utf8(w.bytes()).unwrap())
            .collect();
        assert_eq!(words, ["w", "A", "B", "$X", "$X"]);
        assert!(t.problem.is_none());
    }

    #[test]
    fn tokenizer_quoting_and_escapes() {
        let env = Env {
            base: &no_env,
            overlay: HashMap::new(),
            keep: None,
            expanded: Default::default(),
        };
        let words = |s: &str| -> (Vec<String>, Option<String>) {
            let t = tokenize(s, &env);
            (
                t.words
                    .iter()
                    .map(|w| String::from_utf8_lossy(&w.bytes()).into_owned())
                    .collect(),
                t.problem,
            )
        };
        assert_eq!(words("  a\tb   # comment").0, ["a", "b"]);
        assert_eq!(words(r"a\ b\#c \\ \x41\r\n").0, ["a b#c", "\\", "A\r\n"]);
        assert_eq!(
            words(r#"x"q # not comment"y 'p $q \n' "#).0,
            ["xq # not commenty", r"p $q \n"]
        );
        assert_eq!(words(r#"a "" b"#).0, ["a", "", "b"]);
        assert_eq!(words("a\rb c").0, ["a"]);
        assert_eq!(words("a\0b").0, ["a"]);
        assert_eq!(words(r"\1 \q").0, [r"\1", r"\q"]);
        assert!(words("a \"open")
            .1
            .unwrap()
            .contains("unmatched double quote"));
        assert!(words("a 'open").1.unwrap().contains("single"));
        assert!(words(r"\xZZ").1.is_some());
        assert!(words(r#""$1""#).1.unwrap().contains("variable name"));
        assert!(words(r#""${A""#).1.unwrap().contains("brace"));
        assert!(words(r#""${A[x]}""#).1.is_some());
    }

    #[test]
    fn missing_sections_are_errors_with_line_numbers() {
        // No frontend at all: reported at the last line.
        let text = "defaults\n  mode tcp\nbackend check_if_redis_is_master_0\n  \
                    tcp-check send SENTINEL\\ get-master-addr-by-name\\ m\\r\\n\n  \
                    server R0 s:26379\n";
        let e = parse(text, &no_env).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::Missing, 5));
        assert!(e.to_string().contains("ft_redis_master"));
        assert!(e
            .to_string()
            .contains("does not look like the redis-ha chart"));

        // No Sentinel backends.
        let text = "frontend ft_redis_master\n  bind :6379\n";
        let e = parse(text, &no_env).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::Missing, 2));
        assert!(e.to_string().contains("check_if_redis_is_master"), "{e}");

        // A check backend without servers: reported at its header.
        let text = "backend check_if_redis_is_master_0\n  \
                    tcp-check send SENTINEL\\ get-master-addr-by-name\\ m\\r\\n\n\
                    frontend ft_redis_master\n  bind :6379\n";
        let e = parse(text, &no_env).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::Missing, 1));
        assert!(e.to_string().contains("no Sentinels"), "{e}");

        // No master name.
        let text = "backend check_if_redis_is_master_0\n  server R0 s:26379\n\
                    frontend ft_redis_master\n  bind :6379\n";
        let e = parse(text, &no_env).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::Missing, 1));
        assert!(e.to_string().contains("get-master-addr-by-name"), "{e}");

        // ft_redis_master without bind.
        let text = minimal("").replace("  bind :6379\n", "");
        let e = parse(&text, &no_env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Missing);
        assert_eq!(e.line, line_of(&text, "frontend ft_redis_master", 0));

        // Empty input.
        let e = parse("", &no_env).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::Missing, 1));
    }

    #[test]
    fn time_syntax() {
        let ok = [
            ("4s", Duration::from_secs(4)),
            ("330s", Duration::from_secs(330)),
            ("1h", Duration::from_secs(3600)),
            ("500ms", Duration::from_millis(500)),
            ("1m", Duration::from_secs(60)),
            ("2000", Duration::from_millis(2000)),
            ("0", Duration::ZERO),
            ("250us", Duration::from_micros(250)),
            ("1d", Duration::from_secs(86_400)),
            ("24d", Duration::from_secs(24 * 86_400)),
        ];
        for (s, d) in ok {
            assert_eq!(parse_time(s), Ok(d), "{s}");
        }
        for bad in [
            "",
            "s",
            "1.5s",
            "4S",
            "-1s",
            "4 s",
            "4sec",
            "25d",
            "99999999999999999999",
            "1x",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_time("4sec").unwrap_err().contains("e.g. 4s"));
        assert!(parse_time("25d").unwrap_err().contains("2147483647"));

        let text = minimal("").replace("timeout connect 4s", "timeout connect 4sec");
        let e = parse(&text, &no_env).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::Invalid, 2));
        assert!(e.to_string().contains("timeout connect"), "{e}");
    }

    #[test]
    fn timeouts_overrides_named_defaults_and_maxconn() {
        let text = "global\n  maxconn 4096\n\
            defaults base\n  timeout connect 1s\n  timeout tunnel 1h\n  maxconn 100\n\
            defaults REDIS from base\n  timeout client 330s\n  timeout server 330s\n  timeout check 2s\n\
            defaults other\n  timeout client 1s\n\
            backend check_if_redis_is_master_0\n  \
              tcp-check send SENTINEL\\ get-master-addr-by-name\\ m\\r\\n\n  server R0 s:26379\n\
            frontend ft_redis_master from REDIS\n  bind :6379\n  maxconn 5000\n\
            backend bk_redis_master from REDIS\n  timeout server 10m\n  server R0 r:6379\n";
        let cfg = parse(text, &no_env).unwrap();
        assert_eq!(
            cfg.timeouts,
            Timeouts {
                connect: secs(1),
                client: secs(330),
                server: secs(600),
                check: secs(2),
                tunnel: secs(3600),
            }
        );
        assert_eq!(cfg.maxconn, Some(4096));
        // Without `from`, the last defaults section applies.
        let text = text.replace(
            "frontend ft_redis_master from REDIS",
            "frontend ft_redis_master",
        );
        let cfg = parse(&text, &no_env).unwrap();
        assert_eq!(cfg.timeouts.client, secs(1));
        // Unknown `from` is an error on a used section.
        let text = text.replace(
            "backend bk_redis_master from REDIS",
            "backend bk_redis_master from nope",
        );
        let e = parse(&text, &no_env).unwrap_err();
        assert!(e.to_string().contains("from nope"), "{e}");
        // Defaults-only maxconn.
        let cfg = parse(
            &minimal("").replace("timeout connect 4s", "maxconn 77"),
            &no_env,
        )
        .unwrap();
        assert_eq!(cfg.maxconn, Some(77));
        let e = parse(&minimal("global\n  maxconn lots\n"), &no_env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
    }

    #[test]
    fn binds() {
        let cases: &[(&str, Vec<Bind>)] = &[
            ("[::]:6379 v4v6", vec![bind("[::]:6379", true)]),
            ("10.1.2.3:6380", vec![bind("10.1.2.3:6380", false)]),
            ("*:6379", vec![bind("0.0.0.0:6379", false)]),
            (":6379", vec![bind("0.0.0.0:6379", false)]),
            (
                "ipv6@:6379 v6only",
                vec![Bind {
                    v6only: true,
                    ..bind("[::]:6379", false)
                }],
            ),
            (
                "ipv4@127.0.0.1:6379 name redis",
                vec![bind("127.0.0.1:6379", false)],
            ),
            ("[::1]:6379", vec![bind("[::1]:6379", false)]),
            ("fe80::1:6379", vec![bind("[fe80::1]:6379", false)]),
            ("10.0.0.1:6379 v4v6", vec![bind("10.0.0.1:6379", false)]),
            (
                ":6379,[::1]:6389-6390",
                vec![
                    bind("0.0.0.0:6379", false),
                    bind("[::1]:6389", false),
                    bind("[::1]:6390", false),
                ],
            ),
        ];
        for (spec, want) in cases {
            let text = minimal("").replace("  bind :6379\n", &format!("  bind {spec}\n"));
            let cfg = parse(&text, &no_env).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(&cfg.master_bind, want, "{spec}");
        }
        let ignored_opt = minimal("").replace("bind :6379", "bind :6379 backlog 100 tfo");
        let cfg = parse(&ignored_opt, &no_env).unwrap();
        assert_eq!(cfg.warnings.len(), 2, "{:?}", cfg.warnings);

        let bad: &[(&str, ErrorKind, &str)] = &[
            (":6379 ssl crt /tmp/x.pem", ErrorKind::Unsupported, "TLS"),
            (":6379 crt /tmp/x.pem", ErrorKind::Unsupported, "TLS"),
            (":6379 accept-proxy", ErrorKind::Unsupported, "PROXY"),
            (
                ":6379 frobnicate",
                ErrorKind::Unsupported,
                "unknown bind option",
            ),
            (":6379 v4v6 v6only", ErrorKind::Invalid, "both"),
            (":6379 maxconn", ErrorKind::Invalid, "needs a value"),
            ("redis.local:6379", ErrorKind::Invalid, "not an IP address"),
            ("/run/redis.sock", ErrorKind::Invalid, "unix"),
            ("unix@/run/redis.sock", ErrorKind::Invalid, "not supported"),
            ("6379", ErrorKind::Invalid, "missing port"),
            (":0", ErrorKind::Invalid, "1 to 65535"),
            (":70000", ErrorKind::Invalid, "1 to 65535"),
            (":1-9000", ErrorKind::Invalid, "too large"),
            ("[::1:6379", ErrorKind::Invalid, "]"),
            ("ipv4@[::]:6379", ErrorKind::Invalid, "family"),
        ];
        for (spec, kind, needle) in bad {
            let text = minimal("").replace("  bind :6379\n", &format!("  bind {spec}\n"));
            let e = parse(&text, &no_env).unwrap_err();
            assert_eq!(e.kind, *kind, "{spec}: {e}");
            assert_eq!(e.line, line_of(&text, &format!("bind {spec}"), 0), "{spec}");
            assert!(e.to_string().contains(needle), "{spec}: {e}");
        }
        // The same port twice.
        let text = minimal("frontend ft_redis_slave\n  bind :6379\n");
        let e = parse(&text, &no_env).unwrap_err();
        assert_eq!(
            (e.kind, e.line),
            (ErrorKind::Inconsistent, line_of(&text, "bind :6379", 1))
        );
        let text = minimal("listen h\n  bind [::]:6379 v6only\n  monitor-uri /healthz\n");
        assert_eq!(parse(&text, &no_env).unwrap().health_bind.len(), 1);
        let text = minimal("listen h\n  bind [::]:6379 v4v6\n  monitor-uri /healthz\n");
        assert_eq!(
            parse(&text, &no_env).unwrap_err().kind,
            ErrorKind::Inconsistent
        );
    }

    #[test]
    fn duplicate_sentinels_are_deduplicated() {
        let text = "backend check_if_redis_is_master_0\n  \
              tcp-check send SENTINEL\\ get-master-addr-by-name\\ m\\r\\n\n  \
              server R0 a:26379\n  server R1 b:26379\n\
            backend check_if_redis_is_master_1\n  \
              tcp-check send SENTINEL\\ get-master-addr-by-name\\ m\\r\\n\n  \
              server R0 A:26379\n  server R1 c:26379\n  server R2 b:26379\n  server R3 b:26380\n\
            frontend ft_redis_master\n  bind :6379\n";
        let cfg = parse(text, &no_env).unwrap();
        assert_eq!(
            cfg.sentinels,
            vec![
                hp("a", 26379),
                hp("b", 26379),
                hp("c", 26379),
                hp("b", 26380)
            ]
        );
        assert_eq!(cfg.nodes, vec![]);
        assert!(cfg.warnings.iter().any(|w| w.contains("bk_redis_master")));
    }

    #[test]
    fn server_addresses_and_options() {
        let with = |sentinel_line: &str| {
            minimal("").replace(
                "  server R0 s0:26379 check\n",
                &format!("  {sentinel_line}\n"),
            )
        };
        let ok: &[(&str, HostPort)] = &[
            (
                "server R0 10.0.0.1:26379 check inter 1s",
                hp("10.0.0.1", 26379),
            ),
            ("server R0 [fd00::1]:26379 check", hp("fd00::1", 26379)),
            ("server R0 fd00::1:26379", hp("fd00::1", 26379)),
            ("server R0 ipv4@s:26379", hp("s", 26379)),
            ("server R0 s:6379 check port 26379", hp("s", 26379)),
            ("server R0 s check port 26379", hp("s", 26379)),
            (
                "server R0 s:6379 check addr 10.1.1.1 port 26380",
                hp("10.1.1.1", 26380),
            ),
        ];
        for (line, want) in ok {
            let cfg = parse(&with(line), &no_env).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(cfg.sentinels, vec![want.clone()], "{line}");
        }
        // tcp-check connect port applies to all servers, wherever it is written.
        let cfg = parse(
            &with("server R0 s:1\n  tcp-check connect port 26379"),
            &no_env,
        )
        .unwrap();
        assert_eq!(cfg.sentinels, vec![hp("s", 26379)]);
        // default-server before the servers.
        let cfg = parse(
            &with("default-server inter 250ms\n  server R0 s:26379"),
            &no_env,
        )
        .unwrap();
        assert_eq!(
            cfg.sentinel_check_interval,
            Some(Duration::from_millis(250))
        );

        let bad: &[(&str, ErrorKind, &str)] = &[
            ("server R0", ErrorKind::Invalid, "name and an address"),
            ("server R0 s", ErrorKind::Invalid, "no port"),
            ("server R0 :26379", ErrorKind::Invalid, "no host"),
            ("server R0 s:+1", ErrorKind::Invalid, "offsets"),
            ("server R0 s:99999", ErrorKind::Invalid, "1 to 65535"),
            (
                "server R0 s:26379 check ssl verify none",
                ErrorKind::Unsupported,
                "TLS",
            ),
            ("server R0 /tmp/sock", ErrorKind::Invalid, "unix"),
            ("server R0 s:26379 inter soon", ErrorKind::Invalid, "inter"),
        ];
        for (line, kind, needle) in bad {
            let text = with(line);
            let e = parse(&text, &no_env).unwrap_err();
            assert_eq!(e.kind, *kind, "{line}: {e}");
            assert_eq!(e.line, line_of(&text, line, 0), "{line}");
            assert!(e.to_string().contains(needle), "{line}: {e}");
        }
        let text = minimal("").replace("server R0 r0:6379 check", "server R0 r0:6379 send-proxy");
        assert_eq!(
            parse(&text, &no_env).unwrap_err().kind,
            ErrorKind::Unsupported
        );
        // Disabled servers are skipped, with a warning.
        let cfg = parse(
            &with("server R0 s:26379 disabled\n  server R1 t:26379"),
            &no_env,
        )
        .unwrap();
        assert_eq!(cfg.sentinels, vec![hp("t", 26379)]);
        assert!(cfg.warnings.iter().any(|w| w.contains("disabled")));
    }

    #[test]
    fn auth_forms() {
        let with = |auth: &str| {
            minimal("").replace(
                "  server R0 r0:6379 check\n",
                &format!("  server R0 r0:6379 check\n  tcp-check send {auth}\n"),
            )
        };
        let env = env_of(&[("AUTH", "from-env")]);
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            (r"AUTH\ secret\r\n", None, Some("secret")),
            (r"auth\ alice\ secret\r\n", Some("alice"), Some("secret")),
            (
                r#""AUTH alice ${AUTH}"\r\n"#,
                Some("alice"),
                Some("from-env"),
            ),
            (r#"AUTH\ "\"q w\""\r\n"#, None, Some("q w")),
            (
                r"*2\r\n$4\r\nAUTH\r\n$5\r\ns\ p\ c\r\n",
                None,
                Some("s p c"),
            ),
            (r"AUTH\ REPLACE_AUTH_SECRET\r\n", None, Some("from-env")),
            (r"AUTH\r\n", None, None),
        ];
        for (line, user, pass) in cases {
            let cfg = parse(&with(line), &env).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(cfg.redis_username.as_deref(), *user, "{line}");
            assert_eq!(cfg.redis_password.as_deref(), *pass, "{line}");
        }
        let text = minimal("").replace(
            "  server R0 r0:6379 check\n",
            "  server R0 r0:6379 check\n  tcp-check send-binary 415554482073330d0a\n",
        );
        assert_eq!(
            parse(&text, &no_env).unwrap().redis_password.as_deref(),
            Some("s3")
        );
        let e = parse(&with(r"AUTH\ a\ b\ c\r\n"), &no_env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        let e = parse(
            &with(r#""AUTH ${AUTH}"\r\n"#).replace(
                "tcp-check send \"AUTH",
                "tcp-check send \"AUTH x\"\\r\\n\n  tcp-check send \"AUTH",
            ),
            &env,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Inconsistent);
        let e = parse(&with("\"AUTH ${AUTH}"), &env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Syntax);
    }

    #[test]
    fn inconsistent_master_names_and_sentinel_auth() {
        let e = parse(&CHART_FULL.replacen("mymaster", "other", 1), &no_env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Inconsistent);
        assert_eq!(
            e.line,
            line_of(
                CHART_FULL,
                r"tcp-check send SENTINEL\ get-master-addr-by-name\ mymaster\r\n",
                1
            )
        );
        assert!(
            e.to_string().contains("'mymaster' differs from 'other'"),
            "{e}"
        );

        let text = CHART_FULL.replacen("  tcp-check send \"AUTH ${SENTINELAUTH}\"\\r\\n\n", "", 1);
        let e = parse(&text, &env_of(&[("SENTINELAUTH", "x")])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Inconsistent);
        // With SENTINELAUTH unset all three are "no password": consistent.
        let cfg = parse(&text, &no_env).unwrap();
        assert_eq!(cfg.sentinel_password, None);

        let e = parse(
            &CHART_FULL.replace("frontend ft_redis_slave", "frontend ft_redis_master"),
            &no_env,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Inconsistent);
        assert!(e.to_string().contains("declared twice"), "{e}");
    }

    #[test]
    fn garbage_and_unknown_lines_are_ignored_not_errors() {
        let text = minimal(
            "this is not haproxy\n\
             userlist admins\n  user a insecure-password secret\n\
             resolvers kubdns\n  nameserver ns1 10.0.0.10:53\n\
             frontend other\n  bind :7000\n  default_backend elsewhere\n\
             .if defined(FOO)\n  log stdout format raw local0\n.endif\n",
        )
        .replace(
            "defaults\n",
            "stray-before-sections 1\ndefaults\n  option redispatch\n  retries \"unterminated\n",
        );
        let cfg = parse(&text, &no_env).unwrap();
        let ig: Vec<&str> = cfg.ignored.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(
            ig,
            [
                "stray-before-sections (outside any section)",
                ".if (conditional blocks are not evaluated)",
                ".endif (conditional blocks are not evaluated)",
                "option redispatch (in defaults)",
                "retries (in defaults)",
                "this (in backend bk_redis_master)",
                "userlist admins (section not needed by sentinel-proxy; 1 lines ignored)",
                "resolvers kubdns (section not needed by sentinel-proxy; 1 lines ignored)",
                "frontend other (section not used by sentinel-proxy; 3 lines ignored)",
            ]
        );
        assert_eq!(cfg.ignored[0].0, 1);
        assert!(!format!("{:?}", cfg.ignored).contains("secret"));
        assert!(cfg
            .warnings
            .iter()
            .any(|w| w.contains("unmatched double quote")));
        // A used line inside .if is an error.
        let text = minimal("").replace("  bind :6379\n", ".if defined(X)\n  bind :6379\n.endif\n");
        let e = parse(&text, &no_env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.to_string().contains(".if"), "{e}");
        // A used line with broken quoting is an error.
        let text = minimal("").replace("bind :6379", "bind \":6379");
        let e = parse(&text, &no_env).unwrap_err();
        assert_eq!(
            (e.kind, e.line),
            (ErrorKind::Syntax, line_of(&text, "bind \":6379", 0))
        );
        // CRLF files parse the same.
        let crlf = CHART_ARGOCD.replace('\n', "\r\n");
        let a = parse(&crlf, &env_of(&[("AUTH", "x")])).unwrap();
        let b = parse(CHART_ARGOCD, &env_of(&[("AUTH", "x")])).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn setenv_in_global_affects_later_lines() {
        let text = format!(
            "global\n  setenv AUTH from-global\n  presetenv SENTINELAUTH preset\n  unsetenv GONE\n{}",
            CHART_FULL
        );
        let cfg = parse(&text, &env_of(&[("SENTINELAUTH", "real"), ("GONE", "x")])).unwrap();
        assert_eq!(cfg.redis_password.as_deref(), Some("from-global"));
        assert_eq!(cfg.sentinel_password.as_deref(), Some("real"));
        let text = format!("global\n  resetenv\n{CHART_FULL}");
        let cfg = parse(&text, &env_of(&[("AUTH", "x"), ("SENTINELAUTH", "y")])).unwrap();
        assert_eq!((cfg.redis_password, cfg.sentinel_password), (None, None));
    }

    #[test]
    fn metrics_and_health_variants() {
        let text = minimal(
            "listen stats\n  bind 127.0.0.1:9101\n  mode http\n  \
             http-request use-service prometheus-exporter\n\
             frontend health\n  mode http\n  bind :8080\n  monitor-uri /ready\n",
        );
        let cfg = parse(&text, &no_env).unwrap();
        assert_eq!(cfg.metrics_bind, vec![bind("127.0.0.1:9101", false)]);
        assert_eq!(cfg.metrics_path, None);
        assert_eq!(cfg.health_bind, vec![bind("0.0.0.0:8080", false)]);
        assert_eq!(cfg.health_uri.as_deref(), Some("/ready"));
        let text = minimal(
            "frontend m\n  bind :9101\n  http-request use-service prometheus-exporter if { path_beg /m }\n",
        );
        let cfg = parse(&text, &no_env).unwrap();
        assert_eq!(cfg.metrics_path, None);
        assert!(cfg.warnings.iter().any(|w| w.contains("not understood")));
    }

    #[test]
    fn parse_files_concatenates_and_names_files() {
        let dir = std::env::temp_dir().join(format!(
            "haproxy-cfg-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        let main = dir.join("haproxy.cfg");
        let (head, tail) = CHART_ARGOCD.split_at(CHART_ARGOCD.find("frontend stats").unwrap());
        std::fs::write(&main, head).unwrap();
        std::fs::write(dir.join("conf.d/20-stats.cfg"), tail).unwrap();
        std::fs::write(dir.join("conf.d/30-global.cfg"), "global\n  maxconn 100\n").unwrap();
        std::fs::write(dir.join("conf.d/notes.txt"), "garbage").unwrap();
        let env = env_of(&[("AUTH", "pw")]);
        let cfg = parse_files(&[main.clone(), dir.join("conf.d")], &env).unwrap();
        let single = parse(CHART_ARGOCD, &env).unwrap();
        assert_eq!(cfg.metrics_bind, single.metrics_bind);
        assert_eq!(cfg.maxconn, Some(100));
        assert_eq!(cfg.sentinels, single.sentinels);
        let stats = dir.join("conf.d/20-stats.cfg").display().to_string();
        assert_eq!(
            cfg.ignored[0],
            (5, format!("{stats}: stats enable (in frontend stats)"))
        );

        // Errors name the file and line; a section does not continue across files.
        std::fs::write(
            dir.join("conf.d/40-bad.cfg"),
            "# x\n  bind :7777 ssl crt /x\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("conf.d/50-bad.cfg"),
            "frontend ft_redis_slave\n  bind :6380 ssl\n",
        )
        .unwrap();
        let e = parse_files(&[main.clone(), dir.join("conf.d")], &env).unwrap_err();
        assert_eq!(
            e.file.as_deref(),
            Some(dir.join("conf.d/50-bad.cfg").as_path())
        );
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with(&format!(
            "{} line 2: ",
            dir.join("conf.d/50-bad.cfg").display()
        )));

        // Invalid UTF-8 only matters on used lines.
        std::fs::remove_file(dir.join("conf.d/50-bad.cfg")).unwrap();
        std::fs::write(dir.join("conf.d/40-bad.cfg"), b"global\n  log \xff\xfe\n").unwrap();
        let cfg = parse_files(&[main.clone(), dir.join("conf.d")], &env).unwrap();
        assert!(cfg.warnings.iter().any(|w| w.contains("UTF-8")));

        let e = parse_files(&[dir.join("missing.cfg")], &env).unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::Io, 0));
        assert!(e.to_string().starts_with(&format!(
            "{}: cannot read",
            dir.join("missing.cfg").display()
        )));
        let e = parse_files(&[], &env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Missing);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn error_display_format() {
        let e = HaproxyCfgError {
            kind: ErrorKind::Invalid,
            file: None,
            line: 12,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "haproxy.cfg line 12: bad");
        assert_eq!(hp("::1", 6379).to_string(), "[::1]:6379");
        assert_eq!(hp("a", 1).to_string(), "a:1");
        let cfg = parse(
            CHART_FULL,
            &env_of(&[("AUTH", "hunter2"), ("SENTINELAUTH", "x")]),
        )
        .unwrap();
        let dbg = format!("{cfg:?}");
        assert!(
            !dbg.contains("hunter2") && dbg.contains("<redacted>"),
            "{dbg}"
        );
    }

    /// xorshift64*: deterministic pseudo-random input without dependencies.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn never_panics_on_random_input() {
        let env = env_of(&[("AUTH", "a b"), ("SENTINELAUTH", "")]);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet: &[u8] = b" \t\n\r\\\"'#${}[]*-:,@/.0123456789abcdefxAUTHSENTINEL";
        let pool: Vec<&str> = [CHART_FULL, CHART_ARGOCD, CHART_OLD]
            .iter()
            .flat_map(|t| t.lines())
            .collect();
        for round in 0..3000 {
            let text = match round % 3 {
                // Random bytes from a config-ish alphabet (and some arbitrary bytes).
                0 => {
                    let n = rng.below(400);
                    let bytes: Vec<u8> = (0..n)
                        .map(|_| {
                            if rng.below(10) == 0 {
                                rng.next() as u8
                            } else {
                                alphabet[rng.below(alphabet.len())]
                            }
                        })
                        .collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                // Shuffled real lines.
                1 => (0..rng.below(120))
                    .map(|_| pool[rng.below(pool.len())])
                    .collect::<Vec<_>>()
                    .join("\n"),
                // Real configs with one line mutated or truncated.
                _ => {
                    let base = [CHART_FULL, CHART_ARGOCD, CHART_OLD][rng.below(3)];
                    let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
                    for _ in 0..1 + rng.below(3) {
                        let i = rng.below(lines.len());
                        let l = &mut lines[i];
                        let cut = rng.below(l.len() + 1);
                        let mut cut = cut.min(l.len());
                        while !l.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        l.truncate(cut);
                        l.push(alphabet[rng.below(alphabet.len())] as char);
                    }
                    lines.join("\n")
                }
            };
            let _ = parse(&text, &env);
        }
    }
}
