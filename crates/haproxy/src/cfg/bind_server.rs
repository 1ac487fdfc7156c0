//! `bind` lines, and the TLS side of `server` lines: `ssl`, `crt`, `ca-file`, `verify`, `sni`,
//! the options sentinel-proxy ignores or refuses, and the server keywords that take a value.

use std::path::{Path, PathBuf};

use sentinel_proxy_core::config::Verify;

use super::addresses::{is_tls_bind_option, parse_bind_addrs};
use super::directives::ServerDefaults;
use super::lexing::Line;
use super::sections::Parser;
use super::{Bind, BindTls, ErrorKind, HaproxyCfgError, ServerTls};

/// sentinel-proxy's TLS versions, for the messages about HAProxy's version options.
const VERSIONS: &str = "sentinel-proxy speaks TLS 1.2 and 1.3 (not configurable)";

/// A TLS option of a `bind` or `server` line that sentinel-proxy has no setting for.
pub(super) struct TlsExtra {
    /// The option takes a value (the next word).
    takes_value: bool,
    /// `Ok(why it is safe to ignore)`, or `Err(why it is refused)`.
    verdict: Result<&'static str, (ErrorKind, String)>,
}

/// `Some` when `o` is such an option (of a `server` line when `server`, else of a `bind`
/// line); `value` is the word after it.
pub(super) fn tls_extra(o: &str, value: &str, server: bool) -> Option<TlsExtra> {
    const SUITES: &str = "rustls negotiates from its own fixed set of modern cipher suites, \
                          key exchange groups and signature schemes";
    let ignore = |takes_value, why| {
        Some(TlsExtra {
            takes_value,
            verdict: Ok(why),
        })
    };
    let refuse = |takes_value, why: String| {
        Some(TlsExtra {
            takes_value,
            verdict: Err((ErrorKind::Unsupported, why)),
        })
    };
    let version = |v: &str| -> Option<u8> {
        ["SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
            .iter()
            .position(|x| *x == v)
            .map(|i| i as u8)
    };
    match o {
        "ciphers" | "ciphersuites" | "curves" | "ecdhe" | "sigalgs" | "client-sigalgs" => {
            ignore(true, SUITES)
        }
        "prefer-client-ciphers" => ignore(false, SUITES),
        "check-alpn" | "check-sni" | "no-ssl-reuse" | "ssl-reuse" if !server => None,
        "alpn" | "npn" | "check-alpn" => ignore(
            true,
            "sentinel-proxy negotiates no ALPN or NPN protocol (Redis clients ask for none)",
        ),
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" | "no-tlsv13" | "force-tlsv12" => {
            ignore(false, VERSIONS)
        }
        // Ignoring these would accept TLS 1.2 where HAProxy refuses it.
        "no-tlsv12" | "force-tlsv13" => refuse(
            false,
            format!("'{o}' allows TLS 1.3 only, but {VERSIONS}: remove it, or keep HAProxy"),
        ),
        "force-sslv3" | "force-tlsv10" | "force-tlsv11" => refuse(
            false,
            format!("'{o}' asks for a protocol older than TLS 1.2; {VERSIONS}"),
        ),
        "ssl-min-ver" | "ssl-max-ver" => match version(value) {
            _ if value.is_empty() => ignore(true, VERSIONS),
            None => Some(TlsExtra {
                takes_value: true,
                verdict: Err((
                    ErrorKind::Invalid,
                    format!(
                        "{o} '{value}' is not a protocol version: expected SSLv3, TLSv1.0, \
                         TLSv1.1, TLSv1.2 or TLSv1.3"
                    ),
                )),
            }),
            Some(4) if o == "ssl-min-ver" => refuse(
                true,
                format!(
                    "'ssl-min-ver TLSv1.3' allows TLS 1.3 only, but {VERSIONS}: remove it, or \
                     keep HAProxy"
                ),
            ),
            Some(v) if o == "ssl-max-ver" && v < 3 => refuse(
                true,
                format!("'ssl-max-ver {value}' asks for a protocol older than TLS 1.2; {VERSIONS}"),
            ),
            Some(_) => ignore(true, VERSIONS),
        },
        "strict-sni" => ignore(
            false,
            "sentinel-proxy presents its one certificate whatever name the client asks for",
        ),
        "no-ca-names" => ignore(false, "rustls names the client CAs it accepts"),
        "ca-ignore-err" | "crt-ignore-err" => ignore(
            true,
            "sentinel-proxy ignores no certificate error: such certificates are refused",
        ),
        "tls-ticket-keys" => ignore(true, "rustls manages its own session resumption"),
        "no-tls-tickets" | "tls-tickets" | "no-ssl-reuse" | "ssl-reuse" => {
            ignore(false, "rustls manages its own session resumption")
        }
        "allow-0rtt" => ignore(false, "sentinel-proxy accepts no 0-RTT data"),
        "ocsp-update" => ignore(true, "sentinel-proxy staples no OCSP response"),
        "check-sni" => ignore(
            true,
            "sentinel-proxy's health checks send the same name as its connections (sni)",
        ),
        // Ignoring a revocation list would let revoked certificates in.
        "crl-file" => refuse(
            true,
            "certificate revocation lists (crl-file) are not supported by sentinel-proxy, and \
             ignoring one would accept the certificates it revokes: remove it (and revoke by \
             replacing the CA or the certificates), or keep HAProxy"
                .to_string(),
        ),
        _ => None,
    }
}

/// `base/path` for a relative `path` when `ca-base` / `crt-base` set a `base`, as HAProxy does.
fn with_base(base: Option<&Path>, path: &str) -> PathBuf {
    match base {
        Some(b) if !path.starts_with('/') => b.join(path),
        _ => PathBuf::from(path),
    }
}

/// HAProxy words for how a group of servers is reached, for the messages.
pub(super) fn describe_server_tls(t: &Option<ServerTls>) -> String {
    let Some(t) = t else {
        return "connects in plain TCP (no ssl)".to_string();
    };
    let mut s = match t.verify {
        Verify::None => "connects with ssl verify none".to_string(),
        Verify::Ca | Verify::Full => "connects with ssl verify required".to_string(),
    };
    if let Some(ca) = &t.ca_file {
        s.push_str(&format!(" ca-file {}", ca.display()));
    }
    if let Some(crt) = &t.crt {
        s.push_str(&format!(" crt {}", crt.display()));
    }
    match &t.server_name {
        Some(n) => s.push_str(&format!(" and the name {n} (sni or verifyhost)")),
        None => s.push_str(" and no sni or verifyhost"),
    }
    s
}

impl<'a> Parser<'a> {
    /// The TLS of a server line that uses it, with HAProxy's defaults: `verify required`
    /// unless `verify none` or the global `ssl-server-verify none`, and then a `ca-file`
    /// (HAProxy refuses to start without one too). HAProxy checks the certificate's names
    /// only against the SNI it sent (`sni`) or else `verifyhost`; with neither it checks the
    /// chain alone, which is [`Verify::Ca`].
    pub(super) fn server_tls(
        &mut self,
        line: &Line,
        name: &str,
        sd: &ServerDefaults,
        connect_sni: Option<&str>,
    ) -> Result<ServerTls, HaproxyCfgError> {
        let required = sd.verify_required.unwrap_or(self.server_verify_required);
        if !required {
            if sd.ca_file.is_some() {
                self.warn(
                    line.loc,
                    format!(
                        "server {name}: ca-file is not used with 'verify none' (HAProxy does \
                         not load it either): the certificate is not checked"
                    ),
                );
            }
            // Only an SNI is sent when nothing is verified: verifyhost has no effect.
            return Ok(ServerTls {
                verify: Verify::None,
                ca_file: None,
                crt: sd.crt.clone(),
                server_name: sd.sni.clone().or(connect_sni.map(str::to_string)),
            });
        }
        let Some(ca_file) = sd.ca_file.clone() else {
            let why = if sd.verify_required.is_none() {
                "HAProxy's default 'verify required' (no 'verify' on the line, no \
                 'ssl-server-verify none' in global) needs a ca-file"
            } else {
                "'verify required' needs a ca-file"
            };
            return Err(self.err(
                line.loc,
                ErrorKind::Invalid,
                format!(
                    "server {name} uses TLS: {why}, the CA that signs the server's certificate; \
                     add 'ca-file /path/to/ca.pem', or 'verify none' to skip the check (HAProxy \
                     refuses this line too)"
                ),
            ));
        };
        if let (Some(sni), Some(host)) = (&sd.sni, &sd.verifyhost) {
            if sni != host {
                self.warn(
                    line.loc,
                    format!(
                        "server {name}: sentinel-proxy sends and checks the sni name {sni}; \
                         verifyhost {host} is not used"
                    ),
                );
            }
        }
        // sni first: HAProxy checks the name it sent, and verifyhost only without one.
        // sentinel-proxy sends the name it checks as SNI too (Redis ignores SNI).
        let server_name = sd
            .sni
            .clone()
            .or_else(|| sd.verifyhost.clone())
            .or(connect_sni.map(str::to_string));
        Ok(ServerTls {
            verify: if server_name.is_some() {
                Verify::Full
            } else {
                Verify::Ca
            },
            ca_file: Some(ca_file),
            crt: sd.crt.clone(),
            server_name,
        })
    }

    /// The path after a `ca-file` / `crt` keyword at word `i`, with `base` for a relative one;
    /// a directory is refused (`dir_hint` says what to do instead).
    pub(super) fn tls_file(
        &self,
        line: &Line,
        i: usize,
        base: Option<&Path>,
        dir_hint: &str,
    ) -> Result<PathBuf, HaproxyCfgError> {
        let (kw, v) = (line.w(i), line.w(i + 1));
        if v.is_empty() {
            return Err(self.err(
                line.loc,
                ErrorKind::Invalid,
                format!("'{kw}' needs a file path, e.g. '{kw} /etc/redis/tls/file.pem'"),
            ));
        }
        let path = with_base(base, v);
        if path.is_dir() {
            return Err(self.err(
                line.loc,
                ErrorKind::Unsupported,
                format!("{kw} {} is a directory: {dir_hint}", path.display()),
            ));
        }
        Ok(path)
    }

    /// Handles `o` at word `i` if it is one of [`tls_extra`]'s options: a warning, or the
    /// error; returns how many words it took (`None`: not such an option).
    pub(super) fn tls_extra_option(
        &mut self,
        line: &Line,
        i: usize,
        what: &str,
    ) -> Result<Option<usize>, HaproxyCfgError> {
        let o = line.w(i);
        let Some(extra) = tls_extra(o, line.w(i + 1), what == "server") else {
            return Ok(None);
        };
        if extra.takes_value && line.w(i + 1).is_empty() {
            return Err(self.err(
                line.loc,
                ErrorKind::Invalid,
                format!("{what} option '{o}' needs a value"),
            ));
        }
        match extra.verdict {
            Ok(why) => self.warn(
                line.loc,
                format!("{what} option '{o}' is ignored by sentinel-proxy: {why}"),
            ),
            Err((kind, why)) => {
                return Err(self.err(line.loc, kind, format!("{what} option '{o}': {why}")))
            }
        }
        Ok(Some(if extra.takes_value { 2 } else { 1 }))
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
        let mut ssl = false;
        let mut crt: Option<PathBuf> = None;
        let mut ca_file: Option<PathBuf> = None;
        let mut verify: Option<&str> = None;
        let mut i = 2;
        while i < line.words.len() {
            let o = line.w(i);
            if let Some(n) = self.tls_extra_option(line, i, "bind")? {
                i += n;
                continue;
            }
            match o {
                "ssl" => ssl = true,
                "crt" => {
                    let base = self.crt_base.clone();
                    let path = self.tls_file(
                        line,
                        i,
                        base.as_deref(),
                        "HAProxy loads every certificate in it and picks one by the name the \
                         client asks for, but sentinel-proxy presents one certificate: name its \
                         PEM file (chain and key)",
                    )?;
                    if let Some(first) = crt.as_ref().filter(|c| **c != path) {
                        return Err(self.err(
                            line.loc,
                            ErrorKind::Unsupported,
                            format!(
                                "bind has two certificates, crt {} and crt {}: sentinel-proxy \
                                 presents one certificate (tls_cert_file); keep one crt",
                                first.display(),
                                path.display()
                            ),
                        ));
                    }
                    crt = Some(path);
                    i += 1;
                }
                "ca-file" => {
                    let base = self.ca_base.clone();
                    ca_file = Some(self.tls_file(
                        line,
                        i,
                        base.as_deref(),
                        "sentinel-proxy reads the client CAs from one PEM file: name it (cat \
                         several CA files into one)",
                    )?);
                    i += 1;
                }
                "verify" => {
                    verify = Some(match line.w(i + 1) {
                        v @ ("none" | "required") => v,
                        "optional" => {
                            return Err(self.err(
                                line.loc,
                                ErrorKind::Unsupported,
                                "bind option 'verify optional': sentinel-proxy supports \
                                 'verify none' (no client certificate) or 'verify required' \
                                 (every client presents one signed by the ca-file)",
                            ))
                        }
                        v => {
                            return Err(self.err(
                                line.loc,
                                ErrorKind::Invalid,
                                format!(
                                    "bind option 'verify {v}': expected 'verify none' or \
                                     'verify required'"
                                ),
                            ))
                        }
                    });
                    i += 1;
                }
                "crt-list" => {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Unsupported,
                        "bind option 'crt-list': sentinel-proxy presents one certificate; name \
                         it with 'crt FILE' (a PEM file with the chain and the key)",
                    ))
                }
                "ca-verify-file" | "generate-certificates" | "ca-sign-file" | "ca-sign-pass" => {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Unsupported,
                        format!(
                            "bind option '{o}' is not supported by sentinel-proxy (it supports \
                             ssl, crt FILE, ca-file FILE with verify required)"
                        ),
                    ))
                }
                _ if is_tls_bind_option(o) => {
                    return Err(self.err(
                        line.loc,
                        ErrorKind::Unsupported,
                        format!(
                            "TLS bind option '{o}' is not supported by sentinel-proxy: it \
                             supports ssl, crt FILE, ca-file FILE, verify none|required (and \
                             ignores ciphers, ssl-min-ver, alpn, ...)"
                        ),
                    ))
                }
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
        let tls = self.bind_tls(line, ssl, crt, ca_file, verify)?;
        Ok(addrs
            .into_iter()
            .map(|addr| Bind {
                addr,
                dual_stack: v4v6 && addr.is_ipv6(),
                v6only: v6only && addr.is_ipv6(),
                tls: tls.clone(),
            })
            .collect())
    }

    /// The TLS of a bind line from its `ssl`, `crt`, `ca-file` and `verify`. HAProxy's
    /// `verify` on a bind defaults to `none` (no client certificate is asked for), whether or
    /// not `ca-file` is given; `verify required` needs a `ca-file` (HAProxy refuses it
    /// without one). sentinel-proxy refuses `ca-file` without `verify required` as well:
    /// HAProxy would not check client certificates then, which is seldom what the author of
    /// a `ca-file` meant.
    pub(super) fn bind_tls(
        &self,
        line: &Line,
        ssl: bool,
        crt: Option<PathBuf>,
        ca_file: Option<PathBuf>,
        verify: Option<&str>,
    ) -> Result<Option<BindTls>, HaproxyCfgError> {
        let refuse = |kind, message: String| Err(self.err(line.loc, kind, message));
        if !ssl {
            let given = [
                ("crt", crt.is_some()),
                ("ca-file", ca_file.is_some()),
                ("verify", verify.is_some()),
            ];
            if let Some((o, _)) = given.iter().find(|(_, set)| *set) {
                return refuse(
                    ErrorKind::Invalid,
                    format!(
                        "bind option '{o}' without 'ssl': the listener would speak plain TCP and \
                         not use it; add 'ssl' (TLS), or remove '{o}'"
                    ),
                );
            }
            return Ok(None);
        }
        let Some(crt) = crt else {
            return refuse(
                ErrorKind::Invalid,
                "bind option 'ssl' needs a certificate: add 'crt /path/to/file.pem' (a PEM file \
                 with the certificate chain and its key); HAProxy refuses this line too"
                    .to_string(),
            );
        };
        match (verify, ca_file) {
            (Some("required"), None) => refuse(
                ErrorKind::Invalid,
                "bind option 'verify required' needs 'ca-file /path/to/ca.pem' (the CAs that sign \
                 client certificates); HAProxy refuses this line too"
                    .to_string(),
            ),
            (Some("required"), Some(ca)) => Ok(Some(BindTls {
                crt,
                client_ca_file: Some(ca),
            })),
            (v, Some(_)) => refuse(
                ErrorKind::Unsupported,
                format!(
                    "bind option 'ca-file' with {}: HAProxy does not ask clients for a \
                     certificate then, so the CA is not used; add 'verify required' to require \
                     client certificates signed by it (mTLS), or remove ca-file",
                    match v {
                        Some(_) => "'verify none'".to_string(),
                        None => "no 'verify' (HAProxy's default for a bind is 'verify none')"
                            .to_string(),
                    }
                ),
            ),
            (_, None) => Ok(Some(BindTls {
                crt,
                client_ca_file: None,
            })),
        }
    }
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
