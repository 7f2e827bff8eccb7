//! The receiver's aggregates behind a lock: updated by each committed heartbeat, loaded from
//! the store at start, and (with several receivers on one database) brought up to date with
//! the others' writes by following the store's write order (`seq`).

use super::Fleet;
use crate::model::DeviceReport;
use crate::status::{DeviceStatus, Staleness};
use crate::store::{DeviceRow, Store, StoreError};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Devices read from the store per round trip.
pub const PAGE: usize = 5000;

pub struct Live {
    fleet: Mutex<Fleet>,
    /// The highest `seq` read from the store.
    cursor: AtomicI64,
}

/// Whether a heartbeat reports a failed or rolled-back sync (the history's failures).
fn failing(r: &DeviceReport) -> bool {
    r.syncs.iter().any(|s| {
        matches!(
            DeviceStatus::of_sync(s),
            DeviceStatus::Failed | DeviceStatus::RolledBack
        )
    })
}

impl Live {
    pub fn new(staleness: Staleness) -> Self {
        Live {
            fleet: Mutex::new(Fleet::new(staleness)),
            cursor: AtomicI64::new(-1),
        }
    }

    /// Runs `f` on the aggregates (a poisoned lock is taken over: the aggregates are updated
    /// by whole-device steps that do not panic halfway).
    pub fn with<T>(&self, f: impl FnOnce(&mut Fleet) -> T) -> T {
        let mut g = self.fleet.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// A heartbeat this receiver committed.
    pub fn ingested(&self, report: DeviceReport, received: i64, now: i64) {
        let failing = failing(&report);
        let row = DeviceRow {
            report,
            first_seen: received,
            last_seen: received,
        };
        self.with(|f| {
            f.upsert(row, now);
            f.history.record(failing);
        });
    }

    /// Reads every device written after the cursor (all of them at start) and takes the newer
    /// ones; `count` records them as heartbeats (another receiver's). Returns devices taken.
    pub async fn catch_up<S: Store>(
        &self,
        store: &S,
        now: impl Fn() -> i64,
        count: bool,
    ) -> Result<usize, StoreError> {
        let mut taken = 0;
        loop {
            let rows = store
                .changed_since(self.cursor.load(Ordering::Acquire), PAGE)
                .await?;
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            let n = rows.len();
            let now = now();
            self.with(|f| {
                for (_, row) in rows {
                    let failing = failing(&row.report);
                    if f.upsert(row, now) {
                        taken += 1;
                        if count {
                            f.history.record(failing);
                        }
                    }
                }
            });
            self.cursor.fetch_max(last, Ordering::AcqRel);
            if n < PAGE {
                break;
            }
        }
        Ok(taken)
    }
}
