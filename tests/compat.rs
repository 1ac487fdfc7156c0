//! HAProxy compatibility mode end to end: a 3 redis + 3 Sentinel topology shaped like the
//! redis-ha chart's (one loopback address per node, redis on :6379, Sentinels on :26379,
//! passwords on both), the chart's haproxy.cfg rendered for it, and the binary started as
//! `haproxy -W -db -f haproxy.cfg` through a symlink, exactly as the chart's container runs it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis_protocol::resp2::types::BytesFrame;
use sentinel_bench::lab::{self, Lab, LabOptions};
use sentinel_bench::load::{self, LoadOptions};
use sentinel_proxy_core::config::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use test_support::{acked_at_least, eventually, PATIENCE};

const REDIS_PASSWORD: &str = "redis-pw-00123";
const SENTINEL_PASSWORD: &str = "sentinel-pw";

/// The nodes: redis i and Sentinel i share address i, as the chart's announce Services do.
fn node_ips() -> Vec<IpAddr> {
    (1..=3)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 1, i)))
        .collect()
}

/// Where the proxy listens (never 127.0.0.1:6379: a system redis may be there).
const BIND_IP: &str = "127.0.2.1";

fn bind_addr(port: u16) -> SocketAddr {
    format!("{BIND_IP}:{port}").parse().unwrap()
}

/// The redis-ha chart's `config-haproxy.cfg` template rendered with auth and Sentinel auth on,
/// readOnly and metrics on, after haproxy_init.sh replaced REPLACE_ANNOUNCE<N>, with every bind
/// on `bind_ip` instead of `[::]` … `v4v6`.
fn chart_cfg(nodes: &[IpAddr], bind_ip: &str, master_name: &str) -> String {
    let mut s = String::from(
        "defaults REDIS\n  mode tcp\n  timeout connect 4s\n  timeout server 330s\n  \
         timeout client 330s\n  timeout check 2s\n\n",
    );
    s += &format!(
        "listen health_check_http_url\n  bind {bind_ip}:8888\n  mode http\n  \
         monitor-uri /healthz\n  option      dontlognull\n"
    );
    let servers = |port: u16, extra: &str| -> String {
        nodes
            .iter()
            .enumerate()
            .map(|(i, ip)| format!("  server R{i} {ip}:{port} check inter 1s{extra}\n"))
            .collect()
    };
    for (i, ip) in nodes.iter().enumerate() {
        s += &format!(
            "# Check Sentinel and whether they are nominated master\n\
             backend check_if_redis_is_master_{i}\n  mode tcp\n  option tcp-check\n  \
             tcp-check connect\n  tcp-check send \"AUTH ${{SENTINELAUTH}}\"\\r\\n\n  \
             tcp-check expect string +OK\n  tcp-check send PING\\r\\n\n  \
             tcp-check expect string +PONG\n  \
             tcp-check send SENTINEL\\ get-master-addr-by-name\\ {master_name}\\r\\n\n  \
             tcp-check expect string {ip}\n  tcp-check send QUIT\\r\\n\n"
        );
        s += &servers(26379, "");
    }
    s += &format!(
        "\n# decide redis backend to use\n#master\nfrontend ft_redis_master\n  \
         bind {bind_ip}:6379\n  use_backend bk_redis_master\n\
         #slave\nfrontend ft_redis_slave\n  bind {bind_ip}:6380\n  use_backend bk_redis_slave\n"
    );
    let redis_checks = |role: &str| {
        format!(
            "  mode tcp\n  option tcp-check\n  tcp-check connect\n  \
             tcp-check send \"AUTH ${{AUTH}}\"\\r\\n\n  tcp-check expect string +OK\n  \
             tcp-check send PING\\r\\n\n  tcp-check expect string +PONG\n  \
             tcp-check send info\\ replication\\r\\n\n  tcp-check expect string role:{role}\n  \
             tcp-check send QUIT\\r\\n\n  tcp-check expect string +OK\n"
        )
    };
    s +=
        "# Check all redis servers to see if they think they are master\nbackend bk_redis_master\n";
    s += &redis_checks("master");
    for i in 0..nodes.len() {
        s += &format!(
            "  use-server R{i} if {{ srv_is_up(R{i}) }} {{ nbsrv(check_if_redis_is_master_{i}) ge 2 }}\n"
        );
    }
    s += &servers(6379, " fall 1 rise 1");
    s += "backend bk_redis_slave\n";
    s += &redis_checks("slave");
    s += &servers(6379, " fall 1 rise 1");
    s += &format!(
        "frontend stats\n  mode http\n  bind {bind_ip}:9101\n  \
         http-request use-service prometheus-exporter if {{ path /metrics }}\n  \
         stats enable\n  stats uri /stats\n  stats refresh 10s\n"
    );
    s
}

/// A directory with `haproxy` → the sentinel-proxy binary, as in the image.
fn haproxy_symlink(dir: &Path) -> PathBuf {
    let link = dir.join("haproxy");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sentinel-proxy"), &link).unwrap();
    link
}

/// The proxy process; killed on drop, its log printed when the test failed.
struct Proxy {
    child: Child,
    log: PathBuf,
}

impl Proxy {
    fn spawn(haproxy: &Path, args: &[&str], log: PathBuf) -> Proxy {
        Proxy::spawn_with_env(haproxy, args, log, &[])
    }

    /// [`Proxy::spawn`] with these environment variables added.
    fn spawn_with_env(haproxy: &Path, args: &[&str], log: PathBuf, env: &[(&str, &str)]) -> Proxy {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(haproxy)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AUTH", REDIS_PASSWORD)
            .env("SENTINELAUTH", SENTINEL_PASSWORD)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start haproxy (the symlink)");
        Proxy { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait for the exit (no deadline on a normal exit; SIGKILL after PATIENCE).
    fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("the proxy did not exit after SIGTERM");
            }
            // Poll interval of this wait-with-deadline.
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- proxy log ---\n{}", self.log());
        }
    }
}

/// HTTP/1.0 GET returning (status, body); None while nothing listens.
async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).await.ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// One command through the proxy on a fresh connection, as an application would send it.
async fn call(
    addr: SocketAddr,
    password: Option<&str>,
    args: &[&str],
) -> Result<BytesFrame, String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let password = password.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lab::call(addr, password.as_deref(), &args).map_err(|e| e.to_string())
    })
    .await
    .unwrap()
}

/// Text of the first element of an array reply (`ROLE`).
fn first_text(f: &BytesFrame) -> Option<String> {
    match f {
        BytesFrame::Array(items) => items.first().and_then(lab::text),
        _ => None,
    }
}

/// The node a fresh connection through the proxy lands on (`laddr` of `CLIENT INFO`).
async fn node_behind(proxy: SocketAddr) -> Option<SocketAddr> {
    let info = call(proxy, Some(REDIS_PASSWORD), &["CLIENT", "INFO"])
        .await
        .ok()?;
    let info = lab::text(&info)?;
    info.split_whitespace()
        .find_map(|f| f.strip_prefix("laddr="))?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_symlink_runs_the_chart_config_and_a_planned_failover_costs_no_error() {
    let lab = tokio::task::spawn_blocking(|| {
        Lab::start(LabOptions {
            node_ips: Some(node_ips()),
            redis_password: Some(REDIS_PASSWORD.into()),
            sentinel_password: Some(SENTINEL_PASSWORD.into()),
            ..LabOptions::default()
        })
    })
    .await
    .unwrap()
    .expect("the chart-shaped lab starts (redis-server and redis-sentinel installed, 127.0.1.1-3:6379/26379 free?)");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, chart_cfg(&node_ips(), BIND_IP, &lab.opts.master_name)).unwrap();
    let pid_file = dir.path().join("haproxy.pid");
    let haproxy = haproxy_symlink(dir.path());
    let mut proxy = Proxy::spawn(
        &haproxy,
        &[
            "-W",
            "-db",
            "-f",
            cfg.to_str().unwrap(),
            "-p",
            pid_file.to_str().unwrap(),
        ],
        dir.path().join("proxy.log"),
    );
    let (master_port, replica_port) = (bind_addr(6379), bind_addr(6380));
    let (health_port, metrics_port) = (bind_addr(8888), bind_addr(9101));

    // The chart's probe port answers, and /readyz on the metrics port says a master is routed.
    eventually("/healthz on 8888", || async {
        http_get(health_port, "/healthz")
            .await
            .filter(|(s, _)| *s == 200)
    })
    .await;
    eventually("/readyz 200 on 9101", || async {
        http_get(metrics_port, "/readyz")
            .await
            .filter(|(s, _)| *s == 200)
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        proxy.child.id().to_string()
    );

    // 6379: clients authenticate themselves; writes reach the master.
    let e = call(master_port, None, &["SET", "compat:k", "v"])
        .await
        .unwrap_err();
    assert!(e.contains("NOAUTH"), "{e}");
    call(master_port, Some(REDIS_PASSWORD), &["SET", "compat:k", "v"])
        .await
        .unwrap();
    let got = call(master_port, Some(REDIS_PASSWORD), &["GET", "compat:k"])
        .await
        .unwrap();
    assert_eq!(lab::text(&got).as_deref(), Some("v"));
    let role = call(master_port, Some(REDIS_PASSWORD), &["ROLE"])
        .await
        .unwrap();
    assert_eq!(first_text(&role).as_deref(), Some("master"));
    let old_master = lab.master().unwrap();
    assert_eq!(node_behind(master_port).await, Some(old_master));

    // 6380: a replica (once the proxy has confirmed one; until then it falls back to the master).
    eventually("ROLE slave on 6380", || async {
        let role = call(replica_port, Some(REDIS_PASSWORD), &["ROLE"])
            .await
            .ok()?;
        (first_text(&role).as_deref() == Some("slave")).then_some(())
    })
    .await;

    // 8888 /healthz, 9101 /metrics.
    let (status, body) = http_get(health_port, "/healthz").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = http_get(metrics_port, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("sentinel_proxy_"), "{body}");

    // A planned failover under 8 writers: no client error, no lost write.
    let load = load::start(LoadOptions {
        target: master_port,
        writers: 8,
        key_prefix: "compat:w:".into(),
        password: Some(Secret::new(REDIS_PASSWORD)),
        timeout: Duration::from_secs(5),
        tls: None,
    });
    acked_at_least(&load, 8 * 20, "the writers' first acknowledged writes").await;
    let new_master = tokio::task::block_in_place(|| {
        lab.failover().unwrap();
        lab.wait_new_master(old_master, PATIENCE).unwrap()
    });
    eventually("the proxy to route to the new master", || async {
        (node_behind(master_port).await == Some(new_master)).then_some(())
    })
    .await;
    let switched_us = load.start.elapsed().as_micros() as u64;
    // Scenario: the observation window after the switch (errors and lost writes there count).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reports = load.stop().await;
    for r in &reports {
        assert!(
            r.acks.iter().any(|a| a.at_us > switched_us),
            "writer {} got no write acknowledged after the proxy moved",
            r.key
        );
    }
    let finals: Vec<i64> = tokio::task::block_in_place(|| {
        reports
            .iter()
            .map(|r| {
                lab.redis_call(new_master, &["GET", &r.key])
                    .ok()
                    .and_then(|f| lab::text(&f))
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0)
            })
            .collect()
    });
    let s = load::summarise(&reports, &finals);
    eprintln!("summary: {s:?}");
    assert!(s.acked > 0);
    assert_eq!(
        s.errors.values().sum::<u64>(),
        0,
        "errors: {:?} {:?}",
        s.errors,
        s.examples
    );
    assert_eq!(s.lost, 0, "acknowledged writes missing on the new master");
    let role = call(master_port, Some(REDIS_PASSWORD), &["ROLE"])
        .await
        .unwrap();
    assert_eq!(first_text(&role).as_deref(), Some("master"));
    let (status, _) = http_get(metrics_port, "/readyz").await.unwrap();
    assert_eq!(status, 200);

    // SIGTERM stops it cleanly, as Kubernetes does.
    let status = tokio::task::block_in_place(|| proxy.terminate());
    assert!(status.success(), "{status:?}\n{}", proxy.log());
    // The ignored chart lines were logged once each.
    let log = proxy.log();
    assert_eq!(
        log.matches("stats enable (in frontend stats)").count(),
        1,
        "{log}"
    );
}

/// Run the binary (through `haproxy`, or as `sentinel-proxy haproxy`); (exit code, stdout+stderr).
fn run(program: &Path, args: &[&str]) -> (i32, String) {
    run_with_env(program, args, &[])
}

/// [`run`] with these environment variables (and PATH, nothing else).
fn run_with_env(program: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_flag_exits_0_on_the_chart_config_and_1_naming_the_line_of_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let haproxy = haproxy_symlink(dir.path());
    let native = PathBuf::from(env!("CARGO_BIN_EXE_sentinel-proxy"));
    let good_text = chart_cfg(&node_ips(), BIND_IP, "mymaster");
    let good = dir.path().join("haproxy.cfg");
    std::fs::write(&good, &good_text).unwrap();
    let good = good.to_str().unwrap();

    let (code, text) = run(&haproxy, &["-c", "-f", good]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Configuration file is valid"), "{text}");
    let (code, text) = run(&native, &["haproxy", "-W", "-db", "-c", "-f", good]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Configuration file is valid"), "{text}");

    // TLS on the replica frontend without a certificate: refused, naming file and line.
    let bad_line = format!("  bind {BIND_IP}:6380 ssl");
    let bad_text = good_text.replace(&format!("  bind {BIND_IP}:6380"), &bad_line);
    let line = bad_text.lines().position(|l| l == bad_line).unwrap() + 1;
    let bad = dir.path().join("bad.cfg");
    std::fs::write(&bad, &bad_text).unwrap();
    let (code, text) = run(&haproxy, &["-c", "-f", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("{} line {line}: ", bad.display())),
        "{text}"
    );
    assert!(!text.contains("Configuration file is valid"), "{text}");

    // A TLS bind whose certificate file is missing: as `haproxy -c`, the check loads it.
    let tls_text = good_text.replace(
        &format!("  bind {BIND_IP}:6380"),
        &format!("  bind {BIND_IP}:6380 ssl crt /nonexistent/tls.pem"),
    );
    let tls_cfg = dir.path().join("tls.cfg");
    std::fs::write(&tls_cfg, &tls_text).unwrap();
    let (code, text) = run(&haproxy, &["-c", "-f", tls_cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("/nonexistent/tls.pem"), "{text}");

    // Not the chart's file at all.
    let other = dir.path().join("other.cfg");
    std::fs::write(
        &other,
        "frontend web
  bind :80
  default_backend app
",
    )
    .unwrap();
    let (code, text) = run(&haproxy, &["-c", "-f", other.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("ft_redis_master"), "{text}");

    // A missing file.
    let (code, text) = run(&haproxy, &["-c", "-f", "/nonexistent/haproxy.cfg"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("/nonexistent/haproxy.cfg"), "{text}");

    // Unknown flags list what is supported; -v prints the version.
    let (code, text) = run(
        &haproxy,
        &["-W", "-db", "-S", "/run/master.sock", "-f", good],
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("unknown option '-S'") && text.contains("-p PIDFILE"),
        "{text}"
    );
    let (code, text) = run(&haproxy, &["-v"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

/// `AUTH <user> <password>` lines give the control plane an ACL user: its connections log in as it.
#[tokio::test]
async fn acl_user_credentials_authenticate_control_connections() {
    use sentinel_proxy_core::control::conn::RespConn;
    let port = lab::free_port();
    let dir = tempfile::tempdir().unwrap();
    let _redis = KillOnDrop(
        Command::new(lab::RedisBinary::Server.program())
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--dir", dir.path().to_str().unwrap()])
            .args(["--user", "default", "off"])
            .args(["--user", "watcher", "on", ">watch-pw", "~*", "&*", "+@all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (or SENTINEL_BENCH_REDIS_SERVER names one)"),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let t = Duration::from_secs(2);
    let user = Secret::new("watch-pw").for_user("watcher");
    let mut conn = eventually("redis-server to accept the ACL user", || async {
        RespConn::connect_auth(addr, Some(&user), t).await.ok()
    })
    .await;
    let pong = conn.command(&[b"PING"]).await.unwrap();
    assert_eq!(lab::text(&pong).as_deref(), Some("PONG"));
    // The same password without the user name is refused (the default user is off).
    let e = RespConn::connect_auth(addr, Some(&Secret::new("watch-pw")), t)
        .await
        .err()
        .expect("AUTH without the user fails");
    assert!(e.to_string().contains("WRONGPASS"), "{e}");
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A haproxy.cfg with one Sentinel nobody answers on, and the client port on `listen`: the
/// proxy starts, never finds a master, and holds every command until `hold_timeout`.
fn masterless_cfg(listen: SocketAddr) -> String {
    let sentinel = lab::free_port();
    format!(
        "defaults\n  mode tcp\n  timeout connect 4s\n  timeout client 330s\n\
         backend check_if_redis_is_master_0\n  mode tcp\n  option tcp-check\n  \
         tcp-check send SENTINEL\\ get-master-addr-by-name\\ mymaster\\r\\n\n  \
         server R0 127.0.0.1:{sentinel} check inter 1s\n\
         frontend ft_redis_master\n  bind {listen}\n  use_backend bk_redis_master\n\
         backend bk_redis_master\n  mode tcp\n  \
         tcp-check send \"AUTH ${{AUTH}}\"\\r\\n\n  server R0 127.0.0.1:{sentinel} check\n"
    )
}

/// HAProxy mode reads the `SENTINEL_PROXY_*` environment too, over haproxy.cfg: `-c` validates
/// it and names a bad variable, and a running proxy applies it (a 300 ms hold instead of 15 s)
/// and logs each override once, never a password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_mode_takes_the_environment_over_haproxy_cfg() {
    let dir = tempfile::tempdir().unwrap();
    let haproxy = haproxy_symlink(dir.path());
    let listen: SocketAddr = format!("127.0.0.1:{}", lab::free_port()).parse().unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, masterless_cfg(listen)).unwrap();
    let cfg = cfg.to_str().unwrap();

    // -c: a good value is reported as an override; a bad one fails naming the variable.
    let (code, text) = run_with_env(
        &haproxy,
        &["-c", "-f", cfg],
        &[("SENTINEL_PROXY_HOLD_TIMEOUT", "300ms")],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Configuration file is valid"), "{text}");
    let overrides: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("SENTINEL_PROXY_HOLD_TIMEOUT"))
        .collect();
    assert_eq!(overrides.len(), 1, "{text}");
    assert!(overrides[0].contains("overrides haproxy.cfg"), "{text}");
    for (name, value) in [
        ("SENTINEL_PROXY_HOLD_TIMEOUT", "9999999999999999h"),
        ("SENTINEL_PROXY_MAX_CLIENTS", "lots"),
        ("SENTINEL_PROXY_LOG_FORMAT", "xml"),
    ] {
        let (code, text) = run_with_env(&haproxy, &["-c", "-f", cfg], &[(name, value)]);
        assert_eq!(code, 1, "{name}={value}: {text}");
        assert!(
            text.contains(&format!("{name}: ")),
            "{name}={value}: {text}"
        );
        assert!(!text.contains("Configuration file is valid"), "{text}");
    }

    // Running: the environment's hold timeout is the one applied.
    let mut proxy = Proxy::spawn_with_env(
        &haproxy,
        &["-W", "-db", "-f", cfg],
        dir.path().join("proxy.log"),
        &[
            ("SENTINEL_PROXY_HOLD_TIMEOUT", "300ms"),
            ("REDIS_PASSWORD", "env-pw-not-logged"),
        ],
    );
    let mut client = eventually("the client port to accept", || async {
        TcpStream::connect(listen).await.ok()
    })
    .await;
    let sent = std::time::Instant::now();
    client.write_all(b"PING\r\n").await.unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while !reply.ends_with(b"\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => reply.extend_from_slice(&buf[..n]),
            other => panic!(
                "no reply within 5 s ({other:?}): the 15 s default hold applies\n{}",
                proxy.log()
            ),
        }
    }
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("-TRYAGAIN") && reply.contains("after 0.3s"),
        "{reply}"
    );
    assert!(sent.elapsed() < Duration::from_secs(5));
    let status = tokio::task::block_in_place(|| proxy.terminate());
    assert!(status.success(), "{status:?}\n{}", proxy.log());
    let log = proxy.log();
    for name in ["SENTINEL_PROXY_HOLD_TIMEOUT", "REDIS_PASSWORD"] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(name) && l.contains("overrides haproxy.cfg"))
            .collect();
        assert_eq!(lines.len(), 1, "one override line for {name}:\n{log}");
    }
    assert!(!log.contains("env-pw-not-logged"), "{log}");
}
