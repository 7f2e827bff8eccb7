//! Sites across two ferry-fleet processes sharing one PostgreSQL (`sharedStore: true`): the
//! nodes of one site report to different receivers, and each receiver shows the whole site
//! (its membership read back from the store with the other receiver's writes), the same from
//! both, including a takeover reported to the other receiver.

mod common;
use common::{Receiver, StoreKind};
use ferry_fleet::pgtest::TestPostgres;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn beat(device: &str, site: Value) -> String {
    json!({"schema": "ferry.dev/heartbeat/v1", "device": {"id": device},
        "syncs": [{"name": "apps", "health": "healthy", "revision": 1}],
        "intervalSeconds": 60, "site": site})
    .to_string()
}

fn post(r: &Receiver, id: &str, site: Value) {
    let (s, body) = r
        .post("/api/heartbeat", &beat(id, site), Some(&r.token(id)), None)
        .unwrap();
    assert_eq!(s, 200, "{id}: {body}");
}

/// The site as both receivers show it, once they agree on `expect` (a bounded poll: each
/// follows the other's writes every second).
fn agreed(a: &Receiver, b: &Receiver, expect: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let get = |r: &Receiver| -> Value {
            let (s, body) = r.get("/api/sites/hall");
            if s != 200 {
                return Value::Null;
            }
            let mut v: Value = serde_json::from_str(&body).unwrap();
            v.as_object_mut().unwrap().remove("now");
            v
        };
        let (va, vb) = (get(a), get(b));
        if va == vb && expect(&va) {
            return va;
        }
        assert!(Instant::now() < deadline, "not converged:\n{va}\n{vb}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_receivers_show_the_same_site_from_nodes_split_between_them() {
    let pg = TestPostgres::start().unwrap();
    let extra = "sharedStore: true\n";
    let a = Receiver::start_with(
        &["hall-1", "hall-2"],
        StoreKind::PostgresAt(pg.url()),
        extra,
    );
    let b = Receiver::start_with(&["hall-3"], StoreKind::PostgresAt(pg.url()), extra);
    post(
        &a,
        "hall-1",
        json!({"name": "hall", "leader": "hall-1", "leading": true}),
    );
    post(&a, "hall-2", json!({"name": "hall", "leader": "hall-1"}));
    post(&b, "hall-3", json!({"name": "hall", "leader": "hall-1"}));
    let v = agreed(&a, &b, |v| v["nodes"] == 3);
    assert_eq!(v["state"]["state"], "healthy", "{v}");
    assert_eq!(
        (&v["syncs"][0]["node"], &v["syncs"][0]["named"]),
        (&json!("hall-1"), &json!(2))
    );
    // hall-3 takes over (reported to b), hall-1 steps down (reported to a).
    post(
        &b,
        "hall-3",
        json!({"name": "hall", "leader": "hall-3", "leading": true}),
    );
    post(&a, "hall-1", json!({"name": "hall", "leader": "hall-3"}));
    post(&a, "hall-2", json!({"name": "hall", "leader": "hall-3"}));
    let v = agreed(&a, &b, |v| {
        v["syncs"][0]["node"] == "hall-3" && v["syncs"][0]["named"] == 2
    });
    assert_eq!(v["state"]["state"], "healthy", "{v}");
    let roles: Vec<(&str, &str)> = v["nodeList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let role = if n["leading"] == true {
                "leader"
            } else {
                "standby"
            };
            (n["id"].as_str().unwrap(), role)
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("hall-1", "standby"),
            ("hall-2", "standby"),
            ("hall-3", "leader")
        ]
    );
}
