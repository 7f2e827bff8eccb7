//! Fault injection, the request log and restarts.

use super::helpers::*;
use ferry_tests::client::send;
use ferry_tests::kube_sim::Faults;
use serde_json::json;
use std::time::Duration;
#[test]
fn faults_and_request_log() {
    let mut s = sim();
    let c = C::new(&s);
    s.clear_log();
    s.set_faults(Faults {
        fail_next: 2,
        ..Faults::default()
    });
    assert_eq!(c.get(CM_PATH).0, 503);
    assert_eq!(c.get(CM_PATH).0, 503);
    assert_eq!(c.get(CM_PATH).0, 200);
    s.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    assert!(
        send(
            &c.agent,
            "GET",
            &format!("{}{CM_PATH}", s.url()),
            None,
            None,
            None
        )
        .is_err(),
        "dropped connection"
    );
    s.set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let t = std::time::Instant::now();
    c.get(CM_PATH);
    assert!(t.elapsed() >= Duration::from_millis(150));
    s.set_faults(Faults {
        error_ratio: 0.5,
        ..Faults::default()
    });
    let failures = (0..40).filter(|_| c.get(CM_PATH).0 == 503).count();
    assert!(
        (8..=32).contains(&failures),
        "about half of 40 failed, got {failures}"
    );
    s.set_faults(Faults::default());
    s.clear_log();
    c.apply(&format!("{CM_PATH}/w"), "ferry", &cm("w", json!({})));
    c.get(&format!("{CM_PATH}/w"));
    let writes = s.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].content_type.as_str()),
        ("PATCH", APPLY)
    );
    // Restart keeping state, then losing it.
    s.restart(true).unwrap();
    let c = C::new(&s);
    assert_eq!(c.get(&format!("{CM_PATH}/w")).0, 200);
    s.restart(false).unwrap();
    let c = C::new(&s);
    assert_eq!(c.get(&format!("{CM_PATH}/w")).0, 404);
    assert_eq!(
        c.get("/api/v1/namespaces/default").0,
        200,
        "a fresh cluster has its default namespaces"
    );
}
