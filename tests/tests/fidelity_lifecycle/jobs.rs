//! Item 7: Jobs and the TTL controller, volumes, the helm-controller.

use super::cluster::{cond, ns_yaml, Cluster, PAUSE};
use std::time::Duration;

/// Jobs: conditions, times, failure after backoffLimit, and the TTL controller.
pub fn check_jobs_and_ttl(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("jobs"));
    let job = |name: &str, command: &str, extra: &str| {
        format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: jobs\nspec:\n  backoffLimit: 1\n{extra}  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: busybox:1.36\n        command: [sh, -c, \"{command}\"]\n")
    };
    c.apply(
        "ok.yaml",
        &job("ok", "true", "  ttlSecondsAfterFinished: 60\n"),
    );
    c.apply("ko.yaml", &job("ko", "echo job-fails; exit 1", ""));
    c.wait(
        Duration::from_secs(5),
        &["-n", "jobs", "job/ok"],
        "--for=condition=Complete",
    );
    let ok = c.json(&["get", "job", "ok", "-n", "jobs"]);
    assert_eq!(ok["status"]["succeeded"], 1);
    assert!(
        ok["status"]["startTime"].is_string() && ok["status"]["completionTime"].is_string(),
        "{ok}"
    );
    assert_eq!(cond(&ok, "SuccessCriteriaMet")["status"], "True", "{ok}");
    assert_eq!(cond(&ok, "Complete")["reason"], "CompletionsReached");
    c.wait(
        Duration::from_secs(10),
        &["-n", "jobs", "job/ko"],
        "--for=condition=Failed",
    );
    let ko = c.json(&["get", "job", "ko", "-n", "jobs"]);
    assert_eq!(ko["status"]["failed"], 2, "{ko}");
    assert_eq!(cond(&ko, "Failed")["reason"], "BackoffLimitExceeded");
    assert_eq!(cond(&ko, "FailureTarget")["status"], "True");
    if c.is_sim() {
        c.pass(Duration::from_secs(20));
        assert!(c.exists(&["job", "ok", "-n", "jobs"]), "not before the TTL");
    }
    c.wait(
        Duration::from_secs(40),
        &["-n", "jobs", "job/ok"],
        "--for=delete",
    );
    c.ok(&["delete", "namespace", "jobs", "--wait=false"]);
}

/// k3s's local-path class: a claim waits for its first consumer, then binds.
pub fn check_pvc_waits_for_first_consumer(c: &Cluster) {
    c.apply("ns.yaml", &ns_yaml("vol"));
    c.apply("pvc.yaml", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: vol\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n");
    c.pass(Duration::from_secs(5));
    let pvc = c.json(&["get", "pvc", "data", "-n", "vol"]);
    assert_eq!(
        pvc["spec"]["storageClassName"], "local-path",
        "the default class: {pvc}"
    );
    assert_eq!(pvc["status"]["phase"], "Pending");
    c.apply("pod.yaml", &format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: user\n  namespace: vol\nspec:\n  containers:\n  - name: main\n    image: {PAUSE}\n    volumeMounts: [{{name: d, mountPath: /data}}]\n  volumes:\n  - name: d\n    persistentVolumeClaim: {{claimName: data}}\n"));
    c.wait(
        Duration::from_secs(5),
        &["-n", "vol", "pvc/data"],
        "--for=jsonpath={.status.phase}=Bound",
    );
    let pvc = c.json(&["get", "pvc", "data", "-n", "vol"]);
    assert!(pvc["spec"]["volumeName"]
        .as_str()
        .unwrap()
        .starts_with("pvc-"));
    assert!(pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"].is_string());
    c.wait(
        Duration::from_secs(5),
        &["-n", "vol", "pod/user"],
        "--for=condition=Ready",
    );
    c.ok(&["delete", "namespace", "vol", "--wait=false"]);
}

/// The helm-controller: kube-sim's, or k3s's own (`ferry-control-plane --helm-controller`) on
/// the real server, where the checks poll (its controllers run on their own). No Helm runs on
/// either: the install Jobs' pods just succeed.
pub fn check_helm_controller(c: &Cluster) {
    let chart = |values: &str, name: &str| {
        format!("apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: {name}\n  namespace: kube-system\nspec:\n  chart: {name}\n  repo: https://charts.example.invalid\n  backOffLimit: 1\n  valuesContent: \"{values}\"\n")
    };
    let install = ["-n", "kube-system", "job/helm-install-hello"];
    // One read (the real helm-controller may delete the Job between two): its uid, or None
    // while there is none.
    let job_uid = || {
        let get = ["get", "job", "helm-install-hello", "-n", "kube-system"];
        let out = c.ok(&[&get[..], &["--ignore-not-found", "-o", "json"]].concat());
        serde_json::from_str::<serde_json::Value>(&out)
            .ok()
            .map(|j| j["metadata"]["uid"].clone())
    };
    c.apply("hc.yaml", &chart("a: 1", "hello"));
    c.pass(Duration::ZERO);
    eventually(c, "the install Job", || job_uid().is_some());
    c.wait(Duration::from_secs(5), &install, "--for=condition=Complete");
    let job = c.json(&["get", "job", "helm-install-hello", "-n", "kube-system"]);
    let first_hash = job["spec"]["template"]["metadata"]["annotations"]
        ["helmcharts.helm.cattle.io/configHash"]
        .clone();
    assert!(first_hash.as_str().unwrap().starts_with("SHA256="), "{job}");
    assert_eq!(
        job["spec"]["suspend"], false,
        "resumed once the job controller saw it"
    );
    let hc = c.json(&["get", "helmchart", "hello", "-n", "kube-system"]);
    assert_eq!(hc["status"]["jobName"], "helm-install-hello", "{hc}");
    assert_eq!(cond(&hc, "JobCreated")["status"], "True", "{hc}");
    assert_eq!(cond(&hc, "Failed")["status"], "False", "{hc}");
    assert_eq!(
        hc["metadata"]["finalizers"],
        serde_json::json!(["wrangler.cattle.io/on-helm-chart-remove"])
    );
    let old_uid = job["metadata"]["uid"].clone();
    c.apply("hc.yaml", &chart("a: 2", "hello"));
    c.pass(Duration::ZERO);
    eventually(c, "a chart change replaces the Job", || {
        job_uid().is_some_and(|u| u != old_uid)
    });
    let job = c.json(&["get", "job", "helm-install-hello", "-n", "kube-system"]);
    assert_ne!(
        job["spec"]["template"]["metadata"]["annotations"]["helmcharts.helm.cattle.io/configHash"],
        first_hash
    );
    // A HelmChartConfig of the same name changes the configHash: the Job is replaced again.
    let second_uid = job["metadata"]["uid"].clone();
    c.wait(Duration::from_secs(5), &install, "--for=condition=Complete");
    c.apply("hcc.yaml", "apiVersion: helm.cattle.io/v1\nkind: HelmChartConfig\nmetadata:\n  name: hello\n  namespace: kube-system\nspec:\n  valuesContent: \"b: 3\"\n");
    c.pass(Duration::ZERO);
    eventually(c, "a HelmChartConfig change replaces the Job", || {
        job_uid().is_some_and(|u| u != second_uid)
    });
    if c.is_sim() {
        // kube-sim's failure marker (`job-fails` in the chart); the node stand-in of the real
        // control plane fails pods by annotation, which a chart's Job does not carry.
        c.apply("bad.yaml", &chart("a: 1", "job-fails"));
        c.wait(
            Duration::from_secs(30),
            &["-n", "kube-system", "helmchart/job-fails"],
            "--for=condition=Failed",
        );
        let bad = c.json(&["get", "helmchart", "job-fails", "-n", "kube-system"]);
        assert_eq!(cond(&bad, "Failed")["reason"], "Job failed");
    }
    c.ok(&[
        "delete",
        "helmchart",
        "hello",
        "-n",
        "kube-system",
        "--wait=false",
    ]);
    c.pass(Duration::ZERO);
    eventually(c, "uninstall runs first", || {
        c.exists(&["job", "helm-delete-hello", "-n", "kube-system"])
            || !c.exists(&["helmchart", "hello", "-n", "kube-system"])
    });
    c.wait(
        Duration::from_secs(10),
        &["-n", "kube-system", "helmchart/hello"],
        "--for=delete",
    );
}

/// Polls `ok` (kube-sim: holds now, its clock already moved; a real server: up to 300 s).
fn eventually(c: &Cluster, what: &str, ok: impl Fn() -> bool) {
    let deadline = std::time::Instant::now()
        + if c.is_sim() {
            Duration::ZERO
        } else {
            Duration::from_secs(300)
        };
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within the bound"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
