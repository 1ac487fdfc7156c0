//! What an idle session costs.

use super::*;

/// An idle session costs its task (the future) plus the boxed Session, and no buffers.
/// HAProxy holds ~3.3 KiB per idle proxied connection; our budget is 3 KiB including the
/// allocator's and tokio's overhead, so the structures themselves must stay well below.
#[tokio::test]
async fn idle_session_fits_the_memory_budget() {
    let (_w, r) = crate::route::table();
    let shared = Arc::new(Shared {
        route: r,
        scan_limits: Default::default(),
        timeouts: crate::config::FileConfig::default()
            .validate()
            .unwrap()
            .timeouts,
        master_name: "m".into(),
        max_clients: 1,
        clients: Default::default(),
        replica_load: Default::default(),
        failover_stats: Default::default(),
        client_allow: Vec::new(),
        lifecycle: crate::lifecycle::Lifecycle::new(),
        multiplex: true,
        pipes: Default::default(),
        upstream_dialer: crate::tls::Dialer::plain(crate::tls::Side::Upstream),
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = tokio::net::TcpStream::connect(l.local_addr().unwrap())
        .await
        .unwrap();
    let session = Box::new(Session::new(shared, Listener::Master, Stream::Plain(c)));
    assert_eq!(session.cbuf.capacity() + session.ubuf.capacity(), 0);
    let boxed = std::mem::size_of::<Session>();
    let fut = session.run();
    let task = std::mem::size_of_val(&fut);
    eprintln!("idle session: Session {boxed} B, run() future {task} B");
    assert!(
        boxed + task <= 2304,
        "session {boxed} B + task {task} B exceed the idle budget"
    );
}
