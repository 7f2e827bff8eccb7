//! A grouped commit for PostgreSQL as seven statements, whatever the group's size: the group's
//! records are turned into columns (arrays) once, and each table takes all its rows in one
//! `INSERT ... SELECT FROM unnest(...)`. Per heartbeat this was four to six statements
//! (device upsert, sync delete, a sync insert each, changes), each parsed, planned and
//! answered on its own. A device that reports twice in a group keeps its last report; changes
//! are folded through the group in order, so the history is the same as one by one.

use super::pg_rows::opt_i64;
use super::{change_columns, changes_between, Record};
use crate::model::SyncHealth;
use std::collections::{BTreeMap, HashMap};

/// The stored (health, revision) of each sync, by device and sync name.
pub(super) type SyncState = HashMap<String, BTreeMap<String, (SyncHealth, Option<u64>)>>;

pub(super) const UPSERT_DEVICES: &str = "INSERT INTO devices(id, labels, agent_version,
    uptime_seconds, interval_seconds, reported_time, outbox_dropped, first_seen, last_seen, seq)
  SELECT u.id, u.labels, u.agent, u.up, u.every, u.rt, u.dropped, u.first, u.now,
    nextval('device_seq')
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
    $7::bigint[], $8::bigint[], $9::bigint[])
    WITH ORDINALITY AS u(id, labels, agent, up, every, rt, dropped, first, now, o)
  ORDER BY u.o
  ON CONFLICT(id) DO UPDATE SET labels=excluded.labels, agent_version=excluded.agent_version,
    uptime_seconds=excluded.uptime_seconds, interval_seconds=excluded.interval_seconds,
    reported_time=excluded.reported_time, outbox_dropped=excluded.outbox_dropped,
    last_seen=excluded.last_seen, seq=excluded.seq";
pub(super) const DELETE_SYNCS: &str = "DELETE FROM syncs WHERE device = ANY($1)";
pub(super) const INSERT_SYNCS: &str = "INSERT INTO syncs(device, name, revision,
    highest_verified, health, last_error, last_success, drift_corrections, source_reachable,
    source_unreachable_since, waiting)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[],
    $6::text[], $7::text[], $8::bigint[], $9::boolean[], $10::text[], $11::text[])";
pub(super) const INSERT_CHANGES: &str =
    "INSERT INTO changes(device, sync, time, kind, from_value, to_value)
  SELECT u.d, u.s, u.t, u.k, u.f, u.v FROM unnest($1::text[], $2::text[], $3::bigint[],
    $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS u(d, s, t, k, f, v, o) ORDER BY u.o";
pub(super) const INSERT_EVENTS: &str =
    "INSERT INTO events(device, sync, kind, message, reported_time, received)
  SELECT u.d, u.s, u.k, u.m, u.rt, u.r FROM unnest($1::text[], $2::text[], $3::text[],
    $4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY AS u(d, s, k, m, rt, r, o) ORDER BY u.o";

/// The device rows of a group, as columns.
#[derive(Debug, Default)]
pub(super) struct Devices {
    pub id: Vec<String>,
    pub labels: Vec<String>,
    pub agent: Vec<String>,
    pub uptime: Vec<i64>,
    pub interval: Vec<Option<i64>>,
    pub reported: Vec<String>,
    pub dropped: Vec<i64>,
    /// When the group first heard from the device (its `first_seen` if it is new).
    pub first: Vec<i64>,
    pub now: Vec<i64>,
}

/// The sync rows of a group, as columns.
#[derive(Debug, Default)]
pub(super) struct Syncs {
    pub device: Vec<String>,
    pub name: Vec<String>,
    pub revision: Vec<Option<i64>>,
    pub verified: Vec<Option<i64>>,
    pub health: Vec<&'static str>,
    pub error: Vec<Option<String>>,
    pub success: Vec<Option<String>>,
    pub drift: Vec<i64>,
    pub reachable: Vec<bool>,
    pub unreachable_since: Vec<Option<String>>,
    pub waiting: Vec<Option<String>>,
}

/// The change rows of a group, as columns.
#[derive(Debug, Default)]
pub(super) struct Changes {
    pub device: Vec<String>,
    pub sync: Vec<String>,
    pub time: Vec<i64>,
    pub kind: Vec<&'static str>,
    pub from: Vec<Option<String>>,
    pub to: Vec<Option<String>>,
}

/// The event rows of a group, as columns.
#[derive(Debug, Default)]
pub(super) struct Events {
    pub device: Vec<String>,
    pub sync: Vec<String>,
    pub kind: Vec<String>,
    pub message: Vec<String>,
    pub reported: Vec<String>,
    pub received: Vec<i64>,
}

/// The site membership rows of a group, as columns ([`super::site_rows`]).
#[derive(Debug, Default)]
pub(super) struct Sites {
    pub device: Vec<String>,
    pub site: Vec<String>,
    pub leading: Vec<bool>,
    pub leads: Vec<String>,
    pub lease: Vec<Option<String>>,
    pub leader: Vec<Option<String>>,
    pub rollout: Vec<Option<String>>,
}

/// Everything a group writes.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub devices: Devices,
    pub syncs: Syncs,
    pub changes: Changes,
    pub events: Events,
    pub sites: Sites,
}

/// Turns a group's records into columns; `state` is what the database holds for the group's
/// devices (pure).
pub(super) fn plan<'a>(records: impl Iterator<Item = &'a Record>, mut state: SyncState) -> Batch {
    let mut b = Batch::default();
    // The last heartbeat of each device in the group, by position, and the first one's time.
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut first: HashMap<&str, i64> = HashMap::new();
    let records: Vec<&Record> = records.collect();
    for (i, r) in records.iter().enumerate() {
        if let Record::Heartbeat { report, received } = r {
            last.insert(&report.id, i);
            first.entry(&report.id).or_insert(*received);
        }
    }
    for (i, r) in records.iter().enumerate() {
        match r {
            Record::Heartbeat { report, received } => {
                let old = state.remove(&report.id).unwrap_or_default();
                let mut new = BTreeMap::new();
                for s in &report.syncs {
                    for c in changes_between(old.get(&s.name).copied(), (s.health, s.revision)) {
                        let (kind, from, to) = change_columns(&c);
                        let ch = &mut b.changes;
                        ch.device.push(report.id.clone());
                        ch.sync.push(s.name.clone());
                        ch.time.push(*received);
                        ch.kind.push(kind);
                        ch.from.push(from);
                        ch.to.push(to);
                    }
                    new.insert(s.name.clone(), (s.health, s.revision));
                }
                state.insert(report.id.clone(), new);
                if last.get(report.id.as_str()) != Some(&i) {
                    continue;
                }
                let d = &mut b.devices;
                d.id.push(report.id.clone());
                d.labels
                    .push(serde_json::to_string(&report.labels).unwrap_or_else(|_| "{}".into()));
                d.agent.push(report.agent_version.clone());
                d.uptime.push(report.uptime_seconds as i64);
                d.interval.push(opt_i64(report.interval_seconds));
                d.reported.push(report.reported_time.clone());
                d.dropped.push(report.outbox_dropped as i64);
                d.first
                    .push(first.get(report.id.as_str()).copied().unwrap_or(*received));
                d.now.push(*received);
                for s in &report.syncs {
                    let y = &mut b.syncs;
                    y.device.push(report.id.clone());
                    y.name.push(s.name.clone());
                    y.revision.push(opt_i64(s.revision));
                    y.verified.push(opt_i64(s.highest_verified));
                    y.health.push(s.health.as_str());
                    y.error.push(s.last_error.clone());
                    y.success.push(s.last_success.clone());
                    y.drift.push(s.drift_corrections as i64);
                    y.reachable.push(s.source_reachable);
                    y.unreachable_since.push(s.source_unreachable_since.clone());
                    y.waiting.push(s.waiting.clone());
                }
                if let Some(site) = &report.site {
                    let (leads, rollout) = super::site_rows::encode(site);
                    let m = &mut b.sites;
                    m.device.push(report.id.clone());
                    m.site.push(site.name.clone());
                    m.leading.push(site.leading);
                    m.leads.push(leads);
                    m.lease.push(site.lease.clone());
                    m.leader.push(site.leader.clone());
                    m.rollout.push(rollout);
                }
            }
            Record::Event { event, received } => {
                let e = &mut b.events;
                e.device.push(event.device.clone());
                e.sync.push(event.sync.clone());
                e.kind.push(event.kind.clone());
                e.message.push(event.message.clone());
                e.reported.push(event.reported_time.clone());
                e.received.push(*received);
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_heartbeat;

    fn hb(id: &str, health: &str, rev: u64) -> Record {
        let text = serde_json::json!({"schema": "ferry.dev/heartbeat/v1", "time": "2026-11-22T10:00:00Z",
            "device": {"id": id}, "agent": {"version": "0.1.0", "uptimeSeconds": 5},
            "syncs": [{"name": "apps", "revision": rev, "health": health}], "outbox": {"dropped": 0}});
        Record::Heartbeat {
            report: parse_heartbeat(text.to_string().as_bytes()).unwrap(),
            received: rev as i64,
        }
    }

    #[test]
    fn a_device_twice_in_a_group_keeps_its_last_report_and_every_change() {
        let mut state = SyncState::new();
        state.insert(
            "a".into(),
            BTreeMap::from([("apps".into(), (SyncHealth::Healthy, Some(1)))]),
        );
        let records = [
            hb("a", "healthy", 2),
            hb("b", "healthy", 1),
            hb("a", "failed", 3),
        ];
        let b = plan(records.iter(), state);
        assert_eq!(b.devices.id, ["b", "a"]);
        assert_eq!(b.devices.now, [1, 3]);
        assert_eq!(b.devices.first, [1, 2]);
        assert_eq!(b.syncs.device, ["b", "a"]);
        assert_eq!(b.syncs.health, ["healthy", "failed"]);
        // a: revision 1 -> 2, b: first sight, a: revision 2 -> 3 and healthy -> failed.
        assert_eq!(b.changes.device, ["a", "b", "a", "a"]);
        assert_eq!(b.changes.kind, ["revision", "health", "health", "revision"]);
    }
}
