//! The binary's startup errors: they name the key and the fix, and the exit code is non-zero.

use std::process::Command;

fn run(env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentinel-proxy"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

#[test]
fn bad_configuration_stops_startup_with_a_clear_message() {
    let (ok, text) = run(
        &[
            ("SENTINEL_PROXY_SENTINELS", "127.0.0.1:26379"),
            ("SENTINEL_PROXY_MAX_CLIENTS", "lots"),
        ],
        &[],
    );
    assert!(!ok);
    assert!(text.contains("max_clients"), "{text}");

    let (ok, text) = run(&[], &[]);
    assert!(!ok);
    assert!(text.contains("SENTINEL_PROXY_SENTINELS"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sp.toml");
    std::fs::write(
        &file,
        "sentinels = [\"127.0.0.1:26379\"]\nlisten_addr = \"x\"\n",
    )
    .unwrap();
    let (ok, text) = run(&[], &["--config", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        text.contains("listen_addr") && text.contains("valid keys"),
        "{text}"
    );

    let (ok, text) = run(
        &[
            ("SENTINEL_PROXY_SENTINELS", "127.0.0.1:26379"),
            ("SENTINEL_PROXY_LISTEN", "127.0.0.1:1"),
        ],
        &["check-config"],
    );
    assert!(ok, "{text}");
}

#[test]
fn passwords_are_never_printed() {
    let (ok, text) = run(
        &[
            ("SENTINEL_PROXY_SENTINELS", "127.0.0.1:26379"),
            ("REDIS_PASSWORD", "hunter2-redis"),
            ("SENTINEL_PASSWORD", "hunter2-sentinel"),
        ],
        &["check-config"],
    );
    assert!(ok, "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    for (name, value) in [
        ("SENTINEL_PROXY_HOLD_TIMEOUT", "9999999999999999h"),
        // Fits a Duration, but not a deadline: refused too, not saturated.
        ("SENTINEL_PROXY_CONNECT_TIMEOUT", "4000000000000000h"),
        ("SENTINEL_PROXY_MAX_CLIENTS", "lots"),
    ] {
        let (ok, text) = run(
            &[
                ("SENTINEL_PROXY_SENTINELS", "127.0.0.1:26379"),
                (name, value),
            ],
            &["check-config"],
        );
        assert!(!ok, "{name}={value}: {text}");
        assert!(
            text.contains(&format!("{name}: ")),
            "{name}={value}: {text}"
        );
    }
}

#[test]
fn check_config_warns_about_unknown_variables_and_suggests_the_closest_name() {
    let (ok, text) = run(
        &[
            ("SENTINEL_PROXY_SENTINELS", "127.0.0.1:26379"),
            ("SENTINEL_PROXY_LISTN", "127.0.0.1:7000"),
            ("SENTINEL_PROXY_HOLD_TIMOUT", "2s"),
            // The password variables have names of their own.
            ("SENTINEL_PROXY_REDIS_PASSWORD", "hunter2"),
            // A Kubernetes service link: warned about, but nothing is close to it.
            ("SENTINEL_PROXY_PORT", "tcp://10.0.0.1:6379"),
        ],
        &["check-config"],
    );
    assert!(ok, "unknown variables are warnings, not errors: {text}");
    let warning = |name: &str| -> String {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&format!("{name} ")))
            .collect();
        assert_eq!(lines.len(), 1, "one warning line for {name}: {text}");
        lines[0].to_string()
    };
    assert!(
        warning("SENTINEL_PROXY_LISTN").contains("did you mean SENTINEL_PROXY_LISTEN?"),
        "{text}"
    );
    assert!(
        warning("SENTINEL_PROXY_HOLD_TIMOUT").contains("did you mean SENTINEL_PROXY_HOLD_TIMEOUT?"),
        "{text}"
    );
    assert!(
        warning("SENTINEL_PROXY_REDIS_PASSWORD").contains("did you mean REDIS_PASSWORD?"),
        "{text}"
    );
    let port = warning("SENTINEL_PROXY_PORT");
    assert!(!port.contains("did you mean"), "{port}");
    assert!(!text.contains("hunter2"), "{text}");
    // The typo did not take effect: the default listen address is printed.
    assert!(text.contains("0.0.0.0:6379"), "{text}");
}

#[test]
fn startup_logs_one_warning_per_unknown_variable() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("proxy.log");
    let out = std::fs::File::create(&log).unwrap();
    // Nobody listens on port 1: the proxy starts and waits for a Sentinel.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel-proxy"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SENTINEL_PROXY_SENTINELS", "127.0.0.1:1")
        .env("SENTINEL_PROXY_LISTEN", "127.0.0.1:0")
        .env("SENTINEL_PROXY_ADMIN_LISTEN", "off")
        .env("SENTINEL_PROXY_LISTN", "127.0.0.1:7000")
        .env("SENTINEL_PROXY_MAX_CLIENT", "5")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let done =
            text.contains("SENTINEL_PROXY_LISTN") && text.contains("SENTINEL_PROXY_MAX_CLIENT ");
        if done || start.elapsed() > std::time::Duration::from_secs(10) {
            break text;
        }
        // Poll interval of this wait-with-deadline.
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    for (name, suggestion) in [
        (
            "SENTINEL_PROXY_LISTN",
            "did you mean SENTINEL_PROXY_LISTEN?",
        ),
        (
            "SENTINEL_PROXY_MAX_CLIENT",
            "did you mean SENTINEL_PROXY_MAX_CLIENTS?",
        ),
    ] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&format!("{name} ")))
            .collect();
        assert_eq!(lines.len(), 1, "one warning line for {name}:\n{text}");
        assert!(
            lines[0].contains("WARN") && lines[0].contains(suggestion),
            "{}",
            lines[0]
        );
    }
}
