//! The simulated clock every controller reads: it starts at the wall-clock time the sim was
//! created and moves only when a test (or the automatic mode) advances it, so controller
//! behaviour over time is deterministic and tests never sleep.

use std::time::{Duration, SystemTime};

/// How the clock and the controllers move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// Every request the sim serves first advances the clock by `tick` and lets the
    /// controllers settle: clients that poll see workloads progress one clock tick per request,
    /// independently of wall-clock time (the demo binary, the agent tests).
    PerRequest { tick: Duration },
    /// Nothing moves until the test calls `KubeSim::step` or `KubeSim::advance`.
    Manual,
}

impl Default for ClockMode {
    fn default() -> Self {
        ClockMode::PerRequest {
            tick: Duration::from_secs(1),
        }
    }
}

/// A point on the simulated clock: time elapsed since the sim started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct SimInstant(pub Duration);

/// The simulated clock.
#[derive(Debug, Clone)]
pub struct SimClock {
    origin: SystemTime,
    elapsed: Duration,
}

impl SimClock {
    pub fn new() -> Self {
        SimClock {
            origin: SystemTime::now(),
            elapsed: Duration::ZERO,
        }
    }

    pub fn now(&self) -> SimInstant {
        SimInstant(self.elapsed)
    }

    pub fn advance(&mut self, by: Duration) {
        self.elapsed += by;
    }

    /// The wall-clock time this instant stands for, as Kubernetes writes timestamps.
    pub fn rfc3339(&self, at: SimInstant) -> String {
        humantime::format_rfc3339_seconds(self.origin + at.0).to_string()
    }

    /// Now, as an RFC 3339 timestamp.
    pub fn now_rfc3339(&self) -> String {
        self.rfc3339(self.now())
    }

    /// Parses a timestamp this clock wrote back into an instant (None for foreign times
    /// before the sim started).
    pub fn parse(&self, text: &str) -> Option<SimInstant> {
        let t = humantime::parse_rfc3339(text).ok()?;
        // Timestamps have second resolution: round the origin down the same way.
        let origin_secs = self
            .origin
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
        secs.checked_sub(origin_secs)
            .map(|d| SimInstant(Duration::from_secs(d)))
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}
