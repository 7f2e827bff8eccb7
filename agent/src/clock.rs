//! The agent's clock: every wait inside a pass (retry backoff of API calls, Terminating
//! namespaces, deletions awaited by prune and recreate) and the host update back-off read time
//! and sleep through one [`Clock`], so tests run them on a [`ManualClock`] that moves only when
//! asked (a sleep advances it at once) instead of waiting on the wall clock.
//!
//! With the test-only `fault-points` feature, `FERRY_TEST_CLOCK=<unix seconds>` makes the
//! process run on a [`ManualClock`] starting at that time (see [`test_clock`]), and
//! `FERRY_TEST_CLOCK_FILE=<path>` on a [`FileClock`] the test moves, shared by every process
//! of a site test; release builds always use the [`SystemClock`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Time as the agent's waits see it.
pub trait Clock: Send + Sync {
    /// Waits `d` (a manual clock moves forward by `d` instead).
    fn sleep(&self, d: Duration);
    /// A number in 0..1 (retry jitter).
    fn jitter(&self) -> f64;
    /// A monotonic instant, for deadlines of waits.
    fn now(&self) -> Instant;
    /// Seconds since the Unix epoch, for times that are stored (back-off ends).
    fn unix_now(&self) -> i64;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
    fn jitter(&self) -> f64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        (nanos % 1000) as f64 / 1000.0
    }
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn unix_now(&self) -> i64 {
        crate::store::now()
    }
}

/// A clock that moves only when slept on or advanced; records every sleep. No jitter.
pub struct ManualClock {
    origin: Instant,
    unix_origin: i64,
    moved: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
}

impl ManualClock {
    /// A clock standing at `unix` seconds since the epoch.
    pub fn at(unix: i64) -> Self {
        ManualClock {
            origin: Instant::now(),
            unix_origin: unix,
            moved: Mutex::new(Duration::ZERO),
            sleeps: Mutex::new(Vec::new()),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut moved = self.moved.lock().unwrap_or_else(|e| e.into_inner());
        *moved = moved.saturating_add(d);
    }

    /// How far the clock has moved since it was made.
    pub fn elapsed(&self) -> Duration {
        *self.moved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every sleep asked of it, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Clock for ManualClock {
    fn sleep(&self, d: Duration) {
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d);
        self.advance(d);
    }
    fn jitter(&self) -> f64 {
        0.0
    }
    fn now(&self) -> Instant {
        self.origin + self.elapsed()
    }
    fn unix_now(&self) -> i64 {
        self.unix_origin
            .saturating_add(self.elapsed().as_secs().min(i64::MAX as u64) as i64)
    }
}

/// A clock several processes share, driven by a test: the file holds the time in milliseconds
/// since the epoch and only the test writes it. `sleep` returns once the file's time has moved
/// past the end of the sleep, so the agents of a site test wait on one clock that moves only
/// when the test moves it (`FERRY_TEST_CLOCK_FILE`, test builds only).
pub struct FileClock {
    path: std::path::PathBuf,
    origin: Instant,
    start_ms: Mutex<i64>,
}

impl FileClock {
    pub fn new(path: std::path::PathBuf) -> Self {
        let c = FileClock {
            path,
            origin: Instant::now(),
            start_ms: Mutex::new(0),
        };
        let now = c.read_ms();
        *c.start_ms.lock().unwrap_or_else(|e| e.into_inner()) = now;
        c
    }

    fn read_ms(&self) -> i64 {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    fn elapsed(&self) -> Duration {
        let start = *self.start_ms.lock().unwrap_or_else(|e| e.into_inner());
        Duration::from_millis(self.read_ms().saturating_sub(start).max(0) as u64)
    }
}

impl Clock for FileClock {
    fn sleep(&self, d: Duration) {
        let end = self.elapsed() + d;
        // Tell the test which time this thread waits for (`<file>.<pid>.<thread>`), so it can
        // move the clock once every process waits on it.
        let thread = std::thread::current().name().unwrap_or("main").to_string();
        let mark = self
            .path
            .with_extension(format!("{}.{thread}", std::process::id()));
        let start = *self.start_ms.lock().unwrap_or_else(|e| e.into_inner());
        let _ = std::fs::write(&mark, (start + end.as_millis() as i64).to_string());
        while self.elapsed() < end {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    fn jitter(&self) -> f64 {
        0.0
    }
    fn now(&self) -> Instant {
        self.origin + self.elapsed()
    }
    fn unix_now(&self) -> i64 {
        self.read_ms() / 1000
    }
}

/// Unix seconds as RFC 3339 (`2026-12-07T22:00:00Z`); before 1970 reads as 1970.
pub(crate) fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64))
        .to_string()
}

/// The clock a process runs on: the [`SystemClock`], or in test builds the manual clock
/// `FERRY_TEST_CLOCK` asks for.
pub fn configured() -> Arc<dyn Clock> {
    test_clock().unwrap_or_else(|| Arc::new(SystemClock))
}

/// The manual clock `FERRY_TEST_CLOCK=<unix seconds>` asks for (tests of waits and back-offs
/// run on it: sleeps return at once and move it forward).
#[cfg(feature = "fault-points")]
pub fn test_clock() -> Option<Arc<dyn Clock>> {
    if let Ok(file) = std::env::var("FERRY_TEST_CLOCK_FILE") {
        return Some(Arc::new(FileClock::new(file.into())));
    }
    let start: i64 = std::env::var("FERRY_TEST_CLOCK").ok()?.parse().ok()?;
    Some(Arc::new(ManualClock::at(start)))
}

/// Without the `fault-points` feature there is only the system clock.
#[cfg(not(feature = "fault-points"))]
#[inline(always)]
pub fn test_clock() -> Option<Arc<dyn Clock>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_slept_on_or_advanced() {
        let c = ManualClock::at(1_000);
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.sleep(Duration::from_secs(5));
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now() - t0, Duration::from_millis(6500));
        assert_eq!(c.unix_now(), 1_006);
        assert_eq!(c.sleeps(), vec![Duration::from_secs(5)]);
    }
}
