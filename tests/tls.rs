//! TLS on every hop, with real TLS Redis and Sentinels and certificates made by rcgen:
//! clients → proxy (mTLS too), proxy → nodes and Sentinels, rotation, wrong CAs.

use std::time::Duration;

use redis_protocol::resp2::types::BytesFrame;
use sentinel_bench::lab::LabOptions;
use sentinel_bench::load::{self, LoadOptions};
use sentinel_proxy_core::control::conn::ConnError;
use test_support::certs::{end_of_year, TestPki};
use test_support::*;

fn is_pong(r: &Result<BytesFrame, ConnError>) -> bool {
    matches!(r, Ok(BytesFrame::SimpleString(s)) if &s[..] == b"PONG")
}

/// The whole path over TLS: writers on a TLS listener, the proxy on TLS to the nodes and the
/// Sentinels (which replicate and gossip over TLS), a planned failover in the middle. As over
/// plain TCP: no error, no acknowledged write lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_failover_over_tls_loses_nothing() {
    let pki = TestPki::new("e2e");
    let lab = lab(tls_lab_options(&pki, LabOptions::default())).await;
    let proxy_leaf = pki.leaf("proxy", 2035);
    let p = proxy(with_tls_listener(
        tls_upstream_config(&lab, &pki, &proxy_leaf),
        &proxy_leaf,
    ))
    .await;
    let old = lab.master().unwrap();
    assert_eq!(p.route().load().serving_master().unwrap().addr, old);

    let load = load::start(LoadOptions {
        target: p.bound.listen,
        writers: 8,
        key_prefix: "tls:".into(),
        password: None,
        timeout: Duration::from_secs(2),
        tls: Some(tls_client(&pki.ca, None)),
    });
    acked_at_least(&load, 8 * 20, "the writers' first acknowledged writes").await;
    let new_master = failover_and_wait(&lab, &p).await;
    assert_ne!(new_master, old);
    let resumed = load.live.snapshot().0;
    acked_at_least(&load, resumed + 8 * 20, "writes on the new master").await;
    let reports = load.stop().await;
    let s = load::summarise(&reports, &values_on(&lab, new_master, &reports));
    eprintln!("summary: {s:?}");
    assert!(s.acked >= 8 * 40);
    assert_eq!(s.errors.values().sum::<u64>(), 0, "{:?}", s.examples);
    assert_eq!(s.lost, 0);
    // Every hop shook hands over TLS, and the writers were on the TLS listener.
    let admin = p.bound.admin.unwrap();
    for side in ["client", "upstream", "sentinel"] {
        let n = metric(
            admin,
            "sentinel_proxy_tls_handshakes_total",
            &format!("side=\"{side}\""),
        )
        .await;
        assert!(n >= 1.0, "no TLS handshake on the {side} side");
    }
    p.stop().await;
}

/// Frames larger than a TLS record and than the send limit, and deep pipelines, cross both
/// TLS hops intact (partial TLS writes, ciphertext left queued, plaintext buffered in rustls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_and_pipelines_cross_both_tls_hops() {
    let pki = TestPki::new("big");
    let lab = single_node_tls_lab(&pki).await;
    let leaf = pki.leaf("proxy", 2035);
    let p = proxy(with_tls_listener(
        tls_upstream_config(&lab, &pki, &leaf),
        &leaf,
    ))
    .await;
    let dialer = tls_client(&pki.ca, None);
    let mut c = sentinel_proxy_core::control::conn::RespConn::connect_with(
        &dialer,
        p.bound.listen,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let value: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    c.command(&[b"SET", b"big", &value]).await.unwrap();
    // Read late, so the proxy's writes to this client block and TLS keeps ciphertext queued:
    // the tail must still come once the socket drains.
    c.send(&[b"GET", b"big"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = tokio::time::timeout(Duration::from_secs(10), c.read_frame())
        .await
        .expect("the whole reply arrives")
        .unwrap();
    assert!(
        matches!(&got, BytesFrame::BulkString(b) if b[..] == value[..]),
        "GET big differs"
    );
    // 2,000 commands in one write, 2,000 replies back.
    for _ in 0..2000 {
        c.send(&[b"INCR", b"deep"]).await.unwrap();
    }
    let mut last = 0;
    for _ in 0..2000 {
        match c.read_frame().await.unwrap() {
            BytesFrame::Integer(v) => last = v,
            other => panic!("INCR answered {other:?}"),
        }
    }
    assert_eq!(last, 2000);
    p.stop().await;
}

/// With `tls_client_ca_file` set, a client without a certificate gets no answer (the handshake
/// fails; in TLS 1.3 the client learns it at its first read) and is counted; one with a
/// certificate from that CA is served. A client that trusts another CA refuses the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_refuses_clients_without_a_certificate_and_wrong_cas() {
    let pki = TestPki::new("mtls");
    let other = TestPki::new("other");
    let lab = single_node_lab().await;
    let leaf = pki.leaf("proxy", 2035);
    let mut c = with_tls_listener(config_for(&lab), &leaf);
    c.tls.client_ca_file = Some(pki.ca.clone());
    let p = proxy(c).await;
    let admin = p.bound.admin.unwrap();

    let anonymous = tls_command(&tls_client(&pki.ca, None), p.bound.listen, &[b"PING"]).await;
    assert!(
        !is_pong(&anonymous),
        "served without a client certificate: {anonymous:?}"
    );
    let failures = metric(
        admin,
        "sentinel_proxy_tls_handshake_failures_total",
        "side=\"client\",reason=\"no_client_cert\"",
    )
    .await;
    assert_eq!(failures, 1.0);

    // A certificate from another CA is refused too.
    let stranger = other.leaf("stranger", 2035);
    let r = tls_command(
        &tls_client(&pki.ca, Some(&stranger)),
        p.bound.listen,
        &[b"PING"],
    )
    .await;
    assert!(
        !is_pong(&r),
        "served with a certificate of another CA: {r:?}"
    );
    let unknown = metric(
        admin,
        "sentinel_proxy_tls_handshake_failures_total",
        "side=\"client\",reason=\"unknown_ca\"",
    )
    .await;
    assert_eq!(unknown, 1.0);

    let friend = pki.leaf("friend", 2035);
    let r = tls_command(
        &tls_client(&pki.ca, Some(&friend)),
        p.bound.listen,
        &[b"PING"],
    )
    .await;
    assert!(is_pong(&r), "{r:?}");

    // A client that trusts another CA refuses the proxy's certificate, saying why.
    let e = tls_command(
        &tls_client(&other.ca, Some(&friend)),
        p.bound.listen,
        &[b"PING"],
    )
    .await
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("unknown_ca"), "{msg}");
    p.stop().await;
}

/// The proxy's upstream CA is not the one that signed the nodes' certificates: it never routes
/// to them, counts the failures by reason, and the error says what to fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_upstream_ca_is_refused_with_a_clear_error() {
    let pki = TestPki::new("right");
    let wrong = TestPki::new("wrong");
    let lab = single_node_tls_lab(&pki).await;
    let client = pki.leaf("proxy", 2035);
    let mut c = tls_upstream_config(&lab, &pki, &client);
    c.tls.upstream_ca_file = Some(wrong.ca.clone());
    let p = sentinel_proxy_core::start(c).await.expect("starts");
    let admin = p.bound.admin.unwrap();
    // The Sentinels are refused first (the same CA setting): no master is ever learnt.
    eventually("handshakes refused for the unknown CA", || async {
        let n = metric(
            admin,
            "sentinel_proxy_tls_handshake_failures_total",
            "side=\"sentinel\",reason=\"unknown_ca\"",
        )
        .await;
        (n >= 1.0).then_some(())
    })
    .await;
    assert_eq!(http_get(admin, "/readyz").await.0, 503);
    assert!(p.route().load().serving_master().is_none());
    p.stop().await;

    // What an operator reads in the log: the address, the reason, and the key to fix.
    let master = lab.master().unwrap();
    let wrong_dialer = tls_client(&wrong.ca, Some(&client));
    let e = wrong_dialer
        .connect(master, Duration::from_secs(5))
        .await
        .err()
        .expect("the handshake fails");
    let msg = e.to_string();
    assert!(msg.contains(&master.to_string()), "{msg}");
    assert!(msg.contains("unknown_ca"), "{msg}");
    assert!(msg.contains("upstream_tls_ca_file"), "{msg}");
    // And the right CA works (the failure above is the CA, not the lab).
    let r = tls_command(&tls_client(&pki.ca, Some(&client)), master, &[b"PING"]).await;
    assert!(is_pong(&r), "{r:?}");
}

/// Kubernetes updates a mounted Secret by swapping the `..data` symlink. New handshakes use the
/// new certificate, sessions opened before keep working and are not dropped, and a broken new
/// certificate leaves the current one in use and shows in the reload gauge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_drops_no_session() {
    let first = TestPki::new("first");
    let second = TestPki::new("second");
    let lab = single_node_lab().await;
    let secret = tempfile::tempdir().unwrap();
    let mount = secret.path();
    // The kubelet's layout: tls.crt → ..data/tls.crt, ..data → ..<timestamp>.
    let publish = |version: &str, cert: &[u8], key: &[u8]| {
        let dir = mount.join(format!("..{version}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("tls.crt"), cert).unwrap();
        std::fs::write(dir.join("tls.key"), key).unwrap();
        let tmp = mount.join("..data_tmp");
        std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
        std::fs::rename(&tmp, mount.join("..data")).unwrap();
    };
    let a = first.leaf("a", 2031);
    publish(
        "v1",
        &std::fs::read(&a.cert).unwrap(),
        &std::fs::read(&a.key).unwrap(),
    );
    for f in ["tls.crt", "tls.key"] {
        std::os::unix::fs::symlink(format!("..data/{f}"), mount.join(f)).unwrap();
    }
    let mut c = config_for(&lab);
    c.tls.listen_tls = true;
    c.tls.cert_file = Some(mount.join("tls.crt"));
    c.tls.key_file = Some(mount.join("tls.key"));
    c.tls.reload_interval = Duration::from_millis(100);
    let p = proxy(c).await;
    let admin = p.bound.admin.unwrap();
    let expiry = || {
        metric(
            admin,
            "sentinel_proxy_tls_cert_expiry_timestamp_seconds",
            "cert=\"server\"",
        )
    };
    assert_eq!(expiry().await, end_of_year(2031) as f64);

    // Writers on sessions opened with the first certificate.
    let load = load::start(LoadOptions {
        target: p.bound.listen,
        writers: 8,
        key_prefix: "rot:".into(),
        password: None,
        timeout: Duration::from_secs(2),
        tls: Some(tls_client(&first.ca, None)),
    });
    acked_at_least(&load, 8 * 20, "the writers' first acknowledged writes").await;
    let trusts_second = tls_client(&second.ca, None);
    assert!(!is_pong(
        &tls_command(&trusts_second, p.bound.listen, &[b"PING"]).await
    ));

    let b = second.leaf("b", 2032);
    publish(
        "v2",
        &std::fs::read(&b.cert).unwrap(),
        &std::fs::read(&b.key).unwrap(),
    );
    eventually("the new certificate in use", || async {
        (expiry().await == end_of_year(2032) as f64).then_some(())
    })
    .await;
    let r = tls_command(&trusts_second, p.bound.listen, &[b"PING"]).await;
    assert!(
        is_pong(&r),
        "a new handshake does not use the new certificate: {r:?}"
    );
    assert_eq!(
        metric(admin, "sentinel_proxy_tls_reloads_total", "cert=\"server\"").await,
        1.0
    );

    // A broken update: the key does not belong to the certificate.
    let c3 = second.leaf("c", 2033);
    publish(
        "v3",
        &std::fs::read(&c3.cert).unwrap(),
        &std::fs::read(&b.key).unwrap(),
    );
    eventually("the failed reload in the gauge", || async {
        (metric(admin, "sentinel_proxy_tls_reload_ok", "cert=\"server\"").await == 0.0)
            .then_some(())
    })
    .await;
    assert_eq!(
        expiry().await,
        end_of_year(2032) as f64,
        "the previous certificate stays"
    );
    let r = tls_command(&trusts_second, p.bound.listen, &[b"PING"]).await;
    assert!(is_pong(&r), "handshakes fail after a broken update: {r:?}");
    assert_eq!(
        metric(
            admin,
            "sentinel_proxy_tls_reload_failures_total",
            "cert=\"server\""
        )
        .await,
        1.0,
        "a broken update is counted once, not at every check"
    );

    let resumed = load.live.snapshot().0;
    acked_at_least(&load, resumed + 8 * 20, "writes after the rotations").await;
    let reports = load.stop().await;
    let s = load::summarise(&reports, &vec![0; reports.len()]);
    assert_eq!(s.errors.values().sum::<u64>(), 0, "{:?}", s.examples);
    assert_eq!(s.reconnects, 0, "a session was dropped by a rotation");
    p.stop().await;
}

/// Plain and TLS listeners side by side serve the same master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_tls_listeners_run_side_by_side() {
    let pki = TestPki::new("side");
    let lab = single_node_lab().await;
    let leaf = pki.leaf("proxy", 2035);
    let mut c = config_for(&lab);
    c.tls.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    c.tls.cert_file = Some(leaf.combined.clone());
    let p = proxy(c).await;
    let tls_addr = p.bound.tls_listen.expect("the TLS listener is bound");
    let r = tls_command(&tls_client(&pki.ca, None), tls_addr, &[b"SET", b"k", b"v"]).await;
    assert!(r.is_ok(), "{r:?}");
    let mut plain = client(p.bound.listen).await;
    let v: String = redis::AsyncCommands::get(&mut plain, "k").await.unwrap();
    assert_eq!(v, "v");
    // The plain listener does not speak TLS, and the TLS one does not speak RESP in clear.
    let r = tls_command(&tls_client(&pki.ca, None), p.bound.listen, &[b"PING"]).await;
    assert!(!is_pong(&r));
    let (reply, _) = raw_exchange(tls_addr, b"PING\r\n", 7).await;
    assert!(!reply.starts_with(b"+PONG"), "{reply:?}");
    p.stop().await;
}

/// Redis and Sentinel require a client certificate by default (`tls-auth-clients yes`).
/// Without one the proxy is refused; in TLS 1.3 the refusal comes after the client's side of the
/// handshake, and is still counted as a handshake failure with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_client_certificate_is_counted_with_its_reason() {
    let pki = TestPki::new("nocert");
    let lab = single_node_tls_lab(&pki).await;
    let client = pki.leaf("proxy", 2035);
    let mut c = tls_upstream_config(&lab, &pki, &client);
    c.tls.upstream_cert_file = None;
    c.tls.upstream_key_file = None;
    let p = sentinel_proxy_core::start(c).await.expect("starts");
    let admin = p.bound.admin.unwrap();
    eventually("the Sentinels' refusals counted", || async {
        let n = metric(
            admin,
            "sentinel_proxy_tls_handshake_failures_total",
            "side=\"sentinel\",reason=\"no_client_cert\"",
        )
        .await;
        (n >= 1.0).then_some(())
    })
    .await;
    assert!(p.route().load().serving_master().is_none());
    p.stop().await;
}

/// The chart's haproxy.cfg with `haproxy.tls.enabled` (`bind … ssl crt FILE`): HAProxy and the
/// drop-in image both terminate TLS with the same file, and serve the same master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_tls_bind_works_as_with_haproxy() {
    let pki = TestPki::new("chart");
    let lab = single_node_lab().await;
    let leaf = pki.leaf("haproxy", 2035);
    let pem = leaf.combined.display().to_string();
    let haproxy = tokio::task::block_in_place(|| {
        sentinel_bench::haproxy::Haproxy::start_listening(&lab, |cfg| {
            let (head, tail) = cfg.split_once("frontend ft_redis_master\n  bind ").unwrap();
            let (addr, rest) = tail.split_once('\n').unwrap();
            format!("{head}frontend ft_redis_master\n  bind {addr} ssl crt {pem}\n{rest}")
        })
    })
    .expect("haproxy starts (scripts/install-deps.sh installs it)");
    let text = std::fs::read_to_string(&haproxy.config).unwrap();
    assert!(text.contains(" ssl crt "), "{text}");
    let mut config = sentinel_proxy_haproxy::compat::config_from_haproxy(
        &sentinel_proxy_haproxy::cfg::parse(&text, &|_| None).unwrap(),
    )
    .unwrap();
    assert!(config.tls.listen_tls);
    assert_eq!(
        config.tls.cert_file.as_deref(),
        Some(leaf.combined.as_path())
    );
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.health_listen = None;
    config.admin_listen = None;
    let p = proxy(config).await;
    let dialer = tls_client(&pki.ca, None);
    for (who, addr) in [
        ("haproxy", haproxy.listen),
        ("sentinel-proxy", p.bound.listen),
    ] {
        let r = eventually(&format!("{who} answers over TLS"), || async {
            tls_command(&dialer, addr, &[b"SET", b"chart", who.as_bytes()])
                .await
                .ok()
        })
        .await;
        assert!(
            matches!(r, BytesFrame::SimpleString(ref s) if &s[..] == b"OK"),
            "{who}: {r:?}"
        );
        let r = tls_command(&dialer, addr, &[b"GET", b"chart"])
            .await
            .unwrap();
        assert!(
            matches!(&r, BytesFrame::BulkString(v) if v[..] == *who.as_bytes()),
            "{who}: {r:?}"
        );
    }
    p.stop().await;
}
