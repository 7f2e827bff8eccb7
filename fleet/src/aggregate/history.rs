//! A small time-bucketed history kept at ingest (pure, bounded): per 15-minute bucket over the
//! last day, heartbeats received, heartbeats reporting a failed or rolled-back sync, and the
//! share of devices per applied revision of each listed sync (the rollout plot). At most
//! [`BUCKETS`] buckets, [`SHARES`] revisions per sync and bucket; kept in memory (a restarted
//! receiver starts an empty history).

use std::collections::{BTreeMap, VecDeque};

/// Seconds per bucket.
pub const BUCKET: i64 = 900;
/// Buckets kept (a day).
pub const BUCKETS: usize = 96;
/// Revisions kept per sync and bucket (the rest count as "other").
pub const SHARES: usize = 5;

/// Devices per applied revision: the most common ones, and all devices counted.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Shares {
    pub total: usize,
    pub top: Vec<(Option<u64>, usize)>,
}

/// The [`SHARES`] most common revisions of a distribution.
pub fn top_shares(per: BTreeMap<Option<u64>, usize>) -> Shares {
    let total = per.values().sum();
    let mut top: Vec<(Option<u64>, usize)> = per.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    top.truncate(SHARES);
    top.sort_by_key(|s| std::cmp::Reverse(s.0));
    Shares { total, top }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Bucket {
    /// Unix seconds the bucket starts at.
    pub start: i64,
    pub heartbeats: u64,
    /// Heartbeats that reported a failed or rolled-back sync.
    pub failing: u64,
    /// Per listed sync: devices per applied revision (offline devices left out).
    pub shares: BTreeMap<String, Shares>,
}

#[derive(Debug, Clone, Default)]
pub struct History {
    buckets: VecDeque<Bucket>,
}

fn start_of(t: i64) -> i64 {
    t - t.rem_euclid(BUCKET)
}

impl History {
    /// Makes the bucket of `now` the newest (dropping those older than a day, and any newer
    /// than `now` when the clock went back). True when a new bucket was opened.
    pub fn roll(&mut self, now: i64) -> bool {
        let start = start_of(now);
        while self.buckets.back().is_some_and(|b| b.start > start) {
            self.buckets.pop_back();
        }
        if self.buckets.back().is_some_and(|b| b.start == start) {
            return false;
        }
        self.buckets.push_back(Bucket {
            start,
            ..Bucket::default()
        });
        while self
            .buckets
            .front()
            .is_some_and(|b| b.start <= start - BUCKET * BUCKETS as i64)
            || self.buckets.len() > BUCKETS
        {
            self.buckets.pop_front();
        }
        true
    }

    /// Whether the newest bucket is the one of `now`.
    pub fn is_current(&self, now: i64) -> bool {
        self.buckets
            .back()
            .is_some_and(|b| b.start == start_of(now))
    }

    /// Counts a heartbeat in the newest bucket.
    pub fn record(&mut self, failing: bool) {
        if let Some(b) = self.buckets.back_mut() {
            b.heartbeats += 1;
            b.failing += u64::from(failing);
        }
    }

    pub fn set_shares(&mut self, shares: BTreeMap<String, Shares>) {
        if let Some(b) = self.buckets.back_mut() {
            b.shares = shares;
        }
    }

    pub fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.buckets.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_of_buckets_at_most() {
        let mut h = History::default();
        for i in 0..300 {
            h.roll(i * BUCKET + 5);
            h.record(i % 2 == 0);
        }
        assert_eq!(h.buckets().count(), BUCKETS);
        assert_eq!(h.buckets().last().unwrap().start, 299 * BUCKET);
        assert!(!h.roll(299 * BUCKET + 10), "same bucket");
        h.roll(10 * BUCKET);
        assert_eq!(
            h.buckets().count(),
            1,
            "the clock went back: newer buckets dropped"
        );
        let s = top_shares((0..9).map(|r| (Some(r), r as usize + 1)).collect());
        assert_eq!((s.total, s.top.len(), s.top[0].0), (45, SHARES, Some(8)));
    }
}
