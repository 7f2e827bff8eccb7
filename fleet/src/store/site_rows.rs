//! A device's site membership as both stores keep it: the `site_members` table (one row per
//! device that names a site; added by a migration, nothing else changes), its statements and
//! the columns' encoding (pure). `leads` and `host_rollout` are JSON written from checked
//! values; a row that does not read back is taken as no membership, not an error.

use crate::site::model::{HostRollout, SiteMembership};

/// The table and its index (each statement on its own; `holds_lease` typed per dialect).
pub fn migrations(boolean: &str) -> [String; 2] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS site_members(device TEXT PRIMARY KEY, site TEXT NOT NULL,
  holds_lease {boolean} NOT NULL, leads TEXT NOT NULL, lease TEXT, leader TEXT, host_rollout TEXT)"
        ),
        "CREATE INDEX IF NOT EXISTS site_members_site ON site_members(site)".into(),
    ]
}

/// The columns read after a device's (prefix `m.` when joined).
pub const COLUMNS: &str = "m.site, m.holds_lease, m.leads, m.lease, m.leader, m.host_rollout";
/// Every membership, by device.
pub const ALL: &str = "SELECT m.device, m.site, m.holds_lease, m.leads, m.lease, m.leader, m.host_rollout FROM site_members m";
/// One device's membership ($1 / ?1).
pub fn of_device(p1: &str) -> String {
    format!("SELECT {COLUMNS} FROM site_members m WHERE m.device = {p1}")
}
pub fn delete(p1: &str) -> String {
    format!("DELETE FROM site_members WHERE device={p1}")
}
pub fn insert(p: [&str; 7]) -> String {
    format!(
        "INSERT INTO site_members(device, site, holds_lease, leads, lease, leader, host_rollout) VALUES ({})",
        p.join(",")
    )
}

/// A PostgreSQL group's memberships replaced: the group's devices' rows deleted ($1: their
/// ids), then its rows inserted from arrays ([`super::pg_batch`]).
pub const PG_DELETE: &str = "DELETE FROM site_members WHERE device = ANY($1)";
pub const PG_INSERT: &str = "INSERT INTO site_members(device, site, holds_lease, leads, lease,
    leader, host_rollout)
  SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[],
    $6::text[], $7::text[])";

/// `leads` and `host_rollout` as stored.
pub fn encode(s: &SiteMembership) -> (String, Option<String>) {
    (
        serde_json::to_string(&s.leads).unwrap_or_else(|_| "[]".into()),
        s.host_rollout
            .as_ref()
            .and_then(|r| serde_json::to_string(r).ok()),
    )
}

/// The columns of [`COLUMNS`] as read (all None: the device names no site).
#[derive(Debug, Default)]
pub struct Columns {
    pub site: Option<String>,
    pub leading: Option<bool>,
    pub leads: Option<String>,
    pub lease: Option<String>,
    pub leader: Option<String>,
    pub host_rollout: Option<String>,
}

impl Columns {
    pub fn decode(self) -> Option<Box<SiteMembership>> {
        let rollout: Option<HostRollout> = self
            .host_rollout
            .and_then(|r| serde_json::from_str(&r).ok());
        Some(Box::new(SiteMembership {
            name: self.site?,
            lease: self.lease,
            leader: self.leader,
            leading: self.leading.unwrap_or(false),
            leads: self
                .leads
                .and_then(|l| serde_json::from_str(&l).ok())
                .unwrap_or_default(),
            host_rollout: rollout,
        }))
    }
}

/// Puts `(device, membership)` rows under their devices.
pub(crate) fn attach(devices: &mut [super::DeviceRow], rows: Vec<(String, Box<SiteMembership>)>) {
    let mut by_id: std::collections::HashMap<String, Box<SiteMembership>> =
        rows.into_iter().collect();
    for d in devices {
        d.report.site = by_id.remove(&d.report.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::model::RolloutState;

    #[test]
    fn a_membership_reads_back_and_a_bad_row_is_no_membership() {
        let s = SiteMembership {
            name: "line-3".into(),
            lease: Some("ferry-line-3".into()),
            leader: Some("n-1".into()),
            leading: true,
            leads: vec!["apps".into()],
            host_rollout: Some(HostRollout {
                step: crate::site::model::RolloutStep::Held,
                state: RolloutState::Stopped,
                sync: Some("apps".into()),
                revision: Some(3),
                node: Some("n-2".into()),
                reason: Some("not Ready".into()),
            }),
        };
        let (leads, rollout) = encode(&s);
        let back = Columns {
            site: Some(s.name.clone()),
            leading: Some(true),
            leads: Some(leads),
            lease: s.lease.clone(),
            leader: s.leader.clone(),
            host_rollout: rollout,
        };
        assert_eq!(back.decode(), Some(Box::new(s)));
        assert_eq!(Columns::default().decode(), None);
        let bad = Columns {
            site: Some("x".into()),
            leads: Some("{".into()),
            host_rollout: Some("7".into()),
            ..Columns::default()
        };
        let d = bad.decode().unwrap();
        assert!(d.leads.is_empty() && d.host_rollout.is_none());
    }
}
