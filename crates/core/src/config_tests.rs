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
            "use ms, s",
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
        assert!(
            err.contains(key) && err.contains(hint),
            "{name}={value}: {err}"
        );
    }
    let err = Config::load(None, &env(&[("SENTINEL_PROXY_MAX_CLIENTS", "many")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_clients"), "{err}");
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
    assert_eq!(Config::unknown_env(&e), ["SENTINEL_PROXY_MAX_CLIENT"]);
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
    ] {
        let (key, message) = invalid(Config::load(
            None,
            &env(&[("SENTINEL_PROXY_HOLD_TIMEOUT", value)]),
        ));
        assert_eq!(key, "hold_timeout", "{value}: {message}");
        assert!(message.contains("too large"), "{value}: {message}");
        let f = write_file(&format!("role_interval = \"{value}\"\n"));
        let (key, message) = invalid(Config::load(Some(f.path()), &env(&[])));
        assert_eq!(key, "role_interval", "{value}: {message}");
        assert!(message.contains("too large"), "{value}: {message}");
    }
    // The largest value that fits is taken as written.
    let max_h = u64::MAX / 3600;
    assert_eq!(
        parse_duration("hold_timeout", &format!("{max_h}h")).unwrap(),
        Duration::from_secs(max_h * 3600)
    );
    let e = parse_duration("hold_timeout", &format!("{}h", max_h + 1)).unwrap_err();
    assert!(e.to_string().starts_with("hold_timeout: "), "{e}");

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
    assert_eq!(
        haproxy("18446744073709551615us").unwrap(),
        Duration::from_micros(u64::MAX)
    );
    assert_eq!(haproxy("2000").unwrap(), Duration::from_secs(2));
    assert_eq!(haproxy("1d").unwrap(), Duration::from_secs(86_400));
    assert!(haproxy(" 4s").is_err() && haproxy("4 s").is_err());
    // The file keeps its own units and its refusal of bare numbers.
    assert!(parse_duration("hold_timeout", "1d").is_err());
    assert!(parse_duration("hold_timeout", "2000").is_err());
    assert_eq!(
        parse_duration("hold_timeout", " 2s ").unwrap(),
        Duration::from_secs(2)
    );
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
