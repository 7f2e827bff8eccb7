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
    /// The highest revision any device verified.
    pub target: Option<u64>,
    pub devices: usize,
    /// Devices running the target.
    pub applied: usize,
    /// Devices that verified the target, are in its wave, but do not run it (failing, rolled back).
    pub pending: usize,
    /// Devices outside the target's rollout wave ("waiting for wave").
    pub waiting_for_wave: usize,
    /// Devices that have not verified the target yet (not fetched, or offline).
    pub not_seen: usize,
    /// Devices of the fleet that do not have this sync at all.
    pub without_sync: usize,
    pub revisions: Vec<RevisionCount>,
}

/// Devices whose last error reads the same (numbers folded).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorGroup {
    pub sync: String,
    pub error: String,
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

/// Everything the overview page shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub now: i64,
    pub devices: usize,
    pub tiles: Vec<Tile>,
    pub syncs: Vec<SyncRollout>,
    pub top_errors: Vec<ErrorGroup>,
    pub unreachable_total: usize,
    pub unreachable: Vec<Unreachable>,
    pub outbox_dropped_total: u64,
    pub outbox_drops: Vec<OutboxDrop>,
    /// Newest drift corrections and rollbacks.
    pub recent: Vec<StoredEvent>,
}

/// Lists on the overview stop at this many entries.
pub const LIST_LIMIT: usize = 10;

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

/// Computes the overview (pure).
pub fn overview(
    devices: &[DeviceRow],
    now: i64,
    staleness: &Staleness,
    recent: Vec<StoredEvent>,
) -> Overview {
    let mut tiles: BTreeMap<DeviceStatus, usize> = BTreeMap::new();
    let mut targets: BTreeMap<&str, Option<u64>> = BTreeMap::new();
    for d in devices {
        *tiles.entry(staleness.status(d, now)).or_default() += 1;
        for s in &d.report.syncs {
            let t = targets.entry(&s.name).or_default();
            *t = (*t).max(s.highest_verified);
        }
    }
    let syncs = targets
        .iter()
        .map(|(name, target)| rollout(devices, name, *target))
        .collect();
    let mut errors: BTreeMap<(String, String), (usize, String, String)> = BTreeMap::new();
    let mut unreachable = Vec::new();
    let mut drops = Vec::new();
    for d in devices {
        for s in &d.report.syncs {
            if let Some(e) = &s.last_error {
                let entry = errors
                    .entry((s.name.clone(), error_key(e)))
                    .or_insert_with(|| (0, e.clone(), d.report.id.clone()));
                entry.0 += 1;
            }
            if !s.source_reachable {
                unreachable.push(Unreachable {
                    device: d.report.id.clone(),
                    sync: s.name.clone(),
                    since: s.source_unreachable_since.clone(),
                });
            }
        }
        if d.report.outbox_dropped > 0 {
            drops.push(OutboxDrop {
                device: d.report.id.clone(),
                dropped: d.report.outbox_dropped,
            });
        }
    }
    let mut top_errors: Vec<ErrorGroup> = errors
        .into_iter()
        .map(|((sync, _), (n, error, example))| ErrorGroup {
            sync,
            error,
            devices: n,
            example_device: example,
        })
        .collect();
    top_errors.sort_by(|a, b| b.devices.cmp(&a.devices).then(a.sync.cmp(&b.sync)));
    top_errors.truncate(LIST_LIMIT);
    let unreachable_total = unreachable.len();
    unreachable.sort_by(|a, b| a.since.cmp(&b.since));
    unreachable.truncate(LIST_LIMIT);
    let outbox_dropped_total = drops.iter().map(|d| d.dropped).sum();
    drops.sort_by_key(|d| std::cmp::Reverse(d.dropped));
    drops.truncate(LIST_LIMIT);
    Overview {
        now,
        devices: devices.len(),
        tiles: DeviceStatus::ALL
            .into_iter()
            .map(|s| Tile {
                status: s,
                devices: tiles.get(&s).copied().unwrap_or(0),
            })
            .collect(),
        syncs,
        top_errors,
        unreachable_total,
        unreachable,
        outbox_dropped_total,
        outbox_drops: drops,
        recent,
    }
}

fn rollout(devices: &[DeviceRow], name: &str, target: Option<u64>) -> SyncRollout {
    let mut r = SyncRollout {
        sync: name.to_string(),
        target,
        devices: 0,
        applied: 0,
        pending: 0,
        waiting_for_wave: 0,
        not_seen: 0,
        without_sync: 0,
        revisions: Vec::new(),
    };
    let mut revs: BTreeMap<(Option<u64>, Option<u64>), usize> = BTreeMap::new();
    for d in devices {
        let Some(s) = d.report.syncs.iter().find(|s| s.name == name) else {
            r.without_sync += 1;
            continue;
        };
        r.devices += 1;
        *revs.entry((s.revision, s.highest_verified)).or_default() += 1;
        if s.revision.is_some() && s.revision == target {
            r.applied += 1;
        } else if s.waiting.is_some() {
            r.waiting_for_wave += 1;
        } else if s.highest_verified.is_some() && s.highest_verified == target {
            r.pending += 1;
        } else {
            r.not_seen += 1;
        }
    }
    r.revisions = revs
        .into_iter()
        .rev()
        .map(|((applied, highest_verified), devices)| RevisionCount {
            applied,
            highest_verified,
            devices,
        })
        .collect();
    r
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
            (1, 1, 1, 1, 1)
        );
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
}
