//! Table tests of the kstatus rules.

use super::*;
use serde_json::{json, Value};

fn check(cases: &[(&str, Value, Facts, Health)]) {
    for (name, obj, facts, want) in cases {
        assert_eq!(&health(obj, facts), want, "case {name}");
    }
}

fn cur() -> Health {
    Health::Current
}
fn prog(s: &str) -> Health {
    Health::InProgress(s.into())
}
fn f() -> Facts {
    Facts::default()
}

#[test]
fn deployments() {
    let d = |status: Value| json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status});
    check(&[
        (
            "old generation",
            d(json!({"observedGeneration": 1})),
            f(),
            prog("observed generation 1 < generation 2"),
        ),
        (
            "not observed",
            json!({"kind": "Deployment", "spec": {}}),
            f(),
            prog("deployment not observed yet"),
        ),
        (
            "scaling up",
            d(json!({"observedGeneration": 2, "replicas": 1})),
            f(),
            prog("replicas: 1/2"),
        ),
        (
            "updating",
            d(json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1})),
            f(),
            prog("updated replicas: 1/2"),
        ),
        (
            "old pods",
            d(json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2})),
            f(),
            prog("pending termination: 1"),
        ),
        (
            "unavailable",
            d(
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
            ),
            f(),
            prog("available replicas: 1/2"),
        ),
        (
            "current",
            d(
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2}),
            ),
            f(),
            cur(),
        ),
        (
            "deadline",
            d(
                json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}]}),
            ),
            f(),
            Health::Failed("too slow".into()),
        ),
        (
            "terminating",
            json!({"kind": "Deployment", "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}),
            f(),
            prog("terminating"),
        ),
    ]);
}

#[test]
fn statefulsets_and_daemonsets() {
    let s = |spec: Value, status: Value| json!({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": spec, "status": status});
    let all = json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "currentReplicas": 1, "updatedReplicas": 2, "currentRevision": "a", "updateRevision": "b"});
    check(&[
        (
            "rolling",
            s(json!({"replicas": 3}), all.clone()),
            f(),
            prog("updated replicas: 2/3"),
        ),
        (
            "partition reached",
            s(
                json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}),
                all.clone(),
            ),
            f(),
            cur(),
        ),
        (
            "partition pending",
            s(
                json!({"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 0}}}),
                json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 1}),
            ),
            f(),
            prog("ready replicas: 1/3"),
        ),
        (
            "on delete",
            s(
                json!({"replicas": 3, "updateStrategy": {"type": "OnDelete"}}),
                all,
            ),
            f(),
            cur(),
        ),
        (
            "done",
            s(
                json!({"replicas": 1}),
                json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "currentReplicas": 1, "currentRevision": "a", "updateRevision": "a"}),
            ),
            f(),
            cur(),
        ),
        (
            "ds",
            json!({"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1, "numberReady": 2}}),
            f(),
            prog("available: 1/2"),
        ),
    ]);
}

#[test]
fn jobs_pods_pvcs_and_generic() {
    let started = Facts {
        job_health: JobHealth::Started,
        ..Facts::default()
    };
    let wffc = Facts {
        waits_for_first_consumer: true,
        ..Facts::default()
    };
    let running_job = json!({"kind": "Job", "status": {"startTime": "t", "active": 1}});
    check(&[
        (
            "job running, complete rule",
            running_job.clone(),
            f(),
            prog("job not complete"),
        ),
        ("job running, started rule", running_job, started, cur()),
        (
            "job not started",
            json!({"kind": "Job", "status": {}}),
            started,
            prog("job not started"),
        ),
        (
            "complete job deleted by its TTL (foreground)",
            json!({"kind": "Job", "metadata": {"deletionTimestamp": "t", "finalizers": ["foregroundDeletion"]},
                   "status": {"conditions": [{"type": "Complete", "status": "True"}]}}),
            f(),
            cur(),
        ),
        (
            "failed job being deleted",
            json!({"kind": "Job", "metadata": {"deletionTimestamp": "t"},
                   "status": {"conditions": [{"type": "Failed", "status": "True", "message": "boom"}]}}),
            f(),
            Health::Failed("boom".into()),
        ),
        (
            "running job being deleted",
            json!({"kind": "Job", "metadata": {"deletionTimestamp": "t"}, "status": {"active": 1}}),
            f(),
            prog("terminating"),
        ),
        (
            "job failed",
            json!({"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True", "message": "boom"}]}}),
            f(),
            Health::Failed("boom".into()),
        ),
        (
            "job complete",
            json!({"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}}),
            f(),
            cur(),
        ),
        (
            "pod succeeded",
            json!({"kind": "Pod", "status": {"phase": "Succeeded"}}),
            f(),
            cur(),
        ),
        (
            "pod running ready",
            json!({"kind": "Pod", "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
            f(),
            cur(),
        ),
        (
            "pod crashing",
            json!({"kind": "Pod", "status": {"phase": "Running", "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
            f(),
            Health::Failed("container in CrashLoopBackOff".into()),
        ),
        (
            "pvc bound",
            json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}}),
            f(),
            cur(),
        ),
        (
            "pvc pending",
            json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}}),
            f(),
            prog("claim not bound"),
        ),
        (
            "pvc waits for consumer",
            json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}}),
            wffc,
            cur(),
        ),
        (
            "pvc node selected, provisioning",
            json!({"kind": "PersistentVolumeClaim", "metadata": {"annotations": {"volume.kubernetes.io/selected-node": "n1"}}, "status": {"phase": "Pending"}}),
            wffc,
            prog("claim not bound"),
        ),
        (
            "crd",
            json!({"kind": "CustomResourceDefinition", "status": {"conditions": [{"type": "Established", "status": "True"}]}}),
            f(),
            cur(),
        ),
        (
            "ns terminating",
            json!({"kind": "Namespace", "status": {"phase": "Terminating"}}),
            f(),
            prog("namespace is Terminating"),
        ),
        ("configmap", json!({"kind": "ConfigMap"}), f(), cur()),
        (
            "stalled",
            json!({"kind": "Thing", "status": {"conditions": [{"type": "Stalled", "status": "True", "message": "bad"}]}}),
            f(),
            Health::Failed("bad".into()),
        ),
    ]);
}

#[test]
fn kinds_no_controller_reports_on_are_settled_by_the_write() {
    let obj = |kind: &str, extra: Value| {
        let mut o = json!({"kind": kind, "metadata": {"name": "x", "uid": "u"}});
        if let (Some(o), Some(e)) = (o.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        o
    };
    let settled = [
        (
            "",
            "ConfigMap",
            obj("ConfigMap", json!({"data": {"a": "b"}})),
        ),
        ("", "ServiceAccount", obj("ServiceAccount", json!({}))),
        ("", "Secret", obj("Secret", json!({}))),
        ("rbac.authorization.k8s.io", "Role", obj("Role", json!({}))),
        (
            "",
            "Namespace",
            obj("Namespace", json!({"status": {"phase": "Active"}})),
        ),
        (
            "",
            "Service",
            obj("Service", json!({"spec": {"type": "ClusterIP"}})),
        ),
        ("", "Service", obj("Service", json!({"spec": {}}))),
    ];
    for (g, k, live) in &settled {
        assert!(
            settled_by_write(g, k, live),
            "{k} should be settled: {live}"
        );
    }
    let terminating =
        json!({"kind": "ConfigMap", "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}});
    let polled = [
        // A controller reports on these.
        ("apps", "Deployment", obj("Deployment", json!({"spec": {}}))),
        ("batch", "Job", obj("Job", json!({}))),
        (
            "",
            "PersistentVolumeClaim",
            obj("PersistentVolumeClaim", json!({})),
        ),
        (
            "policy",
            "PodDisruptionBudget",
            obj("PodDisruptionBudget", json!({})),
        ),
        (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            obj("CustomResourceDefinition", json!({})),
        ),
        ("example.com", "ConfigMap", obj("ConfigMap", json!({}))),
        (
            "",
            "Service",
            obj("Service", json!({"spec": {"type": "LoadBalancer"}})),
        ),
        // Not current as the write returned it.
        ("", "ConfigMap", terminating),
        (
            "",
            "Namespace",
            obj("Namespace", json!({"status": {"phase": "Terminating"}})),
        ),
        // Not what was written (a Status, an empty answer).
        ("", "ConfigMap", json!({"kind": "Status"})),
        ("", "ConfigMap", Value::Null),
    ];
    for (g, k, live) in &polled {
        assert!(
            !settled_by_write(g, k, live),
            "{g}/{k} should be polled: {live}"
        );
    }
}
