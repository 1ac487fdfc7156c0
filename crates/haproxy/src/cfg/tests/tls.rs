//! TLS lines (issue 16): `bind ... ssl crt`, `server ... ssl`, `tcp-check connect ssl`, the
//! global `ssl-server-verify`, `ca-base` and `crt-base`; what is refused, and where.

use super::*;

/// `minimal()` with these `bind` options on ft_redis_master.
fn with_bind(opts: &str) -> String {
    minimal("").replace("  bind :6379\n", &format!("  bind :6379 {opts}\n"))
}

/// `minimal()` with these lines instead of bk_redis_master's server.
fn with_nodes(lines: &[&str]) -> String {
    let lines: String = lines.iter().map(|l| format!("  {l}\n")).collect();
    minimal("").replace("  server R0 r0:6379 check\n", &lines)
}

/// `minimal()` with these lines instead of the Sentinel check backend's server.
fn with_sentinels(text: &str, lines: &[&str]) -> String {
    let lines: String = lines.iter().map(|l| format!("  {l}\n")).collect();
    text.replace("  server R0 s0:26379 check\n", &lines)
}

fn ok(text: &str) -> HaproxyConfig {
    parse(text, &no_env).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The text is refused at the (first) line that reads `line`, with `kind` and `needle`.
fn refused(text: &str, line: &str, kind: ErrorKind, needle: &str) -> String {
    let e = parse(text, &no_env).expect_err(line);
    let msg = e.to_string();
    assert_eq!(e.kind, kind, "{line}: {msg}");
    let at = line_of(text, line, 0);
    assert_eq!(e.line, at, "{line}: {msg}");
    assert!(
        msg.starts_with(&format!("haproxy.cfg line {at}: ")),
        "{line}: {msg}"
    );
    assert!(msg.contains(needle), "{line}: {msg}");
    msg
}

fn bind_tls(crt: &str, ca: Option<&str>) -> Option<BindTls> {
    Some(BindTls {
        crt: crt.into(),
        client_ca_file: ca.map(PathBuf::from),
    })
}

fn server_tls(
    verify: Verify,
    ca: Option<&str>,
    crt: Option<&str>,
    name: Option<&str>,
) -> ServerTls {
    ServerTls {
        verify,
        ca_file: ca.map(PathBuf::from),
        crt: crt.map(PathBuf::from),
        server_name: name.map(str::to_string),
    }
}

#[test]
fn bind_ssl_crt_and_client_certificates() {
    let cases: &[(&str, Option<BindTls>)] = &[
        ("ssl crt /tls/redis.pem", bind_tls("/tls/redis.pem", None)),
        ("crt /tls/redis.pem ssl", bind_tls("/tls/redis.pem", None)),
        (
            "ssl crt /tls/redis.pem verify none",
            bind_tls("/tls/redis.pem", None),
        ),
        (
            "ssl crt /tls/redis.pem ca-file /tls/ca.pem verify required",
            bind_tls("/tls/redis.pem", Some("/tls/ca.pem")),
        ),
        // The same crt twice is one certificate.
        (
            "ssl crt /tls/redis.pem crt /tls/redis.pem",
            bind_tls("/tls/redis.pem", None),
        ),
        ("name redis", None),
    ];
    for (opts, want) in cases {
        let cfg = ok(&with_bind(opts));
        assert_eq!(cfg.master_bind.len(), 1, "{opts}");
        assert_eq!(&cfg.master_bind[0].tls, want, "{opts}");
        assert!(cfg.warnings.is_empty(), "{opts}: {:?}", cfg.warnings);
    }
    // A multi-address bind line: every address speaks TLS.
    let text = minimal("").replace("  bind :6379\n", "  bind :6379,:6390 ssl crt /c.pem\n");
    let cfg = ok(&text);
    assert_eq!(cfg.master_bind.len(), 2);
    assert!(cfg
        .master_bind
        .iter()
        .all(|b| b.tls == bind_tls("/c.pem", None)));
}

#[test]
fn bind_tls_refusals_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().display().to_string();
    let cases: Vec<(String, ErrorKind, &str)> = vec![
        (
            "ssl".into(),
            ErrorKind::Invalid,
            "'ssl' needs a certificate: add 'crt",
        ),
        ("ssl v4v6".into(), ErrorKind::Invalid, "needs a certificate"),
        (
            "crt /c.pem".into(),
            ErrorKind::Invalid,
            "'crt' without 'ssl'",
        ),
        (
            "ca-file /ca.pem verify required".into(),
            ErrorKind::Invalid,
            "'ca-file' without 'ssl'",
        ),
        (
            "ssl crt".into(),
            ErrorKind::Invalid,
            "'crt' needs a file path",
        ),
        (
            "ssl crt /c.pem ca-file".into(),
            ErrorKind::Invalid,
            "'ca-file' needs a file path",
        ),
        (
            "ssl crt-list /tls/list.txt".into(),
            ErrorKind::Unsupported,
            "crt-list",
        ),
        (
            "ssl crt /c.pem ca-file /ca.pem verify optional".into(),
            ErrorKind::Unsupported,
            "supports 'verify none' (no client certificate) or 'verify required'",
        ),
        (
            "ssl crt /c.pem verify sometimes".into(),
            ErrorKind::Invalid,
            "expected 'verify none' or 'verify required'",
        ),
        (
            "ssl crt /c.pem verify required".into(),
            ErrorKind::Invalid,
            "'verify required' needs 'ca-file",
        ),
        // HAProxy's default for a bind is verify none: the CA would not be used.
        (
            "ssl crt /c.pem ca-file /ca.pem".into(),
            ErrorKind::Unsupported,
            "HAProxy's default for a bind is 'verify none'",
        ),
        (
            "ssl crt /c.pem ca-file /ca.pem verify none".into(),
            ErrorKind::Unsupported,
            "add 'verify required'",
        ),
        (
            "ssl crt /c.pem ca-file /ca.pem verify required crl-file /crl.pem".into(),
            ErrorKind::Unsupported,
            "would accept the certificates it revokes",
        ),
        (
            "ssl crt /a.pem crt /b.pem".into(),
            ErrorKind::Unsupported,
            "one certificate",
        ),
        (
            format!("ssl crt {certs}"),
            ErrorKind::Unsupported,
            "is a directory",
        ),
        (
            format!("ssl crt /c.pem ca-file {certs} verify required"),
            ErrorKind::Unsupported,
            "one PEM file",
        ),
        (
            "ssl crt /c.pem ca-verify-file /root.pem".into(),
            ErrorKind::Unsupported,
            "ca-verify-file",
        ),
        (
            "ssl crt /c.pem generate-certificates".into(),
            ErrorKind::Unsupported,
            "generate-certificates",
        ),
        (
            "ssl crt /c.pem ssl-min-ver TLSv1.3".into(),
            ErrorKind::Unsupported,
            "TLS 1.2 and 1.3",
        ),
        (
            "ssl crt /c.pem no-tlsv12".into(),
            ErrorKind::Unsupported,
            "TLS 1.3 only",
        ),
        (
            "ssl crt /c.pem force-tlsv13".into(),
            ErrorKind::Unsupported,
            "TLS 1.3 only",
        ),
        (
            "ssl crt /c.pem force-tlsv10".into(),
            ErrorKind::Unsupported,
            "older than TLS 1.2",
        ),
        (
            "ssl crt /c.pem ssl-max-ver TLSv1.1".into(),
            ErrorKind::Unsupported,
            "older than TLS 1.2",
        ),
        (
            "ssl crt /c.pem ssl-min-ver TLSv2".into(),
            ErrorKind::Invalid,
            "not a protocol version",
        ),
        (
            "ssl crt /c.pem ciphers".into(),
            ErrorKind::Invalid,
            "'ciphers' needs a value",
        ),
        (
            "ssl crt /c.pem ssl-frobnicate".into(),
            ErrorKind::Unsupported,
            "TLS bind option 'ssl-frobnicate' is not supported",
        ),
    ];
    for (opts, kind, needle) in cases {
        let text = with_bind(&opts);
        refused(&text, &format!("bind :6379 {opts}"), kind, needle);
    }
}

#[test]
fn tls_options_without_an_equivalent_are_ignored_with_a_warning() {
    let ignored = [
        "ciphers ECDHE-RSA-AES128-GCM-SHA256",
        "ciphersuites TLS_AES_128_GCM_SHA256",
        "curves X25519:P-256",
        "ecdhe prime256v1",
        "sigalgs RSA-PSS+SHA256",
        "client-sigalgs ECDSA+SHA256",
        "ssl-min-ver TLSv1.2",
        "ssl-max-ver TLSv1.3",
        "no-sslv3",
        "no-tlsv10",
        "no-tlsv11",
        "force-tlsv12",
        "alpn h2,http/1.1",
        "npn http/1.1",
        "strict-sni",
        "prefer-client-ciphers",
        "ocsp-update on",
    ];
    let opts = ignored.join(" ");
    let text = with_bind(&format!("ssl crt /c.pem {opts} v4v6"));
    let cfg = ok(&text);
    assert_eq!(cfg.master_bind[0].tls, bind_tls("/c.pem", None));
    let at = line_of(&text, &format!("bind :6379 ssl crt /c.pem {opts} v4v6"), 0);
    assert_eq!(cfg.warnings.len(), ignored.len(), "{:?}", cfg.warnings);
    for (w, opt) in cfg.warnings.iter().zip(ignored) {
        let keyword = opt.split(' ').next().unwrap();
        assert!(
            w.starts_with(&format!(
                "haproxy.cfg line {at}: bind option '{keyword}' is ignored by sentinel-proxy: "
            )),
            "{w}"
        );
    }

    // The same on server lines.
    let line = "server R0 r0:6379 check ssl verify none ciphers HIGH ssl-min-ver TLSv1.2 alpn x";
    let cfg = ok(&with_nodes(&[line]));
    assert_eq!(cfg.warnings.len(), 3, "{:?}", cfg.warnings);
    assert!(cfg.warnings[0].contains("server option 'ciphers' is ignored"));
    // And crl-file is refused there too: ignoring it would trust revoked Redis certificates.
    let line = "server R0 r0:6379 check ssl ca-file /ca.pem crl-file /crl.pem";
    refused(
        &with_nodes(&[line]),
        line,
        ErrorKind::Unsupported,
        "revokes",
    );
}

/// Only the Redis listeners speak TLS.
#[test]
fn tls_on_the_health_and_metrics_listeners_is_refused() {
    let text = minimal("listen health\n  bind :8888 ssl crt /c.pem\n  monitor-uri /healthz\n");
    refused(
        &text,
        "bind :8888 ssl crt /c.pem",
        ErrorKind::Unsupported,
        "plain HTTP",
    );
    let text = minimal(
        "frontend stats\n  bind :9101 ssl crt /c.pem\n  \
         http-request use-service prometheus-exporter if { path /metrics }\n",
    );
    refused(
        &text,
        "bind :9101 ssl crt /c.pem",
        ErrorKind::Unsupported,
        "prometheus-exporter",
    );
}

/// One certificate and one client CA for all listeners.
#[test]
fn tls_binds_must_share_the_certificate() {
    // Two TLS binds in one frontend.
    let text = minimal("").replace(
        "  bind :6379\n",
        "  bind :6379 ssl crt /a.pem\n  bind :6390 ssl crt /b.pem\n",
    );
    let msg = refused(
        &text,
        "bind :6390 ssl crt /b.pem",
        ErrorKind::Unsupported,
        "one certificate for all its TLS listeners",
    );
    assert!(msg.contains("haproxy.cfg line 7"), "{msg}");
    // Master and replica.
    let slave = |opts: &str| {
        minimal(&format!(
            "frontend ft_redis_slave\n  bind :6380 {opts}\n  use_backend bk_redis_slave\n"
        ))
        .replace("  bind :6379\n", "  bind :6379 ssl crt /a.pem\n")
    };
    refused(
        &slave("ssl crt /b.pem"),
        "bind :6380 ssl crt /b.pem",
        ErrorKind::Unsupported,
        "crt /b.pem",
    );
    refused(
        &slave("ssl crt /a.pem ca-file /ca.pem verify required"),
        "bind :6380 ssl crt /a.pem ca-file /ca.pem verify required",
        ErrorKind::Unsupported,
        "tls_client_ca_file",
    );
    let cfg = ok(&slave("ssl crt /a.pem"));
    assert_eq!(cfg.replica_bind[0].tls, bind_tls("/a.pem", None));
    // A plain bind beside a TLS one is fine.
    let cfg = ok(&slave("v4v6"));
    assert_eq!(cfg.replica_bind[0].tls, None);
}

#[test]
fn ca_base_and_crt_base_prefix_relative_paths() {
    let text = format!(
        "global\n  ca-base /etc/ca\n  crt-base /etc/certs\n{}",
        with_bind("ssl crt redis.pem ca-file clients.pem verify required").replace(
            "server R0 r0:6379 check",
            "server R0 r0:6379 check ssl ca-file nodes.pem crt /abs/client.pem",
        )
    );
    let cfg = ok(&text);
    assert_eq!(
        cfg.master_bind[0].tls,
        bind_tls("/etc/certs/redis.pem", Some("/etc/ca/clients.pem"))
    );
    assert_eq!(
        cfg.node_tls,
        Some(server_tls(
            Verify::Ca,
            Some("/etc/ca/nodes.pem"),
            Some("/abs/client.pem"),
            None
        ))
    );
    let text = format!("global\n  crt-base /a\n  crt-base /b\n{}", minimal(""));
    refused(
        &text,
        "crt-base /b",
        ErrorKind::Invalid,
        "already specified",
    );
}

/// `verify` on a server: HAProxy's default is `required` (unless `global ssl-server-verify
/// none`), which needs a ca-file; the name is checked only with `sni` or `verifyhost`.
#[test]
fn server_ssl_verify_modes() {
    let cases: &[(&str, ServerTls)] = &[
        (
            "ssl verify none",
            server_tls(Verify::None, None, None, None),
        ),
        (
            "ssl ca-file /ca.pem",
            server_tls(Verify::Ca, Some("/ca.pem"), None, None),
        ),
        (
            "ssl verify required ca-file /ca.pem crt /client.pem",
            server_tls(Verify::Ca, Some("/ca.pem"), Some("/client.pem"), None),
        ),
        (
            "ssl verify required ca-file /ca.pem sni str(redis.example)",
            server_tls(Verify::Full, Some("/ca.pem"), None, Some("redis.example")),
        ),
        (
            "ssl ca-file /ca.pem verifyhost redis.example",
            server_tls(Verify::Full, Some("/ca.pem"), None, Some("redis.example")),
        ),
        (
            "ssl ca-file /ca.pem verifyhost a no-verifyhost",
            server_tls(Verify::Ca, Some("/ca.pem"), None, None),
        ),
        // verify none sends the SNI and checks nothing.
        (
            "ssl verify none sni str(redis.example) crt /client.pem",
            server_tls(
                Verify::None,
                None,
                Some("/client.pem"),
                Some("redis.example"),
            ),
        ),
        (
            "ssl verify none verifyhost redis.example",
            server_tls(Verify::None, None, None, None),
        ),
    ];
    for (opts, want) in cases {
        let text = with_nodes(&[&format!("server R0 r0:6379 check {opts}")]);
        let cfg = ok(&text);
        assert_eq!(cfg.node_tls.as_ref(), Some(want), "{opts}");
        assert_eq!(cfg.node_tls_port, Some(6379), "{opts}");
        assert_eq!(cfg.sentinel_tls, None, "{opts}");
        assert!(cfg.warnings.is_empty(), "{opts}: {:?}", cfg.warnings);
    }
    // ca-file with verify none: HAProxy does not load it; a warning says so.
    let cfg = ok(&with_nodes(&[
        "server R0 r0:6379 ssl verify none ca-file /ca.pem",
    ]));
    assert_eq!(
        cfg.node_tls,
        Some(server_tls(Verify::None, None, None, None))
    );
    assert!(cfg.warnings[0].contains("ca-file is not used with 'verify none'"));
    // sni wins over verifyhost, with a warning.
    let cfg = ok(&with_nodes(&[
        "server R0 r0:6379 ssl ca-file /ca.pem sni str(a.example) verifyhost b.example",
    ]));
    assert_eq!(
        cfg.node_tls.unwrap().server_name.as_deref(),
        Some("a.example")
    );
    assert!(cfg.warnings[0].contains("verifyhost b.example is not used"));
    // Without ssl the TLS options do nothing, as in HAProxy.
    let cfg = ok(&with_nodes(&[
        "server R0 r0:6379 check verify none ca-file /ca.pem",
    ]));
    assert_eq!(cfg.node_tls, None);
}

#[test]
fn global_ssl_server_verify_sets_the_default() {
    let nodes = with_nodes(&["server R0 r0:6379 check ssl"]);
    // Wherever it is written: HAProxy applies it after reading the whole file.
    for text in [
        format!("global\n  ssl-server-verify none\n{nodes}"),
        format!("{nodes}global\n  ssl-server-verify none\n"),
    ] {
        let cfg = ok(&text);
        assert_eq!(
            cfg.node_tls,
            Some(server_tls(Verify::None, None, None, None))
        );
        assert!(!cfg
            .ignored
            .iter()
            .any(|(_, d)| d.contains("ssl-server-verify")));
    }
    // A server's own verify wins.
    let text = format!(
        "global\n  ssl-server-verify none\n{}",
        with_nodes(&["server R0 r0:6379 ssl verify required ca-file /ca.pem"])
    );
    assert_eq!(ok(&text).node_tls.unwrap().verify, Verify::Ca);
    let text = format!(
        "global\n  ssl-server-verify required\n{}",
        with_nodes(&["server R0 r0:6379 ssl"])
    );
    refused(
        &text,
        "server R0 r0:6379 ssl",
        ErrorKind::Invalid,
        "needs a ca-file",
    );
    let text = format!("global\n  ssl-server-verify maybe\n{nodes}");
    refused(
        &text,
        "ssl-server-verify maybe",
        ErrorKind::Invalid,
        "expected",
    );
}

#[test]
fn server_tls_refusals_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let cases: Vec<(String, ErrorKind, &str)> = vec![
        // HAProxy's default verify required without a CA: HAProxy refuses it too.
        (
            "server R0 r0:6379 check ssl".into(),
            ErrorKind::Invalid,
            "HAProxy's default 'verify required'",
        ),
        (
            "server R0 r0:6379 check ssl verify required".into(),
            ErrorKind::Invalid,
            "'verify required' needs a ca-file",
        ),
        (
            "server R0 r0:6379 ssl verify optional ca-file /ca.pem".into(),
            ErrorKind::Invalid,
            "expected 'verify none' or 'verify required'",
        ),
        (
            "server R0 r0:6379 ssl ca-file".into(),
            ErrorKind::Invalid,
            "'ca-file' needs a file path",
        ),
        (
            "server R0 r0:6379 ssl verify none crt".into(),
            ErrorKind::Invalid,
            "'crt' needs a file path",
        ),
        (
            "server R0 r0:6379 ssl ca-file @system-ca".into(),
            ErrorKind::Unsupported,
            "system's CA store",
        ),
        (
            format!("server R0 r0:6379 ssl ca-file {d}"),
            ErrorKind::Unsupported,
            "is a directory",
        ),
        (
            "server R0 r0:6379 ssl verify none sni req.hdr(host)".into(),
            ErrorKind::Unsupported,
            "sni str(<name>)",
        ),
        (
            "server R0 r0:6379 ssl verify none sni str(a),lower".into(),
            ErrorKind::Unsupported,
            "sample expressions",
        ),
        (
            "server R0 r0:6379 check check-ssl verify none".into(),
            ErrorKind::Unsupported,
            "the health checks use TLS (check-ssl) but the connections do not",
        ),
    ];
    for (line, kind, needle) in cases {
        refused(&with_nodes(&[&line]), &line, kind, needle);
    }
    // check-ssl under an explicit plain `tcp-check connect` does nothing in HAProxy: a
    // warning, not a refusal.
    let text = with_nodes(&[
        "tcp-check connect",
        "server R0 r0:6379 check check-ssl verify none",
    ]);
    let cfg = ok(&text);
    assert_eq!(cfg.node_tls, None);
    assert!(cfg.warnings[0].contains("'check-ssl' does not make the health checks use TLS"));
    // `tcp-check connect ssl` in bk_redis_master: the node checks use TLS, so the servers must.
    let text = with_nodes(&["tcp-check connect ssl", "server R0 r0:6379 check"]);
    let msg = refused(
        &text,
        "server R0 r0:6379 check",
        ErrorKind::Unsupported,
        "'tcp-check connect ssl' at haproxy.cfg line",
    );
    assert!(msg.contains("add 'ssl'"), "{msg}");
    // ... which is fine when they do.
    let text = with_nodes(&[
        "server R0 r0:6379 check ssl verify none",
        "tcp-check connect ssl",
    ]);
    assert_eq!(
        ok(&text).node_tls,
        Some(server_tls(Verify::None, None, None, None))
    );
}

/// sentinel-proxy connects to every Redis node the same way.
#[test]
fn node_servers_must_agree() {
    let a = "server R0 r0:6379 check ssl ca-file /ca.pem";
    let cases: &[(&str, &str)] = &[
        ("server R1 r1:6379 check", "connects in plain TCP"),
        (
            "server R1 r1:6379 check ssl ca-file /other.pem",
            "ca-file /other.pem",
        ),
        ("server R1 r1:6379 check ssl verify none", "ssl verify none"),
        (
            "server R1 r1:6379 check ssl ca-file /ca.pem crt /c.pem",
            "crt /c.pem",
        ),
        (
            "server R1 r1:6379 check ssl ca-file /ca.pem sni str(r1)",
            "the name r1",
        ),
    ];
    for (b, needle) in cases {
        let text = with_nodes(&[a, b]);
        let msg = refused(&text, b, ErrorKind::Inconsistent, needle);
        assert!(
            msg.contains(&format!(
                "but server R0 at haproxy.cfg line {}",
                line_of(&text, a, 0)
            )) && msg.contains("every Redis node the same way"),
            "{msg}"
        );
    }
    // Plain first, TLS later: named the same way.
    let text = with_nodes(&[
        "server R0 r0:6379 check",
        a.replace("R0 r0", "R1 r1").as_str(),
    ]);
    refused(
        &text,
        "server R1 r1:6379 check ssl ca-file /ca.pem",
        ErrorKind::Inconsistent,
        "connects with ssl verify required ca-file /ca.pem",
    );
    // bk_redis_slave's servers count too.
    let text = with_nodes(&[a]) + "backend bk_redis_slave\n  server R0 r0:6379 check\n";
    refused(
        &text,
        "server R0 r0:6379 check",
        ErrorKind::Inconsistent,
        "plain TCP",
    );
    let text = with_nodes(&[a]) + &format!("backend bk_redis_slave\n  {a}\n");
    assert!(ok(&text).node_tls.is_some());
    // Disabled servers do not count.
    let text = with_nodes(&[a, "server R1 r1:6379 check disabled"]);
    assert!(ok(&text).node_tls.is_some());
}

#[test]
fn default_server_gives_tls_to_every_server() {
    let text = with_nodes(&[
        "default-server ssl verify required ca-file /ca.pem crt /client.pem",
        "server R0 r0:6385 check",
        "server R1 r1:6385 check",
    ]);
    let cfg = ok(&text);
    assert_eq!(
        cfg.node_tls,
        Some(server_tls(
            Verify::Ca,
            Some("/ca.pem"),
            Some("/client.pem"),
            None
        ))
    );
    assert_eq!(cfg.node_tls_port, Some(6385));
    // no-ssl on one of them: mixed.
    let text = with_nodes(&[
        "default-server ssl verify none",
        "server R0 r0:6385 check",
        "server R1 r1:6385 check no-ssl",
    ]);
    refused(
        &text,
        "server R1 r1:6385 check no-ssl",
        ErrorKind::Inconsistent,
        "plain TCP",
    );
    // From the defaults section in effect, as HAProxy inherits it.
    let text = minimal("")
        .replace(
            "defaults\n  timeout connect 4s\n",
            "defaults\n  timeout connect 4s\n  default-server ssl verify none\n",
        )
        .replace(
            "server R0 s0:26379 check",
            "server R0 s0:26379 check no-ssl",
        );
    let cfg = ok(&text);
    assert_eq!(
        cfg.node_tls,
        Some(server_tls(Verify::None, None, None, None))
    );
    assert_eq!(cfg.sentinel_tls, None);
}

#[test]
fn tls_ports_of_the_nodes() {
    let cfg = ok(&with_nodes(&[
        "server R0 r0:6385 check ssl verify none",
        "server R1 r1:6386 check ssl verify none",
    ]));
    assert!(cfg.node_tls.is_some());
    assert_eq!(cfg.node_tls_port, None);
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.contains("server R1 has port 6386 but server R0")),
        "{:?}",
        cfg.warnings
    );
    // Plain nodes: no TLS port.
    assert_eq!(ok(&minimal("")).node_tls_port, None);
}

#[test]
fn sentinel_tls_from_their_servers_or_the_check() {
    let cases: &[(&[&str], ServerTls)] = &[
        (
            &["server R0 s0:26379 check ssl verify none"],
            server_tls(Verify::None, None, None, None),
        ),
        (
            &["server R0 s0:26379 check check-ssl ca-file /ca.pem"],
            server_tls(Verify::Ca, Some("/ca.pem"), None, None),
        ),
        (
            &[
                "tcp-check connect ssl",
                "server R0 s0:26379 check ca-file /ca.pem crt /client.pem",
            ],
            server_tls(Verify::Ca, Some("/ca.pem"), Some("/client.pem"), None),
        ),
        // The check's sni is the name when the servers give none.
        (
            &[
                "server R0 s0:26379 check ca-file /ca.pem",
                "tcp-check connect ssl sni sentinel.example",
            ],
            server_tls(
                Verify::Full,
                Some("/ca.pem"),
                None,
                Some("sentinel.example"),
            ),
        ),
    ];
    for (lines, want) in cases {
        let text = with_sentinels(&minimal(""), lines);
        let cfg = ok(&text);
        assert_eq!(cfg.sentinel_tls.as_ref(), Some(want), "{lines:?}");
        assert_eq!(cfg.node_tls, None, "{lines:?}");
        assert_eq!(cfg.sentinels, vec![hp("s0", 26379)]);
    }
    // HAProxy's check transport: an explicit `tcp-check connect` is plain TCP unless it says
    // `ssl` (or `default`, which takes the server's check-ssl); `ssl` on a server with its
    // own check `port` does not reach the checks.
    let plain: &[(&[&str], &str)] = &[
        (
            &[
                "tcp-check connect",
                "server R0 s0:26379 check check-ssl verify none",
            ],
            "neither 'ssl' nor 'default'",
        ),
        (
            &[
                "tcp-check connect port 26379",
                "server R0 s0:26379 check ssl verify none",
            ],
            "neither 'ssl' nor 'default'",
        ),
        (
            &["server R0 s0:26379 check ssl verify none port 26379"],
            "'port' or 'addr' sends them elsewhere",
        ),
    ];
    for (lines, needle) in plain {
        let text = with_sentinels(&minimal(""), lines);
        let cfg = ok(&text);
        assert_eq!(cfg.sentinel_tls, None, "{lines:?}");
        let at = line_of(&text, lines[lines.len() - 1], 0);
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        assert!(
            cfg.warnings[0].starts_with(&format!("haproxy.cfg line {at}: "))
                && cfg.warnings[0].contains(needle)
                && cfg.warnings[0].contains("sentinel-proxy talks to this Sentinel in plain TCP"),
            "{}",
            cfg.warnings[0]
        );
    }
    // HAProxy still sets up their TLS, and refuses `verify required` without a CA.
    let line = "server R0 s0:26379 check check-ssl";
    let text = with_sentinels(&minimal(""), &["tcp-check connect", line]);
    refused(&text, line, ErrorKind::Invalid, "needs a ca-file");
    for lines in [
        &[
            "tcp-check connect default",
            "server R0 s0:26379 check check-ssl verify none",
        ][..],
        &[
            "tcp-check connect default",
            "server R0 s0:26379 check ssl verify none",
        ][..],
        &["server R0 s0:26379 check check-ssl verify none port 26379"][..],
    ] {
        let cfg = ok(&with_sentinels(&minimal(""), lines));
        assert_eq!(
            cfg.sentinel_tls,
            Some(server_tls(Verify::None, None, None, None)),
            "{lines:?}"
        );
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    }

    // All Sentinels alike, across the check backends.
    let text = with_sentinels(
        &minimal(
            "backend check_if_redis_is_master_1\n  \
             tcp-check send SENTINEL\\ get-master-addr-by-name\\ mymaster\\r\\n\n  \
             server R1 s1:26379 check\n",
        ),
        &["server R0 s0:26379 check ssl verify none"],
    );
    refused(
        &text,
        "server R1 s1:26379 check",
        ErrorKind::Inconsistent,
        "every Sentinel the same way",
    );
    // Sentinels and nodes share the upstream settings.
    let nodes = "server R0 r0:6379 check ssl ca-file /ca.pem";
    let text = with_sentinels(
        &with_nodes(&[nodes]),
        &["server R0 s0:26379 check ssl ca-file /sentinel-ca.pem"],
    );
    let msg = refused(
        &text,
        "server R0 s0:26379 check ssl ca-file /sentinel-ca.pem",
        ErrorKind::Inconsistent,
        "the Redis nodes' CA, client certificate, verification and name",
    );
    assert!(msg.contains("ca-file /sentinel-ca.pem") && msg.contains("ca-file /ca.pem"));
    let text = with_sentinels(
        &with_nodes(&[nodes]),
        &["server R0 s0:26379 check check-ssl ca-file /ca.pem"],
    );
    let cfg = ok(&text);
    assert_eq!(cfg.node_tls, cfg.sentinel_tls);
    // TLS nodes with plain Sentinels are fine.
    let cfg = ok(&with_nodes(&[nodes]));
    assert_eq!(cfg.sentinel_tls, None);
}
