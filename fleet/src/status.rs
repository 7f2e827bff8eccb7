//! Device status (pure): what a device is, seen from the receiver. Stale and offline come from
//! the time since the last heartbeat measured against the device's own heartbeat interval, and
//! override whatever the last heartbeat said: a device that stopped reporting is never shown
//! as healthy. A sync's own state is more than the agent's health word: a device running an
//! older revision than one it verified, with an error, has **rolled back**; one without an
//! error is **progressing** (it applies at its next pass).

use crate::model::{SyncHealth, SyncReport};
use crate::store::DeviceRow;
use serde::{Deserialize, Serialize};

/// What a device is, worst first (tiles are shown in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceStatus {
    Offline,
    Stale,
    Failed,
    RolledBack,
    Degraded,
    Progressing,
    Waiting,
    Suspended,
    NeverSynced,
    Healthy,
}

impl DeviceStatus {
    pub const ALL: [DeviceStatus; 10] = [
        DeviceStatus::Offline,
        DeviceStatus::Stale,
        DeviceStatus::Failed,
        DeviceStatus::RolledBack,
        DeviceStatus::Degraded,
        DeviceStatus::Progressing,
        DeviceStatus::Waiting,
        DeviceStatus::Suspended,
        DeviceStatus::NeverSynced,
        DeviceStatus::Healthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Offline => "offline",
            DeviceStatus::Stale => "stale",
            DeviceStatus::Failed => "failed",
            DeviceStatus::RolledBack => "rolled-back",
            DeviceStatus::Degraded => "degraded",
            DeviceStatus::Progressing => "progressing",
            DeviceStatus::Waiting => "waiting",
            DeviceStatus::Suspended => "suspended",
            DeviceStatus::NeverSynced => "never-synced",
            DeviceStatus::Healthy => "healthy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// A sync's state from its report.
    pub fn of_sync(s: &SyncReport) -> Self {
        let behind = s.highest_verified.is_some() && s.revision < s.highest_verified;
        match s.health {
            SyncHealth::Failed => DeviceStatus::Failed,
            // The agent re-applied its last good revision after a newer one failed.
            SyncHealth::Degraded if behind && s.revision.is_some() => DeviceStatus::RolledBack,
            SyncHealth::Degraded => DeviceStatus::Degraded,
            SyncHealth::Healthy | SyncHealth::NeverSynced
                if behind && s.last_error.is_none() && s.waiting.is_none() =>
            {
                DeviceStatus::Progressing
            }
            SyncHealth::Waiting => DeviceStatus::Waiting,
            SyncHealth::Suspended => DeviceStatus::Suspended,
            SyncHealth::NeverSynced => DeviceStatus::NeverSynced,
            SyncHealth::Healthy => DeviceStatus::Healthy,
        }
    }
}

/// When a silent device turns stale and offline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Staleness {
    /// Interval assumed for agents that do not send `intervalSeconds` (seconds).
    #[serde(default = "default_interval")]
    pub default_interval: u64,
    /// Stale after this many missed intervals (plus `grace`).
    #[serde(default = "default_stale")]
    pub stale_after: u64,
    /// Offline after this many missed intervals (plus `grace`).
    #[serde(default = "default_offline")]
    pub offline_after: u64,
    /// Seconds added for delivery delay and clock jitter.
    #[serde(default = "default_grace")]
    pub grace: u64,
}

fn default_interval() -> u64 {
    300
}
fn default_stale() -> u64 {
    2
}
fn default_offline() -> u64 {
    6
}
fn default_grace() -> u64 {
    30
}

impl Default for Staleness {
    fn default() -> Self {
        Staleness {
            default_interval: default_interval(),
            stale_after: default_stale(),
            offline_after: default_offline(),
            grace: default_grace(),
        }
    }
}

impl Staleness {
    /// The interval the device reports at (at most a day, whatever is stored).
    pub fn interval(&self, d: &DeviceRow) -> u64 {
        d.report
            .interval_seconds
            .unwrap_or(self.default_interval)
            .clamp(1, crate::model::MAX_INTERVAL)
    }

    /// The device's status at `now` (unix seconds).
    pub fn status(&self, d: &DeviceRow, now: i64) -> DeviceStatus {
        let silent = now.saturating_sub(d.last_seen).max(0) as u64;
        let interval = self.interval(d);
        let limit = |n: u64| interval.saturating_mul(n).saturating_add(self.grace);
        if silent > limit(self.offline_after) {
            return DeviceStatus::Offline;
        }
        if silent > limit(self.stale_after) {
            return DeviceStatus::Stale;
        }
        d.report
            .syncs
            .iter()
            .map(DeviceStatus::of_sync)
            .min()
            .unwrap_or(DeviceStatus::NeverSynced)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::DeviceReport;

    pub fn row(id: &str, health: SyncHealth, interval: Option<u64>, last_seen: i64) -> DeviceRow {
        DeviceRow {
            report: DeviceReport {
                id: id.into(),
                labels: Default::default(),
                agent_version: "0.1.0".into(),
                uptime_seconds: 1,
                interval_seconds: interval,
                reported_time: String::new(),
                outbox_dropped: 0,
                syncs: vec![SyncReport {
                    name: "apps".into(),
                    revision: Some(1),
                    highest_verified: Some(1),
                    health,
                    last_error: None,
                    last_success: None,
                    drift_corrections: 0,
                    source_reachable: true,
                    source_unreachable_since: None,
                    waiting: None,
                }],
                site: None,
            },
            first_seen: 0,
            last_seen,
        }
    }

    #[test]
    fn silence_overrides_health_by_own_interval() {
        let s = Staleness::default();
        let fast = row("a", SyncHealth::Healthy, Some(60), 1000);
        assert_eq!(s.status(&fast, 1000 + 150), DeviceStatus::Healthy);
        assert_eq!(s.status(&fast, 1000 + 151), DeviceStatus::Stale);
        assert_eq!(s.status(&fast, 1000 + 391), DeviceStatus::Offline);
        // A device reporting hourly is not stale after 10 minutes.
        let slow = row("b", SyncHealth::Healthy, Some(3600), 1000);
        assert_eq!(s.status(&slow, 1000 + 600), DeviceStatus::Healthy);
        // Without an interval the server default (5m) applies.
        let old = row("c", SyncHealth::Failed, None, 1000);
        assert_eq!(s.status(&old, 1000 + 600), DeviceStatus::Failed);
        assert_eq!(s.status(&old, 1000 + 631), DeviceStatus::Stale);
        // Behind the verified revision: rolled back with an error, progressing without.
        let mut back = row("e", SyncHealth::Degraded, Some(60), 1000);
        back.report.syncs[0].highest_verified = Some(2);
        back.report.syncs[0].last_error = Some("revision 2 failed".into());
        assert_eq!(s.status(&back, 1000), DeviceStatus::RolledBack);
        back.report.syncs[0].highest_verified = Some(1);
        assert_eq!(
            s.status(&back, 1000),
            DeviceStatus::Degraded,
            "e.g. source unreachable"
        );
        let mut next = row("f", SyncHealth::Healthy, Some(60), 1000);
        next.report.syncs[0].highest_verified = Some(2);
        assert_eq!(s.status(&next, 1000), DeviceStatus::Progressing);
        // Whatever a row holds, no overflow and no device that never goes stale.
        let liar = row("d", SyncHealth::Healthy, Some(u64::MAX), 1000);
        assert_eq!(s.status(&liar, 1000 + 31), DeviceStatus::Healthy);
        assert_eq!(
            s.status(&liar, 1000 + 6 * 86_400 + 31),
            DeviceStatus::Offline
        );
    }
}
