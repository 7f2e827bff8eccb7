//! Item 7: controllers on a clock the test controls (Deployments, scale, status,
//! StatefulSets and DaemonSets).

use super::cluster::{cond, deployment, ns_yaml, Cluster, NEVER_READY, PAUSE, PAUSE_OLD};
use serde_json::Value;
use std::time::Duration;

// Item 7: controllers on a clock the test controls

/// A Deployment's statuses from creation to available, through an update, and a rollout
/// that never becomes ready running into its progress deadline.
pub fn check_deployment_statuses(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("roll"));
    c.apply(
        "d.yaml",
        &deployment("roll", "web", PAUSE_OLD, "  progressDeadlineSeconds: 30\n"),
    );
    if c.is_sim() {
        c.pass(Duration::ZERO);
        let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
        assert_eq!(d["status"]["observedGeneration"], 1);
        assert_eq!(
            cond(&d, "Progressing")["reason"],
            "NewReplicaSetCreated",
            "{d}"
        );
        assert_eq!(cond(&d, "Available")["status"], "False");
        assert_eq!(
            cond(&d, "Available")["reason"],
            "MinimumReplicasUnavailable"
        );
        assert_eq!(d["status"]["unavailableReplicas"], 1, "{d}");
    }
    c.wait(
        Duration::from_secs(5),
        &["-n", "roll", "deployment/web"],
        "--for=condition=Available",
    );
    let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
    for f in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        assert_eq!(d["status"][f], 1, "{f}: {d}");
    }
    assert!(d["status"]["unavailableReplicas"].is_null());
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    c.wait(Duration::ZERO, &["-n", "roll", "deployment/web"], "--for=jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}=NewReplicaSetAvailable");
    c.ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "roll",
        &format!("main={PAUSE}"),
    ]);
    if c.is_sim() {
        c.pass(Duration::ZERO);
        let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
        assert_eq!(d["status"]["observedGeneration"], 2);
        assert_eq!(
            cond(&d, "Available")["status"],
            "True",
            "the old ReplicaSet still serves: {d}"
        );
    }
    c.wait(
        Duration::from_secs(5),
        &["-n", "roll", "deployment/web"],
        "--for=jsonpath={.status.updatedReplicas}=1",
    );
    c.wait(Duration::from_secs(5), &["-n", "roll", "deployment/web"], "--for=jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}=NewReplicaSetAvailable");
    let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let rs = c.json(&["get", "replicasets", "-n", "roll", "-l", "app=web"]);
    let mut sizes: Vec<i64> = rs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["spec"]["replicas"].as_i64().unwrap())
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        vec![0, 1],
        "the old ReplicaSet is scaled to zero and kept"
    );
    // A rollout that never becomes ready exceeds its deadline.
    c.ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "roll",
        &format!("main={NEVER_READY}"),
    ]);
    c.wait(Duration::from_secs(40), &["-n", "roll", "deployment/web"], "--for=jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}=ProgressDeadlineExceeded");
    let d = c.json(&["get", "deployment", "web", "-n", "roll"]);
    assert_eq!(cond(&d, "Progressing")["status"], "False");
    assert_eq!(
        cond(&d, "Available")["status"],
        "True",
        "the previous pods still serve"
    );
    c.ok(&["delete", "namespace", "roll", "--wait=false"]);
}

/// `kubectl scale` writes spec.replicas through `/scale`; an HPA owns replicas the same way.
pub fn check_scale_and_autoscaler(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("scale"));
    c.apply("d.yaml", &deployment("scale", "web", PAUSE, ""));
    c.ok(&["scale", "deployment", "web", "-n", "scale", "--replicas=3"]);
    let d = c.json(&[
        "get",
        "deployment",
        "web",
        "-n",
        "scale",
        "--show-managed-fields",
    ]);
    assert_eq!(d["spec"]["replicas"], 3);
    let mf = d["metadata"]["managedFields"].as_array().unwrap();
    let scale_entry = mf
        .iter()
        .find(|m| m["subresource"] == "scale")
        .unwrap_or_else(|| panic!("{mf:?}"));
    assert_eq!(scale_entry["operation"], "Update");
    assert_eq!(
        scale_entry["fieldsV1"],
        serde_json::json!({"f:spec": {"f:replicas": {}}})
    );
    let scale: Value = serde_json::from_str(&c.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/scale/deployments/web/scale",
    ]))
    .unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=web");
    c.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "scale",
        "--subresource=scale",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":1}}"#,
    ]);
    c.apply("hpa.yaml", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n  namespace: scale\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 4\n  metrics:\n  - type: Resource\n    resource:\n      name: cpu\n      target: {type: Utilization, averageUtilization: 80}\n");
    c.wait(
        Duration::from_secs(5),
        &["-n", "scale", "deployment/web"],
        "--for=jsonpath={.spec.replicas}=2",
    );
    let d = c.json(&[
        "get",
        "deployment",
        "web",
        "-n",
        "scale",
        "--show-managed-fields",
    ]);
    let mf = d["metadata"]["managedFields"].as_array().unwrap();
    let owner = mf
        .iter()
        .find(|m| m["subresource"] == "scale" && m["fieldsV1"]["f:spec"]["f:replicas"].is_object())
        .unwrap();
    assert_ne!(
        owner["manager"], "kubectl",
        "the autoscaler owns replicas now: {mf:?}"
    );
    c.ok(&["delete", "namespace", "scale", "--wait=false"]);
}

/// `/status` takes only status; the main resource ignores status.
pub fn check_status_subresource(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("stat"));
    c.apply("d.yaml", &deployment("stat", "web", PAUSE, ""));
    let patched: Value = serde_json::from_str(&c.ok(&["patch", "deployment", "web", "-n", "stat", "--subresource=status", "--type=merge", "-o", "json", "--show-managed-fields",
        "-p", r#"{"spec":{"replicas":5},"status":{"conditions":[{"type":"Audited","status":"True","reason":"Fidelity","message":"set through /status"}]}}"#])).unwrap();
    assert_eq!(
        patched["spec"]["replicas"], 1,
        "spec is not written through /status"
    );
    assert_eq!(cond(&patched, "Audited")["reason"], "Fidelity", "{patched}");
    let mf = patched["metadata"]["managedFields"].as_array().unwrap();
    assert!(
        mf.iter()
            .any(|m| m["manager"] == "kubectl-patch" && m["subresource"] == "status"),
        "{mf:?}"
    );
    let main: Value = serde_json::from_str(&c.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "stat",
        "--type=merge",
        "-o",
        "json",
        "-p",
        r#"{"status":{"replicas":7}}"#,
    ]))
    .unwrap();
    assert_ne!(
        main["status"]["replicas"], 7,
        "status is not written through the main resource"
    );
    c.ok(&["delete", "namespace", "stat", "--wait=false"]);
}

/// StatefulSet partition and OnDelete; DaemonSet on the one node.
pub fn check_statefulset_and_daemonset(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("sts"));
    let sts = |name: &str, image: &str, strategy: &str| {
        format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {name}\n  namespace: sts\nspec:\n  replicas: 2\n  serviceName: {name}\n  updateStrategy:\n{strategy}  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n")
    };
    let part = "    type: RollingUpdate\n    rollingUpdate: {partition: 1}\n";
    let ondel = "    type: OnDelete\n";
    c.apply("p.yaml", &sts("part", PAUSE_OLD, part));
    c.apply("o.yaml", &sts("ondel", PAUSE_OLD, ondel));
    for n in ["part", "ondel"] {
        c.wait(
            Duration::from_secs(5),
            &["-n", "sts", &format!("statefulset/{n}")],
            "--for=jsonpath={.status.readyReplicas}=2",
        );
    }
    c.apply("p.yaml", &sts("part", PAUSE, part));
    c.apply("o.yaml", &sts("ondel", PAUSE, ondel));
    c.wait(
        Duration::from_secs(10),
        &["-n", "sts", "statefulset/part"],
        "--for=jsonpath={.status.updatedReplicas}=1",
    );
    c.wait(
        Duration::from_secs(10),
        &["-n", "sts", "statefulset/part"],
        "--for=jsonpath={.status.readyReplicas}=2",
    );
    let s = c.json(&["get", "statefulset", "part", "-n", "sts"]);
    assert_ne!(
        s["status"]["currentRevision"], s["status"]["updateRevision"],
        "{s}"
    );
    assert_eq!(s["status"]["currentReplicas"], 1);
    let p0 = c.json(&["get", "pod", "part-0", "-n", "sts"]);
    assert_eq!(
        p0["metadata"]["labels"]["controller-revision-hash"], s["status"]["currentRevision"],
        "below the partition: old revision"
    );
    let p1 = c.json(&["get", "pod", "part-1", "-n", "sts"]);
    assert_eq!(
        p1["metadata"]["labels"]["controller-revision-hash"],
        s["status"]["updateRevision"]
    );
    // OnDelete: nothing changes until a pod is deleted.
    c.pass(Duration::from_secs(10));
    let o = c.json(&["get", "statefulset", "ondel", "-n", "sts"]);
    assert!(
        o["status"]["updatedReplicas"].is_null() || o["status"]["updatedReplicas"] == 0,
        "{o}"
    );
    c.ok(&["delete", "pod", "ondel-1", "-n", "sts", "--wait=false"]);
    c.wait(
        Duration::from_secs(10),
        &["-n", "sts", "statefulset/ondel"],
        "--for=jsonpath={.status.updatedReplicas}=1",
    );
    c.apply("ds.yaml", &format!("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\n  namespace: sts\nspec:\n  selector:\n    matchLabels: {{app: agent}}\n  template:\n    metadata:\n      labels: {{app: agent}}\n    spec:\n      containers:\n      - name: main\n        image: {PAUSE}\n"));
    c.wait(
        Duration::from_secs(5),
        &["-n", "sts", "daemonset/agent"],
        "--for=jsonpath={.status.numberReady}=1",
    );
    let ds = c.json(&["get", "daemonset", "agent", "-n", "sts"]);
    assert_eq!(ds["status"]["desiredNumberScheduled"], 1);
    assert_eq!(ds["status"]["updatedNumberScheduled"], 1);
    c.ok(&["delete", "namespace", "sts", "--wait=false"]);
}
