//! Issue 24's fleet view under issue 23's rules: what a device says about its site is bounded
//! and about itself only. Played against a real `ferry-fleet` process over TLS: oversized and
//! lookalike site names, a node leading on another's behalf, a standby leading, leads beyond
//! the device's own syncs or beyond the bound, a site beyond its node bound, and a device of
//! another site claiming to lead a site (shown as a conflict, never trusted).

mod common;
use common::{Receiver, StoreKind};
use serde_json::{json, Value};

fn beat(device: &str, site: Value) -> String {
    json!({"schema": "ferry.dev/heartbeat/v1", "device": {"id": device},
        "syncs": [{"name": "apps", "health": "healthy", "revision": 1}],
        "intervalSeconds": 60, "site": site})
    .to_string()
}

fn send(r: &Receiver, device: &str, site: Value) -> (u16, String) {
    r.post(
        "/api/heartbeat",
        &beat(device, site),
        Some(&r.token(device)),
        None,
    )
    .unwrap()
}

fn site(r: &Receiver, name: &str) -> Value {
    let (s, body) = r.get(&format!("/api/sites/{name}"));
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn site_claims_are_bounded_and_about_the_sender_only() {
    let r = Receiver::start(&["a-1", "a-2", "a-3", "b-1"], StoreKind::Sqlite);
    let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
    for (claim, why) in [
        (
            json!({"name": "x".repeat(254)}),
            "site.name: must be 1..=253 bytes",
        ),
        (json!({"name": "line\u{200B}a"}), "site.name: must start"),
        (json!({"name": "lіne-a"}), "site.name: must start"),
        (json!({"name": "line-a\u{202E}"}), "site.name: must start"),
        (json!({"name": "<b>line</b>"}), "site.name: must start"),
        (
            json!({"name": "line-a", "leading": true, "leader": "a-1"}),
            "site.leader: a node that leads",
        ),
        (
            json!({"name": "line-a", "leads": ["apps"]}),
            "site.leads: a standby",
        ),
        (
            json!({"name": "line-a", "leading": true, "leads": ["payroll"]}),
            "site.leads[0]: not a sync",
        ),
        (
            json!({"name": "line-a", "leading": true, "leads": many}),
            "site.leads: at most 32",
        ),
        (
            json!({"name": "line-a", "hostRollout": {"last": {"state": "stopped", "node": "a\u{0}"}}}),
            "site.hostRollout.last.node",
        ),
    ] {
        let (s, body) = send(&r, "b-1", claim.clone());
        assert_eq!(s, 422, "{claim}: {body}");
        assert!(body.contains(why), "{claim}: {body}");
    }
    assert!(
        r.get("/api/sites").1.contains("\"sites\":0"),
        "nothing was kept"
    );

    // The honest site: a-1 leads, a-2 and a-3 read it as the holder.
    assert_eq!(
        send(
            &r,
            "a-1",
            json!({"name": "line-a", "leader": "a-1", "leading": true})
        )
        .0,
        200
    );
    for n in ["a-2", "a-3"] {
        assert_eq!(
            send(&r, n, json!({"name": "line-a", "leader": "a-1"})).0,
            200
        );
    }
    assert_eq!(
        send(
            &r,
            "b-1",
            json!({"name": "line-b", "leader": "b-1", "leading": true})
        )
        .0,
        200
    );
    let a = site(&r, "line-a");
    assert_eq!(a["state"]["state"], "healthy", "{a}");
    assert_eq!(a["syncs"][0]["node"], "a-1");
    assert_eq!(a["syncs"][0]["named"], 2);

    // b-1 claims to lead line-a: it can only do so as a node of line-a (it leaves line-b),
    // and its claim meets a-1's: a conflict, neither shown as the leader.
    assert_eq!(
        send(
            &r,
            "b-1",
            json!({"name": "line-a", "leader": "b-1", "leading": true})
        )
        .0,
        200
    );
    let a = site(&r, "line-a");
    assert_eq!(a["state"]["state"], "conflict", "{a}");
    assert_eq!(a["syncs"][0]["lead"], "conflict");
    assert_eq!(a["syncs"][0]["nodes"], json!(["a-1", "b-1"]));
    assert_eq!(r.get("/api/sites/line-b").0, 404, "b-1 left line-b");
    let (_, page) = r.get("/sites/line-a");
    assert!(page.contains("conflict:"), "{page}");
    let (_, list) = r.get("/sites?state=conflict");
    assert!(list.contains("data-site=\"line-a\""), "{list}");
}

#[test]
fn a_site_holds_at_most_its_bound_of_nodes() {
    let ids: Vec<String> = (0..65).map(|i| format!("n-{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let r = Receiver::start(&refs, StoreKind::Sqlite);
    for id in &ids[..64] {
        let (s, body) = send(
            &r,
            id,
            json!({"name": "big", "leader": "n-00", "leading": id == "n-00"}),
        );
        assert_eq!(s, 200, "{id}: {body}");
    }
    let (s, body) = send(&r, "n-64", json!({"name": "big"}));
    assert_eq!(s, 422, "{body}");
    assert!(
        body.contains("site \\\"big\\\" has 64 nodes already"),
        "{body}"
    );
    // The 65th device reports without a site; the site's nodes keep reporting.
    assert_eq!(send(&r, "n-64", Value::Null).0, 200);
    assert_eq!(
        send(&r, "n-05", json!({"name": "big", "leader": "n-00"})).0,
        200
    );
    let big = site(&r, "big");
    assert_eq!(big["nodes"], 64);
    assert_eq!(big["state"]["state"], "healthy", "{}", big["state"]);
}
