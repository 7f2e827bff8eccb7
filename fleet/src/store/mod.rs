//! The store interface: one small trait the receiver is generic over, with an embedded SQLite
//! store (WAL, one writer thread, grouped commits) and a PostgreSQL store. Both keep the latest
//! report per device and sync, health changes and events (with retention). What counts as a
//! change is decided here once ([`changes_between`]), so both stores record the same history.

mod pg_batch;
mod pg_rows;
pub mod postgres;
pub mod schema;
pub mod site_rows;
pub mod sqlite;
mod sqlite_rows;

use crate::model::{DeviceReport, EventReport, SyncHealth};
use serde::Serialize;
use std::future::Future;
use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The database will never take this record (a data or constraint error on its own
    /// transaction): the sender should drop it, not retry (422).
    #[error("record refused by the database: {0}")]
    Refused(String),
    #[error("sqlite {path}: {reason}")]
    Sqlite { path: String, reason: String },
    #[error("postgres: {0}")]
    Postgres(String),
    #[error("store writer stopped")]
    WriterGone,
    #[error("stored row unreadable: {0}")]
    Corrupt(String),
}

/// One thing to keep, with the server's receive time (unix seconds).
#[derive(Debug, Clone)]
pub enum Record {
    Heartbeat { report: DeviceReport, received: i64 },
    Event { event: EventReport, received: i64 },
}

/// A device's latest report and when the server last heard from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRow {
    #[serde(flatten)]
    pub report: DeviceReport,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// An event as kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    #[serde(flatten)]
    pub event: EventReport,
    pub received: i64,
}

/// What changed on a sync between two heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ChangeKind {
    /// Health moved (from is `None` for a sync seen the first time).
    Health {
        from: Option<SyncHealth>,
        to: SyncHealth,
    },
    /// The applied revision moved.
    Revision { from: Option<u64>, to: Option<u64> },
}

/// A recorded change of one sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub device: String,
    pub sync: String,
    pub time: i64,
    #[serde(flatten)]
    pub change: ChangeKind,
}

/// Changes between the stored and the new report of one sync (pure).
pub fn changes_between(
    old: Option<(SyncHealth, Option<u64>)>,
    new: (SyncHealth, Option<u64>),
) -> Vec<ChangeKind> {
    let mut out = Vec::new();
    match old {
        None => out.push(ChangeKind::Health {
            from: None,
            to: new.0,
        }),
        Some((h, rev)) => {
            if h != new.0 {
                out.push(ChangeKind::Health {
                    from: Some(h),
                    to: new.0,
                });
            }
            if rev != new.1 {
                out.push(ChangeKind::Revision {
                    from: rev,
                    to: new.1,
                });
            }
        }
    }
    out
}

/// Everything one device page shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDetail {
    pub device: DeviceRow,
    pub changes: Vec<Change>,
    pub events: Vec<StoredEvent>,
}

/// The storage interface of the receiver.
pub trait Store: Send + Sync + 'static {
    /// Keeps the records; resolves only once they are committed (durable).
    fn write(&self, records: Vec<Record>) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every device with its syncs (the status views are computed from this).
    fn devices(&self) -> impl Future<Output = Result<Vec<DeviceRow>, StoreError>> + Send;
    /// One device with its newest changes and events.
    fn device(
        &self,
        id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Option<DeviceDetail>, StoreError>> + Send;
    /// The newest events of the given kinds, across the fleet.
    fn recent_events(
        &self,
        kinds: &[&str],
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;
    /// Devices written after `seq` (at most `limit`, oldest write first), each with the `seq`
    /// of its last write: how a receiver loads its aggregates at start and follows what other
    /// receivers sharing the database wrote.
    fn changed_since(
        &self,
        seq: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(i64, DeviceRow)>, StoreError>> + Send;
    /// Drops events and changes received before `before`; returns how many rows went.
    fn prune(&self, before: i64) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Commits a group of requests together; when the group fails, commits each request on its
/// own, so a record the database refuses fails only its own request, never another device's
/// (a request that fails alone with a data error gets [`StoreError::Refused`]: permanent).
pub(crate) fn commit_isolated<R>(
    requests: Vec<(Vec<Record>, R)>,
    mut commit: impl FnMut(Vec<&Record>) -> Result<(), StoreError>,
) -> Vec<(R, Result<(), StoreError>)> {
    let group = commit(requests.iter().flat_map(|(r, _)| r.iter()).collect());
    if group.is_ok() || requests.len() == 1 {
        return requests
            .into_iter()
            .map(|(_, r)| (r, group.clone()))
            .collect();
    }
    requests
        .into_iter()
        .map(|(records, reply)| {
            let alone = commit(records.iter().collect());
            (reply, alone)
        })
        .collect()
}

/// Health and revision columns as stored.
pub(crate) fn change_columns(c: &ChangeKind) -> (&'static str, Option<String>, Option<String>) {
    match c {
        ChangeKind::Health { from, to } => (
            "health",
            from.map(|h| h.as_str().to_string()),
            Some(to.as_str().to_string()),
        ),
        ChangeKind::Revision { from, to } => (
            "revision",
            from.map(|r| r.to_string()),
            to.map(|r| r.to_string()),
        ),
    }
}

/// The inverse of [`change_columns`].
pub(crate) fn change_from_columns(
    kind: &str,
    from: Option<String>,
    to: Option<String>,
) -> Result<ChangeKind, StoreError> {
    let bad = || StoreError::Corrupt(format!("change {kind} {from:?} -> {to:?}"));
    match kind {
        "health" => Ok(ChangeKind::Health {
            from: match &from {
                Some(f) => Some(SyncHealth::parse(f).ok_or_else(bad)?),
                None => None,
            },
            to: SyncHealth::parse(to.as_deref().ok_or_else(bad)?).ok_or_else(bad)?,
        }),
        "revision" => {
            let num = |v: &Option<String>| -> Result<Option<u64>, StoreError> {
                v.as_deref()
                    .map(|s| s.parse().map_err(|_| bad()))
                    .transpose()
            };
            Ok(ChangeKind::Revision {
                from: num(&from)?,
                to: num(&to)?,
            })
        }
        _ => Err(bad()),
    }
}

/// Puts `(device, sync)` rows (sorted by device) under their devices (sorted by id).
pub(crate) fn attach_syncs(
    devices: &mut [DeviceRow],
    syncs: Vec<(String, crate::model::SyncReport)>,
) {
    let mut by_id: std::collections::HashMap<String, usize> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.report.id.clone(), i))
        .collect();
    for (device, sync) in syncs {
        if let Some(i) = by_id.get_mut(&device) {
            devices[*i].report.syncs.push(sync);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sight_then_only_moves() {
        assert_eq!(
            changes_between(None, (SyncHealth::Healthy, Some(1))),
            vec![ChangeKind::Health {
                from: None,
                to: SyncHealth::Healthy
            }]
        );
        assert!(changes_between(
            Some((SyncHealth::Healthy, Some(1))),
            (SyncHealth::Healthy, Some(1))
        )
        .is_empty());
        assert_eq!(
            changes_between(
                Some((SyncHealth::Healthy, Some(1))),
                (SyncHealth::Failed, Some(1))
            ),
            vec![ChangeKind::Health {
                from: Some(SyncHealth::Healthy),
                to: SyncHealth::Failed
            }]
        );
        for c in [
            ChangeKind::Revision {
                from: None,
                to: Some(4),
            },
            ChangeKind::Health {
                from: Some(SyncHealth::Waiting),
                to: SyncHealth::Healthy,
            },
        ] {
            let (k, f, t) = change_columns(&c);
            assert_eq!(change_from_columns(k, f, t).unwrap(), c);
        }
    }
}
