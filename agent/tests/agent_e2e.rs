//! End-to-end: the real `ferry-agent` binary against kube-sim, with bundles signed by a
//! throwaway key in a local directory source.

mod common;

use common::*;

#[test]
fn first_sync_creates_everything_second_writes_nothing() {
    let env = Env::new();
    env.publish(1, &Env::example(APP));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied: 4 created"), "{out}");
    let cm = env
        .obj("", "ConfigMap", "demo", "web-config")
        .expect("configmap applied");
    assert_eq!(
        cm["data"]["DEVICE_ID"], "edge-1",
        "device variable substituted"
    );
    assert_eq!(cm["metadata"]["labels"]["ferry.dev/sync"], "app");
    assert_eq!(cm["metadata"]["managedFields"][0]["manager"], "ferry");
    let deploy = env.obj("apps", "Deployment", "demo", "web").unwrap();
    assert_eq!(deploy["status"]["readyReplicas"], 1, "waited for health");
    // A new process, the same revision: nothing is written.
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("revision 1 up to date, nothing written"),
        "{out}"
    );
    assert_eq!(env.sim.writes().len(), 0, "writes: {:?}", env.sim.writes());
    let status = String::from_utf8_lossy(&env.agent(&["status"]).stdout).into_owned();
    assert!(
        status.contains("app") && status.contains("healthy"),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&env.agent(&["status", "--output", "json"]).stdout).unwrap();
    assert_eq!(json[0]["revision"], 1);
}

#[test]
fn a_dropped_object_is_pruned_and_foreign_objects_are_untouched() {
    let env = Env::new();
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            ("a.yaml", cm("a", "shop", "1")),
            ("b.yaml", cm("b", "shop", "1")),
        ],
    );
    assert_eq!(env.sync().0, 0);
    let foreign = env.kubectl(&["create", "-f", "-", "-o", "name"]);
    let _ = foreign;
    // A ConfigMap ferry never applied, in the same namespace.
    let o = std::process::Command::new("kubectl")
        .args([
            "--kubeconfig",
            env.sim.kubeconfig_path().to_str().unwrap(),
            "--cache-dir",
            env.kubectl_cache.path().to_str().unwrap(),
            "apply",
            "--server-side",
            "-f",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(cm("mine", "shop", "x").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success());
    env.publish(
        2,
        &[
            ("ns.yaml", namespace("shop")),
            ("a.yaml", cm("a", "shop", "2")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("revision 2 applied: 0 created, 1 configured, 1 unchanged, 1 deleted"),
        "{out}"
    );
    assert!(env.obj("", "ConfigMap", "shop", "b").is_none(), "b pruned");
    assert_eq!(
        env.obj("", "ConfigMap", "shop", "a").unwrap()["data"]["value"],
        "2"
    );
    assert!(
        env.obj("", "ConfigMap", "shop", "mine").is_some(),
        "foreign object untouched"
    );
}

#[test]
fn drift_is_corrected_and_reported() {
    let env = Env::new();
    env.publish(1, &Env::example(APP));
    assert_eq!(env.sync().0, 0);
    let o = env.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "demo",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":5}}"#,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = env.kubectl(&["delete", "configmap", "web-config", "-n", "demo"]);
    assert!(o.status.success());
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("drift corrected: 1 created, 1 configured, 2 unchanged"),
        "{out}"
    );
    assert_eq!(
        env.obj("apps", "Deployment", "demo", "web").unwrap()["spec"]["replicas"],
        1
    );
    assert!(env.obj("", "ConfigMap", "demo", "web-config").is_some());
    assert_eq!(
        env.sim.writes().len(),
        2,
        "only the drifted objects are written"
    );
    let events = String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned();
    assert!(
        events.contains("drift-detected") && events.contains("Deployment.apps/demo/web"),
        "{events}"
    );
}

#[test]
fn a_deployment_that_never_becomes_ready_is_rolled_back() {
    let env = Env::new();
    env.write_config("timeout: 1s");
    env.publish(
        1,
        &[
            ("ns.yaml", namespace("shop")),
            ("d.yaml", deployment("web", "shop", "nginx:1.27")),
            ("c.yaml", cm("extra", "shop", "1")),
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
    assert!(
        out.contains("revision 2 FAILED") && out.contains("rolled back to revision 1"),
        "{out}"
    );
    assert!(
        out.contains("Deployment.apps/shop/web"),
        "the error names the object: {out}"
    );
    let image = env.obj("apps", "Deployment", "shop", "web").unwrap()["spec"]["template"]["spec"]
        ["containers"][0]["image"]
        .clone();
    assert_eq!(image, "nginx:1.27");
    assert!(
        env.obj("", "ConfigMap", "shop", "extra").is_some(),
        "revision 1's objects are back"
    );
    let hist: serde_json::Value =
        serde_json::from_slice(&env.agent(&["history", "--output", "json"]).stdout).unwrap();
    let rows: Vec<(String, String, u64)> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().into(),
                r["state"].as_str().unwrap().into(),
                r["revision"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows[0], ("rollback".into(), "applied".into(), 1));
    assert_eq!(rows[1], ("apply".into(), "failed".into(), 2));
    let status: serde_json::Value =
        serde_json::from_slice(&env.agent(&["status", "--output", "json"]).stdout).unwrap();
    assert_eq!(status[0]["revision"], 1);
    assert!(status[0]["lastError"]
        .as_str()
        .unwrap()
        .contains("timed out"));
}

#[test]
fn crd_and_custom_resource_in_one_bundle() {
    let env = Env::new();
    env.publish(
        1,
        &Env::example(concat!(env!("CARGO_MANIFEST_DIR"), "/../k3s-examples/crd")),
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 created"), "{out}");
    assert!(env
        .obj("edge.example.com", "Sensor", "default", "temperature")
        .is_some());
}

#[test]
fn namespace_after_its_objects_in_file_order_is_staged_first() {
    let env = Env::new();
    env.publish(
        1,
        &[
            ("a-config.yaml", cm("c", "late", "1")),
            ("z-namespace.yaml", namespace("late")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(env.obj("", "ConfigMap", "late", "c").is_some());
}

#[test]
fn refused_bundles_keep_the_last_good_revision() {
    let env = Env::new();
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    assert_eq!(env.sync().0, 0);
    let dir = env.publish(2, &[("a.yaml", cm("a", "default", "2"))]);
    std::fs::write(dir.join("a.yaml"), cm("a", "default", "9")).unwrap();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "revision 1 is still valid and enforced: {out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
    let events = String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned();
    assert!(events.contains("refused"), "{events}");
    // Only the tampered revision is left: the sync fails with an error naming the file.
    std::fs::remove_dir_all(env.drop_dir().join("app-1")).unwrap();
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("file a.yaml has sha256"), "{out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
}

#[test]
fn operator_rollback_suspend_resume_and_diff() {
    let env = Env::new();
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    assert_eq!(env.sync().0, 0);
    env.publish(
        2,
        &[
            ("a.yaml", cm("a", "default", "2")),
            ("b.yaml", cm("b", "default", "2")),
        ],
    );
    let diff = String::from_utf8_lossy(&env.agent(&["diff", "app"]).stdout).into_owned();
    assert!(
        diff.contains("revision 2: 1 created, 1 configured"),
        "{diff}"
    );
    assert!(
        env.sim.writes().iter().all(|w| !w.path.contains("/b")),
        "diff writes nothing"
    );
    assert_eq!(env.sync().0, 0);
    let o = env.agent(&["rollback", "app", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
    assert!(env.obj("", "ConfigMap", "default", "b").is_none());
    let o = env.agent(&["rollback", "app", "7"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("revision 7 is not in local history"));
    assert!(env.agent(&["suspend", "app"]).status.success());
    let (code, out) = env.sync();
    assert_eq!((code, out.trim()), (0, "app: suspended"));
    assert!(env.agent(&["resume", "app"]).status.success());
    let (code, _) = env.sync();
    assert_eq!(code, 0);
}

#[test]
fn a_crash_mid_apply_is_recorded_and_the_next_run_converges() {
    let env = Env::new();
    env.publish(1, &Env::example(APP));
    let o = env.agent_env(&["sync", "--once"], &[("FERRY_FAULT", "after-stage")]);
    assert!(!o.status.success(), "the fault point aborts the process");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(env.obj("apps", "Deployment", "demo", "web").is_some());
    let hist: serde_json::Value =
        serde_json::from_slice(&env.agent(&["history", "--output", "json"]).stdout).unwrap();
    let states: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["applied", "interrupted"]);
}

#[test]
fn check_config_and_bad_config() {
    let env = Env::new();
    let o = env.agent(&["check-config"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 trusted key(s)"));
    std::fs::write(&env.config, "syncs: []\n").unwrap();
    let o = env.agent(&["check-config"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no syncs defined"));
}

#[test]
fn usb_drop_quarantines_bad_archives_with_a_reason() {
    let env = Env::new();
    let quarantine = env.dir.path().join("quarantine");
    env.write_config_source(
        "",
        &format!(
            "{{type: directory, path: {}, quarantine: {}}}",
            env.drop_dir().display(),
            quarantine.display()
        ),
        "timeout: 5s",
        "",
    );
    // A good export and a tampered one appear on the stick.
    Env::archive(
        &env.stage(1, &[("a.yaml", cm("a", "default", "1"))]),
        &env.drop_dir().join("app-1.bundle"),
    );
    let bad = env.stage(2, &[("a.yaml", cm("a", "default", "2"))]);
    std::fs::write(bad.join("a.yaml"), cm("a", "default", "evil")).unwrap();
    Env::archive(&bad, &env.drop_dir().join("app-2.bundle"));
    std::fs::write(env.drop_dir().join("junk.bundle"), b"not an archive").unwrap();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
    // One fresh directory per refusal, holding the candidate and its `reason`.
    let slots: Vec<std::path::PathBuf> = std::fs::read_dir(&quarantine)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(slots.len(), 2, "{slots:?}");
    let reason = |name: &str| {
        let slot = slots
            .iter()
            .find(|s| s.join(name).is_file())
            .unwrap_or_else(|| panic!("{name} quarantined"));
        std::fs::read_to_string(slot.join("reason")).unwrap()
    };
    assert!(
        reason("app-2.bundle").contains("\"a.yaml\" is 96 bytes, the verified manifest lists 93"),
        "{}",
        reason("app-2.bundle")
    );
    assert!(reason("junk.bundle").contains("archive is truncated or corrupt"));
    assert!(
        env.drop_dir().join("app-1.bundle").exists(),
        "good exports stay"
    );
    let events = String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned();
    assert!(events.contains("quarantined to"), "{events}");
}
