//! Who stops when, and who waits for whom.
//!
//! A shutdown has three stages, each a [`CancellationToken`] that cancels the ones after it:
//! `stop` (everything ends now) → `drain` (listeners close, sessions end at their next safe
//! point) → `unready` (/readyz answers 503, listeners still accept). Every task the proxy
//! spawns goes through one of the two trackers, so a shutdown can wait for all of them
//! instead of polling a counter.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Lifecycle {
    stop: CancellationToken,
    drain: CancellationToken,
    unready: CancellationToken,
    /// Client sessions and refusals: the graceful drain waits for these.
    sessions: TaskTracker,
    /// Everything else (control plane, listeners, admin): ended by their token.
    tasks: TaskTracker,
    /// The stage as one atomic for the sessions' hot path (`is_cancelled` takes the token's
    /// mutex, shared by every session): RUNNING, DRAINING or STOPPING, set before the wake of
    /// [`Lifecycle::on_drain_and_stop`].
    stage: Arc<AtomicU8>,
}

const DRAINING: u8 = 1;
const STOPPING: u8 = 2;

impl Lifecycle {
    pub fn new() -> Lifecycle {
        let stop = CancellationToken::new();
        let drain = stop.child_token();
        let unready = drain.child_token();
        Lifecycle {
            stop,
            drain,
            unready,
            sessions: TaskTracker::new(),
            tasks: TaskTracker::new(),
            stage: Arc::default(),
        }
    }

    /// The drain has begun (or the stop), as sessions see it when they wake.
    pub fn draining(&self) -> bool {
        self.stage.load(Ordering::Acquire) >= DRAINING
    }

    /// The stop has begun, as sessions see it when they wake.
    pub fn stopping(&self) -> bool {
        self.stage.load(Ordering::Acquire) >= STOPPING
    }

    /// Cancelled when everything must end now.
    pub fn stop(&self) -> &CancellationToken {
        &self.stop
    }

    /// Cancelled when the graceful drain closes the listeners (and by `stop`).
    pub fn drain(&self) -> &CancellationToken {
        &self.drain
    }

    /// Cancelled when the proxy stops being ready (and by `drain` and `stop`).
    pub fn unready(&self) -> &CancellationToken {
        &self.unready
    }

    /// A task that runs until `stop`; its future is dropped there, wherever it waits.
    pub fn spawn_until_stop<F>(&self, fut: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            stop.run_until_cancelled_owned(fut).await;
        })
    }

    /// A task that runs until `drain` (the listeners).
    pub fn spawn_until_drain<F>(&self, fut: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let drain = self.drain.clone();
        self.tasks.spawn(async move {
            drain.run_until_cancelled_owned(fut).await;
        })
    }

    /// A client session: it watches the tokens itself, to close at a safe point.
    pub fn spawn_session<F>(&self, fut: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.sessions.spawn(fut)
    }

    /// Call `wake` when the drain begins and again at the stop, after [`Lifecycle::draining`]
    /// and [`Lifecycle::stopping`] turn true (tracked, and not ended by the stop, which it must
    /// see): how sessions learn of both without a waiter each.
    pub fn on_drain_and_stop(&self, wake: impl Fn() + Send + 'static) {
        let lc = self.clone();
        self.tasks.spawn(async move {
            lc.drain.cancelled().await;
            lc.stage.fetch_max(DRAINING, Ordering::AcqRel);
            wake();
            lc.stop.cancelled().await;
            lc.stage.fetch_max(STOPPING, Ordering::AcqRel);
            wake();
        });
    }

    /// Sessions open now (accepted and not yet ended).
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Wait until every session has ended, or `timeout` has passed (false then).
    pub async fn sessions_ended(&self, timeout: std::time::Duration) -> bool {
        self.sessions.close();
        tokio::time::timeout(timeout, self.sessions.wait())
            .await
            .is_ok()
    }

    /// Cancel everything and wait until every task has ended.
    pub async fn stop_and_wait(&self) {
        self.stop.cancel();
        self.sessions.close();
        self.tasks.close();
        self.sessions.wait().await;
        self.tasks.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_every_stage_and_waits_for_the_tasks() {
        let lc = Lifecycle::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        lc.spawn_until_stop(async move {
            // Never completes by itself: only `stop` can end it.
            let _keep = tx;
            std::future::pending::<()>().await
        });
        let session = lc.clone();
        lc.spawn_session(async move { session.stop().cancelled().await });
        lc.stop_and_wait().await;
        assert!(lc.drain().is_cancelled() && lc.unready().is_cancelled());
        assert!(rx.await.is_err(), "the task's future was dropped");
        assert_eq!(lc.open_sessions(), 0);
    }

    #[tokio::test]
    async fn unready_leaves_drain_alone_and_the_drain_waits_for_sessions() {
        let lc = Lifecycle::new();
        lc.unready().cancel();
        assert!(!lc.drain().is_cancelled());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        lc.spawn_session(async move {
            let _ = rx.await;
        });
        assert!(
            !lc.sessions_ended(std::time::Duration::from_millis(20))
                .await
        );
        tx.send(()).unwrap();
        assert!(lc.sessions_ended(std::time::Duration::from_secs(10)).await);
    }

    #[tokio::test]
    async fn the_stage_turns_before_each_wake() {
        let lc = Lifecycle::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let seen = lc.clone();
        lc.on_drain_and_stop(move || {
            let _ = tx.send((seen.draining(), seen.stopping()));
        });
        assert!(!lc.draining() && !lc.stopping());
        lc.drain().cancel();
        assert_eq!(rx.recv().await, Some((true, false)));
        lc.stop().cancel();
        assert_eq!(rx.recv().await, Some((true, true)));
    }
}
