//! Restoring a session on a fresh upstream: its credentials, a ROLE check, its settings and
//! subscriptions (the replay at a migration or reconnect).

use tokio::io::AsyncReadExt;

use super::*;

impl Session {
    /// Restore on a fresh upstream what the client had set on the previous one, checking on
    /// the way that the node really is what the route says (after a lost connection the next
    /// one may reach a node that is still dying or already demoted). Order: the client's AUTH
    /// and HELLO, then ROLE (which a subscribed RESP2 connection could no longer send), then
    /// name, database and subscriptions.
    pub(super) async fn replay(&mut self) -> Result<(), CloseReason> {
        let (credentials, rest, rest_due) = self.state.replay_frames();
        let role_at = credentials.len();
        let due = role_at + 1 + rest_due;
        let up = self.link.upstream_mut().expect("just connected");
        let expected_role: &[u8] = match up.target {
            upstream::Target::Master { .. } => b"MASTER",
            upstream::Target::Replica { .. } => b"SLAVE",
        };
        let mut out = Vec::new();
        for f in &credentials {
            out.extend_from_slice(f);
        }
        out.extend_from_slice(b"*1\r\n$4\r\nROLE\r\n");
        for f in &rest {
            out.extend_from_slice(f);
        }
        up.write(&self.shared.route, self.shared.lifecycle.stop(), &out, 0)
            .await?;
        let deadline = tokio::time::Instant::now() + self.shared.timeouts.connect;
        let mut answered = 0usize;
        let mut pass: Vec<u8> = Vec::new();
        while answered < due {
            loop {
                match self.rep.scan(&self.ubuf) {
                    Ok(Scan::Frame(info)) => {
                        let frame = self.ubuf.split_to(info.len);
                        let message =
                            matches!(info.head.as_bytes(), b"MESSAGE" | b"PMESSAGE" | b"SMESSAGE")
                                || (info.kind == FrameKind::Push && !is_subscription(&info.head));
                        if message {
                            pass.extend_from_slice(&frame);
                            continue;
                        }
                        if answered == role_at {
                            // An unauthenticated client cannot ask ROLE; NOAUTH still proves the
                            // node answers, and the controller confirmed its role itself.
                            if !(info.head.is(expected_role) || info.head.is(b"NOAUTH")) {
                                return Err(CloseReason::NotMaster);
                            }
                        } else if info.kind == FrameKind::Error {
                            tracing::warn!(
                                "state replay refused by the new node; closing the session"
                            );
                            return Err(CloseReason::ReplayFailed);
                        }
                        answered += 1;
                        if answered == due {
                            break;
                        }
                    }
                    Ok(Scan::Incomplete) => break,
                    Err(e) => return Err(CloseReason::UpstreamError(invalid_data(e))),
                }
            }
            if answered == due {
                break;
            }
            let up = self.link.upstream_mut().expect("just connected");
            self.ubuf.reserve_for_read();
            let stream = up
                .own_stream()
                .expect("replayed only on a dedicated upstream");
            match tokio::time::timeout_at(deadline, stream.read_buf(&mut *self.ubuf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ if answered <= role_at => return Err(CloseReason::NotMaster),
                _ => return Err(CloseReason::ReplayFailed),
            }
        }
        if self.state.tracking() && self.state.resp3 {
            // The new node tracks nothing this client read before, so it would never
            // invalidate those keys: have the client drop its whole cache (the push Redis
            // itself sends on FLUSHALL).
            let mut first = INVALIDATE_ALL.to_vec();
            first.extend_from_slice(&pass);
            pass = first;
        }
        if !pass.is_empty() {
            self.write_client(&pass).await?;
        }
        Ok(())
    }
}
