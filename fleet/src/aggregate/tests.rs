//! The aggregates kept step by step must equal the ones computed from scratch, whatever the
//! order of heartbeats and clock moves (forward and back).

use super::sites::SiteQuery;
use super::*;
use crate::model::SyncHealth;
use crate::site::model::{HostRollout, RolloutState, SiteMembership};
use crate::site::summary::{Lead, StateKind};
use crate::status::tests::row;
use crate::table::DeviceQuery;

/// A small deterministic generator (no dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn random_row(g: &mut Lcg, now: i64) -> DeviceRow {
    let health = [
        SyncHealth::Healthy,
        SyncHealth::Failed,
        SyncHealth::Degraded,
        SyncHealth::Waiting,
        SyncHealth::NeverSynced,
    ][g.next(5) as usize];
    let mut r = row(&format!("d{}", g.next(40)), health, Some(60), now);
    let s = &mut r.report.syncs[0];
    s.revision = Some(g.next(4)).filter(|r| *r > 0);
    s.highest_verified = Some(g.next(5));
    if g.next(3) == 0 {
        s.last_error = Some(format!("revision {} failed", g.next(9)));
    }
    if g.next(4) == 0 {
        s.waiting = Some("waiting for wave".into());
    }
    s.source_reachable = g.next(5) != 0;
    if g.next(2) == 0 {
        let mut other = s.clone();
        other.name = format!("s{}", g.next(3));
        r.report.syncs.push(other);
    }
    r.report
        .labels
        .insert("site".into(), format!("site-{}", g.next(3)));
    r.report.outbox_dropped = g.next(3);
    if g.next(2) == 0 {
        let leading = g.next(3) == 0;
        r.report.site = Some(Box::new(SiteMembership {
            name: format!("line-{}", g.next(3)),
            lease: None,
            leader: Some(format!("d{}", g.next(40))),
            leading,
            leads: if leading {
                r.report.syncs.iter().map(|s| s.name.clone()).collect()
            } else {
                Vec::new()
            },
            host_rollout: (g.next(4) == 0).then(|| HostRollout {
                step: crate::site::model::RolloutStep::Waiting,
                sync: None,
                state: [
                    RolloutState::Done,
                    RolloutState::InProgress,
                    RolloutState::Stopped,
                ][g.next(3) as usize],
                revision: Some(g.next(3)),
                node: Some(format!("d{}", g.next(40))),
                reason: None,
            }),
        }));
    }
    r
}

#[test]
fn kept_step_by_step_equals_computed_from_scratch() {
    let mut g = Lcg(7);
    let mut fleet = Fleet::new(Staleness::default());
    let mut rows: HashMap<String, DeviceRow> = HashMap::new();
    let mut now = 10_000;
    for step in 0..3000 {
        match g.next(10) {
            0 => now += g.next(400) as i64,
            1 if step % 7 == 0 => now -= 10 + g.next(300) as i64,
            _ => {
                let r = random_row(&mut g, now);
                if fleet.upsert(r.clone(), now) {
                    rows.insert(r.report.id.clone(), r);
                }
            }
        }
        if step % 100 == 99 {
            let all: Vec<DeviceRow> = rows.values().cloned().collect();
            let mut fresh = Fleet::of(&all, now, Staleness::default());
            let json = |o: crate::views::Overview| {
                let mut v = serde_json::to_value(o).unwrap();
                v.as_object_mut().unwrap().remove("history");
                v
            };
            assert_eq!(
                json(fleet.overview(now, Vec::new())),
                json(fresh.overview(now, Vec::new())),
                "step {step}"
            );
            for q in [
                r#"{"status":"failed"}"#,
                r#"{"sync":"apps","revision":"2"}"#,
                r#"{"sync":"apps","state":"offline","sort":"last-seen","dir":"desc"}"#,
                r#"{"label":"site=site-1","sort":"revision"}"#,
                r#"{"sync":"apps","error":"revision # failed"}"#,
                r#"{"per_page":"7","page":"3"}"#,
                r#"{"site":"line-1","status":"healthy"}"#,
            ] {
                let q: DeviceQuery = serde_json::from_str(q).unwrap();
                let a = serde_json::to_value(fleet.device_page(&q, now)).unwrap();
                let b = serde_json::to_value(fresh.device_page(&q, now)).unwrap();
                assert_eq!(a, b, "step {step}: {q:?}");
            }
            for q in [
                r#"{}"#,
                r#"{"state":"conflict"}"#,
                r#"{"per_page":"1","page":"2"}"#,
            ] {
                let q: SiteQuery = serde_json::from_str(q).unwrap();
                let a = serde_json::to_value(fleet.sites_page(&q, now)).unwrap();
                let b = serde_json::to_value(fresh.sites_page(&q, now)).unwrap();
                assert_eq!(a, b, "step {step}: {q:?}");
            }
            for n in 0..3 {
                let name = format!("line-{n}");
                let a = serde_json::to_value(fleet.site_detail(&name, now)).unwrap();
                let b = serde_json::to_value(fresh.site_detail(&name, now)).unwrap();
                assert_eq!(a, b, "step {step}: {name}");
            }
        }
    }
}

#[test]
fn filters_drill_down_to_the_devices_behind_a_figure() {
    let f = crate::views::tests::fleet();
    let mut fleet = Fleet::of(&f, 1000, Staleness::default());
    let o = fleet.overview(1000, Vec::new());
    let group = &o.top_errors[0];
    assert_eq!(
        (group.devices, group.key.as_str()),
        (2, "revision # timed out after #s")
    );
    let q = DeviceQuery {
        sync: Some("apps".into()),
        error: Some(group.key.clone()),
        ..DeviceQuery::default()
    };
    let p = fleet.device_page(&q, 1000);
    let ids: Vec<&str> = p.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        ["d", "c"],
        "exactly the devices of the group, worst status first"
    );
    let by_label = DeviceQuery {
        label: Some("site=paris".into()),
        ..DeviceQuery::default()
    };
    assert_eq!(fleet.device_page(&by_label, 1000).total, 1);
    assert_eq!(o.labels.len(), 0, "one device with a label is no group");
    // Silence moves a device to stale, then offline, without a heartbeat.
    let mut quiet = Fleet::of(&f[..1], 1000, Staleness::default());
    assert_eq!(quiet.count(&Key::Status(DeviceStatus::Healthy)), 1);
    quiet.advance(1000 + 151);
    assert_eq!(quiet.count(&Key::Status(DeviceStatus::Stale)), 1);
    quiet.advance(1000 + 391);
    assert_eq!(quiet.count(&Key::Status(DeviceStatus::Offline)), 1);
    assert_eq!(
        quiet.count(&Key::State("apps".into(), DeviceStatus::Offline)),
        1
    );
    quiet.advance(1000 + 391 - JITTER);
    assert_eq!(
        quiet.count(&Key::Status(DeviceStatus::Offline)),
        1,
        "a race, not a move"
    );
    quiet.advance(1000);
    assert_eq!(
        quiet.count(&Key::Status(DeviceStatus::Healthy)),
        1,
        "clock back"
    );
}

#[test]
fn a_site_follows_its_nodes_heartbeats_and_silence() {
    let node = |id: &str, leading: bool, site: &str| {
        let mut r = row(id, SyncHealth::Healthy, Some(60), 1000);
        r.report.site = Some(Box::new(SiteMembership {
            name: site.into(),
            lease: None,
            leader: Some("n-1".into()),
            leading,
            leads: if leading {
                vec!["apps".into()]
            } else {
                Vec::new()
            },
            host_rollout: None,
        }));
        r
    };
    let rows = [
        node("n-1", true, "line-3"),
        node("n-2", false, "line-3"),
        node("n-3", false, "line-3"),
    ];
    let mut f = Fleet::of(&rows, 1000, Staleness::default());
    let p = f.sites_page(&SiteQuery::default(), 1000);
    assert_eq!(
        (p.sites, p.rows[0].nodes, p.rows[0].state.kind()),
        (1, 3, StateKind::Healthy)
    );
    let by_site = DeviceQuery {
        site: Some("line-3".into()),
        ..DeviceQuery::default()
    };
    assert_eq!(f.device_page(&by_site, 1000).total, 3);
    // The leader falls silent while the standbys report: leader missing, without a heartbeat
    // from the leader.
    let mut later = node("n-2", false, "line-3");
    later.last_seen = 1400;
    f.upsert(later, 1400);
    let mut later = node("n-3", false, "line-3");
    later.last_seen = 1400;
    f.upsert(later, 1400);
    let d = f.site_detail("line-3", 1400).unwrap();
    assert_eq!(d.summary.state.kind(), StateKind::LeaderMissing);
    assert_eq!(d.summary.syncs[0].lead, Lead::Missing);
    let q = SiteQuery {
        state: Some("leader-missing".into()),
        ..SiteQuery::default()
    };
    assert_eq!(f.sites_page(&q, 1400).total, 1);
    // A node moving to another site leaves this one; a site without nodes is gone.
    let mut moved = node("n-1", true, "line-4");
    moved.last_seen = 1400;
    f.upsert(moved, 1400);
    assert_eq!(f.site_detail("line-3", 1400).unwrap().summary.nodes, 2);
    assert_eq!(
        f.site_detail("line-4", 1400).unwrap().summary.state.kind(),
        StateKind::Healthy
    );
    f.forget("n-1");
    assert!(f.site_detail("line-4", 1400).is_none());
    assert_eq!(f.sites_page(&SiteQuery::default(), 1400).sites, 1);
    assert_eq!(f.device_page(&by_site, 1400).total, 2);
}
