//! `log_format = json`: every line the binary logs is one JSON object a log shipper can parse.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn json_log_lines_parse_as_json_with_level_message_and_fields() {
    // A Sentinel nobody listens on: the proxy starts, then warns about it (address and error).
    let (mut child, rx) = proxy_with_json_logs(&[("SENTINEL_PROXY_ADMIN_LISTEN", "127.0.0.1:0")]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    let mut started = false;
    let mut warned = false;
    while !(started && warned) && Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            v["timestamp"].as_str().is_some_and(|t| t.contains('T')),
            "{line}"
        );
        assert!(v["target"].as_str().is_some(), "{line}");
        let message = v["fields"]["message"].as_str().unwrap_or_default();
        if message == "sentinel-proxy started" {
            assert_eq!(v["level"], "INFO", "{line}");
            assert_eq!(v["fields"]["sentinels"], 1, "numbers stay numbers: {line}");
            started = true;
        }
        if v["level"] == "WARN" && line.contains("127.0.0.1:1") {
            warned = true;
        }
        lines.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "no 'sentinel-proxy started' line in: {lines:#?}");
    assert!(
        warned,
        "no WARN line naming the unreachable Sentinel in: {lines:#?}"
    );
}

/// A session's close line carries the error that ended it, not only the reason's label.
#[test]
fn session_close_log_shows_the_error_behind_the_reason() {
    use std::io::{Read, Write};
    let (mut child, rx) = proxy_with_json_logs(&[(
        "SENTINEL_PROXY_LOG",
        "info,sentinel_proxy_core::proxy=debug",
    )]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    let mut closed = None;
    while closed.is_none() && Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["fields"]["message"] == "sentinel-proxy started" {
            // A malformed multibulk length: Redis's protocol error, then the close.
            let listen = v["fields"]["listen"].as_str().unwrap().to_string();
            let mut c = std::net::TcpStream::connect(listen).unwrap();
            c.write_all(b"*x\r\n").unwrap();
            let mut reply = Vec::new();
            let _ = c.read_to_end(&mut reply);
            assert_eq!(reply, b"-ERR Protocol error: invalid multibulk length\r\n");
        }
        if v["fields"]["message"] == "session closed" {
            closed = Some(v.clone());
        }
        lines.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    let closed = closed.unwrap_or_else(|| panic!("no 'session closed' line in {lines:#?}"));
    assert_eq!(closed["fields"]["reason"], "protocol_error", "{closed}");
    assert_eq!(
        closed["fields"]["error"], "invalid multibulk length",
        "{closed}"
    );
}

/// The binary with JSON logs, in front of a Sentinel nobody listens on; its log lines as they
/// come.
fn proxy_with_json_logs(
    extra: &[(&str, &str)],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel-proxy"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SENTINEL_PROXY_SENTINELS", "127.0.0.1:1")
        .env("SENTINEL_PROXY_LISTEN", "127.0.0.1:0")
        .env("SENTINEL_PROXY_LOG_FORMAT", "json")
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Logs go to standard output, as tracing-subscriber's do.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}
