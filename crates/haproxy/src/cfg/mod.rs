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
//! TLS (issue 16):
//!
//! * `bind ADDR ssl crt FILE [ca-file F verify required]` on ft_redis_master / ft_redis_slave
//!   ([`Bind::tls`]): one certificate (the same `crt` on every ssl bind), client certificates
//!   only with `verify required` (a bind's `verify` defaults to `none` in HAProxy, so
//!   `ca-file` without it is refused, as are `verify optional`, `crt-list`, a `crt`
//!   directory, `crl-file` and TLS 1.3-only settings); `ciphers`, `curves`, `alpn`,
//!   `ssl-min-ver TLSv1.2`, `strict-sni`, ... are ignored with a warning. The health and
//!   metrics listeners stay plain.
//! * `server ... ssl [verify none|required] [ca-file F] [crt F] [sni str(NAME)|verifyhost
//!   NAME]` in bk_redis_master / bk_redis_slave ([`HaproxyConfig::node_tls`]), and health
//!   checks over TLS in the Sentinel check backends ([`HaproxyConfig::sentinel_tls`]), decided
//!   as HAProxy does: `tcp-check connect ssl`, or `check-ssl` (`ssl` without a check `port`
//!   or `addr`) with HAProxy's implicit connect or `tcp-check connect default` (the chart's
//!   bare `tcp-check connect` is plain TCP whatever the server line says, with a warning).
//!   `default-server` (also from `defaults`) and the global `ssl-server-verify` (HAProxy's
//!   default `required`, which needs a `ca-file`) apply. Every server of a group, and the
//!   Sentinels and the nodes where both use TLS, must agree: sentinel-proxy has one set of
//!   upstream TLS settings. Health checks over TLS to nodes reached in plain TCP are refused.
//! * global `ca-base` / `crt-base` prefix the relative paths written after them.
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
//!
//! The reader in the order it works: `lexing` (lines into words, variables), `sections`
//! (pass 1 groups lines into sections, pass 2 gives each its roles), `directives` (the lines
//! acted on; `addresses` for their addresses), `assemble` (all sections into one
//! [`HaproxyConfig`], checked as a whole); `errors` holds [`HaproxyCfgError`].

mod addresses;
mod assemble;
mod bind_server;
mod directives;
mod errors;
mod lexing;
mod sections;
#[cfg(test)]
pub(crate) mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sentinel_proxy_core::config::{parse_duration_with_unit, ConfigError, DurationUnit, Verify};

pub use errors::{ErrorKind, HaproxyCfgError};
use lexing::{RawLine, Source};
use sections::Parser;

/// Where the HAProxy image (and so the chart) looks for its configuration.
pub const DEFAULT_CONFIG_PATH: &str = "/usr/local/etc/haproxy/haproxy.cfg";

/// A `host:port` pair, the same type the configuration uses. Host names are kept as written;
/// the proxy resolves them.
pub use sentinel_proxy_core::config::HostPort;

/// One listening address from a `bind` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bind {
    pub addr: SocketAddr,
    /// `v4v6` on an IPv6 address: accept IPv4 too (clear `IPV6_V6ONLY`).
    pub dual_stack: bool,
    /// `v6only` on an IPv6 address: set `IPV6_V6ONLY`. With neither option the
    /// OS default applies (on Linux `net.ipv6.bindv6only`, normally dual-stack).
    pub v6only: bool,
    /// `ssl crt FILE [ca-file F verify required]`: the listener speaks TLS.
    pub tls: Option<BindTls>,
}

impl Bind {
    pub fn new(addr: SocketAddr) -> Self {
        Bind {
            addr,
            dual_stack: false,
            v6only: false,
            tls: None,
        }
    }
}

/// TLS on a `bind` line (`bind ADDR ssl crt FILE [ca-file F verify required]`). The reader
/// refuses `ca-file` without `verify required` and `verify required` without `ca-file`, so
/// `client_ca_file` is set exactly when clients must present a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BindTls {
    /// `crt`: one PEM file with the certificate chain and the private key (HAProxy's format;
    /// `crt-base` applied).
    pub crt: PathBuf,
    /// `ca-file` with `verify required`: the CAs that sign client certificates (`ca-base`
    /// applied).
    pub client_ca_file: Option<PathBuf>,
}

/// TLS to a group of servers, the Redis nodes (`bk_redis_*`) or the Sentinels
/// (`check_if_redis_is_master_*`): `server ... ssl [verify none|required] [ca-file F] [crt F]
/// [sni str(NAME)|verifyhost NAME]`, with `default-server` and the global
/// `ssl-server-verify` applied. Every server of the group has the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// `verify none` → [`Verify::None`]; `verify required` (HAProxy's default unless `global
    /// ssl-server-verify none`) → [`Verify::Full`] when a name is given (`sni` or
    /// `verifyhost`: HAProxy checks the certificate's names only against one of those), else
    /// [`Verify::Ca`] (the chain only).
    pub verify: Verify,
    /// `ca-file` (`ca-base` applied); `None` with `verify none` (HAProxy does not load it then).
    pub ca_file: Option<PathBuf>,
    /// `crt`: the client certificate, a PEM file with its key (`crt-base` applied).
    pub crt: Option<PathBuf>,
    /// `sni str(NAME)`, else `verifyhost NAME` (or `tcp-check connect ... sni NAME` for the
    /// Sentinels): sent as SNI and, with `verify required`, checked against the certificate.
    pub server_name: Option<String>,
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
    /// TLS to the Redis nodes: `ssl` on every `server` line of bk_redis_master and
    /// bk_redis_slave (all alike), or `None` when none has it.
    pub node_tls: Option<ServerTls>,
    /// The port of those TLS `server` lines, when they all have the same.
    pub node_tls_port: Option<u16>,
    /// TLS to the Sentinels: the check backends' health checks use TLS (`tcp-check connect
    /// ssl`, or `check-ssl` / `ssl` where HAProxy's checks take the server's transport).
    pub sentinel_tls: Option<ServerTls>,
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
            .field("node_tls", &self.node_tls)
            .field("node_tls_port", &self.node_tls_port)
            .field("sentinel_tls", &self.sentinel_tls)
            .field("ignored", &self.ignored)
            .field("warnings", &self.warnings)
            .finish()
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
    time_value("time", s).map_err(|e| match e {
        ConfigError::Invalid { message, .. } => message,
        other => other.to_string(),
    })
}

/// [`parse_time`] for the value of `key` (`timeout connect`, `inter`): the library's grammar
/// and bound ([`sentinel_proxy_core::config::MAX_DURATION`], HAProxy's 2147483647 ms), so a
/// time means the same here as in sentinel-proxy's own file and environment.
fn time_value(key: &str, s: &str) -> Result<Duration, ConfigError> {
    parse_duration_with_unit(key, s, Some(DurationUnit::Millis))
}
