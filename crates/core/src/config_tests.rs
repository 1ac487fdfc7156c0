//! Tests of config.rs: files, environment, durations, validation.

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write_file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[test]
fn defaults_match_the_contract() {
    let c = Config::load(None, &env(&[])).unwrap();
    assert_eq!(c.master_name, "mymaster");
    assert_eq!(c.listen, "0.0.0.0:6379".parse().unwrap());
    assert_eq!(c.replica_listen, None);
    assert_eq!(c.admin_listen, Some("0.0.0.0:9101".parse().unwrap()));
    assert_eq!(c.timeouts.role_interval, Duration::from_secs(1));
    assert_eq!(c.timeouts.client_idle, None);
    assert_eq!(c.limits.max_bulk_len, 512 << 20);
    assert!(c.check_runnable().is_err());
}

#[test]
fn environment_names_work_exactly() {
    let c = Config::load(
        None,
        &env(&[
            ("SENTINEL_PROXY_SENTINELS", "a:26379, b:26380 ,[::1]:26381"),
            ("SENTINEL_PROXY_MASTER_NAME", "cache"),
            ("SENTINEL_PROXY_LISTEN", "127.0.0.1:7000"),
            ("SENTINEL_PROXY_REPLICA_LISTEN", "[::]:7001"),
            ("SENTINEL_PROXY_ADMIN_LISTEN", "127.0.0.1:7002"),
            ("REDIS_PASSWORD", "00123"),
            ("SENTINEL_PASSWORD", "s3cret"),
            ("SENTINEL_PROXY_MAX_CLIENTS", "42"),
            ("SENTINEL_PROXY_ROLE_INTERVAL", "250ms"),
        ]),
    )
    .unwrap();
    let hosts: Vec<String> = c.sentinels.iter().map(|s| s.to_string()).collect();
    assert_eq!(hosts, ["a:26379", "b:26380", "[::1]:26381"]);
    assert_eq!(c.master_name, "cache");
    assert_eq!(c.listen, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(c.replica_listen, Some("[::]:7001".parse().unwrap()));
    assert_eq!(c.admin_listen, Some("127.0.0.1:7002".parse().unwrap()));
    // A numeric-looking password stays exactly as written.
    assert_eq!(c.redis_password.as_ref().unwrap().expose(), "00123");
    assert_eq!(c.sentinel_password.as_ref().unwrap().expose(), "s3cret");
    assert_eq!(c.limits.max_clients, 42);
    assert_eq!(c.timeouts.role_interval, Duration::from_millis(250));
    assert!(!format!("{c:?}").contains("00123"));
}

#[test]
fn file_then_env_wins() {
    let f =
        write_file("sentinels = [\"s1:26379\"]\nmaster_name = \"filemaster\"\nmax_clients = 7\n");
    let c = Config::load(
        Some(f.path()),
        &env(&[("SENTINEL_PROXY_MASTER_NAME", "envmaster")]),
    )
    .unwrap();
    assert_eq!(c.master_name, "envmaster");
    assert_eq!(c.limits.max_clients, 7);
    assert_eq!(c.sentinels[0].to_string(), "s1:26379");
    let via_env =
        Config::load(None, &env(&[(CONFIG_FILE_ENV, f.path().to_str().unwrap())])).unwrap();
    assert_eq!(via_env.master_name, "filemaster");
}

#[test]
fn unknown_file_key_names_the_key_and_the_valid_ones() {
    let f = write_file("sentinel = [\"s1:26379\"]\n");
    let err = Config::load(Some(f.path()), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sentinel"), "{err}");
    assert!(err.contains("valid keys: sentinels"), "{err}");
}

#[test]
fn bad_values_name_key_and_fix() {
    let cases = [
        (
            "SENTINEL_PROXY_SENTINELS",
            "nohost",
            "sentinels",
            "host:port",
        ),
        (
            "SENTINEL_PROXY_SENTINELS",
            "h:99999",
            "sentinels",
            "1 to 65535",
        ),
        (
            "SENTINEL_PROXY_LISTEN",
            "localhost",
            "listen",
            "0.0.0.0:6379",
        ),
        (
            "SENTINEL_PROXY_ROLE_INTERVAL",
            "100",
            "role_interval",
            "100ms",
        ),
        (
            "SENTINEL_PROXY_ROLE_TIMEOUT",
            "5x",
            "role_timeout",
            "use us, ms, s",
        ),
        (
            "SENTINEL_PROXY_CONNECT_TIMEOUT",
            "0s",
            "connect_timeout",
            "greater than zero",
        ),
        ("SENTINEL_PROXY_MAX_CLIENTS", "0", "max_clients", "from 1"),
        (
            "SENTINEL_PROXY_LOG_FORMAT",
            "xml",
            "log_format",
            "text or json",
        ),
        (
            "SENTINEL_PROXY_MASTER_NAME",
            "my master",
            "master_name",
            "sentinel monitor",
        ),
    ];
    for (name, value, key, hint) in cases {
        let err = Config::load(None, &env(&[(name, value)]))
            .unwrap_err()
            .to_string();
        // Set in the environment: the error names the variable, which names the key.
        assert!(
            err.starts_with(&format!("{name}: ")) && err.contains(hint),
            "{name}={value}: {err}"
        );
        assert!(name.ends_with(&key.to_ascii_uppercase()), "{name} {key}");
        // The same value in the file: the error names the file key.
        let f = write_file(&format!("{key} = {}\n", toml_value(key, value)));
        let err = Config::load(Some(f.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{key}: ")) && err.contains(hint),
            "{key} = {value:?}: {err}"
        );
    }
    let err = Config::load(None, &env(&[("SENTINEL_PROXY_MAX_CLIENTS", "many")]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("SENTINEL_PROXY_MAX_CLIENTS: "), "{err}");
    let err = Config::load(None, &env(&[("REDIS_PASSWORD_FILE", "/nonexistent/pw")]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("REDIS_PASSWORD_FILE: "), "{err}");
}

/// `value` as TOML for `key` (lists and numbers are not strings there).
fn toml_value(key: &str, value: &str) -> String {
    match key {
        "sentinels" | "client_allow" => format!("[{value:?}]"),
        "max_clients" => value.to_string(),
        _ => format!("{value:?}"),
    }
}

#[test]
fn missing_file_is_a_clear_error() {
    let err = Config::load(Some(Path::new("/nonexistent/sp.toml")), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/sp.toml"), "{err}");
}

#[test]
fn unknown_env_is_reported_not_fatal() {
    let e = env(&[
        ("SENTINEL_PROXY_MAX_CLIENT", "5"),
        ("SENTINEL_PROXY_LISTEN", "127.0.0.1:1"),
        (CONFIG_FILE_ENV, "x"),
    ]);
    let unknown = Config::unknown_env(&e);
    let names: Vec<&str> = unknown.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["SENTINEL_PROXY_MAX_CLIENT"]);
    assert!(Config::load(None, &env(&[("SENTINEL_PROXY_MAX_CLIENT", "5")])).is_ok());
}

#[test]
fn unknown_env_suggests_the_closest_known_name() {
    for (name, suggestion) in [
        ("SENTINEL_PROXY_LISTN", Some("SENTINEL_PROXY_LISTEN")),
        (
            "SENTINEL_PROXY_MAX_CLIENT",
            Some("SENTINEL_PROXY_MAX_CLIENTS"),
        ),
        (
            "SENTINEL_PROXY_HOLD_TIMOUT",
            Some("SENTINEL_PROXY_HOLD_TIMEOUT"),
        ),
        ("SENTINEL_PROXY_SENTINEL", Some("SENTINEL_PROXY_SENTINELS")),
        ("SENTINEL_PROXY_CONFG", Some("SENTINEL_PROXY_CONFIG")),
        // A key whose variable has a name of its own: read only under that name.
        ("SENTINEL_PROXY_REDIS_PASSWORD", Some("REDIS_PASSWORD")),
        (
            "SENTINEL_PROXY_SENTINEL_PASSWORD_FILE",
            Some("SENTINEL_PASSWORD_FILE"),
        ),
        // Kubernetes service links of a Service called sentinel-proxy: nothing is close.
        ("SENTINEL_PROXY_PORT", None),
        ("SENTINEL_PROXY_SERVICE_HOST", None),
        ("SENTINEL_PROXY_PORT_6379_TCP_ADDR", None),
    ] {
        let unknown = Config::unknown_env(&env(&[(name, "x")]));
        assert_eq!(unknown.len(), 1, "{name}: {unknown:?}");
        assert_eq!(unknown[0].name, name);
        assert_eq!(unknown[0].suggestion.as_deref(), suggestion, "{name}");
        let text = unknown[0].to_string();
        assert!(text.starts_with(&format!("{name} ")), "{text}");
        match suggestion {
            Some(s) => assert!(text.ends_with(&format!("did you mean {s}?")), "{text}"),
            None => assert!(!text.contains("did you mean"), "{text}"),
        }
    }
    // The password itself is never part of the warning.
    let unknown = Config::unknown_env(&env(&[("SENTINEL_PROXY_REDIS_PASSWORD", "hunter2")]));
    assert!(!unknown[0].to_string().contains("hunter2"));
    assert_eq!(edit_distance("LISTN", "LISTEN"), 1);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
}

/// One value per key, different from its default; `apply` must carry each over.
fn override_for(key: &str, dir: &Path) -> (&'static str, String) {
    let pw = dir.join("pw");
    std::fs::write(&pw, "from-file\n").unwrap();
    let pw = pw.to_str().unwrap().to_string();
    let v = |s: &str| s.to_string();
    let (var, value) = match key {
        "sentinels" => ("SENTINEL_PROXY_SENTINELS", v("env-s:26379")),
        "master_name" => ("SENTINEL_PROXY_MASTER_NAME", v("envmaster")),
        "listen" => ("SENTINEL_PROXY_LISTEN", v("127.0.0.1:7000")),
        "replica_listen" => ("SENTINEL_PROXY_REPLICA_LISTEN", v("127.0.0.1:7001")),
        "admin_listen" => ("SENTINEL_PROXY_ADMIN_LISTEN", v("off")),
        "redis_password" => ("REDIS_PASSWORD", v("env-redis-pw")),
        "sentinel_password" => ("SENTINEL_PASSWORD", v("env-sentinel-pw")),
        "connect_timeout" => ("SENTINEL_PROXY_CONNECT_TIMEOUT", v("7s")),
        "role_interval" => ("SENTINEL_PROXY_ROLE_INTERVAL", v("7s")),
        "role_timeout" => ("SENTINEL_PROXY_ROLE_TIMEOUT", v("7s")),
        "client_idle_timeout" => ("SENTINEL_PROXY_CLIENT_IDLE_TIMEOUT", v("7s")),
        "hold_timeout" => ("SENTINEL_PROXY_HOLD_TIMEOUT", v("7s")),
        "max_clients" => ("SENTINEL_PROXY_MAX_CLIENTS", v("7")),
        "max_bulk_len" => ("SENTINEL_PROXY_MAX_BULK_LEN", v("7")),
        "max_multibulk_len" => ("SENTINEL_PROXY_MAX_MULTIBULK_LEN", v("7")),
        "max_inline_len" => ("SENTINEL_PROXY_MAX_INLINE_LEN", v("77")),
        "accept_backlog" => ("SENTINEL_PROXY_ACCEPT_BACKLOG", v("7")),
        "client_allow" => ("SENTINEL_PROXY_CLIENT_ALLOW", v("10.0.0.0/8")),
        "fence_time" => ("SENTINEL_PROXY_FENCE_TIME", v("7s")),
        "fence_policy" => ("SENTINEL_PROXY_FENCE_POLICY", v("hold")),
        "shutdown_delay" => ("SENTINEL_PROXY_SHUTDOWN_DELAY", v("7s")),
        "shutdown_timeout" => ("SENTINEL_PROXY_SHUTDOWN_TIMEOUT", v("7s")),
        "redis_password_file" => ("REDIS_PASSWORD_FILE", pw),
        "sentinel_password_file" => ("SENTINEL_PASSWORD_FILE", pw),
        "log_format" => ("SENTINEL_PROXY_LOG_FORMAT", v("json")),
        "log" => ("SENTINEL_PROXY_LOG", v("debug")),
        "mode" => ("SENTINEL_PROXY_MODE", v("relay")),
        "listen_tls" => ("SENTINEL_PROXY_LISTEN_TLS", v("true")),
        "replica_listen_tls" => ("SENTINEL_PROXY_REPLICA_LISTEN_TLS", v("yes")),
        "tls_listen" => ("SENTINEL_PROXY_TLS_LISTEN", v("127.0.0.1:7002")),
        "tls_replica_listen" => ("SENTINEL_PROXY_TLS_REPLICA_LISTEN", v("127.0.0.1:7003")),
        "tls_cert_file" => ("SENTINEL_PROXY_TLS_CERT_FILE", v("/tls/tls.crt")),
        "tls_key_file" => ("SENTINEL_PROXY_TLS_KEY_FILE", v("/tls/tls.key")),
        "tls_client_ca_file" => ("SENTINEL_PROXY_TLS_CLIENT_CA_FILE", v("/tls/ca.crt")),
        "upstream_tls" => ("SENTINEL_PROXY_UPSTREAM_TLS", v("1")),
        "upstream_tls_port" => ("SENTINEL_PROXY_UPSTREAM_TLS_PORT", v("6385")),
        "upstream_tls_ca_file" => ("SENTINEL_PROXY_UPSTREAM_TLS_CA_FILE", v("/r/ca.crt")),
        "upstream_tls_cert_file" => ("SENTINEL_PROXY_UPSTREAM_TLS_CERT_FILE", v("/r/c.crt")),
        "upstream_tls_key_file" => ("SENTINEL_PROXY_UPSTREAM_TLS_KEY_FILE", v("/r/c.key")),
        "upstream_tls_verify" => ("SENTINEL_PROXY_UPSTREAM_TLS_VERIFY", v("ca")),
        "upstream_tls_server_name" => ("SENTINEL_PROXY_UPSTREAM_TLS_SERVER_NAME", v("redis.local")),
        "sentinel_tls" => ("SENTINEL_PROXY_SENTINEL_TLS", v("on")),
        "tls_reload_interval" => ("SENTINEL_PROXY_TLS_RELOAD_INTERVAL", v("7s")),
        other => panic!("no override value for key {other}: add one here"),
    };
    (var, value)
}

#[test]
fn environment_overrides_apply_over_another_config_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = Config::for_sentinels(vec![HostPort::new("cfg-s", 26379)], "cfgmaster");
    for key in KEYS {
        let (var, value) = override_for(key, dir.path());
        let o = EnvOverrides::read(&env(&[(var, &value)])).unwrap();
        let applied = o.apply(base.clone());
        assert_ne!(applied, base, "{var}={value} changed nothing");
        // It changed what the environment alone gives for that key, and nothing else.
        let alone = Config::load(None, &env(&[(var, &value)])).unwrap();
        let mut expected = base.clone();
        assert!(copy_key(&mut expected, &alone, key), "{key}");
        assert_eq!(applied, expected, "{key}");
        let shown = o.overrides();
        assert_eq!(shown.len(), 1, "{key}");
        assert_eq!((shown[0].variable.as_str(), shown[0].key), (var, key));
        if key.ends_with("password") {
            assert_eq!(shown[0].value, None, "{key}: a password is never shown");
        } else {
            assert_eq!(shown[0].value.as_deref(), Some(value.as_str()), "{key}");
        }
    }
    // Nothing set: nothing changes.
    let none = EnvOverrides::read(&env(&[("UNRELATED", "1")])).unwrap();
    assert!(none.overrides().is_empty());
    assert_eq!(none.apply(base.clone()), base);
    assert_eq!((none.log_format(), none.log_filter()), (None, None));
    let logs = EnvOverrides::read(&env(&[
        ("SENTINEL_PROXY_LOG_FORMAT", "json"),
        ("SENTINEL_PROXY_LOG", "warn"),
    ]))
    .unwrap();
    assert_eq!(
        (logs.log_format(), logs.log_filter()),
        (Some(LogFormat::Json), Some("warn"))
    );
    // A bad value is refused naming the variable, whichever config it would apply to.
    let e = EnvOverrides::read(&env(&[(
        "SENTINEL_PROXY_HOLD_TIMEOUT",
        "9999999999999999h",
    )]))
    .err()
    .unwrap()
    .to_string();
    assert!(e.starts_with("SENTINEL_PROXY_HOLD_TIMEOUT: "), "{e}");
    let e = EnvOverrides::read(&env(&[("SENTINEL_PROXY_MAX_CLIENTS", "many")]))
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("SENTINEL_PROXY_MAX_CLIENTS: "), "{e}");
}

#[test]
fn reliability_keys() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret-from-file\n").unwrap();
    let c = Config::load(
        None,
        &env(&[
            (
                "SENTINEL_PROXY_CLIENT_ALLOW",
                "10.0.0.0/8, 127.0.0.1,2001:db8::/32",
            ),
            ("SENTINEL_PROXY_FENCE_POLICY", "hold"),
            ("SENTINEL_PROXY_FENCE_TIME", "10s"),
            ("SENTINEL_PROXY_ACCEPT_BACKLOG", "4096"),
            ("SENTINEL_PROXY_SHUTDOWN_DELAY", "0s"),
            ("REDIS_PASSWORD_FILE", pw.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(c.client_allow.len(), 3);
    assert!(c.client_allow[0].contains("10.1.2.3".parse().unwrap()));
    assert!(!c.client_allow[0].contains("11.1.2.3".parse().unwrap()));
    assert!(c.client_allow[1].contains("::ffff:127.0.0.1".parse().unwrap()));
    assert!(c.client_allow[2].contains("2001:db8::1".parse().unwrap()));
    assert!(!c.client_allow[2].contains("10.1.2.3".parse().unwrap()));
    assert_eq!(c.fence.policy, FencePolicy::Hold);
    assert_eq!(c.fence.time, Duration::from_secs(10));
    assert_eq!(c.limits.accept_backlog, 4096);
    assert_eq!(c.shutdown.delay, Duration::ZERO);
    assert_eq!(c.redis_password.unwrap().expose(), "s3cret-from-file");
    assert!(Cidr::parse("0.0.0.0/0")
        .unwrap()
        .contains("8.8.8.8".parse().unwrap()));

    for (name, value, hint) in [
        ("SENTINEL_PROXY_CLIENT_ALLOW", "10.0.0.0/33", "0 to 32"),
        ("SENTINEL_PROXY_CLIENT_ALLOW", "nope", "10.0.0.0/8"),
        ("SENTINEL_PROXY_FENCE_POLICY", "maybe", "serve or hold"),
        ("REDIS_PASSWORD_FILE", "/nonexistent/pw", "mount the secret"),
    ] {
        let err = Config::load(None, &env(&[(name, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(hint), "{name}={value}: {err}");
    }
    let err = Config::load(
        None,
        &env(&[
            ("REDIS_PASSWORD", "a"),
            ("REDIS_PASSWORD_FILE", pw.to_str().unwrap()),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not both"), "{err}");
}

#[test]
fn out_of_range_durations_are_refused_naming_the_key() {
    // The file and the environment (`parse_duration`).
    let invalid = |r: Result<Config, ConfigError>| match r {
        Err(ConfigError::Invalid { key, message }) => (key, message),
        Err(ConfigError::Parse { message, .. }) => ("<file>".to_string(), message),
        other => panic!("{other:?}"),
    };
    for value in [
        "9999999999999999h",
        "18446744073709551615m",
        "99999999999999999999ms",
        // These fit a Duration, but a deadline that far away overflows (`Instant + d` panics).
        "4000000000000000h",
        "18446744073709551615us",
        "25d",
        "2147483648",
    ] {
        let (key, message) = invalid(Config::load(
            None,
            &env(&[("SENTINEL_PROXY_HOLD_TIMEOUT", value)]),
        ));
        if value == "2147483648" {
            // A bare number has no unit in the file or the environment.
            assert!(message.contains("no unit"), "{value}: {message}");
            continue;
        }
        assert_eq!(key, "SENTINEL_PROXY_HOLD_TIMEOUT", "{value}: {message}");
        assert!(message.contains("too large"), "{value}: {message}");
        let f = write_file(&format!("role_interval = \"{value}\"\n"));
        let (key, message) = invalid(Config::load(Some(f.path()), &env(&[])));
        assert_eq!(key, "role_interval", "{value}: {message}");
        assert!(message.contains("too large"), "{value}: {message}");
    }
    // The largest value is taken as written, one more is refused.
    assert_eq!(
        parse_duration("hold_timeout", "2147483647ms").unwrap(),
        MAX_DURATION
    );
    let e = parse_duration("hold_timeout", "2147483648ms").unwrap_err();
    assert!(e.to_string().starts_with("hold_timeout: "), "{e}");
    assert!(e.to_string().contains("24.8 days"), "{e}");

    // The HAProxy form (a bare number is milliseconds, `us` and `d` exist).
    let haproxy =
        |s: &str| parse_duration_with_unit("timeout client", s, Some(DurationUnit::Millis));
    for value in [
        "9999999999999999h",
        "99999999999999999999",
        "213503982334602d",
        "307445734561825861m",
    ] {
        match haproxy(value) {
            Err(ConfigError::Invalid { key, message }) => {
                assert_eq!(key, "timeout client", "{value}");
                assert!(message.contains("too large"), "{value}: {message}");
            }
            other => panic!("{value}: {other:?}"),
        }
    }
    assert_eq!(haproxy("2147483647").unwrap(), MAX_DURATION);
    assert!(haproxy("2147483648").is_err());
    assert_eq!(haproxy("2000").unwrap(), Duration::from_secs(2));
    assert_eq!(haproxy("1d").unwrap(), Duration::from_secs(86_400));
    assert!(haproxy(" 4s").is_err() && haproxy("4 s").is_err());
    // The file and the environment: the same units; only a bare number is refused there,
    // because its unit would be a guess. Spaces around the value are trimmed.
    assert!(parse_duration("hold_timeout", "2000").is_err());
    assert_eq!(
        parse_duration("hold_timeout", " 2s ").unwrap(),
        Duration::from_secs(2)
    );
}

#[test]
fn one_duration_grammar_for_the_file_the_environment_and_haproxy_cfg() {
    for (text, want) in [
        ("250us", Duration::from_micros(250)),
        ("500ms", Duration::from_millis(500)),
        ("2s", Duration::from_secs(2)),
        ("1m", Duration::from_secs(60)),
        ("1h", Duration::from_secs(3600)),
        ("1d", Duration::from_secs(86_400)),
    ] {
        let from_env = Config::load(None, &env(&[("SENTINEL_PROXY_HOLD_TIMEOUT", text)]))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(from_env.timeouts.hold, want, "env {text}");
        let f = write_file(&format!("hold_timeout = \"{text}\"\n"));
        let from_file =
            Config::load(Some(f.path()), &env(&[])).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(from_file.timeouts.hold, want, "file {text}");
        assert_eq!(
            parse_duration_with_unit("timeout client", text, Some(DurationUnit::Millis)).unwrap(),
            want,
            "haproxy.cfg {text}"
        );
    }
    // The same refusals, with the same words.
    for bad in ["1.5s", "4S", "-1s", "4sec", "s", ""] {
        let e = parse_duration("k", bad).unwrap_err().to_string();
        let h = parse_duration_with_unit("k", bad, Some(DurationUnit::Millis))
            .unwrap_err()
            .to_string();
        // haproxy.cfg's adds what a bare number means there.
        assert!(h.starts_with(&e), "{bad:?}: {e} / {h}");
    }
}

#[test]
fn empty_admin_or_replica_means_off() {
    let c = Config::load(
        None,
        &env(&[
            ("SENTINEL_PROXY_ADMIN_LISTEN", "off"),
            ("SENTINEL_PROXY_REPLICA_LISTEN", ""),
        ]),
    )
    .unwrap();
    assert_eq!(c.admin_listen, None);
    assert_eq!(c.replica_listen, None);
}

#[test]
fn mode_defaults_to_multiplex_and_a_wrong_one_says_what_is_valid() {
    let c = Config::load(None, &env(&[("SENTINEL_PROXY_SENTINELS", "s:26379")])).unwrap();
    assert_eq!(c.mode, crate::config::Mode::Multiplex);
    let c = Config::load(
        None,
        &env(&[
            ("SENTINEL_PROXY_SENTINELS", "s:26379"),
            ("SENTINEL_PROXY_MODE", "relay"),
        ]),
    )
    .unwrap();
    assert_eq!(c.mode, crate::config::Mode::Relay);
    let e = Config::load(
        None,
        &env(&[
            ("SENTINEL_PROXY_SENTINELS", "s:26379"),
            ("SENTINEL_PROXY_MODE", "mux"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("SENTINEL_PROXY_MODE") && e.contains("relay") && e.contains("multiplex"),
        "{e}"
    );
}

/// TLS settings are judged together by check_runnable (HAProxy mode gets them from haproxy.cfg),
/// and every refusal names the key to fix.
#[test]
fn tls_settings_that_cannot_work_are_refused_naming_the_key() {
    let with = |vars: &[(&str, &str)]| {
        let mut all = vec![("SENTINEL_PROXY_SENTINELS", "s:26379")];
        all.extend_from_slice(vars);
        Config::load(None, &env(&all)).and_then(|c| c.check_runnable().map(|()| c))
    };
    let refused = |vars: &[(&str, &str)], key: &str| {
        let e = with(vars).expect_err(&format!("{vars:?} is accepted"));
        let text = e.to_string();
        assert!(text.contains(key), "{vars:?}: {text}");
    };
    refused(&[("SENTINEL_PROXY_LISTEN_TLS", "true")], "tls_cert_file");
    refused(
        &[("SENTINEL_PROXY_TLS_CERT_FILE", "/c.pem")],
        "tls_cert_file",
    );
    refused(
        &[("SENTINEL_PROXY_UPSTREAM_TLS", "true")],
        "upstream_tls_ca_file",
    );
    refused(
        &[("SENTINEL_PROXY_UPSTREAM_TLS_PORT", "6380")],
        "upstream_tls_port",
    );
    refused(
        &[
            ("SENTINEL_PROXY_UPSTREAM_TLS", "true"),
            ("SENTINEL_PROXY_UPSTREAM_TLS_VERIFY", "strict"),
        ],
        "SENTINEL_PROXY_UPSTREAM_TLS_VERIFY",
    );
    refused(
        &[("SENTINEL_PROXY_LISTEN_TLS", "maybe")],
        "SENTINEL_PROXY_LISTEN_TLS",
    );
    refused(
        &[
            ("SENTINEL_PROXY_REPLICA_LISTEN_TLS", "true"),
            ("SENTINEL_PROXY_TLS_CERT_FILE", "/c.pem"),
        ],
        "replica_listen",
    );
    // What works: a TLS listener with its certificate; TLS upstream without verification.
    let c = with(&[
        ("SENTINEL_PROXY_LISTEN_TLS", "true"),
        ("SENTINEL_PROXY_TLS_CERT_FILE", "/c.pem"),
        ("SENTINEL_PROXY_UPSTREAM_TLS", "true"),
        ("SENTINEL_PROXY_UPSTREAM_TLS_VERIFY", "none"),
        ("SENTINEL_PROXY_UPSTREAM_TLS_PORT", "6380"),
    ])
    .unwrap();
    assert!(c.tls.listen_tls && c.tls.upstream);
    assert_eq!(c.tls.upstream_verify, Verify::None);
    assert_eq!(c.tls.upstream_port, Some(6380));
}
