//! The views read from the aggregates (pure): the overview (tiles, rollouts, error groups,
//! label groups, history) and the device table (filters by the same sets, sort, pages). Costs
//! follow the sizes of what is shown and of the filtered sets, not the fleet.

use super::{Fleet, Id, Key};
use crate::status::DeviceStatus;
use crate::store::StoredEvent;
use crate::table::{DeviceLine, DevicePage, DeviceQuery, SortDir, SortKey, MAX_PER_PAGE};
use crate::views::{
    ErrorGroup, LabelGroup, LabelValue, OutboxDrop, Overview, RecentEvent, RevisionCount,
    SyncRollout, Tile, Unreachable, LIST_LIMIT, MAX_LISTED_SYNCS,
};
use std::collections::BTreeMap;

/// Label keys grouped on the overview, and values per key.
pub const LABEL_KEYS: usize = 8;
pub const LABEL_VALUES: usize = 20;
/// Rows of a sync's (applied, highest verified) table.
pub const REVISION_ROWS: usize = 20;

impl Fleet {
    /// Syncs shown as fleet rollouts (at least two devices, most devices first, at most
    /// [`MAX_LISTED_SYNCS`], sorted by name) and how many more would qualify.
    pub fn listed_syncs(&self) -> (Vec<(&String, usize)>, usize) {
        let min = self.len().min(2);
        let mut listed: Vec<(&String, usize)> =
            self.syncs.top().take_while(|(_, n)| *n >= min).collect();
        let unlisted = listed.len().saturating_sub(MAX_LISTED_SYNCS);
        listed.truncate(MAX_LISTED_SYNCS);
        listed.sort_by(|a, b| a.0.cmp(b.0));
        (listed, unlisted)
    }

    fn target(&self, sync: &str) -> Option<u64> {
        crate::views::target_of(self.verified.get(sync)?)
    }

    fn rollout(&self, name: &str) -> SyncRollout {
        let target = self.target(name);
        let mut r = SyncRollout {
            sync: name.to_string(),
            target,
            devices: self.count(&Key::Sync(name.to_string())),
            offline: 0,
            applied: 0,
            pending: 0,
            waiting_for_wave: 0,
            not_seen: 0,
            without_sync: 0,
            revisions: Vec::new(),
            states: Vec::new(),
            more_revisions: 0,
        };
        r.without_sync = self.len().saturating_sub(r.devices);
        let mut revs: BTreeMap<(Option<u64>, Option<u64>), usize> = BTreeMap::new();
        for (&(applied, verified, waiting, offline), &n) in
            self.cells.get(name).into_iter().flatten()
        {
            *revs.entry((applied, verified)).or_default() += n;
            let slot = if offline {
                &mut r.offline
            } else if applied.is_some() && applied == target {
                &mut r.applied
            } else if waiting {
                &mut r.waiting_for_wave
            } else if target.is_some() && verified >= target {
                &mut r.pending
            } else {
                &mut r.not_seen
            };
            *slot += n;
        }
        let mut rows: Vec<RevisionCount> = revs
            .into_iter()
            .map(|((applied, highest_verified), devices)| RevisionCount {
                applied,
                highest_verified,
                devices,
            })
            .collect();
        if rows.len() > REVISION_ROWS {
            rows.sort_by_key(|r| std::cmp::Reverse(r.devices));
            r.more_revisions = rows.len() - REVISION_ROWS;
            rows.truncate(REVISION_ROWS);
        }
        rows.sort_by_key(|r| std::cmp::Reverse((r.applied, r.highest_verified)));
        r.revisions = rows;
        r.states = DeviceStatus::ALL
            .into_iter()
            .map(|s| Tile {
                status: s,
                devices: self.count(&Key::State(name.to_string(), s)),
            })
            .filter(|t| t.devices > 0)
            .collect();
        r
    }

    /// The overview at `now`, with the recent events read from the store.
    pub fn overview(&mut self, now: i64, recent: Vec<StoredEvent>) -> Overview {
        self.advance(now);
        let shares = self.shares();
        self.history.set_shares(shares);
        let (listed, unlisted_syncs) = self.listed_syncs();
        let syncs = listed.iter().map(|(n, _)| self.rollout(n)).collect();
        let top_errors = self
            .errors
            .top()
            .take(LIST_LIMIT)
            .map(|(k, n)| {
                // The first device of the group (by id) is its example, with its own text.
                let example = self
                    .devices_in(&Key::Error(k.0.clone(), k.1.clone()))
                    .and_then(|s| s.first());
                let error = example
                    .and_then(|id| self.entries.get(id))
                    .and_then(|e| e.row.report.syncs.iter().find(|s| s.name == k.0))
                    .and_then(|s| s.last_error.clone())
                    .unwrap_or_default();
                ErrorGroup {
                    sync: k.0.clone(),
                    error,
                    key: k.1.clone(),
                    devices: n,
                    example_device: example.map(|id| id.to_string()).unwrap_or_default(),
                }
            })
            .collect();
        let labels = self
            .label_keys
            .top()
            .take_while(|(_, n)| *n >= 2)
            .take(LABEL_KEYS)
            .map(|(key, devices)| {
                let ranked = self.labels.get(key);
                let values = ranked
                    .into_iter()
                    .flat_map(|r| r.top())
                    .take(LABEL_VALUES)
                    .map(|(value, devices)| LabelValue {
                        value: value.clone(),
                        devices,
                        statuses: self
                            .label_status
                            .get(&(key.clone(), value.clone()))
                            .map(|c| {
                                DeviceStatus::ALL
                                    .into_iter()
                                    .zip(c.iter())
                                    .filter(|(_, n)| **n > 0)
                                    .map(|(status, n)| Tile {
                                        status,
                                        devices: *n,
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect();
                LabelGroup {
                    key: key.clone(),
                    devices,
                    more_values: ranked.map_or(0, |r| r.len().saturating_sub(LABEL_VALUES)),
                    values,
                }
            })
            .collect();
        Overview {
            now,
            devices: self.len(),
            tiles: DeviceStatus::ALL
                .into_iter()
                .map(|s| Tile {
                    status: s,
                    devices: self.count(&Key::Status(s)),
                })
                .collect(),
            syncs,
            unlisted_syncs,
            top_errors,
            unreachable_total: self.unreachable.len(),
            unreachable: self
                .unreachable
                .iter()
                .take(LIST_LIMIT)
                .map(|(since, device, sync)| Unreachable {
                    device: device.to_string(),
                    sync: sync.clone(),
                    since: since.clone(),
                })
                .collect(),
            outbox_dropped_total: self.drops_total.min(u128::from(crate::model::MAX_COUNTER))
                as u64,
            outbox_drops: self
                .drops
                .iter()
                .take(LIST_LIMIT)
                .map(|(d, id)| OutboxDrop {
                    device: id.to_string(),
                    dropped: d.0,
                })
                .collect(),
            recent: recent
                .into_iter()
                .map(|event| RecentEvent {
                    known_device: self.contains(&event.event.device),
                    event,
                })
                .collect(),
            labels,
            history: self.history.buckets().cloned().collect(),
        }
    }

    /// The sets a query filters by (None: a filter value no device can match).
    fn filters(&self, q: &DeviceQuery) -> Vec<Key> {
        let given = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
        let mut keys = Vec::new();
        if let Some(s) = q.status.as_deref().and_then(DeviceStatus::parse) {
            keys.push(Key::Status(s));
        }
        if let Some(sync) = given(&q.sync) {
            if let Some(r) = given(&q.revision) {
                keys.push(Key::Revision(sync.clone(), r.parse().ok()));
            }
            if let Some(s) = q.state.as_deref().and_then(DeviceStatus::parse) {
                keys.push(Key::State(sync.clone(), s));
            }
            if let Some(e) = given(&q.error) {
                keys.push(Key::Error(sync.clone(), e));
            }
            keys.push(Key::Sync(sync));
        }
        if let Some((k, v)) = q.label.as_deref().and_then(|l| l.split_once('=')) {
            keys.push(Key::Label(k.to_string(), v.to_string()));
        }
        if let Some(site) = given(&q.site) {
            keys.push(Key::Site(site));
        }
        keys
    }

    fn line(&self, id: &Id) -> Option<DeviceLine> {
        let e = self.entries.get(id)?;
        let d = &e.row;
        Some(DeviceLine {
            id: d.report.id.clone(),
            status: e.status,
            labels: d.report.labels.clone(),
            last_seen: d.last_seen,
            interval_seconds: self.staleness.interval(d),
            revisions: d
                .report
                .syncs
                .iter()
                .map(|s| (s.name.clone(), s.revision))
                .collect(),
            last_error: d.report.syncs.iter().find_map(|s| s.last_error.clone()),
        })
    }

    /// One page of the device table at `now`.
    pub fn device_page(&mut self, q: &DeviceQuery, now: i64) -> DevicePage {
        self.advance(now);
        let keys = self.filters(q);
        let needle =
            q.q.as_deref()
                .map(str::to_lowercase)
                .filter(|s| !s.is_empty());
        let sort = q.sort_key();
        let desc = q.sort_dir() == SortDir::Desc;
        let per_page = q
            .per_page
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(50)
            .clamp(1, MAX_PER_PAGE);
        let wanted_page: usize = q.page.as_deref().and_then(|s| s.parse().ok()).unwrap_or(1);
        // Without filters the table walks an order kept at ingest; with them, the smallest set.
        let ids: Vec<Id> = if keys.is_empty() && needle.is_none() && sort != SortKey::Revision {
            let ordered: Box<dyn DoubleEndedIterator<Item = &Id>> = match sort {
                SortKey::Id => Box::new(self.all.iter()),
                SortKey::LastSeen => Box::new(self.by_last_seen.iter().map(|(_, id)| id)),
                _ => Box::new(
                    DeviceStatus::ALL
                        .into_iter()
                        .flat_map(|s| self.devices_in(&Key::Status(s)).into_iter().flatten()),
                ),
            };
            let total = self.len();
            let pages = total.div_ceil(per_page).max(1);
            let page = wanted_page.clamp(1, pages);
            let skip = (page - 1) * per_page;
            let cut: Vec<Id> = if desc {
                ordered.rev().skip(skip).take(per_page).cloned().collect()
            } else {
                ordered.skip(skip).take(per_page).cloned().collect()
            };
            return DevicePage {
                total,
                page,
                pages,
                per_page,
                devices: cut.iter().filter_map(|id| self.line(id)).collect(),
            };
        } else if keys.is_empty() {
            // A search alone: one pass over the entries (no lookup per device).
            let n = needle.as_deref().unwrap_or_default();
            self.entries
                .iter()
                .filter(|(_, e)| !n.contains('\n') && e.search.contains(n))
                .map(|(id, _)| id.clone())
                .collect()
        } else {
            let smallest = keys.iter().min_by_key(|k| self.count(k));
            let base = smallest
                .and_then(|k| self.devices_in(k))
                .into_iter()
                .flatten();
            base.filter(|id| {
                keys.iter()
                    .all(|k| self.devices_in(k).is_some_and(|s| s.contains(*id)))
            })
            .filter(|id| match (&needle, self.entries.get(*id)) {
                (Some(n), Some(e)) => !n.contains('\n') && e.search.contains(n.as_str()),
                (None, _) => true,
                _ => false,
            })
            .cloned()
            .collect()
        };
        let mut found: Vec<(&super::Entry, &Id)> = ids
            .iter()
            .filter_map(|id| Some((self.entries.get(id)?, id)))
            .collect();
        let first_rev = |e: &super::Entry| e.row.report.syncs.first().map(|s| s.revision);
        found.sort_by(|(a, ai), (b, bi)| {
            let o = match sort {
                SortKey::Status => a.status.cmp(&b.status),
                SortKey::Id => std::cmp::Ordering::Equal,
                SortKey::LastSeen => a.row.last_seen.cmp(&b.row.last_seen),
                SortKey::Revision => first_rev(a).cmp(&first_rev(b)),
            };
            o.then_with(|| ai.cmp(bi))
        });
        if desc {
            found.reverse();
        }
        let total = found.len();
        let pages = total.div_ceil(per_page).max(1);
        let page = wanted_page.clamp(1, pages);
        let devices = found
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .filter_map(|(_, id)| self.line(id))
            .collect();
        DevicePage {
            total,
            page,
            pages,
            per_page,
            devices,
        }
    }
}
