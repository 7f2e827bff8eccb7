//! Fault points for crash tests: with `FERRY_FAULT=<name>` set, the process aborts (like
//! `kill -9`) when it reaches the named point, so tests can interrupt a sync at an exact step.
//! `FERRY_FAULT=<name>:hang` blocks the calling thread forever instead (a stuck loop), and
//! `FERRY_FAULT=<name>:<k>` aborts at the k-th time a counted point is reached (e.g. after the
//! third object of an apply).
//!
//! `FERRY_TEST_CLOCK=<unix seconds>` runs the process on a manual clock
//! ([`crate::clock::test_clock`], behind the same feature).
//!
//! The points exist only with the `fault-points` cargo feature, which the crate's own tests
//! enable (a dev-dependency on itself); release builds compile them to nothing, so no
//! environment variable can make a shipped agent abort.

#[cfg(feature = "fault-points")]
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "fault-points")]
static COUNT: AtomicUsize = AtomicUsize::new(0);

#[cfg(feature = "fault-points")]
fn fault() -> Option<(String, String)> {
    let f = std::env::var("FERRY_FAULT").ok()?;
    let (point, mode) = f.split_once(':').unwrap_or((f.as_str(), "abort"));
    Some((point.to_string(), mode.to_string()))
}

#[cfg(feature = "fault-points")]
fn trigger(name: &str, mode: &str) {
    eprintln!("ferry-agent: fault point {name} reached ({mode})");
    if mode == "hang" {
        loop {
            std::thread::park();
        }
    }
    std::process::abort();
}

/// Aborts (or hangs) the process if `FERRY_FAULT` names this point.
#[cfg(feature = "fault-points")]
pub fn point(name: &str) {
    if let Some((point, mode)) = fault() {
        if point == name && (mode == "abort" || mode == "hang") {
            trigger(name, &mode);
        }
    }
}

/// A counted point: aborts when `FERRY_FAULT=<name>:<k>` and this is the k-th time.
#[cfg(feature = "fault-points")]
pub fn count(name: &str) {
    if let Some((point, mode)) = fault() {
        if point == name {
            let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
            if mode.parse::<usize>().is_ok_and(|k| k == n) {
                trigger(name, &mode);
            }
        }
    }
}

/// Without the `fault-points` feature a point is nothing.
#[cfg(not(feature = "fault-points"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// Without the `fault-points` feature a counted point is nothing.
#[cfg(not(feature = "fault-points"))]
#[inline(always)]
pub fn count(_name: &str) {}
