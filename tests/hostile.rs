//! Hostile and broken clients: each is answered or closed the way Redis would, and the proxy
//! keeps serving everybody else with bounded memory.

use std::time::Duration;

use test_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_input_is_refused_like_redis() {
    let lab = single_node_lab().await;
    let p = proxy(config_for(&lab)).await;
    let addr = p.bound.listen;
    let mut bystander = client(addr).await;

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bulk header announcing 4 GiB",
            b"*1\r\n$4294967296\r\n".to_vec(),
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            "multibulk header of 2^31 elements",
            b"*2147483648\r\n".to_vec(),
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            "non-numeric bulk length",
            b"*1\r\n$abc\r\n".to_vec(),
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            "non-numeric multibulk length",
            b"*x1\r\n".to_vec(),
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            "1 MiB inline line",
            vec![b'a'; 1 << 20],
            "-ERR Protocol error: too big inline request\r\n",
        ),
        (
            "unbalanced quotes",
            b"SET \"a b\r\n".to_vec(),
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (what, bytes, want) in cases {
        let mut s = TcpStream::connect(addr).await.unwrap();
        // The peer may close before all of a large input is written; that is the point.
        let _ = s.write_all(&bytes).await;
        let (got, closed) = read_some(&mut s, want.len()).await;
        assert_eq!(String::from_utf8_lossy(&got), want, "{what}");
        assert!(
            closed || closed_by_peer(&mut s).await,
            "{what}: connection closed after the error"
        );
    }

    // Binary garbage on a line is an inline command Redis does not know: an error reply, and
    // the connection stays usable (as on Redis).
    let (got, _) = raw_exchange(addr, b"\x01\x02\xfe\xff garbage\r\nPING\r\n", 7).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("-ERR unknown command"), "{text}");

    // A half-closed client still gets its replies, then the proxy closes.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"PING\r\nECHO hi\r\n").await.unwrap();
    s.shutdown().await.unwrap();
    let (got, closed) = read_some(&mut s, 1000).await;
    assert_eq!(got, b"+PONG\r\n$2\r\nhi\r\n");
    assert!(closed);

    // A command with an empty or an overlong name still draws a reply (an error) and is counted
    // like any other: the half-closed client gets every reply, the last one a second later,
    // before the proxy closes. (Counting them as nothing closed it after the first two.)
    let long = "X".repeat(40);
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "*1\r\n$0\r\n\r\n*1\r\n${}\r\n{long}\r\n*3\r\n$5\r\nBLPOP\r\n$14\r\nhostile:absent\r\n$1\r\n1\r\n",
        long.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
    let (got, closed) = read_some(&mut s, usize::MAX).await;
    let text = String::from_utf8_lossy(&got);
    assert!(closed, "{text}");
    assert!(text.starts_with("-ERR unknown command ''"), "{text}");
    assert_eq!(text.matches("-ERR unknown command").count(), 2, "{text}");
    assert!(
        text.ends_with("*-1\r\n"),
        "BLPOP's timeout reply is missing: {text}"
    );

    let pong: String = redis::cmd("PING")
        .query_async(&mut bystander)
        .await
        .unwrap();
    assert_eq!(pong, "PONG");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_costs_nobody_else() {
    let lab = single_node_lab().await;
    let p = proxy(config_for(&lab)).await;
    let addr = p.bound.listen;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let mut others = client(addr).await;
    let frame = b"*2\r\n$4\r\nECHO\r\n$5\r\nslow!\r\n";
    for (i, b) in frame.iter().enumerate() {
        slow.write_all(&[*b]).await.unwrap();
        // Scenario: the slow client's pace, one byte every 20 ms.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if i % 8 == 0 {
            let v: String = redis::cmd("ECHO")
                .arg(i)
                .query_async(&mut others)
                .await
                .unwrap();
            assert_eq!(v, i.to_string());
        }
    }
    let (got, _) = read_some(&mut slow, 11).await;
    assert_eq!(got, b"$5\r\nslow!\r\n");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_gets_backpressure_not_buffers() {
    let lab = single_node_lab().await;
    let p = proxy(config_for(&lab)).await;
    let addr = p.bound.listen;
    let mut c = client(addr).await;
    let value = vec![b'v'; 1 << 20];
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&value)
        .query_async(&mut c)
        .await
        .unwrap();

    let before = rss_kib();
    // 300 GETs of 1 MiB = 300 MiB of replies, never read.
    let mut hog = TcpStream::connect(addr).await.unwrap();
    let mut pipeline = Vec::new();
    for _ in 0..300 {
        pipeline.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    }
    hog.write_all(&pipeline).await.unwrap();
    // Backpressure reached Redis: it holds replies (output buffer) the proxy does not take.
    let master = lab.master().unwrap();
    let held_mib = tokio::task::block_in_place(|| {
        sentinel_bench::lab::eventually(
            "Redis holding the hog's replies in its output buffer",
            PATIENCE,
            || {
                let list = lab.redis_call(master, &["CLIENT", "LIST"]).ok()?;
                sentinel_bench::lab::text(&list)?
                    .lines()
                    .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("omem=")))
                    .filter_map(|v| v.parse::<u64>().ok())
                    .max()
                    .filter(|omem| *omem >= 32 << 20)
                    .map(|omem| omem >> 20)
            },
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    // Redis itself buffers the replies for such a client; the proxy holds a few reads' worth.
    assert!(
        grown_mib < 32,
        "proxy memory grew {grown_mib} MiB for a non-reading client (Redis holds {held_mib} MiB)"
    );

    // Everybody else is served meanwhile.
    let v: Vec<u8> = redis::cmd("GET")
        .arg("big")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(v.len(), 1 << 20);

    // When the hog finally reads, every reply arrives intact.
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let want = 300 * ((1 << 20) + b"$1048576\r\n\r\n".len());
    while total < want {
        let n = tokio::time::timeout(Duration::from_secs(30), hog.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        total += n;
    }
    assert_eq!(total, want);
    p.stop().await;
}
