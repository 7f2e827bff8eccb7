//! Timers of one connection, kept apart (hyper has a single header timer that also measures
//! idleness): a kept-alive connection may wait `idleTimeout` for its next request, but once
//! the first byte of a request arrives its headers must be complete within `headerTimeout`,
//! and a request (its body read, its answer computed) within `requestTimeout`. The stream is
//! wrapped to see when bytes arrive; the service marks when a request starts and ends; a
//! watchdog drops the connection at the first expired deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The three limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnTimeouts {
    pub idle: Duration,
    pub header: Duration,
    pub request: Duration,
}

/// What the connection is doing, in milliseconds since it was opened (0: not).
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    last_read: AtomicU64,
    header_since: AtomicU64,
    request_since: AtomicU64,
    wake: Notify,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            last_read: AtomicU64::new(1),
            header_since: AtomicU64::new(0),
            request_since: AtomicU64::new(0),
            wake: Notify::new(),
        })
    }

    fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    fn read(&self) {
        let now = self.ms();
        self.last_read.store(now, Ordering::Relaxed);
        if self.request_since.load(Ordering::Relaxed) == 0
            && self.header_since.load(Ordering::Relaxed) == 0
        {
            self.header_since.store(now, Ordering::Relaxed);
            self.wake.notify_one();
        }
    }

    /// A request's headers are complete (the service was called).
    pub fn request_started(&self) {
        self.header_since.store(0, Ordering::Relaxed);
        self.request_since.store(self.ms(), Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// The service answered.
    pub fn request_done(&self) {
        self.request_since.store(0, Ordering::Relaxed);
        self.last_read.store(self.ms(), Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// The earliest deadline now in force (milliseconds since start).
    fn deadline(&self, t: &ConnTimeouts) -> u64 {
        let ms = |d: Duration| d.as_millis() as u64;
        let request = self.request_since.load(Ordering::Relaxed);
        if request != 0 {
            return request.saturating_add(ms(t.request));
        }
        let idle = self
            .last_read
            .load(Ordering::Relaxed)
            .saturating_add(ms(t.idle));
        match self.header_since.load(Ordering::Relaxed) {
            0 => idle,
            h => idle.min(h.saturating_add(ms(t.header))),
        }
    }
}

/// Serves `conn` until it ends or a deadline of `activity` passes (then it is dropped, which
/// closes the connection).
pub async fn watch<F: Future>(conn: F, activity: Arc<Activity>, t: ConnTimeouts) {
    tokio::pin!(conn);
    loop {
        let deadline = activity.deadline(&t);
        let at = activity.start + Duration::from_millis(deadline);
        tokio::select! {
            _ = &mut conn => return,
            _ = tokio::time::sleep_until(at) => {
                if activity.ms() > activity.deadline(&t) {
                    // Past the deadline still in force (activity may have moved it).
                    return;
                }
            }
            _ = activity.wake.notified() => {}
        }
    }
}

/// A stream that tells its [`Activity`] when bytes arrive.
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_header_is_cut_but_an_idle_connection_waits() {
        let t = ConnTimeouts {
            idle: Duration::from_secs(1200),
            header: Duration::from_secs(10),
            request: Duration::from_secs(60),
        };
        // Idle: nothing read, the watchdog waits the idle limit.
        let a = Activity::new();
        let started = Instant::now();
        watch(std::future::pending::<()>(), a, t).await;
        assert!(started.elapsed() >= Duration::from_secs(1200));
        // One header byte: cut after the header limit.
        let a = Activity::new();
        let started = Instant::now();
        let a2 = a.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            a2.read();
        });
        watch(std::future::pending::<()>(), a, t).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(15) && took < Duration::from_secs(16),
            "{took:?}"
        );
    }
}
