//! The real `ferry-agent` against kube-sim's API faults: a metadata LIST whose continue token
//! expires between two pages (410) is listed again from the start, and 429s with
//! `Retry-After` (both answer forms API Priority and Fairness and client-go know) during a
//! rollout are retried inside the pass: the sync ends applied, without rollback.

mod common;

use common::*;
use ferry_tests::kube_sim::{Faults, ThrottleBody};

/// Fast retries so fault tests stay short (a server's Retry-After is bounded by maxDelay).
const FAST_RETRY: &str = "apiRetry: {attempts: 8, initialDelay: 10ms, maxDelay: 50ms}";

/// More ConfigMaps than one LIST page of the agent holds (500), so its list needs a continue
/// token.
const MANY: usize = 520;

fn many_configmaps(ns: &str, value: &str) -> String {
    (0..MANY)
        .map(|i| cm(&format!("cm-{i:04}"), ns, value))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn a_list_whose_continue_token_expires_is_listed_again_and_the_sync_completes() {
    let env = Env::new();
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("bulk")),
            ("cms.yaml", many_configmaps("bulk", "1")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied"), "{out}");
    // The next pass checks the same revision: its LIST of the ConfigMaps takes two pages, and
    // the store is compacted before the second one.
    env.sim.clear_log();
    env.sim.set_faults(Faults {
        expire_continue_next: 1,
        ..Faults::default()
    });
    let (code, out) = env.sync();
    env.sim.set_faults(Faults::default());
    assert_eq!(code, 0, "{out}");
    let log = env.sim.log();
    let expired = log.iter().filter(|e| e.status == 410).count();
    assert_eq!(expired, 1, "the token expired once: {log:?}");
    let cm_lists: Vec<_> = log
        .iter()
        .filter(|e| e.method == "GET" && e.path == "/api/v1/namespaces/bulk/configmaps")
        .collect();
    // First page, expired second page, then the whole list again (two pages).
    assert_eq!(cm_lists.len(), 4, "{cm_lists:?}");
    assert!(
        cm_lists[3].query.contains("continue=") && cm_lists[3].status == 200,
        "{cm_lists:?}"
    );
    assert_eq!(env.sim.writes().len(), 0, "{:?}", env.sim.writes());
}

#[test]
fn throttled_requests_with_retry_after_during_a_sync_end_applied_without_rollback() {
    let env = Env::new();
    env.write_config_full(FAST_RETRY, "timeout: 5s");
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            ("d.yaml", deployment("web", "shop", "nginx:1.27")),
        ],
    );
    assert_eq!(env.sync().0, 0);
    for (revision, image, body) in [
        (2, "nginx:1.28", ThrottleBody::PriorityAndFairness),
        (3, "nginx:1.29", ThrottleBody::Status),
    ] {
        env.publish(
            revision,
            &[
                ("ns.yaml", namespace("shop")),
                ("d.yaml", deployment("web", "shop", image)),
            ],
        );
        env.sim.clear_log();
        env.sim.set_faults(Faults {
            throttle_next: 4,
            retry_after_secs: 1,
            throttle_body: body,
            ..Faults::default()
        });
        let (code, out) = env.sync();
        env.sim.set_faults(Faults::default());
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains(&format!("revision {revision} applied")),
            "{out}"
        );
        let throttled = env.sim.log().iter().filter(|e| e.status == 429).count();
        assert_eq!(throttled, 4, "the 429s were answered");
        let image_now = env.obj("apps", "Deployment", "shop", "web").unwrap()["spec"]["template"]
            ["spec"]["containers"][0]["image"]
            .clone();
        assert_eq!(image_now, image);
    }
    let hist: serde_json::Value =
        serde_json::from_slice(&env.agent(&["history", "--output", "json"]).stdout).unwrap();
    assert!(
        hist.as_array()
            .unwrap()
            .iter()
            .all(|r| r["kind"] != "rollback" && r["state"] == "applied"),
        "{hist}"
    );
}
