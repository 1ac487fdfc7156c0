//! HAProxy compatibility mode: run where the redis-ha chart runs HAProxy.
//!
//! Started as `haproxy` (argv[0], the symlink in the image) or as `sentinel-proxy haproxy …`,
//! the proxy takes HAProxy's command line ([`parse_haproxy_args`]: `-f`, `-W`, `-db`, `-D`, `-p`,
//! `-c`, `-v`, `-q`), reads the chart's `haproxy.cfg` with [`crate::cfg`] and turns it
//! into a [`Config`] ([`config_from_haproxy`]). From then on the behaviour is sentinel-proxy's
//! own: Sentinel events, majority plus `ROLE`, the failover rules of docs/failover.md.
//!
//! | haproxy.cfg | Config |
//! |---|---|
//! | `server` lines of `check_if_redis_is_master_*` | `sentinels` |
//! | `SENTINEL get-master-addr-by-name <name>` | `master_name` |
//! | `"AUTH ${SENTINELAUTH}"` / `"AUTH ${AUTH}"` (or `AUTH <user> <pass>`) | `sentinel_password` / `redis_password` |
//! | `frontend ft_redis_master` `bind` | `listen` |
//! | `frontend ft_redis_slave` `bind` (optional) | `replica_listen` |
//! | the `prometheus-exporter` section's `bind` (optional) | `admin_listen` (`/metrics`, `/healthz`, `/readyz`) |
//! | the `monitor-uri` section's `bind` and uri (optional) | `health_listen` |
//! | `timeout connect` | `timeouts.connect` |
//! | `timeout tunnel`, else the shorter of `timeout client` / `timeout server` | `timeouts.client_idle` (`0` = never) |
//! | `maxconn` (global / ft_redis_master) | `limits.max_clients` |
//! | `bind ADDR ssl crt FILE` as the first bind of ft_redis_master / ft_redis_slave | `listen_tls` / `replica_listen_tls`, `tls_cert_file` (chain and key: `tls_key_file` unset) |
//! | a plain first bind and a later `ssl crt FILE` bind in the same frontend | `listen` + `tls_listen` / `replica_listen` + `tls_replica_listen` |
//! | `ca-file F verify required` on the ssl binds | `tls_client_ca_file` |
//! | `server ... ssl` in bk_redis_master / bk_redis_slave (every server alike) | `upstream_tls`, `upstream_tls_port` (their common port) |
//! | their `verify none` / `verify required` with `sni str(N)` or `verifyhost N` / `verify required` without | `upstream_tls_verify` none / full / ca |
//! | their `ca-file`, `crt`, `sni str(N)` (else `verifyhost N`) | `upstream_tls_ca_file`, `upstream_tls_cert_file`, `upstream_tls_server_name` |
//! | `tcp-check connect ssl` in check_if_redis_is_master_* (or `check-ssl` / `ssl` on their servers where HAProxy's checks use it: no explicit plain `tcp-check connect`) | `sentinel_tls` (with the same upstream_tls_* settings, from those server lines) |
//!
//! HAProxy's TLS defaults are followed (doc/configuration.txt of HAProxy 2.6, and its
//! `ssl_sock.c`): a bind's `verify` is `none`, so a `ca-file` alone asks clients for nothing
//! (sentinel-proxy refuses that, and `verify optional`); a server's `verify` is `required`
//! unless `global ssl-server-verify none`, and `verify required` without `ca-file` is refused
//! (HAProxy does not start either); the server's certificate name is checked only against its
//! `sni` or `verifyhost` (else the chain alone: `ca`). What has no equivalent and is safe to
//! drop (ciphers, curves, ssl-min-ver TLSv1.2, alpn, ...) is a warning; what would weaken the
//! check (crl-file, TLS 1.3-only settings) or needs more than one certificate (crt-list, a crt
//! directory, different crt files) is refused naming the line ([`crate::cfg`]).
//!
//! Everything else keeps sentinel-proxy's defaults. Lines the reader does not act on are logged
//! once at startup ([`log_notes`]).
//!
//! The environment comes last: every `SENTINEL_PROXY_*` variable (and `REDIS_PASSWORD`,
//! `SENTINEL_PASSWORD`, their `_FILE` forms) is read as in native mode
//! ([`EnvOverrides`]) and wins over haproxy.cfg and the defaults; each one is logged once at
//! startup, passwords without their value.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::cfg::{self, Bind, HaproxyCfgError, HaproxyConfig};
use sentinel_proxy_core::config::{Config, EnvOverrides, HealthListener, LogFormat, Secret};

/// Largest `maxconn` sentinel-proxy accepts (its `max_clients` limit).
const MAX_CLIENTS: u32 = 1 << 24;

/// The drain's limit in HAProxy mode. The chart's haproxy Deployment gets Kubernetes' default
/// 30 s grace period (it has no value for it): 5 s shutdown delay + 20 s + 5 s margin ends the
/// drain before the SIGKILL (scripts/check-packaging.sh reads this constant).
pub const HAPROXY_MODE_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Errors of HAProxy mode. Each names the file and line, or what is missing, and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    /// The configuration could not be read or is not usable (`<file> line <n>: …`).
    #[error("{0}")]
    Config(#[from] HaproxyCfgError),
    /// The file was read but cannot be turned into a sentinel-proxy configuration.
    #[error("haproxy.cfg: {0}")]
    Convert(String),
    /// A bad command line.
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error("cannot write pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The options HAProxy mode understands (printed with every command-line error).
pub const USAGE: &str = "\
usage: haproxy [-W] [-db] [-D] [-q] [-c] [-p PIDFILE] -f FILE|DIR [-f FILE|DIR ...] [-- FILE ...]
sentinel-proxy in HAProxy compatibility mode: reads the redis-ha Helm chart's haproxy.cfg.
  -f FILE|DIR  configuration file (repeatable); a directory stands for its *.cfg files
  -c           check the configuration and exit: 0 if valid, 1 with the file and line at fault
  -W           master-worker mode: accepted, no effect (sentinel-proxy is one process)
  -db          stay in the foreground: accepted, no effect (sentinel-proxy never daemonizes)
  -D           daemon mode: accepted, but sentinel-proxy stays in the foreground (it never forks)
  -p PIDFILE   write the process id to PIDFILE
  -q           quiet: log warnings and errors only
  -v, -vv      print the version and exit
  -h           print this help and exit
  --           the remaining arguments are configuration files";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaproxyAction {
    /// Run the proxy.
    Run,
    /// `-c`: parse and convert the configuration, then exit.
    Check,
    /// `-v` (`verbose = false`) or `-vv`.
    Version { verbose: bool },
    /// `-h`.
    Help,
}

/// HAProxy's command line, as far as sentinel-proxy understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaproxyArgs {
    pub action: HaproxyAction,
    /// `-f` files and directories, in order.
    pub files: Vec<PathBuf>,
    /// `-p PIDFILE`.
    pub pid_file: Option<PathBuf>,
    /// `-D` was given (the proxy still stays in the foreground).
    pub daemon: bool,
    /// `-W` was given (no effect).
    pub master_worker: bool,
    /// `-db` was given (no effect).
    pub foreground: bool,
    /// `-q`: log level warn.
    pub quiet: bool,
}

/// Is this process started as `haproxy` (argv[0]'s file name, e.g. through a symlink)?
pub fn invoked_as_haproxy(argv0: &std::ffi::OsStr) -> bool {
    Path::new(argv0).file_name() == Some(std::ffi::OsStr::new("haproxy"))
}

/// Parse HAProxy's flags (without argv[0]). Flags are separate words as HAProxy wants them
/// (`-W -db`, not `-Wdb`); `-fFILE` and `-pFILE` are accepted too. `-v`/`-vv`/`-h` end the parsing
/// as HAProxy's `-v` does.
pub fn parse_haproxy_args<I, S>(args: I) -> Result<HaproxyArgs, CompatError>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut out = HaproxyArgs {
        action: HaproxyAction::Run,
        files: Vec::new(),
        pid_file: None,
        daemon: false,
        master_worker: false,
        foreground: false,
        quiet: false,
    };
    let mut it = args.into_iter().map(Into::into);
    while let Some(arg) = it.next() {
        let Some(flag) = arg.to_str() else {
            return Err(CompatError::Usage(format!(
                "argument '{}' is not an option (options are ASCII; files follow -f)",
                arg.to_string_lossy()
            )));
        };
        let mut value = |name: &str, attached: &str| -> Result<PathBuf, CompatError> {
            if !attached.is_empty() {
                return Ok(PathBuf::from(attached));
            }
            it.next().map(PathBuf::from).ok_or_else(|| {
                CompatError::Usage(format!("option {name} needs a value: {name} FILE"))
            })
        };
        match flag {
            "-W" => out.master_worker = true,
            "-db" => out.foreground = true,
            "-D" => out.daemon = true,
            "-q" => out.quiet = true,
            "-c" => out.action = HaproxyAction::Check,
            "-v" => {
                out.action = HaproxyAction::Version { verbose: false };
                return Ok(out);
            }
            "-vv" => {
                out.action = HaproxyAction::Version { verbose: true };
                return Ok(out);
            }
            "-h" | "--help" => {
                out.action = HaproxyAction::Help;
                return Ok(out);
            }
            "--" => {
                out.files.extend(it.by_ref().map(PathBuf::from));
                break;
            }
            f if f.starts_with("-f") => {
                let file = value("-f", &f[2..])?;
                out.files.push(file);
            }
            f if f.starts_with("-p") => {
                let file = value("-p", &f[2..])?;
                out.pid_file = Some(file);
            }
            f if f.starts_with('-') => {
                return Err(CompatError::Usage(format!(
                    "unknown option '{f}': sentinel-proxy's HAProxy mode supports only the options below"
                )))
            }
            f => {
                return Err(CompatError::Usage(format!(
                    "unexpected argument '{f}': configuration files follow -f (or --)"
                )))
            }
        }
    }
    if out.files.is_empty() {
        return Err(CompatError::Usage(format!(
            "no configuration file: add -f {}",
            cfg::DEFAULT_CONFIG_PATH
        )));
    }
    Ok(out)
}

/// What `-v` / `-vv` print.
pub fn version_text(verbose: bool) -> String {
    let mut s = format!(
        "sentinel-proxy {} in HAProxy compatibility mode (this is not HAProxy)\n",
        env!("CARGO_PKG_VERSION")
    );
    if verbose {
        s.push_str(
            "Reads the redis-ha Helm chart's haproxy.cfg and routes to the master that Redis \
             Sentinel elected, confirmed with ROLE.\n",
        );
        s.push_str(USAGE);
        s.push('\n');
    }
    s
}

/// The log format and filter of HAProxy mode: `SENTINEL_PROXY_LOG_FORMAT` (text by default)
/// and `SENTINEL_PROXY_LOG`, else `info`, or `warn` with `-q`. (Known before haproxy.cfg is
/// read, so that its notes are logged in that format.)
pub fn log_settings(args: &HaproxyArgs, env: &EnvOverrides) -> (LogFormat, String) {
    let quiet = if args.quiet { "warn" } else { "info" };
    (
        env.log_format().unwrap_or(LogFormat::Text),
        env.log_filter().unwrap_or(quiet).to_string(),
    )
}

/// Read the `-f` files, log what they contain that is not used (once), convert, and lay the
/// environment over the result (each override logged once).
pub fn load(
    args: &HaproxyArgs,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &EnvOverrides,
) -> Result<Config, CompatError> {
    let h = cfg::parse_files(&args.files, env)?;
    log_notes(&h);
    let c = config_from_haproxy(&h)?;
    let c = apply_env(c, overrides);
    tracing::info!(
        files = ?args.files,
        master_name = %c.master_name,
        sentinels = c.sentinels.len(),
        health = ?c.health_listen.as_ref().map(|h| format!("{}{}", h.addr, h.uri)),
        "HAProxy compatibility mode: haproxy.cfg read"
    );
    Ok(c)
}

/// The environment over haproxy.cfg's configuration, each override logged once (a password
/// by its variable only).
pub fn apply_env(c: Config, overrides: &EnvOverrides) -> Config {
    if let Some(file) = overrides.config_file() {
        tracing::warn!(
            file,
            "SENTINEL_PROXY_CONFIG is not read in HAProxy mode: haproxy.cfg and the \
             SENTINEL_PROXY_* variables are the configuration"
        );
    }
    for o in overrides.overrides() {
        let value = o.value.as_deref().unwrap_or("<redacted>");
        tracing::info!("{} overrides haproxy.cfg: {} = {value}", o.variable, o.key);
    }
    overrides.apply(c)
}

/// Log the lines the reader ignored (info) and its warnings (warn), once each.
pub fn log_notes(h: &HaproxyConfig) {
    for (line, directive) in &h.ignored {
        tracing::info!(line, directive = %directive, "haproxy.cfg line not used by sentinel-proxy");
    }
    for w in &h.warnings {
        tracing::warn!("{w}");
    }
}

/// Turn the chart's configuration into sentinel-proxy's; conversion warnings are logged.
pub fn config_from_haproxy(h: &HaproxyConfig) -> Result<Config, CompatError> {
    let (config, warnings) = convert(h)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(config)
}

/// [`config_from_haproxy`] without logging: the configuration and the warnings to log.
pub fn convert(h: &HaproxyConfig) -> Result<(Config, Vec<String>), CompatError> {
    let mut warnings = Vec::new();
    if h.sentinels.is_empty() {
        return Err(CompatError::Convert(
            "no Sentinel: the check_if_redis_is_master_<N> backends have no server lines; \
             add `server R0 <sentinel-address>:26379 check` to them"
                .into(),
        ));
    }
    let mut c = Config::for_sentinels(h.sentinels.clone(), &h.master_name);
    c.shutdown.timeout = HAPROXY_MODE_SHUTDOWN_TIMEOUT;

    let master =
        listener("frontend ft_redis_master", &h.master_bind, &mut warnings).ok_or_else(|| {
            CompatError::Convert(
                "frontend ft_redis_master has no bind line; add `bind [::]:6379 v4v6`".into(),
            )
        })?;
    (c.listen, c.tls.listen_tls, c.tls.tls_listen) = master;
    if let Some((addr, tls, extra)) =
        listener("frontend ft_redis_slave", &h.replica_bind, &mut warnings)
    {
        c.replica_listen = Some(addr);
        (c.tls.replica_listen_tls, c.tls.tls_replica_listen) = (tls, extra);
    }
    // The reader made every ssl bind present the same crt and ca-file.
    if let Some(t) = h
        .master_bind
        .iter()
        .chain(&h.replica_bind)
        .find_map(|b| b.tls.as_ref())
    {
        // HAProxy's crt holds the chain and the key: tls_key_file stays unset.
        c.tls.cert_file = Some(t.crt.clone());
        c.tls.client_ca_file = t.client_ca_file.clone();
    }
    // The reader made the nodes' and the Sentinels' TLS the same where both have it.
    c.tls.upstream = h.node_tls.is_some();
    c.tls.upstream_port = h.node_tls_port.filter(|_| c.tls.upstream);
    c.tls.sentinel = h.sentinel_tls.is_some();
    if let Some(t) = h.node_tls.as_ref().or(h.sentinel_tls.as_ref()) {
        c.tls.upstream_verify = t.verify;
        c.tls.upstream_ca_file = t.ca_file.clone();
        c.tls.upstream_cert_file = t.crt.clone();
        c.tls.upstream_server_name = t.server_name.clone();
    }
    c.admin_listen = first_bind(
        "the prometheus-exporter frontend",
        &h.metrics_bind,
        &mut warnings,
    );
    if c.admin_listen.is_some() {
        // haproxy.metrics.scrapePath: scrapers keep their path (and /metrics works too).
        c.metrics_uri = h.metrics_path.clone().filter(|p| p != "/metrics");
    }
    c.health_listen =
        first_bind("the monitor-uri section", &h.health_bind, &mut warnings).map(|addr| {
            HealthListener {
                addr,
                uri: h.health_uri.clone().unwrap_or_else(|| "/healthz".into()),
            }
        });
    check_distinct(&c)?;

    c.redis_password = secret(&h.redis_username, &h.redis_password);
    c.sentinel_password = secret(&h.sentinel_username, &h.sentinel_password);

    match h.timeouts.connect {
        Some(d) if d.is_zero() => warnings.push(format!(
            "timeout connect 0 (no timeout) is not supported; sentinel-proxy uses {:?}",
            c.timeouts.connect
        )),
        Some(d) => c.timeouts.connect = d,
        None => {}
    }
    c.timeouts.client_idle = idle_timeout(&h.timeouts);

    if let Some(m) = h.maxconn {
        if m == 0 || m > MAX_CLIENTS {
            return Err(CompatError::Convert(format!(
                "maxconn {m} (global or ft_redis_master): sentinel-proxy accepts 1 to {MAX_CLIENTS} \
                 clients; set maxconn within that range"
            )));
        }
        c.limits.max_clients = m as usize;
    }
    Ok((c, warnings))
}

/// How long an established TCP session may be idle before HAProxy closes it: once both sides
/// are connected, `timeout tunnel` replaces `timeout client` and `timeout server`; without it,
/// whichever side's inactivity timeout runs out first ends the session. 0 (or unset) is no
/// timeout on that side. sentinel-proxy connects its upstream on demand, so this is the one
/// client idle timeout it applies.
fn idle_timeout(t: &cfg::Timeouts) -> Option<std::time::Duration> {
    let set = |d: Option<std::time::Duration>| d.filter(|d| !d.is_zero());
    match t.tunnel {
        Some(tunnel) => set(Some(tunnel)),
        None => [set(t.client), set(t.server)].into_iter().flatten().min(),
    }
}

fn secret(user: &Option<String>, password: &Option<String>) -> Option<Secret> {
    let s = Secret::new(password.as_deref().filter(|p| !p.is_empty())?);
    Some(match user {
        Some(u) => s.for_user(u.clone()),
        None => s,
    })
}

/// A client listener from its frontend's binds: the first one, TLS or not; when that one is
/// plain, the first `ssl` bind too, as the extra TLS listener beside it (`tls_listen`).
/// Other binds are named in a warning. `(address, it speaks TLS, the extra TLS listener)`.
fn listener(
    what: &str,
    binds: &[Bind],
    warnings: &mut Vec<String>,
) -> Option<(SocketAddr, bool, Option<SocketAddr>)> {
    let first = binds.first()?;
    let extra = match first.tls {
        Some(_) => None,
        None => binds[1..].iter().find(|b| b.tls.is_some()),
    };
    let used = |b: &&Bind| std::ptr::eq(*b, first) || extra.is_some_and(|e| std::ptr::eq(*b, e));
    let others: Vec<String> = binds
        .iter()
        .filter(|b| !used(b))
        .map(|b| b.addr.to_string())
        .collect();
    if !others.is_empty() {
        let on = match extra {
            Some(e) => format!(
                "the first, {}, and the first ssl one, {}",
                first.addr, e.addr
            ),
            None => format!("the first, {}", first.addr),
        };
        warnings.push(format!(
            "{what} has {} bind addresses; sentinel-proxy listens on {on}, and not on {}",
            binds.len(),
            others.join(", ")
        ));
    }
    for b in std::iter::once(first).chain(extra) {
        v6only_warning(what, b, warnings);
    }
    Some((first.addr, first.tls.is_some(), extra.map(|b| b.addr)))
}

fn v6only_warning(what: &str, b: &Bind, warnings: &mut Vec<String>) {
    if b.v6only && b.addr.ip().is_unspecified() {
        warnings.push(format!(
            "{what}: bind {} v6only: sentinel-proxy listens dual-stack on [::], so IPv4 clients \
             are accepted too",
            b.addr
        ));
    }
}

/// The first bind of a listener; later ones are named in a warning (one address per listener).
fn first_bind(what: &str, binds: &[Bind], warnings: &mut Vec<String>) -> Option<SocketAddr> {
    let first = binds.first()?;
    if binds.len() > 1 {
        let others: Vec<String> = binds[1..].iter().map(|b| b.addr.to_string()).collect();
        warnings.push(format!(
            "{what} has {} bind addresses; sentinel-proxy listens on the first, {}, and not on {}",
            binds.len(),
            first.addr,
            others.join(", ")
        ));
    }
    v6only_warning(what, first, warnings);
    Some(first.addr)
}

/// Two of our listeners on one port would fail at startup; say so now (also under `-c`).
/// An IPv6 wildcard listens dual-stack, so it takes the IPv4 addresses of its port too.
fn check_distinct(c: &Config) -> Result<(), CompatError> {
    let mut addrs: Vec<(&str, SocketAddr)> = vec![("ft_redis_master", c.listen)];
    addrs.extend(c.tls.tls_listen.map(|a| ("ft_redis_master (ssl)", a)));
    addrs.extend(c.replica_listen.map(|a| ("ft_redis_slave", a)));
    addrs.extend(
        c.tls
            .tls_replica_listen
            .map(|a| ("ft_redis_slave (ssl)", a)),
    );
    addrs.extend(
        c.admin_listen
            .map(|a| ("the prometheus-exporter frontend", a)),
    );
    addrs.extend(
        c.health_listen
            .as_ref()
            .map(|h| ("the monitor-uri section", h.addr)),
    );
    for (i, (wa, a)) in addrs.iter().enumerate() {
        for (wb, b) in &addrs[..i] {
            let wild6 = |x: &SocketAddr| x.is_ipv6() && x.ip().is_unspecified();
            let clash = a.port() == b.port()
                && (a == b || (wild6(a) && b.is_ipv4()) || (wild6(b) && a.is_ipv4()));
            if clash {
                return Err(CompatError::Convert(format!(
                    "{wa} binds {a} and {wb} binds {b}: sentinel-proxy listens dual-stack on [::], \
                     so these take the same port; give each listener its own port"
                )));
            }
        }
    }
    Ok(())
}

/// `-p PIDFILE`: write this process's id, as HAProxy does.
pub fn write_pid_file(path: &Path) -> Result<(), CompatError> {
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|source| {
        CompatError::PidFile {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Log what the accepted-but-inert flags mean, once, at startup.
pub fn log_flags(args: &HaproxyArgs) {
    if args.daemon {
        tracing::info!(
            "-D: sentinel-proxy does not fork into the background; it keeps running in the foreground"
        );
    }
}

/// HAProxy's other signals: SIGUSR1 (soft stop) completes this future, so the caller stops the
/// proxy gracefully; SIGHUP and SIGUSR2 (reload in master-worker mode) are logged and ignored —
/// the configuration is read once, restart the process to apply a new one. (Without handlers
/// their default action would kill the process.)
pub async fn haproxy_signals() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut usr1), Ok(mut usr2), Ok(mut hup)) = (
            signal(SignalKind::user_defined1()),
            signal(SignalKind::user_defined2()),
            signal(SignalKind::hangup()),
        ) else {
            return std::future::pending().await;
        };
        loop {
            tokio::select! {
                _ = usr1.recv() => {
                    tracing::info!("SIGUSR1 (HAProxy soft stop): shutting down");
                    return;
                }
                _ = usr2.recv() => tracing::warn!(
                    "SIGUSR2 (HAProxy reload) ignored: sentinel-proxy reads haproxy.cfg once; restart it to apply changes"
                ),
                _ = hup.recv() => tracing::warn!(
                    "SIGHUP ignored: sentinel-proxy reads haproxy.cfg once; restart it to apply changes"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}

#[cfg(test)]
#[path = "compat_tests.rs"]
mod tests;
