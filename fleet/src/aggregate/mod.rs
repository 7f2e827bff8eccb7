//! Fleet aggregates maintained at ingest (pure core). Every heartbeat moves one device's
//! contribution: its status, its syncs' states and applied revisions, its error groups, its
//! labels, its unreachable sources and outbox drops. Views read counts, ranked lists and
//! per-key device sets from here, so no request scans every device. Stale and offline come
//! from silence, not from a heartbeat: each device has its next deadline (when silence makes
//! it stale, then offline) in an ordered set, and moving "now" re-evaluates only the devices
//! whose deadline passed.

pub mod history;
pub mod live;
pub mod query;
pub mod ranked;
pub mod sites;

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

#[cfg(test)]
mod tests;

use crate::status::{DeviceStatus, Staleness};
use crate::store::DeviceRow;
use history::History;
use ranked::Ranked;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Seconds "now" may go back without a re-evaluation of every device.
pub const JITTER: i64 = 5;

/// A device id, shared by every set that holds it.
pub type Id = Arc<str>;

/// A set of devices a view links to (the device table filters by these).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// The device's status (silence first, then its worst sync).
    Status(DeviceStatus),
    /// Devices that report this sync.
    Sync(String),
    /// The sync's applied revision.
    Revision(String, Option<u64>),
    /// The sync's own state (stale and offline override it).
    State(String, DeviceStatus),
    /// The sync's last error, numbers folded ([`error_key`]).
    Error(String, String),
    /// A label `key=value`.
    Label(String, String),
    /// The nodes of a site.
    Site(String),
}

/// What a sync's rollout is computed from: devices per (applied, highest verified, waiting
/// for wave, offline).
pub type Cell = (Option<u64>, Option<u64>, bool, bool);

#[derive(Debug, Clone)]
struct Entry {
    row: DeviceRow,
    status: DeviceStatus,
    deadline: Option<i64>,
    /// The id and each `key=value` label, lowercased, one per line: what the table's `q`
    /// searches (one substring search per device, no allocation per request).
    search: Box<str>,
}

fn search_text(row: &DeviceRow) -> Box<str> {
    let mut s = row.report.id.to_lowercase();
    for (k, v) in &row.report.labels {
        s.push('\n');
        s.push_str(&format!("{k}={v}").to_lowercase());
    }
    s.into_boxed_str()
}

/// The aggregates of one fleet.
#[derive(Debug)]
pub struct Fleet {
    staleness: Staleness,
    /// The time statuses are evaluated at.
    now: i64,
    entries: HashMap<Id, Entry>,
    /// Every id (sorted), and by last heartbeat.
    all: BTreeSet<Id>,
    by_last_seen: BTreeSet<(i64, Id)>,
    deadlines: BTreeSet<(i64, Id)>,
    sets: HashMap<Key, BTreeSet<Id>>,
    syncs: Ranked<String>,
    errors: Ranked<(String, String)>,
    label_keys: Ranked<String>,
    labels: HashMap<String, Ranked<String>>,
    label_status: HashMap<(String, String), [usize; DeviceStatus::ALL.len()]>,
    cells: HashMap<String, BTreeMap<Cell, usize>>,
    verified: HashMap<String, BTreeMap<u64, usize>>,
    unreachable: BTreeSet<(Option<String>, Id, String)>,
    drops: BTreeSet<(Reverse<u64>, Id)>,
    drops_total: u128,
    pub history: History,
    pub sites: sites::Sites,
}

fn status_index(s: DeviceStatus) -> usize {
    DeviceStatus::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

impl Fleet {
    pub fn new(staleness: Staleness) -> Self {
        Fleet {
            staleness,
            now: 0,
            entries: HashMap::new(),
            all: BTreeSet::new(),
            by_last_seen: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            sets: HashMap::new(),
            syncs: Ranked::default(),
            errors: Ranked::default(),
            label_keys: Ranked::default(),
            labels: HashMap::new(),
            label_status: HashMap::new(),
            cells: HashMap::new(),
            verified: HashMap::new(),
            unreachable: BTreeSet::new(),
            drops: BTreeSet::new(),
            drops_total: 0,
            history: History::default(),
            sites: sites::Sites::default(),
        }
    }

    /// The aggregates of a list of devices at `now`.
    pub fn of(devices: &[DeviceRow], now: i64, staleness: Staleness) -> Self {
        let mut f = Fleet::new(staleness);
        for d in devices {
            f.upsert(d.clone(), now);
        }
        f
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// When silence next changes this device's status (None: offline already).
    fn deadline(&self, row: &DeviceRow, now: i64) -> Option<i64> {
        let st = &self.staleness;
        let interval = st.interval(row);
        let at = |n: u64| {
            let limit = interval.saturating_mul(n).saturating_add(st.grace);
            row.last_seen
                .saturating_add(limit.min(i64::MAX as u64) as i64)
                .saturating_add(1)
        };
        [at(st.stale_after), at(st.offline_after)]
            .into_iter()
            .find(|t| *t > now)
    }

    /// Takes a device's latest row (a heartbeat just committed, or a row read from the store).
    /// An older row than the one held is ignored (two receivers, or a read racing a write).
    /// Returns whether it was taken.
    pub fn upsert(&mut self, mut row: DeviceRow, now: i64) -> bool {
        self.advance(now);
        let id: Id = Arc::from(row.report.id.as_str());
        if let Some(old) = self.entries.get(&id) {
            if old.row.last_seen > row.last_seen
                || (old.row.last_seen == row.last_seen && old.row.report == row.report)
            {
                return false;
            }
            row.first_seen = row.first_seen.min(old.row.first_seen);
            self.remove(&id);
        }
        self.insert(id, row);
        self.sites.settle();
        true
    }

    /// Takes a device out of every figure (a device retired from the store). Returns whether
    /// it was there.
    pub fn forget(&mut self, id: &str) -> bool {
        let id: Id = Arc::from(id);
        let known = self.remove(&id).is_some();
        self.sites.settle();
        known
    }

    /// Moves "now": devices whose silence deadline passed are re-evaluated (all of them when
    /// the clock went backwards by more than [`JITTER`]; less is two requests racing for the
    /// lock with the times they read, and the later time stands).
    pub fn advance(&mut self, now: i64) {
        if now < self.now && self.now - now <= JITTER {
            return;
        }
        let due: Vec<Id> = if now < self.now {
            self.all.iter().cloned().collect()
        } else {
            self.deadlines
                .iter()
                .take_while(|(t, _)| *t <= now)
                .map(|(_, id)| id.clone())
                .collect()
        };
        self.now = now;
        for id in due {
            if let Some(e) = self.remove(&id) {
                self.insert(id, e.row);
            }
        }
        self.sites.settle();
        if !self.history.is_current(now) {
            // The closing bucket keeps the shares at its end.
            let shares = self.shares();
            self.history.set_shares(shares);
            self.history.roll(now);
        }
    }

    fn insert(&mut self, id: Id, row: DeviceRow) {
        let status = self.staleness.status(&row, self.now);
        let deadline = self.deadline(&row, self.now);
        self.contribute(&id, &row, status, deadline, true);
        let search = search_text(&row);
        self.entries.insert(
            id,
            Entry {
                row,
                status,
                deadline,
                search,
            },
        );
    }

    fn remove(&mut self, id: &Id) -> Option<Entry> {
        let e = self.entries.remove(id)?;
        self.contribute(id, &e.row, e.status, e.deadline, false);
        Some(e)
    }

    fn set(&mut self, key: Key, id: &Id, add: bool) {
        if add {
            self.sets.entry(key).or_default().insert(id.clone());
        } else if let Some(s) = self.sets.get_mut(&key) {
            s.remove(id);
            if s.is_empty() {
                self.sets.remove(&key);
            }
        }
    }

    /// Adds (or takes away) everything one device counts toward.
    fn contribute(
        &mut self,
        id: &Id,
        row: &DeviceRow,
        status: DeviceStatus,
        deadline: Option<i64>,
        add: bool,
    ) {
        toggle_set(&mut self.all, id.clone(), add);
        toggle_set(&mut self.by_last_seen, (row.last_seen, id.clone()), add);
        if let Some(d) = deadline {
            toggle_set(&mut self.deadlines, (d, id.clone()), add);
        }
        self.set(Key::Status(status), id, add);
        let silent = matches!(status, DeviceStatus::Offline | DeviceStatus::Stale);
        for s in &row.report.syncs {
            let name = &s.name;
            self.syncs.bump(name, add);
            self.set(Key::Sync(name.clone()), id, add);
            self.set(Key::Revision(name.clone(), s.revision), id, add);
            let state = if silent {
                status
            } else {
                DeviceStatus::of_sync(s)
            };
            self.set(Key::State(name.clone(), state), id, add);
            if let Some(e) = &s.last_error {
                let k = (name.clone(), error_key(e));
                self.errors.bump(&k, add);
                self.set(Key::Error(k.0, k.1), id, add);
            }
            let cell = (
                s.revision,
                s.highest_verified,
                s.waiting.is_some(),
                status == DeviceStatus::Offline,
            );
            count(self.cells.entry(name.clone()).or_default(), cell, add);
            if let Some(v) = s.highest_verified {
                count(self.verified.entry(name.clone()).or_default(), v, add);
            }
            if !s.source_reachable {
                let u = (s.source_unreachable_since.clone(), id.clone(), name.clone());
                toggle_set(&mut self.unreachable, u, add);
            }
        }
        for (k, v) in &row.report.labels {
            self.label_keys.bump(k, add);
            self.labels.entry(k.clone()).or_default().bump(v, add);
            if self.labels.get(k).is_some_and(|r| r.is_empty()) {
                self.labels.remove(k);
            }
            let pair = (k.clone(), v.clone());
            let counts = self.label_status.entry(pair.clone()).or_default();
            let slot = &mut counts[status_index(status)];
            *slot = if add {
                *slot + 1
            } else {
                slot.saturating_sub(1)
            };
            if counts.iter().all(|n| *n == 0) {
                self.label_status.remove(&pair);
            }
            self.set(Key::Label(k.clone(), v.clone()), id, add);
        }
        if let Some(site) = &row.report.site {
            self.set(Key::Site(site.name.clone()), id, add);
        }
        self.sites.contribute(id, row, status, add);
        if row.report.outbox_dropped > 0 {
            toggle_set(
                &mut self.drops,
                (Reverse(row.report.outbox_dropped), id.clone()),
                add,
            );
            let d = u128::from(row.report.outbox_dropped);
            self.drops_total = if add {
                self.drops_total + d
            } else {
                self.drops_total.saturating_sub(d)
            };
        }
    }

    /// The devices in a set (sorted by id).
    pub fn devices_in(&self, key: &Key) -> Option<&BTreeSet<Id>> {
        self.sets.get(key)
    }

    /// Devices in a set.
    pub fn count(&self, key: &Key) -> usize {
        self.sets.get(key).map_or(0, BTreeSet::len)
    }

    /// Applied revision shares of the listed syncs now (for the rollout plot).
    pub fn shares(&self) -> BTreeMap<String, history::Shares> {
        let mut into = BTreeMap::new();
        for (name, _) in self.listed_syncs().0 {
            let mut per: BTreeMap<Option<u64>, usize> = BTreeMap::new();
            for ((applied, _, _, offline), n) in self.cells.get(name).into_iter().flatten() {
                if !offline {
                    *per.entry(*applied).or_default() += n;
                }
            }
            into.insert(name.clone(), history::top_shares(per));
        }
        into
    }
}

fn count<K: Ord>(map: &mut BTreeMap<K, usize>, k: K, add: bool) {
    if add {
        *map.entry(k).or_default() += 1;
    } else if let Some(n) = map.get_mut(&k) {
        *n -= 1;
        if *n == 0 {
            map.remove(&k);
        }
    }
}

fn toggle_set<T: Ord>(set: &mut BTreeSet<T>, v: T, add: bool) {
    if add {
        set.insert(v);
    } else {
        set.remove(&v);
    }
}
