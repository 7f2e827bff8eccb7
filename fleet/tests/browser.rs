//! End to end, seen in a real browser: real ferry agents (against kube-sim) report to a real
//! ferry-fleet over TLS (one device by client certificate, the others by token); Chromium
//! loads the status page and the test checks what a person sees. The SQLite run saves the
//! screenshots of docs/fleet.md.

mod common;
use common::agents::{agent_binary, Auth, Device};
use common::chromium::Browser;
use common::{Receiver, StoreKind};

fn scenario(store: StoreKind, screenshots: bool) {
    let r = Receiver::start(&["edge-berlin-1", "edge-berlin-2", "edge-paris-1"], store);
    let started = std::time::Instant::now();
    let bin = agent_binary();
    eprintln!("agent binary ready after {:?}", started.elapsed());
    let ok = Device::new("edge-berlin-1", &r, Auth::Certificate, "{site: berlin}");
    let bad = Device::new("edge-berlin-2", &r, Auth::Token, "{site: berlin}");
    let quiet = Device::new("edge-paris-1", &r, Auth::Token, "{site: paris}");
    for d in [&ok, &bad, &quiet] {
        d.publish(1, "nginx:1.27");
        let (code, out) = d.sync(&bin);
        assert_eq!(code, 0, "{}: {out}", d.id);
    }
    // Revision 2 never becomes ready on edge-berlin-2: the agent rolls back and says why.
    bad.publish(2, "nginx:never-ready");
    let (code, out) = bad.sync(&bin);
    assert_eq!(code, 1, "{out}");
    // Three minutes later (the devices report every minute) two devices report again;
    // edge-paris-1 stays silent.
    r.set_clock(r.t0 + 180);
    ok.publish(2, "nginx:1.28");
    assert_eq!(ok.sync(&bin).0, 0);
    // The failed revision 2 is held (not re-applied on every poll): the pass succeeds on
    // revision 1 and the device reports again.
    let (code, out) = bad.sync(&bin);
    assert_eq!(code, 0, "{out}");

    eprintln!("agents synced after {:?}", started.elapsed());
    r.add_user("admin", "viewer", "a long test password");
    let b = Browser::start(&r.path("server.pem"));
    eprintln!("browser up after {:?}", started.elapsed());
    b.sign_in(&r.url, "admin", "a long test password");
    b.go(&format!("{}/", r.url));
    let tile = |status: &str| b.text(&format!(".tile.{status}"));
    assert_eq!(tile("healthy"), "1\nhealthy");
    assert_eq!(
        tile("stale"),
        "1\nstale",
        "the silent device is stale, not green"
    );
    // The rolled-back device runs revision 1 with an error, below the revision 2 it verified:
    // rolled back (its own tile, not "degraded" beside unreachable sources), not healthy.
    assert_eq!(tile("rolled-back"), "1\nrolled-back");
    assert_eq!(tile("degraded"), "0\ndegraded");
    let errors = b.text("#errors");
    assert!(
        errors.contains("timed out after 2s waiting for Deployment.apps/shop/web"),
        "{errors}"
    );
    let recent = b.text("#recent");
    assert!(
        recent.contains("revision 2 failed; revision 1 re-applied")
            && recent.contains("edge-berlin-2"),
        "{recent}"
    );
    let syncs = b.text("#syncs");
    assert!(syncs.contains("newest verified revision 2"), "{syncs}");
    if screenshots {
        shot(&b, "fleet-overview.png", 1280, 1250);
    }

    // Click the stale tile: the device table filtered by the server.
    b.click(".tile.stale");
    b.wait_url("status=stale");
    assert!(b.current_url().ends_with("/devices?status=stale"));
    assert_eq!(b.count("tr[data-device]"), 1);
    let row = b.text("tr[data-device=\"edge-paris-1\"]");
    assert!(row.contains("stale") && !row.contains("healthy"), "{row}");

    // The filter form: any status, search a label, sort by id descending.
    b.go(&format!("{}/devices", r.url));
    let row = b.text("tr[data-device=\"edge-berlin-2\"]");
    assert!(
        row.contains("rolled-back") && row.contains("timed out"),
        "{row}"
    );
    b.type_into("#q", "site=berlin");
    b.click("#apply");
    b.wait_url("q=site%3Dberlin");
    assert_eq!(b.count("tr[data-device]"), 2, "{}", b.source());
    assert!(b.text("#count").starts_with("2 devices match"));
    b.click("th a[href*=\"sort=id\"]");
    b.wait_url("sort=id&dir=asc");
    b.click("th a[href*=\"sort=id\"]");
    b.wait_url("sort=id&dir=desc");
    let page = b.source();
    let (b1, b2) = (
        page.find("data-device=\"edge-berlin-1\"").unwrap(),
        page.find("data-device=\"edge-berlin-2\"").unwrap(),
    );
    assert!(b2 < b1, "sorted by id, descending");
    assert!(
        b.current_url().contains("q=site%3Dberlin"),
        "the filter survives sorting: {}",
        b.current_url()
    );
    if screenshots {
        b.go(&format!("{}/devices", r.url));
        shot(&b, "fleet-devices.png", 1280, 560);
    }

    // The device page: its syncs and recent events.
    b.go(&format!("{}/", r.url));
    b.click("#recent a[href=\"/devices/edge-berlin-2\"]");
    b.wait_url("/devices/edge-berlin-2");
    let events = b.text("#events");
    assert!(
        events.contains("rolled-back") && events.contains("revision 2 failed"),
        "{events}"
    );
    assert!(b.text("#syncs").contains("timed out"));
    if screenshots {
        shot(&b, "fleet-device.png", 1280, 820);
    }

    eprintln!("browser checks done after {:?}", started.elapsed());
    // The JSON API says the same.
    let (_, api) = r.get("/api/devices?status=rolled-back");
    let v: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["devices"][0]["id"], "edge-berlin-2");
}

/// Screenshots go to target/fleet-screenshots; with FERRY_FLEET_SCREENSHOTS=docs they replace
/// the ones in docs/img (so an ordinary test run leaves the tree clean).
fn shot(b: &Browser, name: &str, w: u32, h: u32) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let img = match std::env::var("FERRY_FLEET_SCREENSHOTS").as_deref() {
        Ok("docs") => root.join("docs/img"),
        _ => root.join("target/fleet-screenshots"),
    };
    std::fs::create_dir_all(&img).unwrap();
    b.screenshot(&img.join(name), w, h);
}

#[test]
fn agents_report_and_a_browser_sees_stale_failed_and_filters_with_sqlite() {
    scenario(StoreKind::Sqlite, true);
}

#[test]
fn agents_report_and_a_browser_sees_stale_failed_and_filters_with_postgres() {
    scenario(StoreKind::Postgres, false);
}
