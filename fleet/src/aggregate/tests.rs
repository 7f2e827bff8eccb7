//! The aggregates kept step by step must equal the ones computed from scratch, whatever the
//! order of heartbeats and clock moves (forward and back).

use super::*;
use crate::model::SyncHealth;
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
            ] {
                let q: DeviceQuery = serde_json::from_str(q).unwrap();
                let a = serde_json::to_value(fleet.device_page(&q, now)).unwrap();
                let b = serde_json::to_value(fresh.device_page(&q, now)).unwrap();
                assert_eq!(a, b, "step {step}: {q:?}");
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
