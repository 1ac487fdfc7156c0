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
