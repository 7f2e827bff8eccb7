//! A host update that fails and is rolled back is held back instead of being installed again on
//! every pass: the first hold lasts `failedRevisionBackoff` (default 10 minutes), the next one
//! twice that; `ferry-agent retry` or a newer revision lifts it. The agent runs on a manual
//! clock (`FERRY_TEST_CLOCK`) that the test sets for each pass, so no test waits for a hold.

use crate::harness::*;
use ferry_agent::store::Store;
use std::path::Path;

const T0: i64 = 1_900_000_000;

fn sync_at(h: &Host, t: i64) -> (i32, String) {
    h.run(
        Path::new(AGENT),
        &["sync", "--once"],
        &[("FERRY_TEST_CLOCK", &t.to_string())],
    )
}

fn store(h: &Host) -> Store {
    Store::open(&h.env.dir.path().join("state/state.db")).unwrap()
}

/// How many host transactions were started (one journal row each).
fn installs(h: &Host) -> usize {
    store(h).host_records(&[]).unwrap().len()
}

#[test]
fn a_failing_host_update_is_held_back_doubling_until_retry_or_a_newer_revision() {
    let h = Host::new();
    h.publish_broken_k3s(1, 1);
    let (code, out) = sync_at(&h, T0);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("k3s.service not healthy"), "{out}");
    assert_eq!(installs(&h), 1);
    let hold = store(&h).host_hold("app").unwrap().expect("held");
    assert_eq!((hold.revision, hold.failures, hold.until), (1, 1, T0 + 600));

    // Within the hold: nothing is installed, the pass says why.
    let (code, out) = sync_at(&h, T0 + 599);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("host update of revision 1 failed before")
            && out.contains("held until")
            && out.contains("ferry-agent retry"),
        "{out}"
    );
    assert_eq!(installs(&h), 1);
    let status = String::from_utf8_lossy(&h.env.agent(&["status"]).stdout).into_owned();
    assert!(
        status.contains("host update of revision 1 failed; held until"),
        "{status}"
    );

    // The hold ends: installed again, fails again, held twice as long.
    let (code, out) = sync_at(&h, T0 + 600);
    assert_eq!(code, 1, "{out}");
    assert_eq!(installs(&h), 2);
    let hold = store(&h).host_hold("app").unwrap().expect("held");
    assert_eq!((hold.failures, hold.until), (2, T0 + 600 + 1200));
    assert_eq!(sync_at(&h, T0 + 1799).0, 1);
    assert_eq!(installs(&h), 2);

    // An operator lifts the hold: the next pass installs it again.
    let o = h.env.agent(&["retry"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("revision 1 will be tried again"), "{out}");
    assert_eq!(store(&h).host_hold("app").unwrap(), None);
    assert_eq!(sync_at(&h, T0 + 1800).0, 1);
    assert_eq!(installs(&h), 3);

    // A newer revision is not held back by the old one's hold.
    h.standard(2, "v1.32.3+k3s1");
    let (code, out) = sync_at(&h, T0 + 1801);
    assert_eq!(code, 0, "{out}");
    assert_eq!(installs(&h), 4);
    assert!(h.api_version().contains("v1.32.3+k3s1"));
    assert_eq!(store(&h).host_hold("app").unwrap(), None);

    // Host events are recorded like every other event: a rollback repeated among a sync's
    // newest events bumps that row's count instead of adding one (three failures, one row).
    let events = h.events();
    assert!(
        events.contains("host-held") && events.contains("host-applied"),
        "{events}"
    );
    let rollback_rows = events
        .lines()
        .filter(|l| l.contains("host-rollback-failed") || l.contains("host-rolled-back"))
        .count();
    assert_eq!(rollback_rows, 1, "{events}");
    assert!(events.contains("(x3"), "{events}");
}
