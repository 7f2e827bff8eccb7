//! Real apps sync as they are: k3s's own bundled manifests (`tests/corpus/k3s`, with a
//! local-path claim), a podinfo-like app with its HorizontalPodAutoscaler and a chart as
//! `helm template` renders it (`tests/corpus/apps`), synced by the real `ferry-agent` into
//! kube-sim: applied, healthy, and a second pass writes nothing. The same scenarios run against
//! a real k3s in `real_cluster.rs`.

mod common;

use common::*;
use std::path::Path;

/// Requests and writes of the pass that just ran (the log is cleared before each pass).
struct PassCount {
    requests: usize,
    writes: usize,
}

/// Runs `sync --once` on a cleared log; the pass must succeed.
fn pass(env: &Env, label: &str) -> (String, PassCount) {
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{label}: {out}");
    let count = PassCount {
        requests: env.sim.log().len(),
        writes: env.sim.writes().len(),
    };
    eprintln!(
        "{label}: {} requests, {} writes",
        count.requests, count.writes
    );
    if std::env::var_os("REAL_APPS_DUMP").is_some() {
        for w in env.sim.writes() {
            eprintln!("  {} {}?{}", w.method, w.path, w.query);
        }
    }
    (out, count)
}

/// The first pass writes each object once (a server-side apply) and ferry's status ConfigMap.
fn assert_one_write_per_object(env: &Env, objects: usize, count: &PassCount) {
    let writes = env.sim.writes();
    assert_eq!(count.writes, objects + 1, "{writes:?}");
    let status: Vec<_> = writes
        .iter()
        .filter(|w| w.path.ends_with("/configmaps/ferry-status"))
        .collect();
    assert_eq!(status.len(), 1, "{writes:?}");
    assert!(writes
        .iter()
        .all(|w| w.method == "PATCH" && w.query.contains("fieldManager=ferry")));
}

fn assert_no_writes(env: &Env, label: &str, out: &str, count: &PassCount) {
    assert!(
        out.contains("up to date, nothing written"),
        "{label}: {out}"
    );
    assert_eq!(count.writes, 0, "{label}: {:?}", env.sim.writes());
}

fn dry_runs(env: &Env) -> usize {
    env.sim
        .log()
        .iter()
        .filter(|e| e.query.contains("dryRun=All"))
        .count()
}

fn events(env: &Env) -> String {
    String::from_utf8_lossy(&env.agent(&["events"]).stdout).into_owned()
}

/// The cheap pass (metadata lists) and then a full dry-run sweep (the server decides every
/// object): both write nothing.
fn twice_more_without_writes(env: &Env, objects: usize) {
    let (out, count) = pass(env, "second pass");
    assert_no_writes(env, "second pass", &out, &count);
    env.write_config("timeout: 10s\ndriftSweepInterval: 0s");
    let (out, count) = pass(env, "sweep pass");
    assert_no_writes(env, "sweep pass", &out, &count);
    assert!(
        dry_runs(env) >= objects,
        "the sweep asked the server about every object: {:?}",
        env.sim.log()
    );
}

#[test]
fn k3s_bundled_manifests_sync_as_one_bundle_healthy_then_without_writes() {
    let env = Env::new();
    env.write_config("timeout: 10s");
    let mut files = corpus_files("k3s", "k3s/", str::to_string);
    files.extend(corpus_files("apps/storage", "storage/", str::to_string));
    let objects: usize = files
        .iter()
        .map(|(_, t)| t.matches("\nkind: ").count() + usize::from(t.starts_with("kind: ")))
        .sum();
    env.publish(1, &files);
    let (out, count) = pass(&env, "first pass");
    assert!(out.contains("revision 1 applied"), "{out}");
    assert_one_write_per_object(&env, objects, &count);
    // Applied as written, and healthy: the Deployments are ready, the claim waits for a pod.
    for name in ["coredns", "local-path-provisioner", "metrics-server"] {
        let d = env
            .obj("apps", "Deployment", "kube-system", name)
            .unwrap_or_else(|| panic!("Deployment {name} applied"));
        assert_eq!(
            d["status"]["readyReplicas"], d["spec"]["replicas"],
            "{name}: {}",
            d["status"]
        );
    }
    let role = env
        .obj(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "",
            "system:coredns",
        )
        .expect("ClusterRole system:coredns");
    assert_eq!(role["metadata"]["labels"]["ferry.dev/sync"], "app");
    for name in ["crun", "nvidia", "wasmtime", "youki"] {
        assert!(
            env.obj("node.k8s.io", "RuntimeClass", "", name).is_some(),
            "RuntimeClass {name}"
        );
    }
    assert!(env
        .obj(
            "apiregistration.k8s.io",
            "APIService",
            "",
            "v1beta1.metrics.k8s.io"
        )
        .is_some());
    let script = env
        .obj("", "ConfigMap", "kube-system", "local-path-config")
        .unwrap();
    assert!(
        script["data"]["setup"].as_str().unwrap().contains("${"),
        "the provisioner's script keeps its own variables: {}",
        script["data"]
    );
    let pvc = env
        .obj("", "PersistentVolumeClaim", "kube-system", "cache")
        .unwrap();
    assert_eq!(pvc["status"]["phase"], "Pending");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "512Mi");
    twice_more_without_writes(&env, objects);
}

#[test]
fn podinfo_with_its_autoscaler_syncs_healthy_and_leaves_replicas_to_the_hpa() {
    let env = Env::new();
    env.write_config("timeout: 10s");
    env.publish(1, &corpus_files("apps/podinfo", "", str::to_string));
    let (out, count) = pass(&env, "first pass");
    assert!(out.contains("revision 1 applied"), "{out}");
    assert_one_write_per_object(&env, 4, &count);
    let d = env.obj("apps", "Deployment", "podinfo", "podinfo").unwrap();
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    // Floats become the server's canonical quantities; ${SITE} is a device variable.
    assert_eq!(c["resources"]["requests"]["cpu"], "100m");
    assert_eq!(c["resources"]["limits"]["cpu"], "1500m");
    assert_eq!(c["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(c["env"][1]["value"], "edge node lab");
    // kube-sim's HPA controller enforces minReplicas 2 through the scale subresource during
    // the first pass, as the real controller does within its sync period.
    assert_eq!(d["spec"]["replicas"], 2, "{}", d["status"]);
    let hpa = env
        .obj(
            "autoscaling",
            "HorizontalPodAutoscaler",
            "podinfo",
            "podinfo",
        )
        .unwrap();
    assert_eq!(
        hpa["spec"]["metrics"][1]["resource"]["target"]["averageValue"],
        "256Mi"
    );
    let (out, count) = pass(&env, "second pass");
    assert_no_writes(&env, "second pass", &out, &count);

    // Then the cheap pass, and two full dry-run sweeps: none puts replicas back.
    for i in 0..3 {
        if i == 1 {
            env.write_config("timeout: 10s\ndriftSweepInterval: 0s");
        }
        let (out, count) = pass(&env, &format!("pass {} after the autoscaler", i + 1));
        assert!(out.contains("nothing written"), "pass {i}: {out}");
        assert_eq!(
            count.writes,
            0,
            "no fight over replicas: {:?}",
            env.sim.writes()
        );
    }
    assert_eq!(
        env.obj("apps", "Deployment", "podinfo", "podinfo").unwrap()["spec"]["replicas"],
        2
    );
    let events = events(&env);
    let reports: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("field .spec.replicas is owned by manager"))
        .collect();
    assert_eq!(
        reports.len(),
        1,
        "the autoscaler's replicas reported once: {events}"
    );
    assert!(
        reports[0].contains("set through the scale subresource"),
        "{events}"
    );
}

#[test]
fn a_chart_rendered_by_helm_template_syncs_untouched_then_without_writes() {
    let env = Env::new();
    env.write_config("timeout: 10s");
    let files = corpus_files("apps/chart", "", str::to_string);
    env.publish(1, &files);
    let (out, count) = pass(&env, "first pass");
    assert!(out.contains("revision 1 applied"), "{out}");
    assert_one_write_per_object(&env, 6, &count);
    let cm = env
        .obj("", "ConfigMap", "relay", "edge-relay-scripts")
        .unwrap();
    let script = cm["data"]["entrypoint.sh"].as_str().unwrap();
    let written = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/apps/chart/rendered.yaml"),
    )
    .unwrap();
    for line in script.lines() {
        assert!(written.contains(line), "script line changed: {line:?}");
    }
    assert!(
        script.contains("RELAY_PORT=\"${RELAY_PORT:-8080}\"") && script.contains("(home ${HOME})")
    );
    let pdb = env
        .obj("policy", "PodDisruptionBudget", "relay", "edge-relay")
        .unwrap();
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );
    let d = env
        .obj("apps", "Deployment", "relay", "edge-relay")
        .unwrap();
    assert_eq!(d["metadata"]["labels"]["helm.sh/chart"], "relay-0.9.3");
    assert_eq!(
        d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["defaultMode"],
        493
    );
    assert_eq!(d["status"]["readyReplicas"], 2, "{}", d["status"]);
    assert!(env
        .obj("", "ServiceAccount", "relay", "edge-relay")
        .is_some());
    twice_more_without_writes(&env, 6);
}
