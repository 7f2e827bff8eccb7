//! Reading rows of the PostgreSQL store: column lists and row decoders.

use super::{DeviceRow, StoredEvent};
use crate::model::{DeviceReport, EventReport, SyncHealth, SyncReport};
use tokio_postgres::Row;

pub(super) fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|x| x as i64)
}

pub(super) const DEVICE_COLUMNS: &str = "id, labels, agent_version, uptime_seconds, interval_seconds, reported_time, outbox_dropped, first_seen, last_seen";
pub(super) const SYNC_COLUMNS: &str = "device, name, revision, highest_verified, health, last_error, last_success, drift_corrections, source_reachable, source_unreachable_since, waiting";
pub(super) const EVENT_COLUMNS: &str = "device, sync, kind, message, reported_time, received";

pub(super) fn device_row(row: &Row) -> DeviceRow {
    let labels: String = row.get(1);
    DeviceRow {
        report: DeviceReport {
            id: row.get(0),
            labels: serde_json::from_str(&labels).unwrap_or_default(),
            agent_version: row.get(2),
            uptime_seconds: row.get::<_, i64>(3) as u64,
            interval_seconds: row.get::<_, Option<i64>>(4).map(|x| x as u64),
            reported_time: row.get(5),
            outbox_dropped: row.get::<_, i64>(6) as u64,
            syncs: Vec::new(),
            site: None,
        },
        first_seen: row.get(7),
        last_seen: row.get(8),
    }
}

/// The site columns ([`super::site_rows::COLUMNS`]) starting at column `b`.
pub(super) fn site_at(row: &Row, b: usize) -> Option<Box<crate::site::model::SiteMembership>> {
    super::site_rows::Columns {
        site: row.get(b),
        leading: row.get(b + 1),
        leads: row.get(b + 2),
        lease: row.get(b + 3),
        leader: row.get(b + 4),
        host_rollout: row.get(b + 5),
    }
    .decode()
}

pub(super) fn sync_row(row: &Row) -> (String, SyncReport) {
    sync_at(row, 0)
}

pub(super) fn sync_at(row: &Row, b: usize) -> (String, SyncReport) {
    let health: String = row.get(b + 4);
    (
        row.get(b),
        SyncReport {
            name: row.get(b + 1),
            revision: row.get::<_, Option<i64>>(b + 2).map(|x| x as u64),
            highest_verified: row.get::<_, Option<i64>>(b + 3).map(|x| x as u64),
            health: SyncHealth::parse(&health).unwrap_or(SyncHealth::NeverSynced),
            last_error: row.get(b + 5),
            last_success: row.get(b + 6),
            drift_corrections: row.get::<_, i64>(b + 7) as u64,
            source_reachable: row.get(b + 8),
            source_unreachable_since: row.get(b + 9),
            waiting: row.get(b + 10),
        },
    )
}

pub(super) fn event_row(row: &Row) -> StoredEvent {
    StoredEvent {
        event: EventReport {
            device: row.get(0),
            sync: row.get(1),
            kind: row.get(2),
            message: row.get(3),
            reported_time: row.get(4),
        },
        received: row.get(5),
    }
}
