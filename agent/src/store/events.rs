//! Bounded event state: a repeat of one of the newest [`COALESCE_WINDOW`] events of a sync (same
//! kind and message) bumps a count and a last-seen time on that row instead of adding one (so a
//! drift detected and corrected on every pass stays two rows), and events and history are pruned
//! by age and count. Every function that writes takes `now`, so tests run on their own clock.

use super::{kept, Store, StoreError};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One event (also the outbox for notifications and heartbeats).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub time: i64,
    pub sync: String,
    pub kind: String,
    pub message: String,
}

/// How many of a sync's newest events a repeat is matched against.
pub const COALESCE_WINDOW: i64 = 4;

/// What recording an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new row: tell the webhooks.
    New,
    /// A recent row of the sync said the same: its count is now `count`; nobody is told again.
    Repeated { count: i64 },
}

/// An event row with its repeat count.
#[derive(Debug, Clone)]
pub struct CoalescedEvent {
    pub event: Event,
    pub count: i64,
    pub last_seen: i64,
}

/// How long and how much state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub event_max_age_secs: i64,
    pub event_max_count: usize,
    pub history_max_age_secs: i64,
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: usize,
    pub attempts: usize,
}

impl Store {
    pub fn events(&self, sync: Option<&str>, limit: usize) -> Result<Vec<Event>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id, time, sync, kind, message FROM events WHERE (?1 IS NULL OR sync=?1) ORDER BY id DESC LIMIT ?2")?;
        let rows = st.query_map(params![sync, limit as i64], |r| {
            Ok(Event {
                id: r.get(0)?,
                time: r.get(1)?,
                sync: r.get(2)?,
                kind: r.get(3)?,
                message: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an event, coalescing a repeat of one of the sync's newest. One transaction.
    pub fn record_event(
        &self,
        sync: &str,
        kind: &str,
        message: &str,
        now: i64,
    ) -> Result<Recorded, StoreError> {
        // Bounded and escaped whatever the caller passed: the row is shown and sent later.
        let message = kept(message);
        let c = self.conn();
        let tx = c.unchecked_transaction()?;
        let same: Option<(i64, i64)> = tx
            .query_row(
                "SELECT id, count FROM (SELECT id, kind, message, count FROM events WHERE sync=?1
                   ORDER BY COALESCE(last_seen, time) DESC, id DESC LIMIT ?4)
                 WHERE kind=?2 AND message=?3 LIMIT 1",
                params![sync, kind, message, COALESCE_WINDOW],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let recorded = match same {
            Some((id, count)) => {
                tx.execute(
                    "UPDATE events SET count = count + 1, last_seen = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
                Recorded::Repeated { count: count + 1 }
            }
            _ => {
                tx.execute(
                    "INSERT INTO events(time, sync, kind, message, count, last_seen) VALUES (?1, ?2, ?3, ?4, 1, ?1)",
                    params![now, sync, kind, message],
                )?;
                Recorded::New
            }
        };
        tx.execute(
            "INSERT INTO counters(name, value) VALUES (?1, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            [format!("events_total|{sync}|{kind}")],
        )?;
        tx.commit()?;
        Ok(recorded)
    }

    /// Events of one sync (or all), most recently seen first, with their repeat counts.
    pub fn coalesced_events(
        &self,
        sync: Option<&str>,
        limit: usize,
    ) -> Result<Vec<CoalescedEvent>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, time, sync, kind, message, count, COALESCE(last_seen, time) AS seen FROM events
             WHERE (?1 IS NULL OR sync=?1) ORDER BY seen DESC, id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![sync, limit as i64], |r| {
            Ok(CoalescedEvent {
                event: Event {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    sync: r.get(2)?,
                    kind: r.get(3)?,
                    message: r.get(4)?,
                },
                count: r.get(5)?,
                last_seen: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes events last seen before `now - max age` and all but the newest `max count` per
    /// sync, and attempts started before `now - history max age` (never the good attempt of a
    /// sync nor one still applying; bundles no attempt references go with them). One
    /// transaction.
    pub fn prune(&self, retention: &Retention, now: i64) -> Result<Pruned, StoreError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        let mut pruned = Pruned {
            events: tx.execute(
                "DELETE FROM events WHERE COALESCE(last_seen, time) < ?1",
                [now.saturating_sub(retention.event_max_age_secs)],
            )?,
            ..Pruned::default()
        };
        pruned.events += tx.execute(
            "DELETE FROM events WHERE id IN (
               SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY sync ORDER BY id DESC) AS n FROM events)
               WHERE n > ?1)",
            [retention.event_max_count as i64],
        )?;
        pruned.attempts = tx.execute(
            "DELETE FROM revisions WHERE started < ?1
               AND id NOT IN (SELECT good_attempt FROM syncs WHERE good_attempt IS NOT NULL)
               AND state != 'applying'",
            [now.saturating_sub(retention.history_max_age_secs)],
        )?;
        tx.execute(
            "DELETE FROM bundles WHERE digest NOT IN (SELECT digest FROM revisions)",
            [],
        )?;
        tx.commit()?;
        Ok(pruned)
    }
}

/// Retention of the state database's events and history.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RetentionConfig {
    /// Events last seen longer ago are deleted.
    #[serde(deserialize_with = "ferry_bundle::config_file::duration")]
    pub event_max_age: Duration,
    /// Events kept per sync (newest first).
    pub event_max_count: usize,
    /// Attempts started longer ago are deleted (never a sync's applied attempt); `history`
    /// bounds their number.
    #[serde(deserialize_with = "ferry_bundle::config_file::duration")]
    pub history_max_age: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            event_max_age: Duration::from_secs(30 * 86_400),
            event_max_count: 1000,
            history_max_age: Duration::from_secs(90 * 86_400),
        }
    }
}

impl RetentionConfig {
    pub fn for_store(&self) -> Retention {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Retention {
            event_max_age_secs: secs(self.event_max_age),
            event_max_count: self.event_max_count,
            history_max_age_secs: secs(self.history_max_age),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("state.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn repeats_coalesce_into_one_row() {
        let (_d, s) = store();
        assert_eq!(
            s.record_event("a", "drift-detected", "cm/x changed", 100)
                .unwrap(),
            Recorded::New
        );
        for i in 0..500 {
            let r = s
                .record_event("a", "drift-detected", "cm/x changed", 101 + i)
                .unwrap();
            assert_eq!(r, Recorded::Repeated { count: i + 2 });
        }
        // Another sync, another message, or another kind is a new row.
        assert_eq!(
            s.record_event("b", "drift-detected", "cm/x changed", 700)
                .unwrap(),
            Recorded::New
        );
        assert_eq!(
            s.record_event("a", "failed", "cm/x changed", 701).unwrap(),
            Recorded::New
        );
        let rows = s.coalesced_events(Some("a"), 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[1].count, rows[1].event.time, rows[1].last_seen),
            (501, 100, 600)
        );
        // Within the window, the same text is a repeat even with another event in between.
        assert_eq!(
            s.record_event("a", "drift-detected", "cm/x changed", 702)
                .unwrap(),
            Recorded::Repeated { count: 502 }
        );
        // A drift fought on every pass (detected, corrected, detected, ...) stays two rows.
        for pass in 0..10 {
            s.record_event(
                "c",
                "drift-detected",
                "cm/y data.k changed",
                1000 + pass * 2,
            )
            .unwrap();
            s.record_event("c", "drift-corrected", "cm/y restored", 1001 + pass * 2)
                .unwrap();
        }
        let rows = s.coalesced_events(Some("c"), 10).unwrap();
        assert_eq!(rows.iter().map(|r| r.count).collect::<Vec<_>>(), [10, 10]);
        // Past the window, the same text is news again.
        for i in 0..COALESCE_WINDOW {
            s.record_event("c", "applied", &format!("revision {i}"), 2000 + i)
                .unwrap();
        }
        assert_eq!(
            s.record_event("c", "drift-detected", "cm/y data.k changed", 3000)
                .unwrap(),
            Recorded::New
        );
        assert_eq!(
            s.counters()
                .unwrap()
                .iter()
                .find(|(n, _)| n == "events_total|a|drift-detected")
                .unwrap()
                .1,
            502
        );
    }

    #[test]
    fn events_and_history_pruned_by_age_and_count() {
        let (_d, s) = store();
        let retention = Retention {
            event_max_age_secs: 30 * DAY,
            event_max_count: 100,
            history_max_age_secs: 90 * DAY,
        };
        for i in 0..300 {
            s.record_event("a", "applied", &format!("revision {i}"), i * 60)
                .unwrap();
        }
        s.record_event("b", "applied", "old", 0).unwrap();
        let p = s.prune(&retention, 40 * DAY).unwrap();
        // b's only event is older than 30 days; a keeps its newest 100... but all of a's are
        // old too (minutes after time 0), so everything goes.
        assert_eq!(p.events, 301);
        for i in 0..300 {
            s.record_event("a", "applied", &format!("revision {i}"), 40 * DAY + i)
                .unwrap();
        }
        let p = s.prune(&retention, 40 * DAY + 300).unwrap();
        assert_eq!(p.events, 200);
        let left = s.coalesced_events(Some("a"), 1000).unwrap();
        assert_eq!(left.len(), 100);
        assert_eq!(left[0].event.message, "revision 299");
        // A repeat keeps an old event alive: its last-seen time counts.
        s.record_event("c", "failed", "same", 0).unwrap();
        s.record_event("c", "failed", "same", 70 * DAY).unwrap();
        s.prune(&retention, 80 * DAY).unwrap();
        assert_eq!(s.coalesced_events(Some("c"), 10).unwrap().len(), 1);
    }

    #[test]
    fn history_pruned_by_age_keeps_the_good_attempt() {
        use crate::engine::changeset::ChangeSet;
        use crate::store::AttemptKind;
        let (_d, s) = store();
        let retention = Retention {
            event_max_age_secs: DAY,
            event_max_count: 10,
            history_max_age_secs: 90 * DAY,
        };
        let ids: Vec<i64> = (1..=3)
            .map(|r| {
                let id = s
                    .begin_attempt("a", r, &format!("d{r}"), AttemptKind::Apply, None, &[])
                    .unwrap();
                s.finish_attempt(id, Ok(&ChangeSet::default())).unwrap();
                id
            })
            .collect();
        // Attempts 1 and 2 started 100 days before "now"; 3 is the good one, also old.
        s.conn()
            .execute("UPDATE revisions SET started = 0", [])
            .unwrap();
        let p = s.prune(&retention, 100 * DAY).unwrap();
        assert_eq!(p.attempts, 2);
        let left: Vec<i64> = s
            .history(Some("a"), 10)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(left, vec![ids[2]]);
    }

    #[test]
    fn recorded_text_is_bounded_and_escaped_and_still_coalesces() {
        let (_d, s) = store();
        let hostile = format!("name\n\x1b[2J{}", "x".repeat(1 << 20));
        assert_eq!(
            s.record_event("a", "refused", &hostile, 100).unwrap(),
            Recorded::New
        );
        assert_eq!(
            s.record_event("a", "refused", &hostile, 101).unwrap(),
            Recorded::Repeated { count: 2 }
        );
        let stored = &s.events(Some("a"), 10).unwrap()[0].message;
        assert!(
            stored.len() <= crate::store::MAX_TEXT + 64,
            "{}",
            stored.len()
        );
        assert!(!stored.contains('\x1b') && !stored.contains('\n'));
    }
}
