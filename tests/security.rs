//! Secrets stay secret: a full run with passwords on Redis and Sentinel, clients sending AUTH
//! and secret arguments, a failover that replays AUTH, and protocol errors — then every log
//! line (debug level) is scanned for the secrets.

use std::io::Write;
use std::sync::{Arc, Mutex};

use sentinel_bench::lab::LabOptions;
use test_support::*;
use tokio::io::AsyncWriteExt;

const REDIS_PW: &str = "redis-pw-7f3a9c";
const SENTINEL_PW: &str = "sentinel-pw-41d2e8";
const SECRET_ARG: &str = "value-secret-92bb1e";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let lab = lab(LabOptions {
        redis_password: Some(REDIS_PW.into()),
        sentinel_password: Some(SENTINEL_PW.into()),
        ..LabOptions::default()
    })
    .await;
    let config = config_for(&lab);
    assert!(!format!("{config:?}").contains(REDIS_PW));
    let p = proxy(config).await;
    let addr = p.bound.listen;

    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("AUTH {REDIS_PW}\r\nSET k {SECRET_ARG}\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_some(&mut c, 10).await.0, b"+OK\r\n+OK\r\n");
    // A wrong password and a malformed frame carrying secrets.
    let _ = raw_exchange(addr, format!("AUTH wrong-{REDIS_PW}\r\n").as_bytes(), 10).await;
    let _ = raw_exchange(
        addr,
        format!("*2\r\n$3\r\nSET\r\n${SECRET_ARG}\r\n").as_bytes(),
        100,
    )
    .await;

    // A failover: the session's AUTH is replayed on the new master.
    failover_and_wait(&lab, &p).await;
    c.write_all(b"GET k\r\n").await.unwrap();
    let (got, _) = read_some(&mut c, 4 + SECRET_ARG.len() + 4).await;
    assert!(String::from_utf8_lossy(&got).contains(SECRET_ARG));
    p.stop().await;

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(
        text.contains("route published"),
        "logs were captured:\n{text}"
    );
    for secret in [REDIS_PW, SENTINEL_PW, SECRET_ARG] {
        assert!(
            !text.contains(secret),
            "{secret} appears in the logs:\n{text}"
        );
    }
}
