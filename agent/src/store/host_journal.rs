//! The host payload journal: one row per host transaction, committed before the first file is
//! renamed, so a restart knows which files to roll back.

use super::{now, Store, StoreError};
use rusqlite::params;
use serde::Serialize;

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

impl Store {
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
