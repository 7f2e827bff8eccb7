//! What the store knows about each sync: suspension, the highest verified revision, the good
//! revision, the last error, the source cursor and reachability, and a wave being waited for.

use super::{kept, now, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// The last good (applied and healthy) revision of a sync, as the attempt that applied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoodAttempt {
    /// The attempt's id in history (its inventory is what is known to be applied).
    pub attempt: i64,
    pub revision: u64,
    /// The digest of the revision's manifest.
    pub digest: String,
}

/// What the store knows about one sync.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncState {
    pub suspended: bool,
    /// Highest revision that passed verification (anything lower is a rollback attack).
    pub highest_revision: Option<u64>,
    /// The last good (applied and healthy) revision.
    pub good: Option<GoodAttempt>,
    pub last_error: Option<String>,
    pub cursor: Option<String>,
    pub source_unreachable_since: Option<i64>,
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    pub waiting: Option<String>,
}

impl Store {
    pub(super) fn ensure_sync(c: &Connection, sync: &str) -> Result<(), StoreError> {
        c.execute("INSERT OR IGNORE INTO syncs(name) VALUES (?1)", [sync])?;
        Ok(())
    }

    pub fn sync_state(&self, sync: &str) -> Result<SyncState, StoreError> {
        let c = self.conn();
        let row = c
            .query_row(
                "SELECT suspended, highest_revision, good_attempt, last_error, cursor, unreachable_since, last_attempt, last_success, waiting FROM syncs WHERE name=?1",
                [sync],
                |r| {
                    Ok((
                        r.get::<_, bool>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                },
            )
            .optional()?;
        let Some((
            suspended,
            highest,
            good_attempt,
            last_error,
            cursor,
            unreachable,
            last_attempt,
            last_success,
            waiting,
        )) = row
        else {
            return Ok(SyncState::default());
        };
        let good = match good_attempt {
            Some(id) => c
                .query_row(
                    "SELECT id, revision, digest FROM revisions WHERE id=?1",
                    [id],
                    |r| {
                        Ok(GoodAttempt {
                            attempt: r.get(0)?,
                            revision: r.get::<_, i64>(1)? as u64,
                            digest: r.get(2)?,
                        })
                    },
                )
                .optional()?,
            None => None,
        };
        Ok(SyncState {
            suspended,
            highest_revision: highest.map(|h| h as u64),
            good,
            last_error,
            cursor,
            source_unreachable_since: unreachable,
            last_attempt,
            last_success,
            waiting,
        })
    }

    /// Every sync the store has seen.
    pub fn sync_names(&self) -> Result<Vec<String>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT name FROM syncs ORDER BY name")?;
        let names = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(names)
    }

    pub fn set_suspended(&self, sync: &str, suspended: bool) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute(
            "UPDATE syncs SET suspended=?2 WHERE name=?1",
            params![sync, suspended],
        )?;
        Ok(())
    }

    pub fn set_cursor(&self, sync: &str, cursor: Option<&str>) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute(
            "UPDATE syncs SET cursor=?2 WHERE name=?1",
            params![sync, cursor],
        )?;
        Ok(())
    }

    /// Records whether the source answered; keeps the first failure time while it stays down.
    pub fn set_source_reachable(&self, sync: &str, reachable: bool) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        if reachable {
            c.execute(
                "UPDATE syncs SET unreachable_since=NULL WHERE name=?1",
                [sync],
            )?;
        } else {
            c.execute(
                "UPDATE syncs SET unreachable_since=COALESCE(unreachable_since, ?2) WHERE name=?1",
                params![sync, now()],
            )?;
        }
        Ok(())
    }

    pub fn set_error(&self, sync: &str, error: Option<&str>) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute(
            "UPDATE syncs SET last_error=?2 WHERE name=?1",
            params![sync, error.map(kept)],
        )?;
        Ok(())
    }

    pub fn set_waiting(&self, sync: &str, waiting: Option<&str>) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute(
            "UPDATE syncs SET waiting=?2 WHERE name=?1",
            params![sync, waiting.map(kept)],
        )?;
        Ok(())
    }

    /// Raises the highest verified revision (never lowers it).
    pub fn raise_highest(&self, sync: &str, revision: u64) -> Result<(), StoreError> {
        let c = self.conn();
        Self::ensure_sync(&c, sync)?;
        c.execute("UPDATE syncs SET highest_revision=MAX(COALESCE(highest_revision, 0), ?2) WHERE name=?1", params![sync, revision as i64])?;
        Ok(())
    }
}
