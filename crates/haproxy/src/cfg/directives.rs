//! The directives sentinel-proxy acts on, line by line: `bind`, `server`, `timeout`,
//! `maxconn`, `monitor-uri`, the prometheus-exporter rule and the `tcp-check send` lines that
//! carry the master name and the passwords.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use sentinel_proxy_core::resp::{args, Limits, Mode, Scan, Scanner};

use super::addresses::parse_server_addr;
use super::bind_server::{tls_extra, SERVER_VALUE_KEYWORDS};
use super::lexing::{Line, Loc, Seg, Word};
use super::sections::{Disp, Parser, Roles, SecData, Section};
use super::{time_value, ErrorKind, HaproxyCfgError, HostPort, ServerTls};

/// Credentials from an AUTH command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cred {
    pub(super) user: Option<String>,
    pub(super) pass: String,
}

/// The settings of a `server` line that `default-server` can give too.
#[derive(Debug, Clone, Default)]
pub(super) struct ServerDefaults {
    pub(super) inter: Option<Duration>,
    pub(super) check_port: Option<u16>,
    pub(super) check_addr: Option<String>,
    /// `ssl`: traffic (and with it the health checks) over TLS.
    pub(super) ssl: bool,
    /// `check-ssl`: the health checks over TLS.
    pub(super) check_ssl: bool,
    /// `verify required` (`Some(true)`) or `verify none`; unset: the global
    /// `ssl-server-verify` (HAProxy's default `required`).
    pub(super) verify_required: Option<bool>,
    /// `ca-file`, with `ca-base` applied.
    pub(super) ca_file: Option<PathBuf>,
    /// `crt`, with `crt-base` applied.
    pub(super) crt: Option<PathBuf>,
    /// The NAME of `sni str(NAME)`.
    pub(super) sni: Option<String>,
    /// `verifyhost`.
    pub(super) verifyhost: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct ServerSpec {
    pub(super) addr: HostPort,
    pub(super) inter: Option<Duration>,
    pub(super) disabled: bool,
    pub(super) name: String,
    pub(super) loc: Loc,
    /// How the server is reached over TLS (`None`: plain TCP).
    pub(super) tls: Option<ServerTls>,
}

/// A `tcp-check connect` line's options that matter here.
#[derive(Debug, Default)]
pub(super) struct Connect {
    pub(super) port: Option<u16>,
    pub(super) ssl: bool,
    /// `default`: the connection takes the server's check settings (`check-ssl`, ...).
    pub(super) default: bool,
    pub(super) sni: Option<String>,
}

impl<'a> Parser<'a> {
    pub(super) fn handle_line(
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
            // Applied before any section is read, as HAProxy applies it after reading them all.
            "ssl-server-verify" if r.global => disp = Disp::Used,
            "ca-base" | "crt-base" if r.global => {
                self.check_clean(line, kw)?;
                if a1.is_empty() {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Invalid,
                        format!("{kw} expects a directory path, e.g. '{kw} /etc/ssl'"),
                    ));
                }
                let slot = if kw == "ca-base" {
                    &mut self.ca_base
                } else {
                    &mut self.crt_base
                };
                if slot.is_some() {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Invalid,
                        format!("{kw} is already specified (HAProxy refuses a second one)"),
                    ));
                }
                *slot = Some(PathBuf::from(a1));
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
                    let t = time_value(&format!("timeout {a1}"), v)
                        .map_err(|e| self.err(line.loc, ErrorKind::Invalid, e.to_string()))?;
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
                let tls = binds.first().is_some_and(|b| b.tls.is_some());
                if tls && (r.health || r.metrics) {
                    let what = if r.health {
                        "the monitor-uri health check"
                    } else {
                        "the prometheus-exporter metrics"
                    };
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Unsupported,
                        format!(
                            "{} serves {what}, which sentinel-proxy serves over plain HTTP \
                             only: remove ssl (and crt) from this bind",
                            sec.label()
                        ),
                    ));
                }
                for b in binds {
                    if r.master_front {
                        d.master_binds.push((b.clone(), line.loc));
                    }
                    if r.replica_front {
                        d.replica_binds.push((b.clone(), line.loc));
                    }
                    if r.health {
                        d.health_binds.push((b.clone(), line.loc));
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
            "default-server" if r.any_redis_back() || r.defaults => {
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
                } else if r.replica_back {
                    d.replica_nodes.push(spec);
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

    pub(super) fn handle_tcp_check(
        &mut self,
        sec: &Section,
        r: Roles,
        line: &Line,
        d: &mut SecData,
    ) -> Result<Disp, HaproxyCfgError> {
        match line.w(1) {
            "expect" | "comment" => Ok(Disp::Covered),
            "connect" => {
                // Read before the section's other lines (`Parser::tcp_check_connect`): the
                // port and ssl of the Sentinel checks, ssl of the node checks (which must
                // match their servers').
                let c = self.tcp_check_connect(line, r.sentinel_check)?;
                if c.sni.is_some() && !r.sentinel_check {
                    self.warn(
                        line.loc,
                        "'tcp-check connect sni' is ignored by sentinel-proxy: its ROLE checks \
                         send the servers' sni",
                    );
                }
                let used = r.sentinel_check && (c.port.is_some() || c.ssl || c.sni.is_some());
                Ok(if used { Disp::Used } else { Disp::Covered })
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
                let Some(args) = command_args(&data) else {
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
                        self.keep_first(&mut d.master_name, line.loc, name, |first, name, at| {
                            format!("master name '{name}' differs from '{first}' at {at}")
                        })?;
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

    pub(super) fn set_auth(
        &mut self,
        sec: &Section,
        line: &Line,
        d: &mut SecData,
        cred: Option<Cred>,
    ) -> Result<(), HaproxyCfgError> {
        self.keep_first(&mut d.auth, line.loc, cred, |_, _, at| {
            format!(
                "a second, different AUTH in {} (first at {at})",
                sec.label()
            )
        })
    }

    /// A section may repeat a value (the master name, its AUTH) but not change it: keeps the
    /// first in `slot`, and a different later one is an error worded by
    /// `differs(first, later, where the first is)`.
    fn keep_first<T: PartialEq>(
        &self,
        slot: &mut Option<(Loc, T)>,
        loc: Loc,
        value: T,
        differs: impl FnOnce(&T, &T, String) -> String,
    ) -> Result<(), HaproxyCfgError> {
        match slot {
            Some((first_loc, first)) if *first != value => Err(self.err(
                loc,
                ErrorKind::Inconsistent,
                differs(first, &value, self.where_(*first_loc)),
            )),
            Some(_) => Ok(()),
            None => {
                *slot = Some((loc, value));
                Ok(())
            }
        }
    }

    /// Builds credentials; an empty password yields `None` plus a warning.
    pub(super) fn cred_from(
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

    pub(super) fn cred_from_inner(
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

    pub(super) fn parse_port(&self, line: &Line, i: usize) -> Result<u16, HaproxyCfgError> {
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
    pub(super) fn parse_server(
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
        // Whether HAProxy's health checks of this server use TLS (check.c, tcpcheck.c): the
        // server's check transport is TLS with `check-ssl`, or with `ssl` when no check `port`
        // or `addr` sends the checks elsewhere; an implicit connect (no `tcp-check connect`
        // line) and `tcp-check connect default` use it, an explicit `tcp-check connect` uses
        // TLS only with its own `ssl` (the chart writes a bare `tcp-check connect`).
        let own_addr = sd.check_port.is_some() || check_addr.is_some() || sd.check_addr.is_some();
        let check_xprt_tls = sd.check_ssl || (sd.ssl && !own_addr);
        let checks_tls = match d.connect_rule {
            None => check_xprt_tls,
            Some(_) => d.connect_ssl.is_some() || (d.connect_default && check_xprt_tls),
        };
        if !checks_tls && (sd.check_ssl || (r.sentinel_check && sd.ssl)) {
            let o = if sd.check_ssl { "check-ssl" } else { "ssl" };
            let why = match d.connect_rule {
                Some(at) if check_xprt_tls => format!(
                    "the 'tcp-check connect' at {} has neither 'ssl' nor 'default'",
                    self.where_(at)
                ),
                _ => "'port' or 'addr' sends them elsewhere (add check-ssl)".to_string(),
            };
            self.warn(
                line.loc,
                format!(
                    "server {name}: '{o}' does not make the health checks use TLS: {why}, so \
                     HAProxy checks in plain TCP{}; write 'tcp-check connect ssl' for TLS",
                    if r.sentinel_check {
                        ", and sentinel-proxy talks to this Sentinel in plain TCP"
                    } else {
                        ""
                    }
                ),
            );
        }
        // A Sentinel check backend only checks: TLS for its checks is TLS to the Sentinel. A
        // node backend's traffic decides (its ROLE checks and client sessions share one
        // connection setting in sentinel-proxy), and checks over TLS to a node reached in
        // plain TCP cannot be followed.
        let tls = if r.sentinel_check {
            checks_tls
        } else {
            if !sd.ssl && checks_tls {
                let how = match d.connect_ssl {
                    Some(at) => format!("'tcp-check connect ssl' at {}", self.where_(at)),
                    None => "check-ssl".to_string(),
                };
                return Err(self.err(
                    line.loc,
                    ErrorKind::Unsupported,
                    format!(
                        "server {name}: the health checks use TLS ({how}) but the connections \
                         do not (no 'ssl'): sentinel-proxy checks a Redis node the way it \
                         connects to it; add 'ssl' to the server lines, or remove TLS from the \
                         checks"
                    ),
                ));
            }
            sd.ssl
        };
        let connect_sni = if r.sentinel_check {
            d.connect_sni.as_deref()
        } else {
            None
        };
        // HAProxy sets up (and checks: a CA for `verify required`) the TLS of every server
        // with ssl or check-ssl, or in a backend with `tcp-check connect ssl`, used or not.
        let prepared = sd.ssl || sd.check_ssl || d.connect_ssl.is_some();
        let tls = if prepared {
            Some(self.server_tls(line, name, &sd, connect_sni)?).filter(|_| tls)
        } else {
            None
        };
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
            name: name.to_string(),
            loc: line.loc,
            tls,
        })
    }

    /// The options of a `tcp-check connect` line: `port` (read when `with_port`), `ssl`, `sni`.
    pub(super) fn tcp_check_connect(
        &self,
        line: &Line,
        with_port: bool,
    ) -> Result<Connect, HaproxyCfgError> {
        let mut c = Connect::default();
        let mut i = 2;
        while i < line.words.len() {
            match line.w(i) {
                "ssl" => {
                    self.check_clean(line, "tcp-check connect")?;
                    c.ssl = true;
                    i += 1;
                }
                "default" => {
                    c.default = true;
                    i += 1;
                }
                "port" if with_port => {
                    self.check_clean(line, "tcp-check connect")?;
                    c.port = Some(self.parse_port(line, i + 1)?);
                    i += 2;
                }
                "sni" => {
                    self.check_clean(line, "tcp-check connect")?;
                    let v = line.w(i + 1);
                    if v.is_empty() {
                        return Err(self.err(
                            line.loc,
                            ErrorKind::Invalid,
                            "tcp-check connect sni needs a name",
                        ));
                    }
                    c.sni = Some(v.to_string());
                    i += 2;
                }
                "port" | "addr" | "alpn" | "proto" | "comment" => i += 2,
                _ => i += 1,
            }
        }
        Ok(c)
    }

    pub(super) fn parse_server_params(
        &mut self,
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
                    let t = time_value("inter", line.w(i + 1))
                        .map_err(|e| self.err(line.loc, ErrorKind::Invalid, e.to_string()))?;
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
                "ssl" | "no-ssl" => {
                    sd.ssl = p == "ssl";
                    i += 1;
                }
                "check-ssl" | "no-check-ssl" => {
                    sd.check_ssl = p == "check-ssl";
                    i += 1;
                }
                "verify" => {
                    sd.verify_required = Some(match line.w(i + 1) {
                        "none" => false,
                        "required" => true,
                        v => {
                            return Err(self.err(
                                line.loc,
                                ErrorKind::Invalid,
                                format!(
                                    "server verify '{v}': expected 'verify none' or 'verify \
                                     required' (HAProxy has no other mode for servers)"
                                ),
                            ))
                        }
                    });
                    i += 2;
                }
                "ca-file" => {
                    if line.w(i + 1) == "@system-ca" {
                        return Err(self.err(
                            line.loc,
                            ErrorKind::Unsupported,
                            "ca-file @system-ca: sentinel-proxy does not read the system's CA \
                             store; name the PEM file of the CA that signs the servers' \
                             certificates",
                        ));
                    }
                    let base = self.ca_base.clone();
                    sd.ca_file = Some(self.tls_file(
                        line,
                        i,
                        base.as_deref(),
                        "sentinel-proxy reads the CAs from one PEM file: name it (cat several \
                         CA files into one)",
                    )?);
                    i += 2;
                }
                "crt" => {
                    let base = self.crt_base.clone();
                    sd.crt = Some(self.tls_file(
                        line,
                        i,
                        base.as_deref(),
                        "name the PEM file with the client certificate and its key",
                    )?);
                    i += 2;
                }
                "sni" => {
                    let v = line.w(i + 1);
                    let fixed = v
                        .strip_prefix("str(")
                        .and_then(|r| r.strip_suffix(')'))
                        .filter(|n| !n.is_empty() && !n.contains([')', '(', ',']));
                    let Some(name) = fixed else {
                        return Err(self.err(
                            line.loc,
                            ErrorKind::Unsupported,
                            format!(
                                "sni '{v}': sentinel-proxy sends one fixed name and cannot \
                                 evaluate sample expressions; write it as 'sni str(<name>)'"
                            ),
                        ));
                    };
                    sd.sni = Some(name.to_string());
                    i += 2;
                }
                "verifyhost" => {
                    let v = line.w(i + 1);
                    if v.is_empty() {
                        return Err(self.err(
                            line.loc,
                            ErrorKind::Invalid,
                            "verifyhost needs a host name",
                        ));
                    }
                    sd.verifyhost = Some(v.to_string());
                    i += 2;
                }
                "no-verifyhost" => {
                    sd.verifyhost = None;
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
                _ if tls_extra(p, "", true).is_some() => {
                    i += self.tls_extra_option(line, i, "server")?.unwrap_or(1);
                }
                _ if SERVER_VALUE_KEYWORDS.contains(&p) => i += 2,
                _ => i += 1,
            }
        }
        Ok(())
    }
}

/// True when the word is `AUTH ${VAR}` (any case) optionally followed by a
/// line ending: the whole variable is then the password.
pub(super) fn single_var_auth(w: &Word) -> bool {
    let mut segs: Vec<&Seg> = w.segs.iter().collect();
    if let Some(Seg::Lit(v)) = segs.last() {
        if v.as_slice() == b"\r\n" || v.as_slice() == b"\n" {
            segs.pop();
        }
    }
    matches!(segs.as_slice(), [Seg::Lit(a), Seg::Var(_)] if a.eq_ignore_ascii_case(b"AUTH "))
}

pub(super) fn starts_with_ci(data: &[u8], prefix: &[u8]) -> bool {
    data.len() >= prefix.len() && data[..prefix.len()].eq_ignore_ascii_case(prefix)
}

pub(super) fn trim_crlf(mut v: &[u8]) -> &[u8] {
    // Only the first command line counts.
    if let Some(p) = v.iter().position(|b| *b == b'\n') {
        v = &v[..p];
    }
    if v.last() == Some(&b'\r') {
        v = &v[..v.len() - 1];
    }
    v
}

pub(super) fn hex_decode(s: &[u8]) -> Option<Vec<u8>> {
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

/// The arguments of the first command in `data`, as Redis reads it: a RESP array
/// (`*2\r\n$4\r\nAUTH\r\n...`, which the library's scanner delimits) or the first line,
/// split with Redis' quoting rules (`sdssplitargs`). `None` if it cannot be parsed. HAProxy
/// sends `data` as written, so a line without its `\r\n` still counts.
pub(super) fn command_args(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    if data.first() != Some(&b'*') {
        return args::split_args(trim_crlf(data));
    }
    let Ok(Scan::Frame(frame)) = Scanner::new(Mode::Request, Limits::default()).scan(data) else {
        return None;
    };
    let args = args::request_args(&data[..frame.len])?;
    Some(args.into_iter().map(Cow::into_owned).collect())
}
