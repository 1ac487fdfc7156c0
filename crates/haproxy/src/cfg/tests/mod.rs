//! The reader's tests: whole chart renders here, the syntax (`syntax.rs`), the directives
//! (`directives.rs`) and the TLS lines (`tls.rs`) beside.

use super::*;

mod directives;
mod syntax;
mod tls;

/// The redis-ha chart's haproxy.cfg (DandyDeveloper/charts redis-ha 4.3x,
/// `config-haproxy.cfg`) rendered by hand for release `prod`, replicas 3, auth=true,
/// sentinel.auth=true, haproxy.readOnly.enabled=true, haproxy.metrics.enabled=true,
/// haproxy.stickyBalancing=true, IPv6 on (default), after haproxy_init.sh replaced
/// REPLACE_ANNOUNCE<N>. Also used by compat's tests and seeds the `haproxy_cfg` fuzz target.
pub(crate) const CHART_FULL: &str = include_str!("../../../tests/fixtures/chart_full.cfg");

/// The haproxy.cfg that Argo CD ships (argoproj/argo-cd
/// manifests/ha/base/redis-ha/chart/upstream.yaml, chart redis-ha-4.33.2:
/// IPv6 off, auth on, sentinel auth off, metrics on, checkInterval 3s,
/// timeouts server/client 6m, extraConfig `global / maxconn 4096`), after
/// the init container. Note the trailing blanks on the bind lines.
pub(crate) const CHART_ARGOCD: &str = include_str!("../../../tests/fixtures/chart_argocd.cfg");

/// An older chart (4.x before IPv6/TLS support) rendered for release
/// `cache`, auth=true, readOnly on, metrics on: `bind *:<port>`,
/// `frontend metrics` with `option http-use-htx`, and the password written
/// into the file by haproxy_init.sh (`sed s/REPLACE_AUTH_SECRET/$AUTH/`).
pub(crate) const CHART_OLD: &str = include_str!("../../../tests/fixtures/chart_old.cfg");

pub(crate) fn env_of(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

pub(crate) fn no_env(_: &str) -> Option<String> {
    None
}

fn hp(h: &str, p: u16) -> HostPort {
    HostPort::new(h, p)
}

fn bind(s: &str, dual: bool) -> Bind {
    Bind {
        addr: s.parse().unwrap(),
        dual_stack: dual,
        v6only: false,
        tls: None,
    }
}

/// 1-based line number of the `nth` (0-based) line equal to `needle` after trimming.
fn line_of(text: &str, needle: &str, nth: usize) -> usize {
    text.split('\n')
        .enumerate()
        .filter(|(_, l)| l.trim() == needle)
        .nth(nth)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} not in fixture"))
}

/// The `ignored` entry of the `nth` line `line` of `t`: its first two words, then `section`.
fn ignored(t: &str, line: &str, nth: usize, section: &str) -> (usize, String) {
    let keywords: Vec<&str> = line.split_whitespace().take(2).collect();
    (
        line_of(t, line, nth),
        format!("{} {section}", keywords.join(" ")),
    )
}

/// What the chart's `frontend stats` has that sentinel-proxy does not act on.
fn stats_ignored(t: &str) -> Vec<(usize, String)> {
    ["stats enable", "stats uri /stats", "stats refresh 10s"]
        .iter()
        .map(|line| ignored(t, line, 0, "(in frontend stats)"))
        .collect()
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

fn chart_timeouts() -> Timeouts {
    Timeouts {
        connect: secs(4),
        client: secs(330),
        server: secs(330),
        check: secs(2),
        tunnel: None,
    }
}

fn nodes(prefix: &str, n: usize, port: u16) -> Vec<HostPort> {
    (0..n)
        .map(|i| hp(&format!("{prefix}-redis-ha-announce-{i}"), port))
        .collect()
}

/// A minimal valid config for focused tests; `extra` goes at the end.
fn minimal(extra: &str) -> String {
    format!(
        "defaults\n  timeout connect 4s\nbackend check_if_redis_is_master_0\n  \
         tcp-check send SENTINEL\\ get-master-addr-by-name\\ mymaster\\r\\n\n  \
         server R0 s0:26379 check\nfrontend ft_redis_master\n  bind :6379\n  \
         use_backend bk_redis_master\nbackend bk_redis_master\n  server R0 r0:6379 check\n{extra}"
    )
}

#[test]
fn current_chart_full_render() {
    let env = env_of(&[("AUTH", "redis-pw"), ("SENTINELAUTH", "sentinel-pw")]);
    let cfg = parse(CHART_FULL, &env).unwrap();
    let t = CHART_FULL;
    let expected = HaproxyConfig {
        sentinels: nodes("prod", 3, 26379),
        master_name: "mymaster".into(),
        sentinel_username: None,
        sentinel_password: Some("sentinel-pw".into()),
        redis_username: None,
        redis_password: Some("redis-pw".into()),
        nodes: nodes("prod", 3, 6379),
        master_bind: vec![bind("[::]:6379", true)],
        replica_bind: vec![bind("[::]:6380", true)],
        metrics_bind: vec![bind("[::]:9101", true)],
        metrics_path: Some("/metrics".into()),
        health_bind: vec![bind("[::]:8888", true)],
        health_uri: Some("/healthz".into()),
        timeouts: chart_timeouts(),
        maxconn: None,
        sentinel_check_interval: secs(1),
        node_tls: None,
        node_tls_port: None,
        sentinel_tls: None,
        ignored: [
            vec![
                ignored(t, "balance source", 1, "(in backend bk_redis_slave)"),
                ignored(t, "hash-type consistent", 1, "(in backend bk_redis_slave)"),
            ],
            stats_ignored(t),
        ]
        .concat(),
        warnings: vec![],
    };
    assert_eq!(cfg, expected);
}

#[test]
fn argocd_render() {
    assert!(
        CHART_ARGOCD.contains("bind :8888  \n"),
        "fixture lost its trailing blanks"
    );
    let cfg = parse(CHART_ARGOCD, &env_of(&[("AUTH", "argo-pw")])).unwrap();
    let t = CHART_ARGOCD;
    let expected = HaproxyConfig {
        sentinels: nodes("argocd", 3, 26379),
        master_name: "argocd".into(),
        sentinel_username: None,
        sentinel_password: None,
        redis_username: None,
        redis_password: Some("argo-pw".into()),
        nodes: nodes("argocd", 3, 6379),
        master_bind: vec![bind("0.0.0.0:6379", false)],
        replica_bind: vec![],
        metrics_bind: vec![bind("0.0.0.0:9101", false)],
        metrics_path: Some("/metrics".into()),
        health_bind: vec![bind("0.0.0.0:8888", false)],
        health_uri: Some("/healthz".into()),
        timeouts: Timeouts {
            connect: secs(4),
            client: secs(360),
            server: secs(360),
            check: secs(2),
            tunnel: None,
        },
        maxconn: Some(4096),
        sentinel_check_interval: secs(3),
        node_tls: None,
        node_tls_port: None,
        sentinel_tls: None,
        ignored: stats_ignored(t),
        warnings: vec![],
    };
    assert_eq!(cfg, expected);
}

#[test]
fn old_chart_render_with_literal_password() {
    let cfg = parse(CHART_OLD, &no_env).unwrap();
    let expected = HaproxyConfig {
        sentinels: nodes("cache", 2, 26379),
        master_name: "mymaster".into(),
        sentinel_username: None,
        sentinel_password: None,
        redis_username: None,
        redis_password: Some("p4ss#w0rd".into()),
        nodes: nodes("cache", 2, 6379),
        master_bind: vec![bind("0.0.0.0:6379", false)],
        replica_bind: vec![bind("0.0.0.0:6380", false)],
        metrics_bind: vec![bind("0.0.0.0:9101", false)],
        metrics_path: Some("/metrics".into()),
        health_bind: vec![bind("0.0.0.0:8888", false)],
        health_uri: Some("/healthz".into()),
        timeouts: chart_timeouts(),
        maxconn: None,
        sentinel_check_interval: secs(1),
        node_tls: None,
        node_tls_port: None,
        sentinel_tls: None,
        ignored: vec![],
        warnings: vec![],
    };
    assert_eq!(cfg, expected);
}

/// haproxy.tls.enabled=true (certMountPath /tmp/, keyName redis.pem): the chart renders an
/// `ssl crt` bind on ft_redis_master and, from its `{{ else }}`, a line of blanks after it.
#[test]
fn chart_tls_render_is_accepted() {
    let text = CHART_FULL.replace(
        "  bind [::]:6379 v4v6\n",
        "  bind [::]:6379 ssl crt /tmp/redis.pem v4v6\n      \n",
    );
    let env = env_of(&[("AUTH", "redis-pw"), ("SENTINELAUTH", "sentinel-pw")]);
    let cfg = parse(&text, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.master_bind,
        vec![Bind {
            tls: Some(BindTls {
                crt: "/tmp/redis.pem".into(),
                client_ca_file: None,
            }),
            ..bind("[::]:6379", true)
        }]
    );
    assert_eq!(cfg.replica_bind, vec![bind("[::]:6380", true)]);
    assert_eq!((cfg.node_tls, cfg.sentinel_tls), (None, None));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);

    let (c, warnings) = crate::compat::convert(&parse(&text, &env).unwrap()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.listen, "[::]:6379".parse().unwrap());
    assert!(c.tls.listen_tls);
    assert_eq!(
        c.tls.cert_file.as_deref(),
        Some(Path::new("/tmp/redis.pem"))
    );
    // The PEM holds the chain and the key, as HAProxy's crt does.
    assert_eq!(c.tls.key_file, None);
    assert_eq!(c.tls.client_ca_file, None);
    // Only the client side: ft_redis_slave and the connections to Redis stay plain.
    assert!(!c.tls.replica_listen_tls && !c.tls.upstream && !c.tls.sentinel);
    assert_eq!(c.replica_listen, Some("[::]:6380".parse().unwrap()));
    c.check_runnable().unwrap();
}

#[test]
fn unset_auth_variable_means_no_password_and_a_warning() {
    let cfg = parse(CHART_FULL, &env_of(&[("SENTINELAUTH", "s")])).unwrap();
    assert_eq!(cfg.redis_password, None);
    assert_eq!(cfg.sentinel_password.as_deref(), Some("s"));
    let auth_line = line_of(CHART_FULL, r#"tcp-check send "AUTH ${AUTH}"\r\n"#, 0);
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    assert!(cfg.warnings[0].starts_with(&format!("haproxy.cfg line {auth_line}: ")));
    assert!(cfg.warnings[0].contains("empty"));
    // Set but empty behaves the same.
    let cfg = parse(CHART_FULL, &env_of(&[("AUTH", ""), ("SENTINELAUTH", "s")])).unwrap();
    assert_eq!(cfg.redis_password, None);
}
