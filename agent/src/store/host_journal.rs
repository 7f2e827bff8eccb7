//! The host payload journal: one row per host transaction, committed before the first file is
//! renamed, so a restart knows which files to roll back; and the hold on a host update that
//! failed (kept in the key-value table as JSON, one per sync, so it needs no schema step).

use super::{now, Store, StoreError};
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// The state of a host transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostState {
    /// Files are being renamed into place.
    Installing,
    /// Units are restarting and being checked.
    Checking,
    /// The agent replaced itself and waits for the new binary to confirm.
    SelfPending,
    Done,
    /// The health check failed and the previous files are back.
    RolledBack,
    /// The agent stopped during the transaction; the previous files were put back at start.
    Interrupted,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Installing => "installing",
            HostState::Checking => "checking",
            HostState::SelfPending => "self-pending",
            HostState::Done => "done",
            HostState::RolledBack => "rolled-back",
            HostState::Interrupted => "interrupted",
        }
    }
    fn parse(s: &str) -> Option<HostState> {
        [
            HostState::Installing,
            HostState::Checking,
            HostState::SelfPending,
            HostState::Done,
            HostState::RolledBack,
            HostState::Interrupted,
        ]
        .into_iter()
        .find(|h| h.as_str() == s)
    }
}

/// One journal row.
#[derive(Debug, Clone, Serialize)]
pub struct HostRecord {
    pub id: i64,
    pub sync: String,
    pub revision: u64,
    pub state: HostState,
    /// The plan as JSON (installs with their previous digests, units).
    pub plan: String,
    pub error: Option<String>,
}

/// A host update that failed and was rolled back: its revision's host section is not installed
/// again before `until` (seconds since the epoch) unless a newer revision arrives or an operator
/// runs `ferry-agent retry` (see `host::backoff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostHold {
    pub revision: u64,
    /// The sha256 of the host section that failed.
    pub digest: String,
    /// Consecutive failures of this revision's host section.
    pub failures: u32,
    pub until: i64,
    pub error: String,
}

fn hold_key(sync: &str) -> String {
    format!("host-hold:{sync}")
}

impl Store {
    /// The host update held back for `sync`, if any.
    pub fn host_hold(&self, sync: &str) -> Result<Option<HostHold>, StoreError> {
        self.kv_get(&hold_key(sync))?
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("host hold of {sync}: {e}")))
            })
            .transpose()
    }

    /// Holds a failed host update back (replacing any earlier hold of `sync`).
    pub fn set_host_hold(&self, sync: &str, hold: &HostHold) -> Result<(), StoreError> {
        let json = serde_json::to_string(hold).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.kv_set(&hold_key(sync), &json)
    }

    /// Lifts the hold (`ferry-agent retry`, or the host section applied); the hold there was.
    pub fn release_host_hold(&self, sync: &str) -> Result<Option<HostHold>, StoreError> {
        let held = self.host_hold(sync)?;
        if held.is_some() {
            self.conn()
                .execute("DELETE FROM kv WHERE key=?1", [hold_key(sync)])?;
        }
        Ok(held)
    }

    /// Records a host transaction before its first rename; returns its id.
    pub fn host_begin(&self, sync: &str, revision: u64, plan: &str) -> Result<i64, StoreError> {
        let c = self.conn();
        c.execute(
            "INSERT INTO host_journal(sync, revision, state, plan, started) VALUES (?1, ?2, 'installing', ?3, ?4)",
            params![sync, revision as i64, plan, now()],
        )?;
        Ok(c.last_insert_rowid())
    }

    /// Moves a host transaction to `state` (with an error text for failures).
    pub fn host_set_state(
        &self,
        id: i64,
        state: HostState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let finished = matches!(
            state,
            HostState::Done | HostState::RolledBack | HostState::Interrupted
        )
        .then(now);
        self.conn().execute(
            "UPDATE host_journal SET state=?2, error=?3, finished=?4 WHERE id=?1",
            params![id, state.as_str(), error, finished],
        )?;
        Ok(())
    }

    /// Host transactions, newest first; only those in `states` when given.
    pub fn host_records(&self, states: &[HostState]) -> Result<Vec<HostRecord>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, sync, revision, state, plan, error FROM host_journal ORDER BY id DESC LIMIT 200",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sync, revision, state, plan, error) = row?;
            let state = HostState::parse(&state).ok_or_else(|| {
                StoreError::Corrupt(format!("host_journal {id}: state {state:?}"))
            })?;
            if states.is_empty() || states.contains(&state) {
                out.push(HostRecord {
                    id,
                    sync,
                    revision: revision as u64,
                    state,
                    plan,
                    error,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_hold_is_kept_per_sync_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let hold = HostHold {
            revision: 3,
            digest: "d".into(),
            failures: 2,
            until: 500,
            error: "unhealthy".into(),
        };
        assert_eq!(store.host_hold("a").unwrap(), None);
        store.set_host_hold("a", &hold).unwrap();
        assert_eq!(store.host_hold("a").unwrap(), Some(hold.clone()));
        assert_eq!(store.host_hold("b").unwrap(), None);
        assert_eq!(store.release_host_hold("a").unwrap(), Some(hold));
        assert_eq!(store.host_hold("a").unwrap(), None);
        assert_eq!(store.release_host_hold("a").unwrap(), None);
    }
}
