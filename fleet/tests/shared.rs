//! Two ferry-fleet processes sharing one PostgreSQL (`sharedStore: true`): the way to grow past
//! one machine. Devices are split between them; every heartbeat is kept and both serve the same
//! overview and device table (each follows the other's writes by the store's write order).

mod common;
use common::{heartbeat, Receiver, StoreKind};
use ferry_fleet::pgtest::TestPostgres;
use serde_json::Value;
use std::time::{Duration, Instant};

const PER_RECEIVER: usize = 40;
const ROUNDS: usize = 3;

fn json(r: &Receiver, path: &str) -> Value {
    let (status, body) = r.get(path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The overview without what differs by design between processes (its time and history).
fn comparable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("now");
    o.remove("history");
    v
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn two_receivers_share_one_postgres_and_show_the_same_fleet() {
    let pg = TestPostgres::start().unwrap();
    let names = |side: &str| -> Vec<String> {
        (0..PER_RECEIVER)
            .map(|i| format!("{side}-{i:03}"))
            .collect()
    };
    let (a_ids, b_ids) = (names("a"), names("b"));
    let extra = "sharedStore: true\n";
    let a = Receiver::start_with(&refs(&a_ids), StoreKind::PostgresAt(pg.url()), extra);
    let b = Receiver::start_with(&refs(&b_ids), StoreKind::PostgresAt(pg.url()), extra);
    std::thread::scope(|s| {
        for (r, ids) in [(&a, &a_ids), (&b, &b_ids)] {
            for half in ids.chunks(PER_RECEIVER / 2) {
                s.spawn(move || {
                    for round in 0..ROUNDS {
                        for id in half {
                            let health = if id.ends_with('7') && round == ROUNDS - 1 {
                                "failed"
                            } else {
                                "healthy"
                            };
                            let body = heartbeat(
                                id,
                                health,
                                (health == "failed").then_some("revision 3 failed"),
                            );
                            let (status, answer) = r
                                .post("/api/heartbeat", &body, Some(&r.token(id)), None)
                                .unwrap();
                            assert_eq!(status, 200, "{id}: {answer}");
                        }
                    }
                });
            }
        }
    });
    let total = 2 * PER_RECEIVER;
    // Each follows the other's writes every second: poll (bounded) until both see everyone.
    // Equal overviews alone are not enough: each may lack one of the other's last heartbeats
    // (7 failed on both, a different 7), so the failed device tables must agree too.
    let failed = |r: &Receiver| json(r, "/api/devices?status=failed&per_page=500");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (fa, fb) = loop {
        let (oa, ob) = (json(&a, "/api/overview"), json(&b, "/api/overview"));
        let (fa, fb) = (failed(&a), failed(&b));
        if oa["devices"] == total && comparable(oa.clone()) == comparable(ob.clone()) && fa == fb {
            break (fa, fb);
        }
        assert!(
            Instant::now() < deadline,
            "not converged:\n{oa}\n{ob}\n{fa}\n{fb}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(fa, fb, "the same device table from both");
    assert_eq!(
        fa["total"], 8,
        "a-007, a-017, ... b-037: every last heartbeat kept"
    );
    for id in ["a-000", "b-039"] {
        for r in [&a, &b] {
            assert_eq!(r.get(&format!("/devices/{id}")).0, 200, "{id}");
        }
    }
    // Both receivers' history counts every heartbeat they received or took from the other.
    let beats = |r: &Receiver| -> u64 {
        json(r, "/api/overview")["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["heartbeats"].as_u64().unwrap())
            .sum()
    };
    let own = (PER_RECEIVER * ROUNDS) as u64;
    let (ba, bb) = (beats(&a), beats(&b));
    assert!(
        ba > own && bb > own,
        "{ba} {bb}: own heartbeats and the other's"
    );
}
