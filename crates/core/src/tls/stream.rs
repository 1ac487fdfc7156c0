//! A connection the data path and the control plane talk over: plain TCP, or TLS on TCP.
//!
//! The data path waits on socket readiness and then reads and writes without blocking (see
//! session.rs), so TLS is driven the same way here instead of through `AsyncRead` wrappers:
//! ciphertext moves with `try_read`/`try_write` (which clear tokio's readiness on EAGAIN), and
//! rustls keeps the records. Two things readiness cannot show are tracked by hand: plaintext
//! rustls already decrypted (`buffered`, so a wait never sleeps on bytes that are here), and
//! ciphertext not yet written (`pending_output`, which writers flush before they wait to
//! read). Plaintext accepted by rustls is as good as written, the way bytes in the kernel's
//! send buffer are: the route fence is taken before it is accepted, not before it leaves.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Ciphertext rustls may hold unsent per connection before `try_write` stops taking plaintext.
const TLS_SEND_LIMIT: usize = 64 * 1024;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsConn>),
}

pub struct TlsConn {
    tcp: TcpStream,
    conn: rustls::Connection,
    /// rustls holds decrypted plaintext, or saw the peer's close, which the socket may not
    /// signal.
    buffered: bool,
    /// How many plaintext bytes rustls holds.
    plain: usize,
    /// The peer closed (close_notify or the end of the TCP stream).
    closed: bool,
    /// Which hop this is, for the handshake failures only TLS 1.3 reports after the handshake.
    side: super::Side,
}

/// `std::io` over the socket without blocking: what rustls reads from and writes to.
struct Sock<'a>(&'a TcpStream);

impl Read for Sock<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Sock<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsConn {
    /// A connection whose handshake is done (plaintext may already be buffered).
    pub(crate) fn new(
        tcp: TcpStream,
        conn: impl Into<rustls::Connection>,
        side: super::Side,
    ) -> TlsConn {
        let mut conn: rustls::Connection = conn.into();
        conn.set_buffer_limit(Some(TLS_SEND_LIMIT));
        // Requests sent right after the client's Finished may be decrypted already.
        let state = conn.process_new_packets().ok();
        let plain = state.as_ref().map_or(0, |s| s.plaintext_bytes_to_read());
        TlsConn {
            tcp,
            conn,
            buffered: plain > 0 || state.as_ref().is_some_and(|s| s.peer_has_closed()),
            plain,
            closed: state.is_some_and(|s| s.peer_has_closed()),
            side,
        }
    }

    /// Write queued ciphertext; `WouldBlock` while some is left.
    fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut Sock(&self.tcp))?;
        }
        Ok(())
    }

    fn read_now(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            if self.plain > 0 {
                // Exactly what rustls holds (or what fits): rustls reads into initialised
                // memory, so only these bytes are zeroed before they are overwritten.
                if buf.capacity() == buf.len() {
                    buf.reserve(self.plain.min(16 * 1024));
                }
                let n = self.plain.min(buf.capacity() - buf.len());
                let start = buf.len();
                buf.resize(start + n, 0);
                let got = self.conn.reader().read(&mut buf[start..]);
                let k = *got.as_ref().unwrap_or(&0);
                buf.truncate(start + k);
                self.plain -= k.min(self.plain);
                self.buffered = self.plain > 0 || self.closed;
                return got;
            }
            if self.closed {
                // Every later read answers the end too.
                self.buffered = true;
                return Ok(0);
            }
            self.buffered = false;
            let eof = self.conn.read_tls(&mut Sock(&self.tcp))? == 0;
            let state = self.conn.process_new_packets();
            // Alerts and post-handshake messages (key updates, tickets) go out now, or with
            // the next write when the socket is full.
            let _ = self.flush();
            let state = state.map_err(|e| {
                // In TLS 1.3 a server that refuses our certificate (or its absence) says so
                // after the client's side of the handshake is done: count it as the handshake
                // failure it is.
                if let rustls::Error::AlertReceived(_) = &e {
                    let reason = super::failure_reason(&tls_error(e.clone()));
                    if reason != "protocol" {
                        super::count_failure(self.side, reason);
                    }
                }
                tls_error(e)
            })?;
            self.plain = state.plaintext_bytes_to_read();
            // The end of the TCP stream without close_notify is an end like any other: Redis
            // clients close that way all the time.
            self.closed = state.peer_has_closed() || eof;
        }
    }

    fn try_write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.flush()?;
        let n = self.conn.writer().write(data)?;
        if n == 0 && !data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.flush() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }
}

impl Stream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.tcp,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Ready when a read may find something (or the end of the stream).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Plain(s) => s.poll_read_ready(cx),
            Stream::Tls(t) if t.buffered => Poll::Ready(Ok(())),
            Stream::Tls(t) => t.tcp.poll_read_ready(cx),
        }
    }

    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp().poll_write_ready(cx)
    }

    pub async fn writable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Read what is there now into `buf`'s spare room; `WouldBlock` when nothing is, `Ok(0)`
    /// at the end of the stream. A short read clears the socket's readiness, so the next wait
    /// does not begin with a read that can only answer EAGAIN.
    pub fn read_now(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => {
                use futures_util::FutureExt;
                use tokio::io::AsyncReadExt;
                s.read_buf(buf)
                    .now_or_never()
                    .unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
            }
            Stream::Tls(t) => t.read_now(buf),
        }
    }

    /// Take as much of `data` as can go now; `WouldBlock` when nothing can. On TLS what is
    /// taken may still be queued: call [`Stream::flush_now`] until it is out.
    pub fn try_write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.try_write(data),
            Stream::Tls(t) => t.try_write(data),
        }
    }

    /// Is written data still queued inside the TLS layer?
    pub fn pending_output(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.conn.wants_write(),
        }
    }

    /// Write what the TLS layer queued; `WouldBlock` while the socket takes no more.
    pub fn flush_now(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(t) => t.flush(),
        }
    }

    /// Write all of `data` and flush it (the control plane and handshakes; the data path
    /// has its own loops that can also stop).
    pub async fn write_all_flush(&mut self, data: &[u8]) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.write_all(data).await?;
        self.flush().await
    }

    /// Close: a TLS close_notify first (best effort), then the TCP write side.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        AsyncWriteExt::shutdown(self).await
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Stream::Plain(s) = this {
            return Pin::new(s).poll_read(cx, buf);
        }
        loop {
            let mut tmp = BytesMut::with_capacity(buf.remaining().min(16 * 1024));
            match this.read_now(&mut tmp) {
                Ok(_) => {
                    buf.put_slice(&tmp);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(this.poll_read_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.try_write(data) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(this.poll_write_ready(cx))?;
                }
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.flush_now() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(this.poll_write_ready(cx))?;
                }
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Stream::Tls(t) = this {
            if !t.conn.is_handshaking() {
                t.conn.send_close_notify();
            }
        }
        std::task::ready!(Pin::new(&mut *this).poll_flush(cx))?;
        match this {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(t) => Pin::new(&mut t.tcp).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A TLS pair over loopback: (client side, server side), handshakes done.
    async fn pair() -> (Stream, Stream) {
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let der = rustls::pki_types::CertificateDer::from(ca.cert.der().to_vec());
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(ca.signing_key.serialize_der()).unwrap();
        let provider = super::super::certs::provider();
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let s = socket2::SockRef::from(&tcp);
            s.set_send_buffer_size(32 * 1024).unwrap();
            let tls = tokio_rustls::TlsAcceptor::from(Arc::new(server))
                .accept(tcp)
                .await
                .unwrap();
            let (tcp, conn) = tls.into_inner();
            Stream::Tls(Box::new(TlsConn::new(tcp, conn, crate::tls::Side::Client)))
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        socket2::SockRef::from(&tcp)
            .set_recv_buffer_size(32 * 1024)
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(name, tcp)
            .await
            .unwrap();
        let (tcp, conn) = tls.into_inner();
        let c = Stream::Tls(Box::new(TlsConn::new(
            tcp,
            conn,
            crate::tls::Side::Upstream,
        )));
        (c, accept.await.unwrap())
    }

    /// What the data path's write loops rely on: plaintext taken is queued until the socket
    /// drains, `pending_output` says so, `flush_now` answers WouldBlock meanwhile, and every
    /// byte arrives once the peer reads and the writer flushes.
    #[tokio::test]
    async fn taken_plaintext_stays_pending_until_flushed() {
        let (mut client, mut server) = pair().await;
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut off = 0;
        let mut blocked = false;
        while off < data.len() {
            match server.try_write(&data[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(blocked, "a peer that does not read must block the writer");
        assert!(
            server.pending_output(),
            "taken but unsent bytes are reported"
        );
        assert_eq!(
            server.flush_now().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = BytesMut::with_capacity(64 * 1024);
            while got.len() < 1_000_000 {
                buf.clear();
                match client.read_now(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => got.extend_from_slice(&buf),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::future::poll_fn(|cx| client.poll_read_ready(cx))
                            .await
                            .unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            got
        });
        while off < data.len() || server.pending_output() {
            let r = if off < data.len() {
                server.try_write(&data[off..])
            } else {
                server.flush_now().map(|()| 0)
            };
            match r {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => server.writable().await.unwrap(),
                Err(e) => panic!("{e}"),
            }
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
            .await
            .expect("every byte arrives")
            .unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes differ");
    }

    /// A close from the peer (close_notify) ends the stream for a reader waiting on readiness,
    /// even when no more TCP data will come.
    #[tokio::test]
    async fn close_notify_reads_as_the_end() {
        let (mut client, mut server) = pair().await;
        server.write_all_flush(b"+OK\r\n").await.unwrap();
        server.shutdown().await.unwrap();
        let mut buf = BytesMut::with_capacity(1024);
        let mut got = Vec::new();
        loop {
            std::future::poll_fn(|cx| client.poll_read_ready(cx))
                .await
                .unwrap();
            match client.read_now(&mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    got.extend_from_slice(&buf);
                    buf.clear();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, b"+OK\r\n");
    }
}
