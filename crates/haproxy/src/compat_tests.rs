//! Tests of the haproxy.cfg → Config conversion and of HAProxy's command line.

use super::*;
use sentinel_proxy_core::config::Verify;
use std::collections::HashMap;
use std::time::Duration;

/// The chart's renders and environment helpers, shared with cfg's tests.
use crate::cfg::tests::{env_of, no_env, CHART_ARGOCD, CHART_FULL};

fn convert_text(text: &str, env: &dyn Fn(&str) -> Option<String>) -> (Config, Vec<String>) {
    let h = cfg::parse(text, env).unwrap_or_else(|e| panic!("{e}"));
    convert(&h).unwrap_or_else(|e| panic!("{e}"))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn current_chart_maps_every_listener_and_password() {
    let env = env_of(&[("AUTH", "redis-pw"), ("SENTINELAUTH", "sentinel-pw")]);
    let (c, warnings) = convert_text(CHART_FULL, &env);
    assert_eq!(warnings, Vec::<String>::new());
    let sentinels: Vec<String> = c.sentinels.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        sentinels,
        [
            "prod-redis-ha-announce-0:26379",
            "prod-redis-ha-announce-1:26379",
            "prod-redis-ha-announce-2:26379"
        ]
    );
    assert_eq!(c.master_name, "mymaster");
    assert_eq!(c.redis_password.as_ref().unwrap().expose(), "redis-pw");
    assert_eq!(c.redis_password.as_ref().unwrap().username(), None);
    assert_eq!(
        c.sentinel_password.as_ref().unwrap().expose(),
        "sentinel-pw"
    );
    assert_eq!(c.listen, addr("[::]:6379"));
    assert_eq!(c.replica_listen, Some(addr("[::]:6380")));
    assert_eq!(c.admin_listen, Some(addr("[::]:9101")));
    assert_eq!(
        c.health_listen,
        Some(HealthListener {
            addr: addr("[::]:8888"),
            uri: "/healthz".into()
        })
    );
    assert_eq!(c.timeouts.connect, Duration::from_secs(4));
    assert_eq!(c.timeouts.client_idle, Some(Duration::from_secs(330)));
    // Everything else is sentinel-proxy's default.
    let d = Config::for_sentinels(vec![], "x");
    assert_eq!(c.timeouts.role_interval, d.timeouts.role_interval);
    assert_eq!(c.timeouts.role_timeout, d.timeouts.role_timeout);
    assert_eq!(c.timeouts.hold, d.timeouts.hold);
    assert_eq!(c.limits, d.limits);
    assert_eq!(c.log_format, LogFormat::Text);
    c.check_runnable().unwrap();
}

#[test]
fn argocd_render_ipv4_binds_maxconn_and_no_sentinel_auth() {
    let (c, warnings) = convert_text(CHART_ARGOCD, &env_of(&[("AUTH", "argo-pw")]));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.master_name, "argocd");
    assert_eq!(c.listen, addr("0.0.0.0:6379"));
    assert_eq!(c.replica_listen, None);
    assert_eq!(c.admin_listen, Some(addr("0.0.0.0:9101")));
    assert_eq!(c.health_listen.as_ref().unwrap().addr, addr("0.0.0.0:8888"));
    assert_eq!(c.redis_password.as_ref().unwrap().expose(), "argo-pw");
    assert_eq!(c.sentinel_password, None);
    assert_eq!(c.limits.max_clients, 4096);
    assert_eq!(c.timeouts.client_idle, Some(Duration::from_secs(360)));
}

#[test]
fn unset_password_variables_mean_no_auth() {
    let (c, _) = convert_text(CHART_FULL, &no_env);
    assert_eq!((c.redis_password, c.sentinel_password), (None, None));
}

#[test]
fn acl_users_come_with_their_passwords() {
    let text = CHART_FULL
        .replace("\"AUTH ${AUTH}\"", "\"AUTH app ${AUTH}\"")
        .replace(
            "\"AUTH ${SENTINELAUTH}\"",
            "\"AUTH watcher ${SENTINELAUTH}\"",
        );
    let env = env_of(&[("AUTH", "pw-a1"), ("SENTINELAUTH", "pw-s1")]);
    let (c, _) = convert_text(&text, &env);
    let r = c.redis_password.unwrap();
    assert_eq!((r.username(), r.expose()), (Some("app"), "pw-a1"));
    let s = c.sentinel_password.unwrap();
    assert_eq!((s.username(), s.expose()), (Some("watcher"), "pw-s1"));
    let dbg = format!("{s:?}");
    assert!(dbg.contains("watcher") && !dbg.contains("pw-s1"), "{dbg}");
}

#[test]
fn optional_listeners_are_off_when_their_sections_are_missing() {
    let text = "backend check_if_redis_is_master_0\n  \
        tcp-check send SENTINEL\\ get-master-addr-by-name\\ m\\r\\n\n  \
        server R0 10.0.0.1:26379 check\n\
        frontend ft_redis_master\n  bind 127.0.0.1:7000\n  use_backend bk_redis_master\n\
        backend bk_redis_master\n  server R0 10.0.0.1:6379 check\n";
    let (c, _) = convert_text(text, &no_env);
    assert_eq!(c.listen, addr("127.0.0.1:7000"));
    assert_eq!(
        (c.replica_listen, c.admin_listen, c.health_listen),
        (None, None, None)
    );
    // No timeouts in the file: our defaults; maxconn absent: our default.
    let d = Config::for_sentinels(vec![], "x");
    assert_eq!(c.timeouts.connect, d.timeouts.connect);
    assert_eq!(c.timeouts.client_idle, None);
    assert_eq!(c.limits.max_clients, d.limits.max_clients);
}

#[test]
fn several_binds_use_the_first_and_warn_about_the_others() {
    let text = CHART_FULL.replace(
        "  bind [::]:6379 v4v6\n",
        "  bind [::]:6379 v4v6\n  bind 127.0.0.1:7379,127.0.0.1:7380\n",
    );
    let (c, warnings) = convert_text(&text, &no_env);
    assert_eq!(c.listen, addr("[::]:6379"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("ft_redis_master")
            && warnings[0].contains("127.0.0.1:7379, 127.0.0.1:7380"),
        "{}",
        warnings[0]
    );
}

/// Every TLS combination the reader accepts makes a configuration the library runs with.
fn convert_runnable(text: &str) -> (Config, Vec<String>) {
    let (c, warnings) = convert_text(text, &no_env);
    c.check_runnable()
        .unwrap_or_else(|e| panic!("check_runnable: {e}\n{text}"));
    (c, warnings)
}

/// The nodes' server lines of both bk_redis_* backends with these options.
fn tls_nodes(text: &str, opts: &str) -> String {
    text.replace(
        "check inter 1s fall 1 rise 1\n",
        &format!("check inter 1s fall 1 rise 1 {opts}\n"),
    )
}

/// The Sentinels' server lines with these options.
fn tls_sentinels(text: &str, opts: &str) -> String {
    text.replace(
        ":26379 check inter 1s\n",
        &format!(":26379 check inter 1s {opts}\n"),
    )
}

#[test]
fn tls_listeners_map_to_listen_tls_and_replica_listen_tls() {
    // ft_redis_slave only.
    let text = CHART_FULL.replace(
        "bind [::]:6380 v4v6",
        "bind [::]:6380 ssl crt /tls/r.pem v4v6",
    );
    let (c, warnings) = convert_runnable(&text);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!c.tls.listen_tls && c.tls.replica_listen_tls);
    assert_eq!(c.replica_listen, Some(addr("[::]:6380")));
    assert_eq!(c.tls.cert_file, Some(PathBuf::from("/tls/r.pem")));
    // Both, with client certificates.
    let opts = "ssl crt /tls/r.pem ca-file /tls/clients.pem verify required v4v6";
    let text = CHART_FULL
        .replace("bind [::]:6379 v4v6", &format!("bind [::]:6379 {opts}"))
        .replace("bind [::]:6380 v4v6", &format!("bind [::]:6380 {opts}"));
    let (c, _) = convert_runnable(&text);
    assert!(c.tls.listen_tls && c.tls.replica_listen_tls);
    assert_eq!(
        c.tls.client_ca_file,
        Some(PathBuf::from("/tls/clients.pem"))
    );
    assert_eq!((c.tls.tls_listen, c.tls.tls_replica_listen), (None, None));
    // Nothing else changes.
    assert_eq!(c.listen, addr("[::]:6379"));
    assert_eq!(c.admin_listen, Some(addr("[::]:9101")));
    assert!(!c.tls.upstream && !c.tls.sentinel);
}

/// A plain bind and an ssl one in one frontend: the plain listener and a TLS one beside it
/// (tls_listen), e.g. while clients move to TLS.
#[test]
fn a_plain_and_an_ssl_bind_listen_side_by_side() {
    let text = CHART_FULL
        .replace(
            "  bind [::]:6379 v4v6\n",
            "  bind [::]:6379 v4v6\n  bind [::]:6390 ssl crt /tls/r.pem v4v6\n",
        )
        .replace(
            "  bind [::]:6380 v4v6\n",
            "  bind [::]:6380 v4v6\n  bind [::]:6391 ssl crt /tls/r.pem v4v6\n",
        );
    let (c, warnings) = convert_runnable(&text);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.listen, addr("[::]:6379"));
    assert!(!c.tls.listen_tls);
    assert_eq!(c.tls.tls_listen, Some(addr("[::]:6390")));
    assert_eq!(c.replica_listen, Some(addr("[::]:6380")));
    assert!(!c.tls.replica_listen_tls);
    assert_eq!(c.tls.tls_replica_listen, Some(addr("[::]:6391")));
    assert_eq!(c.tls.cert_file, Some(PathBuf::from("/tls/r.pem")));
    // A third bind is not listened on, as before.
    let text = text.replace(
        "  bind [::]:6390 ssl crt /tls/r.pem v4v6\n",
        "  bind [::]:6390 ssl crt /tls/r.pem v4v6\n  bind 127.0.0.1:7000\n",
    );
    let (c, warnings) = convert_runnable(&text);
    assert_eq!(c.tls.tls_listen, Some(addr("[::]:6390")));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("the first ssl one, [::]:6390")
            && warnings[0].contains("not on 127.0.0.1:7000"),
        "{}",
        warnings[0]
    );
    // An ssl bind first: that one is the listener; a plain one after it is not used.
    let text = CHART_FULL.replace(
        "  bind [::]:6379 v4v6\n",
        "  bind [::]:6379 ssl crt /tls/r.pem v4v6\n  bind [::]:6390 v4v6\n",
    );
    let (c, warnings) = convert_runnable(&text);
    assert!(c.tls.listen_tls);
    assert_eq!(c.tls.tls_listen, None);
    assert!(warnings[0].contains("not on [::]:6390"), "{warnings:?}");
    // The TLS listener takes its port like any other.
    let text = CHART_FULL.replace(
        "  bind [::]:6379 v4v6\n",
        "  bind [::]:7000 v6only\n  bind 0.0.0.0:7000 ssl crt /tls/r.pem\n",
    );
    let h = cfg::parse(&text, &no_env).unwrap();
    let e = convert(&h).unwrap_err().to_string();
    assert!(
        e.contains("ft_redis_master (ssl) binds 0.0.0.0:7000") && e.contains("own port"),
        "{e}"
    );
}

/// upstream_tls_verify, then the ca, cert and server name it goes with.
type Upstream = (
    Verify,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

#[test]
fn server_ssl_maps_to_upstream_tls() {
    let cases: &[(&str, Upstream)] = &[
        ("ssl verify none", (Verify::None, None, None, None)),
        (
            "ssl ca-file /tls/ca.pem",
            (Verify::Ca, Some("/tls/ca.pem"), None, None),
        ),
        (
            "ssl verify required ca-file /tls/ca.pem crt /tls/client.pem",
            (
                Verify::Ca,
                Some("/tls/ca.pem"),
                Some("/tls/client.pem"),
                None,
            ),
        ),
        (
            "ssl ca-file /tls/ca.pem sni str(redis.example)",
            (
                Verify::Full,
                Some("/tls/ca.pem"),
                None,
                Some("redis.example"),
            ),
        ),
        (
            "ssl ca-file /tls/ca.pem verifyhost redis.example",
            (
                Verify::Full,
                Some("/tls/ca.pem"),
                None,
                Some("redis.example"),
            ),
        ),
    ];
    for (opts, (verify, ca, crt, name)) in cases {
        let (c, warnings) = convert_runnable(&tls_nodes(CHART_FULL, opts));
        assert!(warnings.is_empty(), "{opts}: {warnings:?}");
        let t = &c.tls;
        assert!(t.upstream && !t.sentinel, "{opts}");
        assert_eq!(t.upstream_verify, *verify, "{opts}");
        assert_eq!(t.upstream_ca_file.as_deref(), ca.map(Path::new), "{opts}");
        assert_eq!(
            t.upstream_cert_file.as_deref(),
            crt.map(Path::new),
            "{opts}"
        );
        assert_eq!(t.upstream_key_file, None, "{opts}");
        assert_eq!(t.upstream_server_name.as_deref(), *name, "{opts}");
        // HAProxy connects to the server lines' port: the nodes' TLS port.
        assert_eq!(t.upstream_port, Some(6379), "{opts}");
        // The client side stays plain.
        assert!(!t.serves_tls(), "{opts}");
    }
    // The global default.
    let text = format!(
        "global\n  ssl-server-verify none\n{}",
        tls_nodes(CHART_FULL, "ssl")
    );
    let (c, _) = convert_runnable(&text);
    assert_eq!(c.tls.upstream_verify, Verify::None);
    // The TLS port when it is not the one Sentinel announces (the chart's redis.tlsPort).
    let text = tls_nodes(CHART_FULL, "ssl verify none").replace(":6379 check", ":6385 check");
    let (c, _) = convert_runnable(&text);
    assert_eq!(c.tls.upstream_port, Some(6385));
}

/// The chart's check backends connect with a bare `tcp-check connect`, which HAProxy makes
/// a plain TCP connection whatever the server line says: `tcp-check connect ssl` turns
/// TLS on for the Sentinels.
fn tls_sentinel_checks(text: &str) -> String {
    let bare = "  option tcp-check\n  tcp-check connect\n  tcp-check send \"AUTH ${SENTINELAUTH}\"";
    assert_eq!(text.matches(bare).count(), 3);
    text.replace(
        bare,
        "  option tcp-check\n  tcp-check connect ssl\n  tcp-check send \"AUTH ${SENTINELAUTH}\"",
    )
}

#[test]
fn sentinel_ssl_maps_to_sentinel_tls() {
    // Sentinels only: the upstream_tls_* settings come from their server lines.
    let text = tls_sentinels(
        &tls_sentinel_checks(CHART_FULL),
        "ca-file /tls/ca.pem crt /tls/client.pem",
    );
    let (c, warnings) = convert_runnable(&text);
    assert!(warnings.is_empty(), "{warnings:?}");
    let t = &c.tls;
    assert!(t.sentinel && !t.upstream);
    assert_eq!(t.upstream_verify, Verify::Ca);
    assert_eq!(t.upstream_ca_file, Some(PathBuf::from("/tls/ca.pem")));
    assert_eq!(t.upstream_cert_file, Some(PathBuf::from("/tls/client.pem")));
    assert_eq!(t.upstream_port, None);
    // The Sentinel addresses stay the server lines' (their TLS port).
    assert_eq!(c.sentinels.len(), 3);
    assert!(c.sentinels.iter().all(|s| s.port == 26379));
    // The CA from default-server.
    let text = tls_sentinel_checks(CHART_FULL).replace(
        "  tcp-check connect ssl\n",
        "  default-server ca-file /tls/ca.pem\n  tcp-check connect ssl\n",
    );
    let (c, _) = convert_runnable(&text);
    assert!(c.tls.sentinel && !c.tls.upstream);
    assert_eq!(c.tls.upstream_ca_file, Some(PathBuf::from("/tls/ca.pem")));
    // check-ssl under the chart's bare `tcp-check connect`: HAProxy checks in plain TCP,
    // and so does sentinel-proxy, with a warning.
    let text = tls_sentinels(CHART_FULL, "check-ssl verify none");
    let h = cfg::parse(&text, &no_env).unwrap();
    let tls_warnings: Vec<&String> = h
        .warnings
        .iter()
        .filter(|w| w.contains("check-ssl"))
        .collect();
    // One per Sentinel server line (3 backends of 3).
    assert_eq!(tls_warnings.len(), 9, "{:?}", h.warnings);
    assert!(
        tls_warnings[0].contains("'check-ssl' does not make the health checks use TLS")
            && tls_warnings[0].contains("neither 'ssl' nor 'default'"),
        "{}",
        tls_warnings[0]
    );
    let (c, _) = convert_runnable(&text);
    assert!(!c.tls.sentinel && !c.tls.dials_tls());
    // Both, alike.
    let opts = "ssl verify none crt /tls/client.pem";
    let text = tls_sentinels(&tls_nodes(&tls_sentinel_checks(CHART_FULL), opts), opts);
    let (c, _) = convert_runnable(&text);
    assert!(c.tls.sentinel && c.tls.upstream);
    assert_eq!(c.tls.upstream_verify, Verify::None);
    assert_eq!(c.tls.upstream_ca_file, None);
    assert_eq!(
        c.tls.upstream_cert_file,
        Some(PathBuf::from("/tls/client.pem"))
    );
}

#[test]
fn ipv6_without_v4v6_is_dual_stack_and_v6only_is_warned() {
    let text = CHART_FULL.replace("bind [::]:6379 v4v6", "bind [::]:6379");
    let (c, warnings) = convert_text(&text, &no_env);
    assert_eq!(c.listen, addr("[::]:6379"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let text = CHART_FULL.replace("bind [::]:6379 v4v6", "bind [::]:6379 v6only");
    let (_, warnings) = convert_text(&text, &no_env);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("v6only") && w.contains("IPv4")),
        "{warnings:?}"
    );
    // A wildcard IPv6 bind and an IPv4 bind on the same port cannot both listen here.
    let text = CHART_FULL
        .replace("bind [::]:6379 v4v6", "bind [::]:7000 v6only")
        .replace("bind [::]:6380 v4v6", "bind 0.0.0.0:7000");
    let h = cfg::parse(&text, &no_env).unwrap();
    let e = convert(&h).unwrap_err().to_string();
    assert!(
        e.contains("ft_redis_slave") && e.contains("ft_redis_master") && e.contains("own port"),
        "{e}"
    );
}

/// As HAProxy applies them to an established TCP session (tests/haproxy_timeouts.rs
/// compares with the real one): `timeout tunnel` wins, else the side that times out first.
#[test]
fn idle_timeout_is_tunnel_else_the_shorter_side() {
    let idle = |client: &str, server: &str, tunnel: Option<&str>| {
        let mut text = CHART_FULL
            .replace("timeout client 330s", &format!("timeout client {client}"))
            .replace("timeout server 330s", &format!("timeout server {server}"));
        if let Some(t) = tunnel {
            text = text.replace(
                "  timeout check 2s\n",
                &format!("  timeout check 2s\n  timeout tunnel {t}\n"),
            );
        }
        convert_text(&text, &no_env).0.timeouts.client_idle
    };
    let s = Duration::from_secs;
    // The chart with haproxy.timeout.tunnel set: an hour, not 330 s.
    assert_eq!(idle("330s", "330s", Some("1h")), Some(s(3600)));
    assert_eq!(idle("330s", "330s", Some("0")), None);
    assert_eq!(idle("330s", "330s", None), Some(s(330)));
    assert_eq!(idle("10s", "20s", None), Some(s(10)));
    assert_eq!(idle("20s", "10s", None), Some(s(10)));
    assert_eq!(idle("0", "10s", None), Some(s(10)));
    assert_eq!(idle("0", "0", None), None);
}

/// The chart's pod has Kubernetes' 30 s grace period and nothing to change it: the drain
/// must end before the SIGKILL (delay + timeout + 5 s margin).
#[test]
fn drain_fits_the_charts_grace_period() {
    let (c, _) = convert_text(CHART_FULL, &no_env);
    assert_eq!(c.shutdown.timeout, HAPROXY_MODE_SHUTDOWN_TIMEOUT);
    assert!(
        c.shutdown.delay + c.shutdown.timeout + Duration::from_secs(5) <= Duration::from_secs(30)
    );
}

#[test]
fn timeouts_zero_and_metrics_path() {
    let text = CHART_FULL
        .replace("timeout client 330s", "timeout client 0")
        .replace("timeout server 330s", "timeout server 0")
        .replace("timeout connect 4s", "timeout connect 0")
        .replace("if { path /metrics }", "if { path /prom }");
    let (c, warnings) = convert_text(&text, &no_env);
    assert_eq!(c.timeouts.client_idle, None);
    assert_eq!(
        c.timeouts.connect,
        Config::for_sentinels(vec![], "x").timeouts.connect
    );
    assert!(warnings.iter().any(|w| w.contains("timeout connect 0")));
    assert_eq!(c.metrics_uri.as_deref(), Some("/prom"));
}

#[test]
fn maxconn_out_of_range_is_an_error_that_says_what_to_do() {
    let text = format!("global\n  maxconn 99999999\n{CHART_FULL}");
    let h = cfg::parse(&text, &no_env).unwrap();
    let e = convert(&h).unwrap_err().to_string();
    assert!(
        e.contains("maxconn 99999999") && e.contains("1 to 16777216"),
        "{e}"
    );
}

#[test]
fn chart_command_line() {
    let a = parse_haproxy_args(["-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]).unwrap();
    assert_eq!(
        a,
        HaproxyArgs {
            action: HaproxyAction::Run,
            files: vec![PathBuf::from("/usr/local/etc/haproxy/haproxy.cfg")],
            pid_file: None,
            daemon: false,
            master_worker: true,
            foreground: true,
            quiet: false,
        }
    );
}

#[test]
fn every_supported_flag() {
    let a = parse_haproxy_args([
        "-D",
        "-q",
        "-c",
        "-p",
        "/run/h.pid",
        "-f",
        "a.cfg",
        "-fconf.d",
        "--",
        "b.cfg",
        "-c",
    ])
    .unwrap();
    assert_eq!(a.action, HaproxyAction::Check);
    assert!(a.daemon && a.quiet && !a.master_worker && !a.foreground);
    assert_eq!(a.pid_file, Some(PathBuf::from("/run/h.pid")));
    let files: Vec<&str> = a.files.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(files, ["a.cfg", "conf.d", "b.cfg", "-c"]);
    assert_eq!(
        parse_haproxy_args(["-p/x.pid", "-f", "y"])
            .unwrap()
            .pid_file,
        Some("/x.pid".into())
    );
    // -v, -vv and -h need no file and stop at once.
    for (flag, action) in [
        ("-v", HaproxyAction::Version { verbose: false }),
        ("-vv", HaproxyAction::Version { verbose: true }),
        ("-h", HaproxyAction::Help),
    ] {
        assert_eq!(parse_haproxy_args([flag, "-bogus"]).unwrap().action, action);
    }
    assert!(version_text(false).contains(env!("CARGO_PKG_VERSION")));
    assert!(version_text(true).contains("-f FILE|DIR"));
}

#[test]
fn bad_command_lines_list_what_is_supported() {
    for (args, needle) in [
        (&["-f", "x", "-Ws"][..], "unknown option '-Ws'"),
        (&["-d", "-f", "x"][..], "unknown option '-d'"),
        (&["-f"][..], "-f needs a value"),
        (&["-f", "x", "-p"][..], "-p needs a value"),
        (
            &["-W", "-db"][..],
            "no configuration file: add -f /usr/local/etc/haproxy/haproxy.cfg",
        ),
        (&["-c"][..], "no configuration file"),
        (&["haproxy.cfg"][..], "unexpected argument 'haproxy.cfg'"),
    ] {
        let e = parse_haproxy_args(args.iter().copied()).unwrap_err();
        assert!(matches!(e, CompatError::Usage(_)), "{args:?}");
        let text = e.to_string();
        assert!(text.contains(needle), "{args:?}: {text}");
        assert!(
            text.contains("usage: haproxy") && text.contains("-p PIDFILE"),
            "{text}"
        );
    }
}

#[test]
fn argv0_detection() {
    for (argv0, yes) in [
        ("haproxy", true),
        ("/usr/local/bin/haproxy", true),
        ("./haproxy", true),
        ("sentinel-proxy", false),
        ("/usr/sbin/haproxy-2.6", false),
        ("/opt/haproxy/sentinel-proxy", false),
    ] {
        assert_eq!(invoked_as_haproxy(argv0.as_ref()), yes, "{argv0}");
    }
}

fn overrides(pairs: &[(&str, &str)]) -> EnvOverrides {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    EnvOverrides::read(&map).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn log_settings_follow_quiet_and_the_environment() {
    let a = parse_haproxy_args(["-q", "-f", "x"]).unwrap();
    assert_eq!(
        log_settings(&a, &overrides(&[])),
        (LogFormat::Text, "warn".to_string())
    );
    // SENTINEL_PROXY_LOG wins over -q.
    assert_eq!(
        log_settings(&a, &overrides(&[("SENTINEL_PROXY_LOG", "debug")])),
        (LogFormat::Text, "debug".to_string())
    );
    let a = parse_haproxy_args(["-f", "x"]).unwrap();
    let env = overrides(&[("SENTINEL_PROXY_LOG_FORMAT", "json")]);
    assert_eq!(
        log_settings(&a, &env),
        (LogFormat::Json, "info".to_string())
    );
    let map = HashMap::from([("SENTINEL_PROXY_LOG_FORMAT".to_string(), "xml".to_string())]);
    let e = EnvOverrides::read(&map).unwrap_err().to_string();
    assert!(
        e.starts_with("SENTINEL_PROXY_LOG_FORMAT: ") && e.contains("text or json"),
        "{e}"
    );
}

#[test]
fn the_environment_wins_over_haproxy_cfg() {
    let (from_cfg, _) = convert_text(CHART_ARGOCD, &env_of(&[("AUTH", "argo-pw")]));
    let env = overrides(&[
        ("SENTINEL_PROXY_HOLD_TIMEOUT", "3s"),
        ("SENTINEL_PROXY_SHUTDOWN_TIMEOUT", "50s"),
        ("SENTINEL_PROXY_LOG_FORMAT", "json"),
        // Settings haproxy.cfg has too: the environment's are used.
        ("SENTINEL_PROXY_LISTEN", "127.0.0.1:7000"),
        ("SENTINEL_PROXY_MAX_CLIENTS", "5"),
        ("SENTINEL_PROXY_CLIENT_IDLE_TIMEOUT", "0s"),
        ("REDIS_PASSWORD", "env-pw"),
    ]);
    let c = env.apply(from_cfg.clone());
    assert_eq!(c.timeouts.hold, Duration::from_secs(3));
    assert_eq!(c.shutdown.timeout, Duration::from_secs(50));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.listen, addr("127.0.0.1:7000"));
    assert_eq!(from_cfg.limits.max_clients, 4096);
    assert_eq!(c.limits.max_clients, 5);
    assert_eq!(
        from_cfg.timeouts.client_idle,
        Some(Duration::from_secs(360))
    );
    assert_eq!(c.timeouts.client_idle, None);
    assert_eq!(c.redis_password.as_ref().unwrap().expose(), "env-pw");
    // What the environment does not set stays as haproxy.cfg says.
    assert_eq!(c.sentinels, from_cfg.sentinels);
    assert_eq!(c.master_name, "argocd");
    assert_eq!(c.admin_listen, from_cfg.admin_listen);
    assert_eq!(c.health_listen, from_cfg.health_listen);
    assert_eq!(c.timeouts.connect, from_cfg.timeouts.connect);
    // What is logged: every variable once, the password without its value.
    let shown: Vec<(String, Option<String>)> = env
        .overrides()
        .into_iter()
        .map(|o| (o.variable, o.value))
        .collect();
    assert_eq!(shown.len(), 7, "{shown:?}");
    assert!(
        shown.contains(&("REDIS_PASSWORD".into(), None)),
        "{shown:?}"
    );
    assert!(shown.contains(&("SENTINEL_PROXY_HOLD_TIMEOUT".into(), Some("3s".into()))));
    // No environment: haproxy.cfg's configuration unchanged.
    assert_eq!(
        overrides(&[("AUTH", "x")]).apply(from_cfg.clone()),
        from_cfg
    );
}

#[test]
fn load_names_the_file_and_line_of_an_error_and_writes_pid_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("haproxy.cfg");
    std::fs::write(&good, CHART_FULL).unwrap();
    let args = parse_haproxy_args(["-f", good.to_str().unwrap()]).unwrap();
    let c = load(&args, &env_of(&[("AUTH", "pw")]), &overrides(&[])).unwrap();
    assert_eq!(c.redis_password.unwrap().expose(), "pw");
    let env = overrides(&[("SENTINEL_PROXY_HOLD_TIMEOUT", "2s")]);
    let c = load(&args, &env_of(&[("AUTH", "pw")]), &env).unwrap();
    assert_eq!(c.timeouts.hold, Duration::from_secs(2));

    let bad = dir.path().join("bad.cfg");
    std::fs::write(
        &bad,
        CHART_FULL.replace("bind [::]:6380 v4v6", "bind [::]:6380 ssl"),
    )
    .unwrap();
    let line = CHART_FULL
        .lines()
        .position(|l| l.contains("bind [::]:6380"))
        .unwrap()
        + 1;
    let args = parse_haproxy_args(["-f", bad.to_str().unwrap()]).unwrap();
    let e = load(&args, &no_env, &overrides(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{} line {line}: ", bad.display())),
        "{e}"
    );

    let pid = dir.path().join("haproxy.pid");
    write_pid_file(&pid).unwrap();
    assert_eq!(
        std::fs::read_to_string(&pid).unwrap(),
        format!("{}\n", std::process::id())
    );
    let e = write_pid_file(&dir.path().join("no/such/dir.pid")).unwrap_err();
    assert!(e.to_string().contains("no/such/dir.pid"), "{e}");
}
