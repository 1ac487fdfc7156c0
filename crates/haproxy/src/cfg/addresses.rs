//! Addresses as HAProxy writes them: `bind` lists and port ranges, `server` host:port, the
//! family prefixes (`ipv4@`, ...), and which bind options mean TLS.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub(super) fn is_tls_bind_option(o: &str) -> bool {
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
pub(super) fn strip_family(spec: &str) -> Result<(&str, Option<bool>), String> {
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

pub(super) fn parse_port_range(p: &str) -> Result<Vec<u16>, String> {
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
pub(super) fn parse_bind_addrs(spec: &str) -> Result<Vec<SocketAddr>, String> {
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
pub(super) fn parse_server_addr(spec: &str) -> Result<(String, Option<u16>), String> {
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
