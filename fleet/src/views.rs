//! The status views (pure): the fleet overview, computed from the stored devices at a given
//! time (the device table is in [`crate::table`]). The HTML page and the JSON API render the
//! same values.

use crate::status::{DeviceStatus, Staleness};
use crate::store::{DeviceRow, StoredEvent};
use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::table::{device_page, DeviceLine, DevicePage, DeviceQuery, SortDir, SortKey};

/// Devices per status.
#[derive(Debug, Clone, Serialize)]
pub struct Tile {
    pub status: DeviceStatus,
    pub devices: usize,
}

/// How many devices applied which revision, next to the highest they verified.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionCount {
    pub applied: Option<u64>,
    pub highest_verified: Option<u64>,
    pub devices: usize,
}

/// Rollout of one sync's newest revision across the fleet.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRollout {
    pub sync: String,
    /// The newest revision enough devices verified (see [`target`]).
    pub target: Option<u64>,
    pub devices: usize,
    /// Devices offline: never counted as applied, pending or anything else.
    pub offline: usize,
    /// Devices running the target (and not offline).
    pub applied: usize,
    /// Devices that verified the target, are in its wave, but do not run it (failing, rolled back).
    pub pending: usize,
    /// Devices outside the target's rollout wave ("waiting for wave").
    pub waiting_for_wave: usize,
    /// Devices that have not verified the target yet (not fetched, or offline).
    pub not_seen: usize,
    /// Devices of the fleet that do not have this sync at all.
    pub without_sync: usize,
    /// (applied, highest verified) pairs, at most [`crate::aggregate::query::REVISION_ROWS`]
    /// (most devices), newest first.
    pub revisions: Vec<RevisionCount>,
    /// Pairs left out of `revisions`.
    pub more_revisions: usize,
    /// Devices per state of this sync (stale and offline override the sync's own state).
    pub states: Vec<Tile>,
}

/// Devices of one label value, per status.
#[derive(Debug, Clone, Serialize)]
pub struct LabelValue {
    pub value: String,
    pub devices: usize,
    pub statuses: Vec<Tile>,
}

/// A label key (site, region, ...) with its most common values.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelGroup {
    pub key: String,
    pub devices: usize,
    pub values: Vec<LabelValue>,
    /// Values left out (fewer devices each).
    pub more_values: usize,
}

/// Devices whose last error reads the same (numbers folded).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorGroup {
    pub sync: String,
    pub error: String,
    /// The group's key (the error with numbers folded): the device table's `error` filter.
    pub key: String,
    pub devices: usize,
    pub example_device: String,
}

/// A sync whose source the device cannot reach.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unreachable {
    pub device: String,
    pub sync: String,
    pub since: Option<String>,
}

/// A device whose outbox dropped messages.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxDrop {
    pub device: String,
    pub dropped: u64,
}

/// An event on the overview, and whether its device ever sent a heartbeat (else there is no
/// device page to link to).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentEvent {
    #[serde(flatten)]
    pub event: StoredEvent,
    pub known_device: bool,
}

/// Everything the overview page shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub now: i64,
    pub devices: usize,
    pub tiles: Vec<Tile>,
    pub syncs: Vec<SyncRollout>,
    /// Syncs reported by enough devices that did not fit in [`MAX_LISTED_SYNCS`].
    pub unlisted_syncs: usize,
    pub top_errors: Vec<ErrorGroup>,
    pub unreachable_total: usize,
    pub unreachable: Vec<Unreachable>,
    pub outbox_dropped_total: u64,
    pub outbox_drops: Vec<OutboxDrop>,
    /// Newest drift corrections and rollbacks.
    pub recent: Vec<RecentEvent>,
    /// Label keys with at least two devices, most devices first.
    pub labels: Vec<LabelGroup>,
    /// Heartbeats, failures and revision shares per 15 minutes over the last day.
    pub history: Vec<crate::aggregate::history::Bucket>,
}

/// Lists on the overview stop at this many entries.
pub const LIST_LIMIT: usize = 10;
/// Syncs shown as fleet rollouts (and exported in `/metrics`), most devices first. Only syncs
/// that at least two devices report are listed (one device cannot add rows or series).
pub const MAX_LISTED_SYNCS: usize = 32;

/// How many devices must claim a revision before it is a sync's target ("newest verified
/// revision"): all of them up to two, then a tenth (at least two). No single device can move
/// the target; a liar needs a tenth of the devices reporting the sync.
pub fn quorum(reporting: usize) -> usize {
    if reporting <= 2 {
        reporting.max(1)
    } else {
        reporting.div_ceil(10).max(2)
    }
}

/// The highest revision that at least [`quorum`] of the claims reach (an order statistic
/// over the claims counted per revision).
pub fn target_of(claims: &BTreeMap<u64, usize>) -> Option<u64> {
    let q = quorum(claims.values().sum());
    let mut seen = 0;
    claims.iter().rev().find_map(|(rev, n)| {
        seen += n;
        (seen >= q).then_some(*rev)
    })
}

/// [`target_of`] a list of claims.
pub fn target(verified: Vec<u64>) -> Option<u64> {
    let mut claims = BTreeMap::new();
    for v in verified {
        *claims.entry(v).or_default() += 1;
    }
    target_of(&claims)
}

/// Folds digits so "revision 7 failed" and "revision 8 failed" group together.
pub fn error_key(e: &str) -> String {
    let mut out = String::with_capacity(e.len().min(200));
    let mut in_num = false;
    for c in e.chars().take(200) {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('#');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

/// Keeps at most `per_device` events of each device, then `limit` in all (order kept).
pub fn few_per_device(
    events: Vec<StoredEvent>,
    per_device: usize,
    limit: usize,
) -> Vec<StoredEvent> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    events
        .into_iter()
        .filter(|e| {
            let n = seen.entry(e.event.device.clone()).or_default();
            *n += 1;
            *n <= per_device
        })
        .take(limit)
        .collect()
}

/// Computes the overview of a list of devices (pure; the receiver keeps a
/// [`crate::aggregate::Fleet`] up to date at ingest instead).
pub fn overview(
    devices: &[DeviceRow],
    now: i64,
    staleness: &Staleness,
    recent: Vec<StoredEvent>,
) -> Overview {
    crate::aggregate::Fleet::of(devices, now, *staleness).overview(now, recent)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::SyncHealth;
    use crate::status::tests::row;

    pub(crate) fn fleet() -> Vec<DeviceRow> {
        let mut a = row("a", SyncHealth::Healthy, Some(60), 1000);
        a.report.syncs[0].revision = Some(2);
        a.report.syncs[0].highest_verified = Some(2);
        let mut b = row("b", SyncHealth::Waiting, Some(60), 1000);
        b.report.syncs[0].highest_verified = Some(2);
        b.report.syncs[0].waiting =
            Some("waiting for wave: revision 2 is rolling out to 50% of devices".into());
        let mut c = row("c", SyncHealth::Degraded, Some(60), 1000);
        c.report.syncs[0].highest_verified = Some(2);
        c.report.syncs[0].last_error = Some("revision 2 timed out after 300s".into());
        let mut d = row("d", SyncHealth::Healthy, Some(60), 0);
        d.report.syncs[0].last_error = Some("revision 7 timed out after 30s".into());
        d.report.labels.insert("site".into(), "paris".into());
        let mut e = row("e", SyncHealth::Healthy, Some(60), 1000);
        e.report.syncs.clear();
        vec![a, b, c, d, e]
    }

    #[test]
    fn rollout_counts_and_waiting_for_wave() {
        let o = overview(&fleet(), 1000, &Staleness::default(), Vec::new());
        let s = &o.syncs[0];
        assert_eq!(s.target, Some(2));
        assert_eq!(
            (
                s.applied,
                s.waiting_for_wave,
                s.pending,
                s.not_seen,
                s.without_sync
            ),
            (1, 1, 1, 0, 1),
            "d is offline: counted as nothing else"
        );
        assert_eq!(s.offline, 1);
        let tile = |st: DeviceStatus| o.tiles.iter().find(|t| t.status == st).unwrap().devices;
        assert_eq!(
            tile(DeviceStatus::Offline),
            1,
            "d is silent for 1000 s at a 60 s interval"
        );
        assert_eq!(tile(DeviceStatus::Healthy), 1);
        assert_eq!(tile(DeviceStatus::NeverSynced), 1, "no syncs at all");
        assert_eq!(o.top_errors.len(), 1, "numbers folded: one group");
        assert_eq!(o.top_errors[0].devices, 2);
    }

    #[test]
    fn no_single_device_moves_the_target_or_adds_syncs() {
        assert_eq!(target(vec![]), None);
        assert_eq!(target(vec![7]), Some(7));
        assert_eq!(target(vec![u64::MAX, 3]), Some(3));
        assert_eq!(target(vec![3, u64::MAX, 3, 2]), Some(3));
        let mut claims = vec![5; 100];
        claims.extend([u64::MAX; 9]);
        assert_eq!(
            target(claims),
            Some(5),
            "9 of 109 liars are below the tenth"
        );
        let mut f = fleet();
        f[0].report.syncs[0].highest_verified = Some(i64::MAX as u64);
        f[0].report.outbox_dropped = u64::MAX;
        f[1].report.outbox_dropped = u64::MAX;
        for i in 0..30 {
            let mut s = f[0].report.syncs[0].clone();
            s.name = format!("made-up-{i}");
            f[0].report.syncs.push(s);
        }
        let o = overview(&f, 1000, &Staleness::default(), Vec::new());
        assert_eq!(
            o.syncs.len(),
            1,
            "one device's sync names are not fleet rollouts"
        );
        assert_eq!(o.syncs[0].target, Some(2));
        assert_eq!(
            o.outbox_dropped_total,
            i64::MAX as u64,
            "saturated, not wrapped"
        );
    }
}
