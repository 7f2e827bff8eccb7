//! Reading rows of the SQLite store: column lists and row decoders, every device with its
//! syncs, and the devices written after a `seq`.

use super::{DeviceRow, StoreError, StoredEvent};
use crate::model::{DeviceReport, EventReport, SyncHealth, SyncReport};
use rusqlite::{params, Connection};
use std::path::Path;

pub(super) const DEVICE_COLUMNS: &str = "id, labels, agent_version, uptime_seconds, interval_seconds, reported_time, outbox_dropped, first_seen, last_seen";
pub(super) const SYNC_COLUMNS: &str = "device, name, revision, highest_verified, health, last_error, last_success, drift_corrections, source_reachable, source_unreachable_since, waiting";

pub(super) fn device_row(row: &rusqlite::Row) -> rusqlite::Result<DeviceRow> {
    let labels: String = row.get(1)?;
    Ok(DeviceRow {
        report: DeviceReport {
            id: row.get(0)?,
            labels: serde_json::from_str(&labels).unwrap_or_default(),
            agent_version: row.get(2)?,
            uptime_seconds: row.get::<_, i64>(3)? as u64,
            interval_seconds: row.get::<_, Option<i64>>(4)?.map(|x| x as u64),
            reported_time: row.get(5)?,
            outbox_dropped: row.get::<_, i64>(6)? as u64,
            syncs: Vec::new(),
            site: None,
        },
        first_seen: row.get(7)?,
        last_seen: row.get(8)?,
    })
}

/// The site columns ([`super::site_rows::COLUMNS`]) starting at column `b`.
pub(super) fn site_at(
    row: &rusqlite::Row,
    b: usize,
) -> rusqlite::Result<Option<Box<crate::site::model::SiteMembership>>> {
    Ok(super::site_rows::Columns {
        site: row.get(b)?,
        leading: row.get(b + 1)?,
        leads: row.get(b + 2)?,
        lease: row.get(b + 3)?,
        leader: row.get(b + 4)?,
        host_rollout: row.get(b + 5)?,
    }
    .decode())
}

pub(super) fn sync_row(row: &rusqlite::Row) -> rusqlite::Result<(String, SyncReport)> {
    sync_at(row, 0)
}

pub(super) fn err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Sqlite {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The sync columns starting at column `b`.
pub(super) fn sync_at(row: &rusqlite::Row, b: usize) -> rusqlite::Result<(String, SyncReport)> {
    let health: String = row.get(b + 4)?;
    Ok((
        row.get(b)?,
        SyncReport {
            name: row.get(b + 1)?,
            revision: row.get::<_, Option<i64>>(b + 2)?.map(|x| x as u64),
            highest_verified: row.get::<_, Option<i64>>(b + 3)?.map(|x| x as u64),
            health: SyncHealth::parse(&health).unwrap_or(SyncHealth::NeverSynced),
            last_error: row.get(b + 5)?,
            last_success: row.get(b + 6)?,
            drift_corrections: row.get::<_, i64>(b + 7)? as u64,
            source_reachable: row.get(b + 8)?,
            source_unreachable_since: row.get(b + 9)?,
            waiting: row.get(b + 10)?,
        },
    ))
}

pub(super) fn changed_since(
    c: &Connection,
    path: &Path,
    seq: i64,
    limit: usize,
) -> Result<Vec<(i64, DeviceRow)>, StoreError> {
    let mut q = c
        .prepare_cached(&super::schema::changed_since("?1", "?2"))
        .map_err(err(path))?;
    let mut rows = q.query(params![seq, limit as i64]).map_err(err(path))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(err(path))? {
        let has_sync = r.get::<_, Option<String>>(11).map_err(err(path))?.is_some();
        let sync = if has_sync {
            Some(sync_at(r, 10).map_err(err(path))?.1)
        } else {
            None
        };
        let mut device = device_row(r).map_err(err(path))?;
        device.report.site = site_at(r, 21).map_err(err(path))?;
        super::schema::fold_changed(&mut out, r.get(9).map_err(err(path))?, || device, sync);
    }
    Ok(out)
}

pub(super) fn event_row(row: &rusqlite::Row) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        event: EventReport {
            device: row.get(0)?,
            sync: row.get(1)?,
            kind: row.get(2)?,
            message: row.get(3)?,
            reported_time: row.get(4)?,
        },
        received: row.get(5)?,
    })
}

pub(super) const EVENT_COLUMNS: &str = "device, sync, kind, message, reported_time, received";

pub(super) fn all_devices(c: &Connection, path: &Path) -> Result<Vec<DeviceRow>, StoreError> {
    let e = err(path);
    let mut q = c
        .prepare(&format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id"))
        .map_err(&e)?;
    let mut devices: Vec<DeviceRow> = q
        .query_map([], device_row)
        .map_err(&e)?
        .collect::<Result<_, _>>()
        .map_err(&e)?;
    let mut q = c
        .prepare(&format!(
            "SELECT {SYNC_COLUMNS} FROM syncs ORDER BY device, name"
        ))
        .map_err(&e)?;
    let syncs: Vec<(String, SyncReport)> = q
        .query_map([], sync_row)
        .map_err(&e)?
        .collect::<Result<_, _>>()
        .map_err(&e)?;
    super::attach_syncs(&mut devices, syncs);
    let mut q = c.prepare(super::site_rows::ALL).map_err(&e)?;
    let sites: Vec<(String, Box<crate::site::model::SiteMembership>)> = q
        .query_map([], |r| Ok((r.get::<_, String>(0)?, site_at(r, 1)?)))
        .map_err(&e)?
        .filter_map(|r| match r {
            Ok((d, Some(s))) => Some(Ok((d, s))),
            Ok(_) => None,
            Err(x) => Some(Err(x)),
        })
        .collect::<Result<_, _>>()
        .map_err(&e)?;
    super::site_rows::attach(&mut devices, sites);
    Ok(devices)
}
