//! The views that answer "what is wrong where", in Chromium: a fleet of simulated devices in
//! three sites reports every 15 minutes for two hours while revision 2 rolls out and fails on
//! some devices. The test reads the plots (rollout share per revision, heartbeats and
//! failures), the label groups, the page time and refresh, and drills down from an error group,
//! a label and a revision to exactly the devices behind each figure. Screenshots of each view
//! (FERRY_FLEET_SCREENSHOTS=docs puts them in docs/img).

mod common;
use common::chromium::{shot, Browser};
use common::{Receiver, StoreKind};

const DEVICES: usize = 24;
const STEPS: i64 = 8;
/// A long (but safe) id: shown cut, with the full id on hover.
const LONG: &str = "edge-rome-cabinet-0042-rack-7-unit-19-gateway-long-name";

fn id(i: usize) -> String {
    if i == DEVICES - 1 {
        return LONG.to_string();
    }
    let site = ["berlin", "paris", "rome"][i % 3];
    format!("edge-{site}-{i:02}")
}

/// Device `i` at step `k`: revision 2 reaches a growing share; devices 3 and 9 (berlin)
/// fail it from step 5 and roll back.
fn body(i: usize, k: i64) -> String {
    let site = ["berlin", "paris", "rome"][i % 3];
    let on_two = (i as i64) < k * DEVICES as i64 / STEPS;
    let fails = k >= 5 && (i == 3 || i == 9);
    let (rev, health, error) = match (on_two, fails) {
        (_, true) => (1, "degraded", Some(format!("revision 2 failed: Deployment.apps/shop/web{i} not ready after 300s; revision 1 re-applied"))),
        (true, _) => (2, "healthy", None),
        _ => (1, "healthy", None),
    };
    serde_json::json!({"schema": "ferry.dev/heartbeat/v1", "time": "2026-12-07T10:00:00Z",
        "device": {"id": id(i), "labels": {"site": site, "region": "eu-west"}},
        "agent": {"version": "0.1.0", "uptimeSeconds": 100},
        "syncs": [{"name": "apps", "revision": rev, "highestVerified": if on_two || fails { 2 } else { 1 },
                   "health": health, "lastError": error}],
        "outbox": {"dropped": 0}, "intervalSeconds": 900})
    .to_string()
}

#[test]
fn views_plots_and_drill_down_in_chromium() {
    let ids: Vec<String> = (0..DEVICES).map(id).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let r = Receiver::start(&refs, StoreKind::Sqlite);
    let tokens: Vec<String> = ids.iter().map(|d| r.token(d)).collect();
    let start = r.t0 - (STEPS - 1) * 900;
    for k in 0..STEPS {
        r.set_clock(start + k * 900);
        for (i, token) in tokens.iter().enumerate() {
            let (s, answer) = r
                .post("/api/heartbeat", &body(i, k), Some(token), None)
                .unwrap();
            assert_eq!(s, 200, "{answer}");
        }
    }
    r.add_user("vera", "viewer", "a long test password");
    let b = Browser::start(&r.path("server.pem"));
    b.sign_in(&r.url, "vera", "a long test password");
    b.go(&format!("{}/", r.url));
    let source = b.source();
    assert!(source.contains("http-equiv=\"refresh\""), "live refresh");
    assert!(b.text("#page-time").starts_with("computed in "));
    // Heartbeats and failures: one column per 15 minutes that had heartbeats.
    assert_eq!(b.count("#activity rect.heartbeats"), STEPS as usize);
    assert_eq!(b.count("#activity rect.failures"), 3, "steps 5, 6 and 7");
    // The rollout plot: revision 2's share grows, so later columns have two revisions.
    assert!(b.count("#rollout-apps rect") > STEPS as usize);
    assert!(b.text("#syncs .legend").contains("revision 2"));
    // Label groups: site and region, each value with its status badges.
    let labels = b.text("#labels");
    assert!(
        labels.contains("site") && labels.contains("region") && labels.contains("berlin"),
        "{labels}"
    );
    shot(&b, "fleet-views-overview.png", 1280, 1600);

    // Drill down from the error group: exactly the two berlin devices that rolled back.
    let figure = b.text("#errors tr.error-group a.fig");
    assert_eq!(figure, "2");
    b.click("#errors tr.error-group a.fig");
    assert!(b.current_url().contains("error="), "{}", b.current_url());
    assert_eq!(b.count("tr[data-device]"), 2);
    for d in ["edge-berlin-03", "edge-berlin-09"] {
        let row = b.text(&format!("tr[data-device=\"{d}\"]"));
        assert!(
            row.contains("rolled-back") && row.contains("revision 2 failed"),
            "{row}"
        );
    }
    assert!(b
        .text("#count")
        .starts_with("2 devices match: sync apps, error"));
    shot(&b, "fleet-views-error-group.png", 1280, 520);

    // From a label value: the site's devices; from its badge, the site's devices in a state.
    b.go(&format!("{}/", r.url));
    b.click("#labels tr[data-label=\"rome\"] a.fig");
    assert_eq!(b.count("tr[data-device]"), DEVICES / 3);
    let long = b.source();
    assert!(
        long.contains(&format!("title=\"{LONG}\"")) && !b.text("#devices").contains(LONG),
        "the long id is cut, the full id on hover"
    );
    b.go(&format!("{}/", r.url));
    b.click("#labels tr[data-label=\"berlin\"] a.badge.rolled-back");
    assert_eq!(b.count("tr[data-device]"), 2);

    // From a revision row and a sync state.
    b.go(&format!("{}/", r.url));
    let applied_two = b.text("#syncs a.fig[href$=\"revision=2\"]");
    b.click("#syncs a.fig[href$=\"revision=2\"]");
    assert_eq!(b.count("tr[data-device]").to_string(), applied_two);
    b.go(&format!("{}/", r.url));
    b.click("#syncs a[data-state=\"healthy\"]");
    assert!(b.current_url().ends_with("sync=apps&state=healthy"));
    assert_eq!(b.count("tr[data-device]"), DEVICES - 2);
    shot(&b, "fleet-views-devices.png", 1280, 900);
}
