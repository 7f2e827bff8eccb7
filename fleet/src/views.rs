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

/// The highest revision that at least [`quorum`] of the claims reach (an order statistic).
pub fn target(mut verified: Vec<u64>) -> Option<u64> {
    let q = quorum(verified.len());
    verified.sort_unstable_by(|a, b| b.cmp(a));
    verified.get(q - 1).copied()
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

/// Computes the overview (pure).
pub fn overview(
    devices: &[DeviceRow],
    now: i64,
    staleness: &Staleness,
    recent: Vec<StoredEvent>,
) -> Overview {
    let mut tiles: BTreeMap<DeviceStatus, usize> = BTreeMap::new();
    // Per sync: devices reporting it, and the revisions they claim to have verified.
    let mut claims: BTreeMap<&str, (usize, Vec<u64>)> = BTreeMap::new();
    for d in devices {
        *tiles.entry(staleness.status(d, now)).or_default() += 1;
        for s in &d.report.syncs {
            let c = claims.entry(&s.name).or_default();
            c.0 += 1;
            c.1.extend(s.highest_verified);
        }
    }
    let mut listed: Vec<(&str, usize, Option<u64>)> = claims
        .into_iter()
        .filter(|(_, (n, _))| *n >= devices.len().min(2))
        .map(|(name, (n, verified))| (name, n, target(verified)))
        .collect();
    let unlisted_syncs = listed.len().saturating_sub(MAX_LISTED_SYNCS);
    listed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    listed.truncate(MAX_LISTED_SYNCS);
    listed.sort_by(|a, b| a.0.cmp(b.0));
    let syncs = listed
        .iter()
        .map(|(name, _, target)| rollout(devices, name, *target, |d| staleness.status(d, now)))
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
    let outbox_dropped_total = drops
        .iter()
        .fold(0u64, |t, d| t.saturating_add(d.dropped))
        .min(crate::model::MAX_COUNTER);
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
        unlisted_syncs,
        top_errors,
        unreachable_total,
        unreachable,
        outbox_dropped_total,
        outbox_drops: drops,
        recent: recent
            .into_iter()
            .map(|event| RecentEvent {
                known_device: devices.iter().any(|d| d.report.id == event.event.device),
                event,
            })
            .collect(),
    }
}

fn rollout(
    devices: &[DeviceRow],
    name: &str,
    target: Option<u64>,
    status: impl Fn(&DeviceRow) -> DeviceStatus,
) -> SyncRollout {
    let mut r = SyncRollout {
        sync: name.to_string(),
        target,
        devices: 0,
        offline: 0,
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
        if status(d) == DeviceStatus::Offline {
            // What an offline device last said is not what it runs now.
            r.offline += 1;
        } else if s.revision.is_some() && s.revision == target {
            r.applied += 1;
        } else if s.waiting.is_some() {
            r.waiting_for_wave += 1;
        } else if target.is_some() && s.highest_verified >= target {
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
