//! Status simulation: workloads that never get ready, Jobs, HelmChart install Jobs and namespace cascades.

use super::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;
#[test]
fn never_ready_workloads_and_jobs() {
    let s = manual_sim(|c| c.ready_delay = Duration::from_secs(2));
    let c = C::new(&s);
    let d = |name: &str, image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"a": name}}, "template": {"metadata": {"labels": {"a": name}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
    };
    c.apply(
        "/apis/apps/v1/namespaces/default/deployments/good",
        "ferry",
        &d("good", "nginx"),
    );
    c.apply(
        "/apis/apps/v1/namespaces/default/deployments/bad",
        "ferry",
        &d("bad", "nginx:never-ready"),
    );
    let job = |name: &str, image: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": image}]}}}})
    };
    c.apply(
        "/apis/batch/v1/namespaces/default/jobs/ok",
        "ferry",
        &job("ok", "busybox"),
    );
    c.apply(
        "/apis/batch/v1/namespaces/default/jobs/ko",
        "ferry",
        &job("ko", "busybox:job-fails"),
    );
    let cond = |obj: &Value, kind: &str| {
        obj["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == kind).cloned())
            .unwrap_or_default()
    };
    s.settle();
    let good = s.object("apps", "Deployment", "default", "good").unwrap();
    assert_eq!(
        cond(&good, "Available")["status"],
        "False",
        "not ready before the clock moves"
    );
    s.advance(Duration::from_secs(2));
    let good = s.object("apps", "Deployment", "default", "good").unwrap();
    assert_eq!(good["status"]["readyReplicas"], 1);
    assert_eq!(good["status"]["observedGeneration"], 1);
    let bad = s.object("apps", "Deployment", "default", "bad").unwrap();
    assert!(bad["status"]["readyReplicas"].is_null());
    assert_eq!(cond(&bad, "Available")["status"], "False");
    // The failing Job retries backoffLimit (6) times, each pod failing after ready_delay.
    for _ in 0..8 {
        s.advance(Duration::from_secs(2));
    }
    let ok = s.object("batch", "Job", "default", "ok").unwrap();
    assert_eq!(cond(&ok, "Complete")["status"], "True", "{ok}");
    assert_eq!(cond(&ok, "SuccessCriteriaMet")["status"], "True");
    let ko = s.object("batch", "Job", "default", "ko").unwrap();
    assert_eq!(
        cond(&ko, "Failed")["reason"],
        "BackoffLimitExceeded",
        "{ko}"
    );
    assert_eq!(ko["status"]["failed"], 7);
}

#[test]
fn helmchart_gets_an_install_job_and_namespace_delete_cascades() {
    let s = sim();
    let c = C::new(&s);
    let hc = json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart", "metadata": {"name": "hello", "namespace": "kube-system"}, "spec": {"chartContent": "H4sI"}});
    assert_eq!(
        c.apply(
            "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/hello",
            "ferry",
            &hc
        )
        .0,
        201
    );
    s.settle();
    assert!(s
        .object("batch", "Job", "kube-system", "helm-install-hello")
        .is_some());
    c.apply(
        "/api/v1/namespaces/gone",
        "ferry",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}}),
    );
    c.apply("/api/v1/namespaces/gone/configmaps/x", "ferry", &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "gone"}}));
    assert_eq!(c.delete("/api/v1/namespaces/gone").0, 200);
    s.settle();
    assert!(s.object("", "ConfigMap", "gone", "x").is_none());
    assert!(s.object("", "Namespace", "", "gone").is_none());
}
