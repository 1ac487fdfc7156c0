//! The directives sentinel-proxy acts on, line by line: `bind`, `server`, `timeout`,
//! `maxconn`, `monitor-uri`, the prometheus-exporter rule and the `tcp-check send` lines that
//! carry the master name and the passwords.

use std::borrow::Cow;
use std::time::Duration;

use sentinel_proxy_core::resp::{args, Limits, Mode, Scan, Scanner};

use super::addresses::{is_tls_bind_option, parse_bind_addrs, parse_server_addr};
use super::lexing::{Line, Loc, Seg, Word};
use super::sections::{Disp, Parser, Roles, SecData, Section};
use super::{time_value, Bind, ErrorKind, HaproxyCfgError, HostPort};

/// Credentials from an AUTH command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cred {
    pub(super) user: Option<String>,
    pub(super) pass: String,
}

#[derive(Debug, Clone, Default)]
pub(super) struct ServerDefaults {
    pub(super) inter: Option<Duration>,
    pub(super) check_port: Option<u16>,
    pub(super) check_addr: Option<String>,
    pub(super) tls: bool,
}

#[derive(Debug, Clone)]
pub(super) struct ServerSpec {
    pub(super) addr: HostPort,
    pub(super) inter: Option<Duration>,
    pub(super) disabled: bool,
}

const TLS_HINT: &str = "TLS is not supported by sentinel-proxy; terminate TLS in front of it \
                        (or set haproxy.tls.enabled=false in the chart)";

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

    pub(super) fn parse_server_params(
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

    pub(super) fn parse_bind(&mut self, line: &Line) -> Result<Vec<Bind>, HaproxyCfgError> {
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

pub(super) const SERVER_VALUE_KEYWORDS: &[&str] = &[
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
