//! Sections and directives: what is required, what is used, what is ignored, and the errors.

use super::super::directives::command_args;
use super::*;

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
            ":6379 ssl crt /tmp/x.pem",
            vec![Bind {
                tls: Some(BindTls {
                    crt: "/tmp/x.pem".into(),
                    client_ca_file: None,
                }),
                ..bind("0.0.0.0:6379", false)
            }],
        ),
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
        // TLS: tls.rs has the rest.
        (":6379 ssl", ErrorKind::Invalid, "needs a certificate"),
        (":6379 crt /tmp/x.pem", ErrorKind::Invalid, "without 'ssl'"),
        (
            ":6379 ssl crt /tmp/x.pem crl-file /tmp/x.crl",
            ErrorKind::Unsupported,
            "revoke",
        ),
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
        // Accepted since issue 16 (tls.rs), but HAProxy's default `verify required` needs a CA.
        (
            "server R0 s:26379 check ssl",
            ErrorKind::Invalid,
            "needs a ca-file",
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

/// `tcp-check send` data is split by the library's argument splitter, first command only.
#[test]
fn tcp_check_commands_split_like_redis() {
    let args = |a: &[&str]| Some(a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>());
    assert_eq!(command_args(b"AUTH pw\r\n"), args(&["AUTH", "pw"]));
    // HAProxy sends the text as written: no line end is needed.
    assert_eq!(command_args(b"AUTH pw"), args(&["AUTH", "pw"]));
    assert_eq!(
        command_args(b"AUTH \"a b\" 'c\\'d'\r\nPING\r\n"),
        args(&["AUTH", "a b", "c'd"])
    );
    assert_eq!(
        command_args(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*1\r\n$4\r\nPING\r\n"),
        args(&["AUTH", "pw"])
    );
    assert_eq!(command_args(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw"), None);
    assert_eq!(command_args(b"AUTH \"pw\r\n"), None);
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
         backend elsewhere\n  server e1 10.0.0.9:6379\n\
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
            "backend elsewhere (section not used by sentinel-proxy; 2 lines ignored)",
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

/// haproxy.extraConfig adds a frontend: HAProxy serves it, so dropping it silently would lose
/// its traffic. Refused under -c and at startup, naming the line; a section that only shows
/// HAProxy's stats page or sets logging is logged line by line instead.
#[test]
fn extra_frontends_that_pass_traffic_are_refused_stats_only_ones_logged() {
    for (extra, bad_line, keyword) in [
        (
            "frontend other\n  bind :7000\n  mode tcp\n  default_backend elsewhere\n",
            4,
            "default_backend",
        ),
        (
            "listen pg\n  bind :5432\n  server db 10.0.0.5:5432 check\n",
            3,
            "server",
        ),
    ] {
        let text = format!("{}{extra}", minimal(""));
        let offset = text[..text.len() - extra.len()].lines().count();
        let e = parse(&text, &no_env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
        assert_eq!(e.line, offset + bad_line, "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains(keyword) && msg.contains("haproxy.extraConfig"),
            "{msg}"
        );
    }
    let stats = "listen stats\n  bind :8404\n  mode http\n  stats enable\n  stats uri /\n  \
                 option httplog\n  log stdout format raw local0\n";
    let cfg = parse(&format!("{}{stats}", minimal("")), &no_env).unwrap();
    let ig: Vec<&str> = cfg.ignored.iter().map(|(_, d)| d.as_str()).collect();
    assert!(
        ig.contains(&"listen stats (HAProxy's own stats or logging: not served)")
            && ig.contains(&"stats enable (in listen stats: HAProxy's own stats or logging)")
            && ig.contains(&"option httplog (in listen stats: HAProxy's own stats or logging)"),
        "{ig:?}"
    );
}
