//! TLS on every hop (docs/tls.md): client listeners ([`Acceptor`]), connections to Redis
//! nodes and Sentinels ([`Dialer`]), and certificate rotation ([`reload_loop`]).
//!
//! Handshakes go through tokio-rustls; the connection is then taken apart and driven by
//! [`Stream`] the same way as plain TCP (readiness, then non-blocking reads and writes), so
//! the data path has one shape for both. Configurations live in `ArcSwap`s that only the
//! reload task stores into: a handshake takes the one current when it starts, an established
//! session keeps what it negotiated, and a file that does not load leaves the old one in use.

mod certs;
mod stream;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use metrics::{counter, gauge};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::net::TcpStream;

pub use certs::TlsError;
pub use stream::{Stream, TlsConn};

use crate::config::TlsSettings;
use crate::metrics as m;

/// Which hop a handshake is on (the `side` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A client of the proxy, on a TLS listener.
    Client,
    /// The proxy to a Redis node (sessions, shared pipelines, ROLE checks).
    Upstream,
    /// The proxy to a Sentinel.
    Sentinel,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Upstream => "upstream",
            Side::Sentinel => "sentinel",
        }
    }
}

/// The bounded `reason` of a failed handshake, from the error tokio-rustls returned.
pub fn failure_reason(e: &io::Error) -> &'static str {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    if let Some(r) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match r {
            E::NoCertificatesPresented | E::AlertReceived(A::CertificateRequired) => {
                "no_client_cert"
            }
            E::InvalidCertificate(C::UnknownIssuer) | E::AlertReceived(A::UnknownCA) => {
                "unknown_ca"
            }
            E::InvalidCertificate(
                C::Expired
                | C::ExpiredContext { .. }
                | C::NotValidYet
                | C::NotValidYetContext { .. },
            )
            | E::AlertReceived(A::CertificateExpired) => "expired",
            E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                "name_mismatch"
            }
            E::InvalidCertificate(_)
            | E::AlertReceived(
                A::BadCertificate | A::UnsupportedCertificate | A::CertificateUnknown,
            ) => "bad_certificate",
            _ => "protocol",
        };
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => "closed",
        io::ErrorKind::TimedOut => "timeout",
        io::ErrorKind::InvalidData => "protocol",
        _ => "other",
    }
}

/// What to do about a failed handshake with a node or Sentinel, for the error message.
fn hint(reason: &str) -> &'static str {
    match reason {
        "unknown_ca" => "; is upstream_tls_ca_file the CA that signed its certificate?",
        "name_mismatch" => {
            "; its certificate is not for this address: set upstream_tls_server_name to the \
             name it is for, or upstream_tls_verify = ca"
        }
        "no_client_cert" => {
            "; it requires a client certificate: set upstream_tls_cert_file (and \
             upstream_tls_key_file)"
        }
        "bad_certificate" => "; it refused the certificate in upstream_tls_cert_file",
        "expired" => "; a certificate is expired or not yet valid",
        "protocol" | "closed" => "; is that port serving TLS (the node's tls-port)?",
        _ => "",
    }
}

fn count_failure(side: Side, reason: &'static str) {
    counter!(m::TLS_HANDSHAKE_FAILURES, "side" => side.as_str(), "reason" => reason).increment(1);
}

fn timed_out(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what)
}

/// Accepts TLS clients with the listeners' current configuration.
#[derive(Clone)]
pub struct Acceptor {
    config: Arc<ArcSwap<ServerConfig>>,
    timeout: Duration,
}

impl Acceptor {
    /// The handshake, within `timeout`; failures are counted by reason.
    pub async fn accept(&self, tcp: TcpStream, peer: SocketAddr) -> io::Result<Stream> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.load_full());
        match tokio::time::timeout(self.timeout, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => {
                counter!(m::TLS_HANDSHAKES, "side" => "client").increment(1);
                let (tcp, conn) = tls.into_inner();
                Ok(Stream::Tls(Box::new(TlsConn::new(tcp, conn, Side::Client))))
            }
            Ok(Err(e)) => {
                let reason = failure_reason(&e);
                count_failure(Side::Client, reason);
                // Clients are not ours to fix, and scanners would flood a warning.
                tracing::info!(%peer, reason, error = %e, "TLS handshake with a client failed");
                Err(e)
            }
            Err(_) => {
                count_failure(Side::Client, "timeout");
                tracing::info!(%peer, "TLS handshake with a client timed out");
                Err(timed_out(format!("TLS handshake with {peer} timed out")))
            }
        }
    }
}

/// Connects to Redis nodes or Sentinels: plain TCP, or TLS with the current configuration.
#[derive(Clone)]
pub struct Dialer {
    tls: Option<Arc<ArcSwap<ClientConfig>>>,
    side: Side,
    /// Every node's TLS port, when Sentinel announces another.
    port: Option<u16>,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("tls", &self.tls.is_some())
            .field("side", &self.side)
            .field("port", &self.port)
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl Dialer {
    /// A TLS dialer from the upstream_tls_* settings (CA, client certificate, verification,
    /// server name, port): what the proxy uses, and what tools use as a TLS client.
    pub fn from_settings(s: &TlsSettings, side: Side) -> Result<Dialer, TlsError> {
        let loaded = certs::client_config(s)?;
        Ok(Dialer::with(
            Some(Arc::new(ArcSwap::new(loaded.config))),
            side,
            s,
        ))
    }

    /// A dialer on `tls` (None: plain) with the port mapping and server name of `s`.
    fn with(tls: Option<Arc<ArcSwap<ClientConfig>>>, side: Side, s: &TlsSettings) -> Dialer {
        Dialer {
            tls,
            side,
            port: if side == Side::Upstream {
                s.upstream_port
            } else {
                None
            },
            server_name: s
                .upstream_server_name
                .as_deref()
                .and_then(|n| ServerName::try_from(n.to_string()).ok()),
        }
    }

    pub fn plain(side: Side) -> Dialer {
        Dialer {
            tls: None,
            side,
            port: None,
            server_name: None,
        }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Where a connection to `addr` (as Sentinel announces it) goes.
    pub fn dial_addr(&self, addr: SocketAddr) -> SocketAddr {
        match self.port {
            Some(p) if self.tls.is_some() => SocketAddr::new(addr.ip(), p),
            _ => addr,
        }
    }

    /// Connect (and shake hands) within `timeout`.
    pub async fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Stream> {
        let deadline = tokio::time::Instant::now() + timeout;
        let to = self.dial_addr(addr);
        let tcp = tokio::time::timeout_at(deadline, TcpStream::connect(to))
            .await
            .map_err(|_| timed_out(format!("connect to {to} timed out")))??;
        tcp.set_nodelay(true)?;
        let Some(config) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = self
            .server_name
            .clone()
            .unwrap_or(ServerName::IpAddress(to.ip().into()));
        let connector = tokio_rustls::TlsConnector::from(config.load_full());
        match tokio::time::timeout_at(deadline, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => {
                counter!(m::TLS_HANDSHAKES, "side" => self.side.as_str()).increment(1);
                let (tcp, conn) = tls.into_inner();
                Ok(Stream::Tls(Box::new(TlsConn::new(tcp, conn, self.side))))
            }
            Ok(Err(e)) => {
                let reason = failure_reason(&e);
                count_failure(self.side, reason);
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "TLS handshake with {to} failed ({reason}): {e}{}",
                        hint(reason)
                    ),
                ))
            }
            Err(_) => {
                count_failure(self.side, "timeout");
                Err(timed_out(format!("TLS handshake with {to} timed out")))
            }
        }
    }
}

/// The TLS state of a running proxy: what the listeners and dialers share with the reload task.
pub struct Tls {
    pub acceptor: Option<Acceptor>,
    pub upstream: Dialer,
    pub sentinel: Dialer,
    reload: Option<Reload>,
}

struct Reload {
    settings: TlsSettings,
    server: Option<(Arc<ArcSwap<ServerConfig>>, u64)>,
    client: Option<(Arc<ArcSwap<ClientConfig>>, u64)>,
}

/// The reload families of `cert` exist from the start (at 0), so alerts and dashboards see
/// them before the first rotation.
fn register_reloads(cert: &'static str) {
    gauge!(m::TLS_RELOAD_OK, "cert" => cert).set(1.0);
    counter!(m::TLS_RELOADS, "cert" => cert).absolute(0);
    counter!(m::TLS_RELOAD_FAILURES, "cert" => cert).absolute(0);
}

fn set_expiries(expiries: &[(&'static str, i64)]) {
    for (cert, at) in expiries {
        if *at != i64::MAX {
            gauge!(m::TLS_CERT_EXPIRY, "cert" => *cert).set(*at as f64);
        }
    }
}

impl Tls {
    /// Load every certificate the settings name; an error stops the start.
    pub fn load(s: &TlsSettings, handshake_timeout: Duration) -> Result<Tls, TlsError> {
        let server = if s.serves_tls() {
            let loaded = certs::server_config(s)?;
            set_expiries(&loaded.expiries);
            register_reloads("server");
            Some((Arc::new(ArcSwap::new(loaded.config)), loaded.fingerprint))
        } else {
            None
        };
        let client = if s.dials_tls() {
            let loaded = certs::client_config(s)?;
            set_expiries(&loaded.expiries);
            register_reloads("upstream");
            Some((Arc::new(ArcSwap::new(loaded.config)), loaded.fingerprint))
        } else {
            None
        };
        let dialer = |side: Side, on: bool| {
            Dialer::with(
                client.as_ref().filter(|_| on).map(|(c, _)| c.clone()),
                side,
                s,
            )
        };
        Ok(Tls {
            acceptor: server.as_ref().map(|(c, _)| Acceptor {
                config: c.clone(),
                timeout: handshake_timeout,
            }),
            upstream: dialer(Side::Upstream, s.upstream),
            sentinel: dialer(Side::Sentinel, s.sentinel),
            reload: (server.is_some() || client.is_some()).then(|| Reload {
                settings: s.clone(),
                server,
                client,
            }),
        })
    }

    /// No TLS anywhere.
    pub fn plain() -> Tls {
        Tls {
            acceptor: None,
            upstream: Dialer::plain(Side::Upstream),
            sentinel: Dialer::plain(Side::Sentinel),
            reload: None,
        }
    }

    /// The task that reloads changed certificate files, if any are used.
    pub fn reload_task(&mut self) -> Option<impl std::future::Future<Output = ()> + Send> {
        self.reload.take().map(reload_loop)
    }
}

/// Read the files every `tls_reload_interval`; when their contents changed, build and swap
/// in the new configuration. A build that fails keeps the old one, logs once per change of
/// the files, and holds `sentinel_proxy_tls_reload_ok` at 0 until a good one loads.
async fn reload_loop(r: Reload) {
    let mut tick = tokio::time::interval(r.settings.reload_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut watches = [Watch::default(), Watch::default()];
    if let Some((_, seen)) = &r.server {
        watches[0].seen = *seen;
    }
    if let Some((_, seen)) = &r.client {
        watches[1].seen = *seen;
    }
    loop {
        tick.tick().await;
        if let Some((config, _)) = &r.server {
            let files = certs::server_files(&r.settings);
            if let Some(loaded) =
                watches[0].check("server", &files, || certs::server_config(&r.settings))
            {
                config.store(loaded);
            }
        }
        if let Some((config, _)) = &r.client {
            let files = certs::client_files(&r.settings);
            if let Some(loaded) =
                watches[1].check("upstream", &files, || certs::client_config(&r.settings))
            {
                config.store(loaded);
            }
        }
    }
}

/// What the reload task knows about one set of files.
#[derive(Debug, Default)]
struct Watch {
    /// The contents in use.
    seen: u64,
    /// Contents that did not load (reported once; tried again when they change).
    failed: Option<u64>,
    /// Why the files could not be read at the last check (reported once while it lasts).
    unreadable: Option<String>,
}

impl Watch {
    /// One check: the new configuration when the files changed and loaded.
    fn check<T>(
        &mut self,
        cert: &'static str,
        files: &certs::FileList<'_>,
        build: impl FnOnce() -> Result<certs::Loaded<T>, TlsError>,
    ) -> Option<Arc<T>> {
        let now = match certs::fingerprint(files) {
            Ok(now) => now,
            Err(e) => {
                // Not a new certificate that fails: the files cannot be looked at (a Secret
                // unmounted, out of descriptors). What is loaded stays in use; the gauge says
                // rotation is not working.
                let why = e.to_string();
                if self.unreadable.as_ref() != Some(&why) {
                    tracing::warn!(
                        cert,
                        error = %why,
                        "cannot read the TLS certificate files to look for a new certificate; \
                         the loaded one stays in use"
                    );
                    gauge!(m::TLS_RELOAD_OK, "cert" => cert).set(0.0);
                    self.unreadable = Some(why);
                }
                return None;
            }
        };
        if self.unreadable.take().is_some() && self.failed.is_none() && now == self.seen {
            tracing::info!(cert, "TLS certificate files readable again, unchanged");
            gauge!(m::TLS_RELOAD_OK, "cert" => cert).set(1.0);
        }
        // Unchanged, or the same broken contents as last time: nothing to do.
        if now == self.seen || Some(now) == self.failed {
            return None;
        }
        match build() {
            Ok(loaded) => {
                self.seen = loaded.fingerprint;
                self.failed = None;
                set_expiries(&loaded.expiries);
                gauge!(m::TLS_RELOAD_OK, "cert" => cert).set(1.0);
                counter!(m::TLS_RELOADS, "cert" => cert).increment(1);
                tracing::info!(
                    cert,
                    "TLS certificate files changed; new handshakes use them"
                );
                Some(loaded.config)
            }
            Err(e) => {
                gauge!(m::TLS_RELOAD_OK, "cert" => cert).set(0.0);
                counter!(m::TLS_RELOAD_FAILURES, "cert" => cert).increment(1);
                // Files caught mid-update fail once and load at the next check.
                tracing::warn!(
                    cert,
                    error = %e,
                    "TLS certificate files changed but do not load; the previous certificate \
                     stays in use"
                );
                self.failed = Some(now);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sentinel announces the plain port; with upstream_tls_port every node is dialled on its
    /// TLS port instead, and only for the upstream side.
    #[test]
    fn upstream_tls_port_maps_every_announced_address() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.cert.pem()).unwrap();
        let s = TlsSettings {
            upstream: true,
            sentinel: true,
            upstream_port: Some(6380),
            upstream_ca_file: Some(ca_file),
            ..Default::default()
        };
        let tls = Tls::load(&s, Duration::from_secs(1)).unwrap();
        let announced: SocketAddr = "10.0.0.7:6379".parse().unwrap();
        assert_eq!(
            tls.upstream.dial_addr(announced),
            "10.0.0.7:6380".parse().unwrap()
        );
        assert_eq!(tls.sentinel.dial_addr(announced), announced);
        assert!(tls.acceptor.is_none());
        assert_eq!(
            Dialer::plain(Side::Upstream).dial_addr(announced),
            announced
        );
    }

    /// The reload check: unreadable files are not a failed certificate, broken contents are
    /// built once, and a change after either is loaded.
    #[test]
    fn reload_checks_tell_unreadable_from_broken_and_build_each_content_once() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("tls.pem");
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let good = format!("{}{}", c.cert.pem(), c.signing_key.serialize_pem());
        std::fs::write(&pem, &good).unwrap();
        let s = TlsSettings {
            listen_tls: true,
            cert_file: Some(pem.clone()),
            ..Default::default()
        };
        let files = certs::server_files(&s);
        let mut w = Watch {
            seen: certs::fingerprint(&files).unwrap(),
            ..Watch::default()
        };
        let builds = std::cell::Cell::new(0);
        let check = |w: &mut Watch| {
            w.check("server", &files, || {
                builds.set(builds.get() + 1);
                certs::server_config(&s)
            })
            .is_some()
        };
        assert!(!check(&mut w), "unchanged files are not rebuilt");
        std::fs::remove_file(&pem).unwrap();
        assert!(!check(&mut w));
        assert!(w.unreadable.is_some() && w.failed.is_none());
        std::fs::write(&pem, &good).unwrap();
        assert!(
            !check(&mut w),
            "the same contents again are not a new certificate"
        );
        assert!(w.unreadable.is_none());
        std::fs::write(&pem, c.cert.pem()).unwrap(); // the key is gone
        assert!(!check(&mut w));
        assert!(w.failed.is_some());
        assert!(!check(&mut w));
        assert_eq!(builds.get(), 1, "broken contents are built once");
        let d = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(
            &pem,
            format!("{}{}", d.cert.pem(), d.signing_key.serialize_pem()),
        )
        .unwrap();
        assert!(check(&mut w), "a good change loads");
        assert!(w.failed.is_none());
        assert_eq!(builds.get(), 2);
    }

    /// A missing or broken file stops the start with the key and the path in the message.
    #[test]
    fn unusable_files_name_the_key_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let s = TlsSettings {
            listen_tls: true,
            cert_file: Some(missing.clone()),
            ..Default::default()
        };
        let e = Tls::load(&s, Duration::from_secs(1))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("tls_cert_file") && e.contains("nope.pem"), "{e}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let s = TlsSettings {
            listen_tls: true,
            cert_file: Some(junk),
            ..Default::default()
        };
        let e = Tls::load(&s, Duration::from_secs(1))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("holds no certificate"), "{e}");
        // A certificate without its key (not in the file, no tls_key_file, no FILE.key).
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert_only = dir.path().join("cert-only.pem");
        std::fs::write(&cert_only, c.cert.pem()).unwrap();
        let s = TlsSettings {
            listen_tls: true,
            cert_file: Some(cert_only.clone()),
            ..Default::default()
        };
        let e = Tls::load(&s, Duration::from_secs(1))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("holds no private key"), "{e}");
        // HAProxy's fallback: the key in FILE.key beside the certificate.
        std::fs::write(
            dir.path().join("cert-only.pem.key"),
            c.signing_key.serialize_pem(),
        )
        .unwrap();
        assert!(Tls::load(&s, Duration::from_secs(1))
            .unwrap()
            .acceptor
            .is_some());
    }
}
