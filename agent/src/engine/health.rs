//! Health (pure): kstatus rules (as fluxcd/cli-utils computes them) deciding whether a live
//! object is current, in progress or failed, plus the few facts kstatus cannot see from one
//! object (how Jobs count, a PVC's storage class binding mode). Kinds that no controller
//! reports on are settled by the object a write returned ([`settled_by_write`]).

use serde::Deserialize;
use serde_json::Value;

/// When a Job counts as healthy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobHealth {
    #[default]
    Complete,
    Started,
}

/// The health of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Current,
    InProgress(String),
    Failed(String),
}

/// Facts beyond the object itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    pub job_health: JobHealth,
    /// The PVC's storage class binds on first consumer (k3s local-path).
    pub waits_for_first_consumer: bool,
}

fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

fn is_true(c: Option<&Value>) -> Option<bool> {
    c.map(|c| c["status"] == "True")
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn message(c: Option<&Value>, default: &str) -> String {
    c.and_then(|c| c["message"].as_str())
        .unwrap_or(default)
        .to_string()
}

fn progress(what: &str, have: i64, want: i64) -> Health {
    Health::InProgress(format!("{what}: {have}/{want}"))
}

/// Computes the health of `obj` as returned by the API server.
pub fn health(obj: &Value, facts: &Facts) -> Health {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let finished_job = kind == "Job"
        && ["Complete", "Failed"]
            .iter()
            .any(|c| is_true(condition(obj, c)) == Some(true));
    if finished_job {
        // Its outcome holds while it is deleted (the TTL controller deletes in foreground).
        return job(obj, facts.job_health);
    }
    if obj["metadata"]["deletionTimestamp"].is_string() {
        return Health::InProgress("terminating".into());
    }
    let generation = obj["metadata"]["generation"].as_i64();
    let observed = obj["status"]["observedGeneration"].as_i64();
    if let (Some(g), Some(o)) = (generation, observed) {
        if o < g {
            return Health::InProgress(format!("observed generation {o} < generation {g}"));
        }
    }
    match kind {
        "Deployment" => deployment(obj, observed),
        "StatefulSet" => statefulset(obj, observed),
        "DaemonSet" => daemonset(obj, observed),
        "Job" => job(obj, facts.job_health),
        "Pod" => pod(obj),
        "PersistentVolumeClaim" => pvc(obj, facts.waits_for_first_consumer),
        "CustomResourceDefinition" => match (
            is_true(condition(obj, "Established")),
            is_true(condition(obj, "NamesAccepted")),
        ) {
            (_, Some(false)) => Health::Failed("CRD names not accepted".into()),
            (Some(true), _) => Health::Current,
            _ => Health::InProgress("CRD not established yet".into()),
        },
        "Namespace" => match obj["status"]["phase"].as_str() {
            Some("Active") | None => Health::Current,
            Some(p) => Health::InProgress(format!("namespace is {p}")),
        },
        _ => generic(obj),
    }
}

/// Kinds whose health no controller writes: by the rules above their health is whether the
/// object exists and is not being deleted (a Namespace: also its phase, set by the apiserver
/// itself), which the object a write returned already says. (group, kind).
const SETTLED_BY_WRITE: &[(&str, &str)] = &[
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "ServiceAccount"),
    ("", "Namespace"),
    ("", "LimitRange"),
    ("", "ResourceQuota"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "StorageClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
];

/// Whether no controller reports on `obj` of (`group`, `kind`) (a Service unless it is a
/// LoadBalancer, whose address a controller assigns): its health is whether it exists and is
/// not being deleted.
pub fn reports_nothing(group: &str, kind: &str, obj: &Value) -> bool {
    SETTLED_BY_WRITE.contains(&(group, kind))
        || (group.is_empty() && kind == "Service" && obj["spec"]["type"] != "LoadBalancer")
}

/// Whether `live`, the object a write of (`group`, `kind`) just returned, settles its health
/// for the wait that follows (no GET needed): a kind that [`reports_nothing`], current as
/// returned. Anything else (workloads, CRDs, custom resources, a terminating object) is polled.
pub fn settled_by_write(group: &str, kind: &str, live: &Value) -> bool {
    reports_nothing(group, kind, live)
        && live["kind"] == kind
        && health(live, &Facts::default()) == Health::Current
}

/// Generic rules: Stalled means failed, Reconciling or Ready=False mean in progress.
fn generic(obj: &Value) -> Health {
    if is_true(condition(obj, "Stalled")) == Some(true) {
        return Health::Failed(message(condition(obj, "Stalled"), "stalled"));
    }
    if is_true(condition(obj, "Reconciling")) == Some(true) {
        return Health::InProgress("reconciling".into());
    }
    if is_true(condition(obj, "Ready")) == Some(false) {
        return Health::InProgress(message(condition(obj, "Ready"), "not ready"));
    }
    Health::Current
}

fn deployment(obj: &Value, observed: Option<i64>) -> Health {
    if observed.is_none() {
        return Health::InProgress("deployment not observed yet".into());
    }
    if let Some(p) = condition(obj, "Progressing") {
        if p["reason"] == "ProgressDeadlineExceeded" {
            return Health::Failed(message(Some(p), "progress deadline exceeded"));
        }
    }
    let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let s = &obj["status"];
    let (replicas, updated) = (int(&s["replicas"]), int(&s["updatedReplicas"]));
    let (ready, available) = (int(&s["readyReplicas"]), int(&s["availableReplicas"]));
    if want > replicas {
        return progress("replicas", replicas, want);
    }
    if want > updated {
        return progress("updated replicas", updated, want);
    }
    if replicas > want {
        return Health::InProgress(format!("pending termination: {}", replicas - want));
    }
    if updated > available {
        return progress("available replicas", available, updated);
    }
    if want > ready {
        return progress("ready replicas", ready, want);
    }
    Health::Current
}

fn statefulset(obj: &Value, observed: Option<i64>) -> Health {
    if observed.is_none() {
        return Health::InProgress("statefulset not observed yet".into());
    }
    let strategy = &obj["spec"]["updateStrategy"];
    if strategy["type"] == "OnDelete" {
        // Pods are replaced only when someone deletes them: nothing to wait for.
        return Health::Current;
    }
    let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let s = &obj["status"];
    if want > int(&s["replicas"]) {
        return progress("replicas", int(&s["replicas"]), want);
    }
    if want > int(&s["readyReplicas"]) {
        return progress("ready replicas", int(&s["readyReplicas"]), want);
    }
    let partition = strategy["rollingUpdate"]["partition"].as_i64().unwrap_or(0);
    if partition > 0 {
        let expected = (want - partition).max(0);
        if int(&s["updatedReplicas"]) < expected {
            return progress("partitioned roll out", int(&s["updatedReplicas"]), expected);
        }
        return Health::Current;
    }
    if want > int(&s["currentReplicas"]) && s["currentRevision"] != s["updateRevision"] {
        return progress("updated replicas", int(&s["updatedReplicas"]), want);
    }
    if s["currentRevision"] != s["updateRevision"] {
        return Health::InProgress("rolling update in progress".into());
    }
    Health::Current
}

fn daemonset(obj: &Value, observed: Option<i64>) -> Health {
    if observed.is_none() {
        return Health::InProgress("daemonset not observed yet".into());
    }
    let s = &obj["status"];
    let desired = int(&s["desiredNumberScheduled"]);
    for (what, have) in [
        (
            "scheduled",
            int(&s["currentNumberScheduled"]).max(int(&s["updatedNumberScheduled"])),
        ),
        ("updated", int(&s["updatedNumberScheduled"])),
        ("available", int(&s["numberAvailable"])),
        (
            "ready",
            int(&s["numberReady"]).max(int(&s["numberAvailable"])),
        ),
    ] {
        if desired > have {
            return progress(what, have, desired);
        }
    }
    Health::Current
}

fn job(obj: &Value, rule: JobHealth) -> Health {
    if is_true(condition(obj, "Failed")) == Some(true) {
        return Health::Failed(message(condition(obj, "Failed"), "job failed"));
    }
    if is_true(condition(obj, "Complete")) == Some(true) {
        return Health::Current;
    }
    match rule {
        JobHealth::Started if obj["status"]["startTime"].is_string() => Health::Current,
        JobHealth::Started => Health::InProgress("job not started".into()),
        JobHealth::Complete => Health::InProgress("job not complete".into()),
    }
}

fn pod(obj: &Value) -> Health {
    match obj["status"]["phase"].as_str() {
        Some("Succeeded") => Health::Current,
        Some("Failed") => Health::Failed("pod failed".into()),
        Some("Running") if is_true(condition(obj, "Ready")) == Some(true) => Health::Current,
        _ => {
            let crash = obj["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["state"]["waiting"]["reason"] == "CrashLoopBackOff");
            if crash {
                Health::Failed("container in CrashLoopBackOff".into())
            } else {
                Health::InProgress("pod not ready".into())
            }
        }
    }
}

fn pvc(obj: &Value, waits_for_first_consumer: bool) -> Health {
    match obj["status"]["phase"].as_str() {
        Some("Bound") => Health::Current,
        Some("Lost") => Health::Failed("claim lost its volume".into()),
        Some("Pending") | None
            if waits_for_first_consumer
                && obj["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]
                    .is_null() =>
        {
            // Binds when the first pod using it is scheduled: not a failure, nothing to wait for.
            Health::Current
        }
        _ => Health::InProgress("claim not bound".into()),
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
