//! Configuration: a TOML file and environment variables (env wins), validated into [`Config`].
//!
//! The file maps 1:1 onto [`FileConfig`]; every key can also be set through an environment
//! variable named `SENTINEL_PROXY_<KEY>` in upper case (for example `SENTINEL_PROXY_MAX_CLIENTS`),
//! except the two passwords, which use the names the redis-ha manifests already carry:
//! `REDIS_PASSWORD` and `SENTINEL_PASSWORD`. The environment is passed in as a map so tests never
//! touch the process environment.
//!
//! One code path reads the environment: [`Config::load`] lays it over the file, and
//! [`EnvOverrides`] over a configuration made elsewhere (HAProxy mode's haproxy.cfg). An error
//! in a value names where it came from: the environment variable, or the file key.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod duration;
mod env_names;
mod tls;
pub use duration::{parse_duration, parse_duration_with_unit, DurationUnit, MAX_DURATION};
#[cfg(test)]
use env_names::edit_distance;
pub use env_names::UnknownVar;
use env_names::{closest_name, env_name};
pub use tls::{TlsSettings, Verify};

/// Environment variable that names the configuration file when `--config` is not given.
pub const CONFIG_FILE_ENV: &str = "SENTINEL_PROXY_CONFIG";

/// Prefix of every environment override except the two passwords.
const ENV_PREFIX: &str = "SENTINEL_PROXY_";

/// Keys that come from the environment under a name of their own.
const PASSWORD_ENV: [(&str, &str); 4] = [
    ("REDIS_PASSWORD", "redis_password"),
    ("SENTINEL_PASSWORD", "sentinel_password"),
    ("REDIS_PASSWORD_FILE", "redis_password_file"),
    ("SENTINEL_PASSWORD_FILE", "sentinel_password_file"),
];

/// Errors found while loading or validating the configuration. Each names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// A password, and the ACL user it belongs to when there is one (`AUTH <user> <password>`;
/// HAProxy mode reads it from the chart's `AUTH` lines). The password is never printed, not even
/// by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    password: String,
    username: Option<String>,
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret {
            password: s.into(),
            username: None,
        }
    }
    /// The same password for an ACL user: the control plane then sends `AUTH <user> <password>`.
    pub fn for_user(self, username: impl Into<String>) -> Self {
        Secret {
            username: Some(username.into()),
            ..self
        }
    }
    pub fn expose(&self) -> &str {
        &self.password
    }
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.username {
            Some(u) => write!(f, "Secret(user {u:?}, ***)"),
            None => f.write_str("Secret(***)"),
        }
    }
}

/// The configuration file as written by an operator. Every field is optional; unknown keys are
/// rejected so that a typo fails at startup instead of being silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub sentinels: Option<Vec<String>>,
    pub master_name: Option<String>,
    pub listen: Option<String>,
    pub replica_listen: Option<String>,
    pub admin_listen: Option<String>,
    pub redis_password: Option<String>,
    pub sentinel_password: Option<String>,
    pub connect_timeout: Option<String>,
    pub role_interval: Option<String>,
    pub role_timeout: Option<String>,
    pub client_idle_timeout: Option<String>,
    pub hold_timeout: Option<String>,
    pub max_clients: Option<u64>,
    pub max_bulk_len: Option<u64>,
    pub max_multibulk_len: Option<u64>,
    pub max_inline_len: Option<u64>,
    pub accept_backlog: Option<u64>,
    pub client_allow: Option<Vec<String>>,
    pub fence_time: Option<String>,
    pub fence_policy: Option<String>,
    pub shutdown_delay: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub redis_password_file: Option<String>,
    pub sentinel_password_file: Option<String>,
    pub log_format: Option<String>,
    pub log: Option<String>,
    pub mode: Option<String>,
    pub listen_tls: Option<bool>,
    pub replica_listen_tls: Option<bool>,
    pub tls_listen: Option<String>,
    pub tls_replica_listen: Option<String>,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    pub tls_client_ca_file: Option<String>,
    pub upstream_tls: Option<bool>,
    pub upstream_tls_port: Option<u64>,
    pub upstream_tls_ca_file: Option<String>,
    pub upstream_tls_cert_file: Option<String>,
    pub upstream_tls_key_file: Option<String>,
    pub upstream_tls_verify: Option<String>,
    pub upstream_tls_server_name: Option<String>,
    pub sentinel_tls: Option<bool>,
    pub tls_reload_interval: Option<String>,
}

/// The keys of [`FileConfig`]; kept next to it so env overrides and error messages agree.
const KEYS: [&str; 43] = [
    "sentinels",
    "master_name",
    "listen",
    "replica_listen",
    "admin_listen",
    "redis_password",
    "sentinel_password",
    "connect_timeout",
    "role_interval",
    "role_timeout",
    "client_idle_timeout",
    "hold_timeout",
    "max_clients",
    "max_bulk_len",
    "max_multibulk_len",
    "max_inline_len",
    "accept_backlog",
    "client_allow",
    "fence_time",
    "fence_policy",
    "shutdown_delay",
    "shutdown_timeout",
    "redis_password_file",
    "sentinel_password_file",
    "log_format",
    "log",
    "mode",
    "listen_tls",
    "replica_listen_tls",
    "tls_listen",
    "tls_replica_listen",
    "tls_cert_file",
    "tls_key_file",
    "tls_client_ca_file",
    "upstream_tls",
    "upstream_tls_port",
    "upstream_tls_ca_file",
    "upstream_tls_cert_file",
    "upstream_tls_key_file",
    "upstream_tls_verify",
    "upstream_tls_server_name",
    "sentinel_tls",
    "tls_reload_interval",
];

/// A Sentinel or node address as configured: a host name is resolved again at every reconnect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        HostPort {
            host: host.into(),
            port,
        }
    }

    pub fn parse(s: &str) -> Result<HostPort, String> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest
                .split_once("]:")
                .ok_or_else(|| format!("'{s}' is not [ipv6]:port"))?;
            (h, p)
        } else {
            s.rsplit_once(':')
                .ok_or_else(|| format!("'{s}' has no port; write host:port"))?
        };
        if host.is_empty() {
            return Err(format!("'{s}' has no host; write host:port"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("'{s}': port '{port}' is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(format!("'{s}': port 0 is not valid"));
        }
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How client sessions reach Redis (docs/architecture.md, "Multiplexing").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sessions share upstream pipelines, one per node, until a command pins them to a
    /// connection of their own (the default).
    Multiplex,
    /// One upstream connection per client session, as HAProxy does.
    Relay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// An extra plain-HTTP health listener (HAProxy's `monitor-uri`, port 8888 in the redis-ha chart).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthListener {
    pub addr: SocketAddr,
    pub uri: String,
}

/// Timeouts, all validated to be non-zero unless stated.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeouts {
    /// TCP connect (and AUTH) to a Sentinel or a node.
    pub connect: Duration,
    /// How often every node is asked `ROLE`.
    pub role_interval: Duration,
    /// How long a `ROLE` answer may take before the node counts as down.
    pub role_timeout: Duration,
    /// Close a client that sent nothing for this long; `None` = never (Redis' `timeout 0`).
    pub client_idle: Option<Duration>,
    /// How long a command may wait for a confirmed master before it gets an error reply.
    pub hold: Duration,
}

/// Protocol and connection limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_clients: usize,
    pub max_bulk_len: u64,
    pub max_multibulk_len: u64,
    pub max_inline_len: usize,
    /// Pending connections the kernel queues before they are accepted.
    pub accept_backlog: u32,
}

/// What to do when every Sentinel has been unreachable for `time`: the proxy may be on the
/// minority side of a partition, where the master it routes to may already be demoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FencePolicy {
    /// Keep routing to the ROLE-confirmed master (what HAProxy does; availability first).
    Serve,
    /// Stop forwarding until a Sentinel is reachable again (consistency first).
    Hold,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fence {
    pub time: Duration,
    pub policy: FencePolicy,
}

/// Graceful shutdown on SIGTERM.
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownTimes {
    /// /readyz answers 503 at once, but the listeners keep accepting this long, so the
    /// endpoints controller and kube-proxy stop sending clients here first.
    pub delay: Duration,
    /// Sessions close at their next safe point; whatever is left after this is cut.
    pub timeout: Duration,
}

/// An allowed client network (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = ip
            .parse()
            .map_err(|_| format!("'{s}' is not an address or network like 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': prefix must be a number from 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (std::net::IpAddr::V4(net), std::net::IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (std::net::IpAddr::V6(net), std::net::IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The validated configuration that [`crate::run`] takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub sentinels: Vec<HostPort>,
    pub master_name: String,
    pub listen: SocketAddr,
    pub replica_listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub health_listen: Option<HealthListener>,
    /// Another path the admin listener serves the metrics on besides /metrics (HAProxy mode:
    /// the prometheus-exporter's `path`, the chart's `haproxy.metrics.scrapePath`).
    pub metrics_uri: Option<String>,
    pub redis_password: Option<Secret>,
    pub sentinel_password: Option<Secret>,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub fence: Fence,
    pub shutdown: ShutdownTimes,
    /// Client networks allowed to connect; empty = everybody.
    pub client_allow: Vec<Cidr>,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub mode: Mode,
    pub tls: TlsSettings,
}

impl Config {
    /// A configuration for the given Sentinels with every default, listening on loopback port 0
    /// (tests, demo and benchmarks start from this).
    pub fn for_sentinels(sentinels: Vec<HostPort>, master_name: &str) -> Config {
        let mut c = FileConfig::default()
            .validate()
            .expect("defaults are valid");
        c.sentinels = sentinels;
        c.master_name = master_name.to_string();
        c.listen = "127.0.0.1:0".parse().expect("literal");
        c.admin_listen = Some("127.0.0.1:0".parse().expect("literal"));
        c
    }

    /// Load from an optional TOML file and an environment map (normally `std::env::vars()`).
    /// The file is `file`, else the one named by `SENTINEL_PROXY_CONFIG` in `env`, else none.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get(CONFIG_FILE_ENV).map(PathBuf::from));
        let set = env_values(env);
        let raw = file_and_env(file.as_deref(), &set)?;
        raw.validate().map_err(|e| name_variable(e, &set))
    }

    /// The `SENTINEL_PROXY_*` variables in `env` that name no setting (typos, or Kubernetes
    /// service links such as `SENTINEL_PROXY_PORT` when a Service is called sentinel-proxy),
    /// sorted, each with the closest name that is read when one is close. They are reported,
    /// not fatal, because Kubernetes injects such names on its own.
    pub fn unknown_env(env: &HashMap<String, String>) -> Vec<UnknownVar> {
        let known: Vec<String> = KEYS
            .iter()
            .map(|k| env_name(k))
            .chain([CONFIG_FILE_ENV.to_string()])
            .collect();
        let mut unknown: Vec<UnknownVar> = env
            .keys()
            .filter(|k| k.starts_with(ENV_PREFIX) && !known.contains(k))
            .map(|name| UnknownVar {
                name: name.clone(),
                suggestion: closest_name(name, &known),
            })
            .collect();
        unknown.sort_by(|a, b| a.name.cmp(&b.name));
        unknown
    }
}

/// One key set by the environment: the variable it came from and its text.
struct EnvValue {
    key: &'static str,
    variable: String,
    text: String,
}

/// The keys the environment sets, in [`KEYS`] order.
fn env_values(env: &HashMap<String, String>) -> Vec<EnvValue> {
    KEYS.iter()
        .filter_map(|key| {
            let variable = env_name(key);
            let text = env.get(&variable)?.clone();
            Some(EnvValue {
                key,
                variable,
                text,
            })
        })
        .collect()
}

/// The environment's value for the config builder: lists become arrays, everything else a
/// string (serde turns strings into numbers where the field is numeric, and leaves `00123`
/// alone where it is a password).
fn builder_value(v: &EnvValue) -> config::Value {
    if v.key == "sentinels" || v.key == "client_allow" {
        let items: Vec<config::Value> = v
            .text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| config::Value::from(s.to_string()))
            .collect();
        config::Value::from(items)
    } else {
        config::Value::from(v.text.clone())
    }
}

/// The file (if any) with the environment's values over it, not yet validated.
fn file_and_env(file: Option<&Path>, set: &[EnvValue]) -> Result<FileConfig, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
    }
    for v in set {
        builder = builder
            .set_override(v.key, builder_value(v))
            .map_err(|e| ConfigError::invalid(&v.variable, e.to_string()))?;
    }
    let parse_err = |e: config::ConfigError| {
        let from_env = match &e {
            config::ConfigError::Type { key: Some(k), .. }
            | config::ConfigError::At { key: Some(k), .. } => set.iter().find(|v| v.key == k),
            _ => None,
        };
        match (from_env, file) {
            (Some(v), _) => ConfigError::invalid(&v.variable, explain_config_error(e)),
            (None, Some(path)) => ConfigError::Parse {
                path: path.to_path_buf(),
                message: explain_config_error(e),
            },
            (None, None) => ConfigError::invalid("environment", explain_config_error(e)),
        }
    };
    builder
        .build()
        .map_err(parse_err)?
        .try_deserialize()
        .map_err(parse_err)
}

/// An invalid value that came from the environment is named by its variable.
fn name_variable(e: ConfigError, set: &[EnvValue]) -> ConfigError {
    match e {
        ConfigError::Invalid { key, message } => {
            let key = match set.iter().find(|v| v.key == key) {
                Some(v) => v.variable.clone(),
                None => key,
            };
            ConfigError::Invalid { key, message }
        }
        other => other,
    }
}

/// The environment's settings, read and validated on their own, to lay over a configuration
/// that came from elsewhere: HAProxy mode reads haproxy.cfg, then applies these (the
/// environment wins). The same variables, names and checks as [`Config::load`].
#[derive(Debug, Clone)]
pub struct EnvOverrides {
    /// Defaults with the environment's values: the source of what [`EnvOverrides::apply`] copies.
    config: Config,
    /// (key, variable, the value as written) of every key set, in [`KEYS`] order.
    set: Vec<(&'static str, String, String)>,
    /// `SENTINEL_PROXY_CONFIG`, which names a file this does not read.
    config_file: Option<String>,
}

/// One setting the environment overrides, for the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// `SENTINEL_PROXY_HOLD_TIMEOUT`, `REDIS_PASSWORD` …
    pub variable: String,
    /// The file key it sets (`hold_timeout`).
    pub key: &'static str,
    /// The value as written; `None` for a password, which is never shown.
    pub value: Option<String>,
}

impl EnvOverrides {
    /// Read every `SENTINEL_PROXY_*` variable (and the password variables) of `env`; a bad
    /// value is an error naming its variable.
    pub fn read(env: &HashMap<String, String>) -> Result<EnvOverrides, ConfigError> {
        let set = env_values(env);
        let config = file_and_env(None, &set)?
            .validate()
            .map_err(|e| name_variable(e, &set))?;
        Ok(EnvOverrides {
            config,
            set: set
                .into_iter()
                .map(|v| (v.key, v.variable, v.text))
                .collect(),
            config_file: env.get(CONFIG_FILE_ENV).cloned(),
        })
    }

    /// What is overridden, in key order.
    pub fn overrides(&self) -> Vec<Override> {
        self.set
            .iter()
            .map(|(key, variable, text)| Override {
                variable: variable.clone(),
                key,
                value: (!matches!(*key, "redis_password" | "sentinel_password"))
                    .then(|| text.clone()),
            })
            .collect()
    }

    fn sets(&self, key: &str) -> bool {
        self.set.iter().any(|(k, _, _)| *k == key)
    }

    /// `SENTINEL_PROXY_LOG_FORMAT`, when set.
    pub fn log_format(&self) -> Option<LogFormat> {
        self.sets("log_format").then_some(self.config.log_format)
    }

    /// `SENTINEL_PROXY_LOG`, when set.
    pub fn log_filter(&self) -> Option<&str> {
        self.sets("log").then_some(self.config.log_filter.as_str())
    }

    /// The value of `SENTINEL_PROXY_CONFIG`, when set (a file only native mode reads).
    pub fn config_file(&self) -> Option<&str> {
        self.config_file.as_deref()
    }

    /// `base` with every setting the environment sets taken from the environment.
    pub fn apply(&self, mut base: Config) -> Config {
        for (key, _, _) in &self.set {
            let known = copy_key(&mut base, &self.config, key);
            debug_assert!(known, "copy_key misses {key}");
        }
        base
    }
}

/// Copy what `key` sets from `from` to `to`; false for a name that is no key (a test runs
/// every key of [`KEYS`] through this).
fn copy_key(to: &mut Config, from: &Config, key: &str) -> bool {
    let (t, f) = (&mut to.timeouts, &from.timeouts);
    let (l, fl) = (&mut to.limits, &from.limits);
    match key {
        "sentinels" => to.sentinels = from.sentinels.clone(),
        "master_name" => to.master_name = from.master_name.clone(),
        "listen" => to.listen = from.listen,
        "replica_listen" => to.replica_listen = from.replica_listen,
        "admin_listen" => to.admin_listen = from.admin_listen,
        "redis_password" | "redis_password_file" => to.redis_password = from.redis_password.clone(),
        "sentinel_password" | "sentinel_password_file" => {
            to.sentinel_password = from.sentinel_password.clone()
        }
        "connect_timeout" => t.connect = f.connect,
        "role_interval" => t.role_interval = f.role_interval,
        "role_timeout" => t.role_timeout = f.role_timeout,
        "client_idle_timeout" => t.client_idle = f.client_idle,
        "hold_timeout" => t.hold = f.hold,
        "max_clients" => l.max_clients = fl.max_clients,
        "max_bulk_len" => l.max_bulk_len = fl.max_bulk_len,
        "max_multibulk_len" => l.max_multibulk_len = fl.max_multibulk_len,
        "max_inline_len" => l.max_inline_len = fl.max_inline_len,
        "accept_backlog" => l.accept_backlog = fl.accept_backlog,
        "client_allow" => to.client_allow = from.client_allow.clone(),
        "fence_time" => to.fence.time = from.fence.time,
        "fence_policy" => to.fence.policy = from.fence.policy,
        "shutdown_delay" => to.shutdown.delay = from.shutdown.delay,
        "shutdown_timeout" => to.shutdown.timeout = from.shutdown.timeout,
        "log_format" => to.log_format = from.log_format,
        "log" => to.log_filter = from.log_filter.clone(),
        "mode" => to.mode = from.mode,
        "listen_tls" => to.tls.listen_tls = from.tls.listen_tls,
        "replica_listen_tls" => to.tls.replica_listen_tls = from.tls.replica_listen_tls,
        "tls_listen" => to.tls.tls_listen = from.tls.tls_listen,
        "tls_replica_listen" => to.tls.tls_replica_listen = from.tls.tls_replica_listen,
        "tls_cert_file" => to.tls.cert_file = from.tls.cert_file.clone(),
        "tls_key_file" => to.tls.key_file = from.tls.key_file.clone(),
        "tls_client_ca_file" => to.tls.client_ca_file = from.tls.client_ca_file.clone(),
        "upstream_tls" => to.tls.upstream = from.tls.upstream,
        "upstream_tls_port" => to.tls.upstream_port = from.tls.upstream_port,
        "upstream_tls_ca_file" => to.tls.upstream_ca_file = from.tls.upstream_ca_file.clone(),
        "upstream_tls_cert_file" => to.tls.upstream_cert_file = from.tls.upstream_cert_file.clone(),
        "upstream_tls_key_file" => to.tls.upstream_key_file = from.tls.upstream_key_file.clone(),
        "upstream_tls_verify" => to.tls.upstream_verify = from.tls.upstream_verify,
        "upstream_tls_server_name" => {
            to.tls.upstream_server_name = from.tls.upstream_server_name.clone()
        }
        "sentinel_tls" => to.tls.sentinel = from.tls.sentinel,
        "tls_reload_interval" => to.tls.reload_interval = from.tls.reload_interval,
        _ => return false,
    }
    true
}

fn explain_config_error(e: config::ConfigError) -> String {
    let text = e.to_string();
    if text.contains("unknown field") {
        format!("{text} (valid keys: {})", KEYS.join(", "))
    } else {
        text
    }
}

fn parse_listen(key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.trim().parse().map_err(|_| {
        ConfigError::invalid(
            key,
            format!("'{s}' is not an address:port; write e.g. 0.0.0.0:6379 or [::]:6379"),
        )
    })
}

fn non_zero(key: &str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        Err(ConfigError::invalid(key, "must be greater than zero"))
    } else {
        Ok(d)
    }
}

fn in_range(key: &str, v: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if v < min || v > max {
        Err(ConfigError::invalid(
            key,
            format!("{v} is out of range; use a value from {min} to {max}"),
        ))
    } else {
        Ok(v)
    }
}

/// A password kept in a file (a mounted Kubernetes Secret); one trailing newline is dropped.
fn read_secret(key: &str, path: &str) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::invalid(
            key,
            format!("cannot read {path}: {e}; mount the secret there"),
        )
    })?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty() {
        return Err(ConfigError::invalid(key, format!("{path} is empty")));
    }
    Ok(Secret::new(text))
}

fn secret(s: Option<String>) -> Option<Secret> {
    s.filter(|p| !p.is_empty()).map(Secret::new)
}

impl FileConfig {
    /// Check every value and fill defaults.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let mut sentinels = Vec::new();
        for s in self.sentinels.unwrap_or_default() {
            sentinels.push(HostPort::parse(&s).map_err(|m| ConfigError::invalid("sentinels", m))?);
        }
        let master_name = self.master_name.unwrap_or_else(|| "mymaster".to_string());
        if master_name.is_empty() || master_name.contains(char::is_whitespace) {
            return Err(ConfigError::invalid(
                "master_name",
                format!("'{master_name}' must be the non-empty name given to `sentinel monitor`"),
            ));
        }
        let listen = parse_listen("listen", self.listen.as_deref().unwrap_or("0.0.0.0:6379"))?;
        let replica_listen = match self.replica_listen.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(parse_listen("replica_listen", s)?),
        };
        let admin_listen = match self.admin_listen.as_deref().map(str::trim) {
            Some("") | Some("off") => None,
            s => Some(parse_listen("admin_listen", s.unwrap_or("0.0.0.0:9101"))?),
        };
        let dur = |key: &str, v: &Option<String>, default: &str| {
            parse_duration(key, v.as_deref().unwrap_or(default))
        };
        let timeouts = Timeouts {
            connect: non_zero(
                "connect_timeout",
                dur("connect_timeout", &self.connect_timeout, "2s")?,
            )?,
            role_interval: non_zero(
                "role_interval",
                dur("role_interval", &self.role_interval, "1s")?,
            )?,
            role_timeout: non_zero(
                "role_timeout",
                dur("role_timeout", &self.role_timeout, "1s")?,
            )?,
            client_idle: Some(dur("client_idle_timeout", &self.client_idle_timeout, "0s")?)
                .filter(|d| !d.is_zero()),
            hold: non_zero(
                "hold_timeout",
                dur("hold_timeout", &self.hold_timeout, "15s")?,
            )?,
        };
        let limits = Limits {
            max_clients: in_range(
                "max_clients",
                self.max_clients.unwrap_or(10_000),
                1,
                1 << 24,
            )? as usize,
            max_bulk_len: in_range(
                "max_bulk_len",
                self.max_bulk_len.unwrap_or(512 << 20),
                1,
                1 << 40,
            )?,
            max_multibulk_len: in_range(
                "max_multibulk_len",
                self.max_multibulk_len.unwrap_or(1 << 20),
                1,
                i32::MAX as u64,
            )?,
            max_inline_len: in_range(
                "max_inline_len",
                self.max_inline_len.unwrap_or(64 << 10),
                16,
                1 << 30,
            )? as usize,
            accept_backlog: in_range(
                "accept_backlog",
                self.accept_backlog.unwrap_or(1024),
                1,
                65535,
            )? as u32,
        };
        let fence = Fence {
            time: non_zero("fence_time", dur("fence_time", &self.fence_time, "30s")?)?,
            policy: match self.fence_policy.as_deref().unwrap_or("serve") {
                "serve" => FencePolicy::Serve,
                "hold" => FencePolicy::Hold,
                other => {
                    return Err(ConfigError::invalid(
                        "fence_policy",
                        format!("'{other}' is not a policy; use serve or hold"),
                    ))
                }
            },
        };
        let shutdown = ShutdownTimes {
            delay: dur("shutdown_delay", &self.shutdown_delay, "5s")?,
            timeout: dur("shutdown_timeout", &self.shutdown_timeout, "25s")?,
        };
        let mut client_allow = Vec::new();
        for c in self.client_allow.unwrap_or_default() {
            client_allow
                .push(Cidr::parse(&c).map_err(|m| ConfigError::invalid("client_allow", m))?);
        }
        let redis_password = match (secret(self.redis_password), self.redis_password_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "redis_password_file",
                    "set either REDIS_PASSWORD or REDIS_PASSWORD_FILE, not both",
                ))
            }
            (p, None) => p,
            (None, Some(f)) => Some(read_secret("redis_password_file", &f)?),
        };
        let sentinel_password = match (secret(self.sentinel_password), self.sentinel_password_file)
        {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "sentinel_password_file",
                    "set either SENTINEL_PASSWORD or SENTINEL_PASSWORD_FILE, not both",
                ))
            }
            (p, None) => p,
            (None, Some(f)) => Some(read_secret("sentinel_password_file", &f)?),
        };
        let log_format = match self.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::invalid(
                    "log_format",
                    format!("'{other}' is not a log format; use text or json"),
                ))
            }
        };
        let mode = match self.mode.as_deref().map(str::trim).unwrap_or("multiplex") {
            "multiplex" => Mode::Multiplex,
            "relay" => Mode::Relay,
            other => {
                return Err(ConfigError::invalid(
                    "mode",
                    format!(
                        "'{other}' is not a mode; use multiplex (shared upstream pipelines, \
                         the default) or relay (one upstream connection per client)"
                    ),
                ))
            }
        };
        let optional_listen = |key: &str, v: Option<String>| match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => parse_listen(key, s).map(Some),
        };
        let upstream_server_name =
            tls::path(self.upstream_tls_server_name).map(|p| p.to_string_lossy().into_owned());
        if let Some(name) = &upstream_server_name {
            if rustls_pki_types::ServerName::try_from(name.as_str()).is_err() {
                return Err(ConfigError::invalid(
                    "upstream_tls_server_name",
                    format!("'{name}' is not a DNS name or IP address"),
                ));
            }
        }
        let tls = TlsSettings {
            listen_tls: self.listen_tls.unwrap_or(false),
            replica_listen_tls: self.replica_listen_tls.unwrap_or(false),
            tls_listen: optional_listen("tls_listen", self.tls_listen)?,
            tls_replica_listen: optional_listen("tls_replica_listen", self.tls_replica_listen)?,
            cert_file: tls::path(self.tls_cert_file),
            key_file: tls::path(self.tls_key_file),
            client_ca_file: tls::path(self.tls_client_ca_file),
            upstream: self.upstream_tls.unwrap_or(false),
            upstream_port: self
                .upstream_tls_port
                .map(|p| in_range("upstream_tls_port", p, 1, 65535).map(|p| p as u16))
                .transpose()?,
            upstream_ca_file: tls::path(self.upstream_tls_ca_file),
            upstream_cert_file: tls::path(self.upstream_tls_cert_file),
            upstream_key_file: tls::path(self.upstream_tls_key_file),
            upstream_verify: match self.upstream_tls_verify.as_deref() {
                None => Verify::Full,
                Some(v) => Verify::parse("upstream_tls_verify", v)?,
            },
            upstream_server_name,
            sentinel: self.sentinel_tls.unwrap_or(false),
            reload_interval: non_zero(
                "tls_reload_interval",
                dur("tls_reload_interval", &self.tls_reload_interval, "10s")?,
            )?,
        };
        Ok(Config {
            sentinels,
            master_name,
            listen,
            replica_listen,
            admin_listen,
            health_listen: None,
            metrics_uri: None,
            redis_password,
            sentinel_password,
            timeouts,
            limits,
            fence,
            shutdown,
            client_allow,
            log_format,
            log_filter: self.log.unwrap_or_else(|| "info".to_string()),
            mode,
            tls,
        })
    }
}

impl Config {
    /// Checks that need the whole picture (run by [`crate::run`] before anything binds).
    pub fn check_runnable(&self) -> Result<(), ConfigError> {
        if self.sentinels.is_empty() {
            return Err(ConfigError::invalid(
                "sentinels",
                "no Sentinel configured; set SENTINEL_PROXY_SENTINELS=host:port[,host:port…] \
                 or `sentinels = [\"host:26379\"]` in the config file",
            ));
        }
        self.tls.check(self.replica_listen)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
