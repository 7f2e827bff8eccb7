//! Drift decided by the server, no ownership fights, transient API failures retried, failed
//! revisions held back, immutable fields: the real `ferry-agent` against kube-sim.

mod common;

use common::*;
use ferry_tests::kube_sim::Faults;

/// Fast retries so fault tests stay short (the schedule itself is unit-tested on a fake clock).
const FAST_RETRY: &str = "apiRetry: {attempts: 8, initialDelay: 10ms, maxDelay: 50ms}";

/// Manifests as people write them: fields the server drops, defaults or re-encodes.
fn ordinary() -> Vec<(&'static str, String)> {
    vec![
        ("ns.yaml", namespace("plain")),
        (
            "deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: plain\n  creationTimestamp: null\n  annotations: {}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  strategy: {}\n  template:\n    metadata:\n      creationTimestamp: null\n      labels: {app: web}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n        args: []\n        resources:\n          requests: {cpu: 0.5, memory: 64Mi}\n        ports:\n        - containerPort: 80\nstatus: {}\n"
                .to_string(),
        ),
        (
            "secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: plain\ntype: Opaque\nstringData:\n  password: hunter2\n"
                .to_string(),
        ),
        ("cm.yaml", cm("settings", "plain", "1")),
    ]
}

fn dry_runs(env: &Env) -> usize {
    env.sim
        .log()
        .iter()
        .filter(|e| e.query.contains("dryRun=All"))
        .count()
}

#[test]
fn ordinary_manifests_sync_twice_with_zero_writes_the_second_time() {
    let env = Env::new();
    // Every pass after the first check is a full dry-run sweep: the server's answer decides.
    env.write_config("timeout: 5s\ndriftSweepInterval: 0s");
    env.publish(1, &ordinary());
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("revision 1 up to date, nothing written"),
        "{out}"
    );
    assert_eq!(env.sim.writes().len(), 0, "{:?}", env.sim.writes());
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        dry_runs(&env) >= 4,
        "the sweep asked the server: {:?}",
        env.sim.log()
    );
    assert_eq!(env.sim.writes().len(), 0, "{:?}", env.sim.writes());
}

#[test]
fn a_field_ferry_owns_that_someone_changed_is_restored_with_one_write() {
    let env = Env::new();
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            ("c.yaml", cm("conf", "shop", "1")),
        ],
    );
    assert_eq!(env.sync().0, 0);
    let o = env.kubectl(&[
        "patch",
        "configmap",
        "conf",
        "-n",
        "shop",
        "--type=merge",
        "-p",
        r#"{"data":{"value":"edited"}}"#,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let writes = env.sim.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].path.ends_with("/configmaps/conf"), "{writes:?}");
    assert_eq!(
        env.obj("", "ConfigMap", "shop", "conf").unwrap()["data"]["value"],
        "1"
    );
    let events = String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned();
    assert!(
        events
            .contains("ConfigMap/shop/conf (.data.value, now owned by manager \"kubectl-patch\")"),
        "{events}"
    );
    // Restored: the next pass is clean again.
    env.sim.clear_log();
    assert_eq!(env.sync().0, 0);
    assert_eq!(env.sim.writes().len(), 0, "{:?}", env.sim.writes());
}

#[test]
fn another_managers_fields_are_left_alone() {
    let env = Env::new();
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            ("c.yaml", cm("conf", "shop", "1")),
        ],
    );
    assert_eq!(env.sync().0, 0);
    // Another manager adds a key and an annotation of its own (server-side apply).
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n  namespace: shop\n  annotations: {injected: \"yes\"}\ndata:\n  extra: \"2\"\n";
    let path = env.dir.path().join("extra.yaml");
    std::fs::write(&path, extra).unwrap();
    let o = env.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=injector",
        "-f",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    env.sim.clear_log();
    for _ in 0..2 {
        let (code, out) = env.sync();
        assert_eq!(code, 0, "{out}");
    }
    assert_eq!(env.sim.writes().len(), 0, "{:?}", env.sim.writes());
    let live = env.obj("", "ConfigMap", "shop", "conf").unwrap();
    assert_eq!(live["data"]["extra"], "2");
    assert_eq!(live["metadata"]["annotations"]["injected"], "yes");
}

#[test]
fn conflicts_with_force_off_are_left_to_their_owner_and_reported_once() {
    let env = Env::new();
    env.write_config("timeout: 5s\nforce: false");
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            ("c.yaml", cm("conf", "shop", "1")),
        ],
    );
    assert_eq!(env.sync().0, 0);
    let other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n  namespace: shop\ndata:\n  value: \"theirs\"\n";
    let path = env.dir.path().join("other.yaml");
    std::fs::write(&path, other).unwrap();
    let o = env.kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=operator",
        "-f",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    env.sim.clear_log();
    for _ in 0..3 {
        let (code, out) = env.sync();
        assert_eq!(code, 0, "{out}");
    }
    assert_eq!(
        env.sim.writes().len(),
        0,
        "no fight: {:?}",
        env.sim.writes()
    );
    assert_eq!(
        env.obj("", "ConfigMap", "shop", "conf").unwrap()["data"]["value"],
        "theirs"
    );
    let events = String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned();
    let reports = events
        .matches("field .data.value is owned by manager \"operator\"")
        .count();
    assert_eq!(
        reports, 1,
        "reported once, with manager and field: {events}"
    );
}

#[test]
fn api_429_and_503_bursts_during_a_rollout_end_applied_without_rollback() {
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
    env.publish(
        2,
        &[
            ("ns.yaml", namespace("shop")),
            ("d.yaml", deployment("web", "shop", "nginx:1.28")),
        ],
    );
    env.sim.set_faults(Faults {
        fail_next: 5,
        error_status: 429,
        ..Faults::default()
    });
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 2 applied"), "{out}");
    env.publish(
        3,
        &[
            ("ns.yaml", namespace("shop")),
            ("d.yaml", deployment("web", "shop", "nginx:1.29")),
        ],
    );
    env.sim.set_faults(Faults {
        error_ratio: 0.3,
        error_status: 503,
        ..Faults::default()
    });
    let (code, out) = env.sync();
    env.sim.set_faults(Faults::default());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 3 applied"), "{out}");
    let failed_answers = env.sim.log().iter().filter(|e| e.status == 503).count();
    assert!(failed_answers > 0, "the faults were hit");
    let hist: serde_json::Value =
        serde_json::from_slice(&env.agent(&["history", "--output", "json"]).stdout).unwrap();
    assert!(
        hist.as_array()
            .unwrap()
            .iter()
            .all(|r| r["kind"] != "rollback" && r["state"] == "applied"),
        "{hist}"
    );
    let image = env.obj("apps", "Deployment", "shop", "web").unwrap()["spec"]["template"]["spec"]
        ["containers"][0]["image"]
        .clone();
    assert_eq!(image, "nginx:1.29");
}

#[test]
fn a_failed_revision_is_held_until_a_newer_one_or_retry() {
    let env = Env::new();
    env.write_config("timeout: 1s\nfailedRevisionBackoff: 1h");
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            ("d.yaml", deployment("web", "shop", "nginx:1.27")),
        ],
    );
    assert_eq!(env.sync().0, 0);
    env.publish(
        2,
        &[
            ("ns.yaml", namespace("shop")),
            ("d.yaml", deployment("web", "shop", "nginx:never-ready")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rolled back to revision 1"), "{out}");
    // The next polls offer revision 2 again: it is not applied.
    env.sim.clear_log();
    for _ in 0..2 {
        let (code, out) = env.sync();
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("revision 2 failed and was rolled back")
                && out.contains("ferry-agent retry"),
            "{out}"
        );
    }
    assert_eq!(env.sim.writes().len(), 0, "{:?}", env.sim.writes());
    let status = String::from_utf8_lossy(&env.agent(&["status"]).stdout).into_owned();
    assert!(
        status.contains("revision 2 failed and was rolled back; held until"),
        "{status}"
    );
    // An operator asks for another try: it is applied (and fails and is held again).
    let o = env.agent(&["retry", "--sync", "app"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("revision 2 will be tried again"));
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("revision 2 FAILED"), "{out}");
    // A newer revision is not held.
    env.publish(
        3,
        &[
            ("ns.yaml", namespace("shop")),
            ("d.yaml", deployment("web", "shop", "nginx:1.28")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 3 applied"), "{out}");
    let status = String::from_utf8_lossy(&env.agent(&["status"]).stdout).into_owned();
    assert!(!status.contains("held until"), "{status}");
}
