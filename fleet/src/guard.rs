//! Bounds no single client can lift: a token bucket of events per device (the clock is passed
//! in, so tests move it), and connection slots per client address and in total (a slot is
//! given back when the connection ends), and a bound on how often one repeated failure (the
//! accept loop out of file descriptors) is logged.

use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Events a device may send: `burst` at once, then `perMinute`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventRate {
    #[serde(default = "default_burst")]
    pub burst: u32,
    #[serde(default = "default_per_minute")]
    pub per_minute: u32,
}

fn default_burst() -> u32 {
    300
}
fn default_per_minute() -> u32 {
    60
}

impl Default for EventRate {
    fn default() -> Self {
        EventRate {
            burst: default_burst(),
            per_minute: default_per_minute(),
        }
    }
}

/// Buckets kept before full ones are forgotten (a full bucket is the same as none).
const MAX_BUCKETS: usize = 200_000;

/// Per-device token buckets.
#[derive(Debug, Default)]
pub struct RateLimiter {
    rate: EventRate,
    /// Device id -> (tokens, unix seconds of the last refill).
    buckets: Mutex<HashMap<String, (f64, i64)>>,
}

impl RateLimiter {
    pub fn new(rate: EventRate) -> Self {
        RateLimiter {
            rate,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token of `device` at `now`; `Err(seconds)` to wait when the bucket is empty.
    pub fn take(&self, device: &str, now: i64) -> Result<(), u64> {
        let burst = f64::from(self.rate.burst);
        let per_second = f64::from(self.rate.per_minute) / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, (tokens, last)| {
                *tokens + (now.saturating_sub(*last).max(0) as f64) * per_second < burst
            });
        }
        let (tokens, last) = buckets.entry(device.to_string()).or_insert((burst, now));
        let elapsed = now.saturating_sub(*last).max(0) as f64;
        *tokens = (*tokens + elapsed * per_second).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        if per_second <= 0.0 {
            return Err(3600);
        }
        Err(((1.0 - *tokens) / per_second).ceil().max(1.0) as u64)
    }
}

/// Connection slots per client address and in total.
#[derive(Debug)]
pub struct Slots {
    per_address: usize,
    total: usize,
    used: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Address,
    Total,
}

/// A held slot; given back on drop.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    addr: IpAddr,
}

impl Slots {
    pub fn new(per_address: usize, total: usize) -> Arc<Self> {
        Arc::new(Slots {
            per_address,
            total,
            used: Mutex::default(),
        })
    }

    /// A slot for a connection from `addr`, if both limits allow one more.
    pub fn admit(self: &Arc<Self>, addr: IpAddr) -> Result<Slot, Full> {
        let mut used = self.used.lock().map_err(|_| Full::Total)?;
        if used.0 >= self.total {
            return Err(Full::Total);
        }
        let n = used.1.entry(addr).or_insert(0);
        if *n >= self.per_address {
            return Err(Full::Address);
        }
        *n += 1;
        used.0 += 1;
        Ok(Slot {
            slots: self.clone(),
            addr,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut used) = self.slots.used.lock() {
            used.0 = used.0.saturating_sub(1);
            if let Some(n) = used.1.get_mut(&self.addr) {
                *n -= 1;
                if *n == 0 {
                    used.1.remove(&self.addr);
                }
            }
        }
    }
}

/// Seconds of the receiver's clock between two log lines of the same repeated failure.
pub const LOG_WINDOW_SECONDS: i64 = 60;

/// Logs a repeated failure at most once per [`LOG_WINDOW_SECONDS`] of the clock passed in;
/// the next line says how many were left out.
#[derive(Debug, Default)]
pub struct LogBound {
    last: Option<i64>,
    left_out: u64,
}

impl LogBound {
    /// A failure at `now`: `Some(left out since the last line)` when it should be logged.
    pub fn note(&mut self, now: i64) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now >= t && now - t < LOG_WINDOW_SECONDS)
        {
            self.left_out += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.left_out))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_repeated_failure_is_logged_once_per_window() {
        let mut b = super::LogBound::default();
        assert_eq!(b.note(1000), Some(0));
        for t in 1000..1060 {
            assert_eq!(b.note(t), None);
        }
        assert_eq!(b.note(1060), Some(60));
        assert_eq!(b.note(1061), None);
        // A clock set back starts a new window rather than silencing the log.
        assert_eq!(b.note(500), Some(1));
    }

    use super::*;

    #[test]
    fn a_device_gets_its_burst_then_its_rate() {
        let r = RateLimiter::new(EventRate {
            burst: 3,
            per_minute: 60,
        });
        for _ in 0..3 {
            assert_eq!(r.take("a", 100), Ok(()));
        }
        assert_eq!(r.take("a", 100), Err(1));
        assert_eq!(
            r.take("b", 100),
            Ok(()),
            "another device has its own bucket"
        );
        assert_eq!(r.take("a", 102), Ok(()));
        assert_eq!(r.take("a", 1000), Ok(()));
    }

    #[test]
    fn slots_per_address_and_in_total() {
        let s = Slots::new(2, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = s.admit(a).unwrap();
        let _a2 = s.admit(a).unwrap();
        assert_eq!(s.admit(a).unwrap_err(), Full::Address);
        let _b1 = s.admit(b).unwrap();
        assert_eq!(s.admit(b).unwrap_err(), Full::Total);
        drop(a1);
        assert!(s.admit(a).is_ok());
    }
}
