//! Health (pure): kstatus-style rules computing whether a live object is current.

use serde_json::Value;

/// The health of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Current,
    InProgress(String),
    Failed(String),
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

/// Computes the health of `obj` as returned by the API server.
pub fn health(obj: &Value) -> Health {
    let kind = obj["kind"].as_str().unwrap_or_default();
    let generation = obj["metadata"]["generation"].as_i64();
    let observed = obj["status"]["observedGeneration"].as_i64();
    if obj["metadata"]["deletionTimestamp"].is_string() {
        return Health::InProgress("being deleted".into());
    }
    if let (Some(g), Some(o)) = (generation, observed) {
        if o < g {
            return Health::InProgress(format!("observed generation {o} < generation {g}"));
        }
    }
    match kind {
        "Deployment" => deployment(obj, observed),
        "StatefulSet" => statefulset(obj, observed),
        "DaemonSet" => daemonset(obj, observed),
        "Job" => job(obj),
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

/// Generic rules: Stalled means failed, Reconciling or Ready=False mean in progress.
fn generic(obj: &Value) -> Health {
    if is_true(condition(obj, "Stalled")) == Some(true) {
        return Health::Failed(
            condition(obj, "Stalled")
                .and_then(|c| c["message"].as_str())
                .unwrap_or("stalled")
                .into(),
        );
    }
    if is_true(condition(obj, "Reconciling")) == Some(true) {
        return Health::InProgress("reconciling".into());
    }
    if is_true(condition(obj, "Ready")) == Some(false) {
        return Health::InProgress(
            condition(obj, "Ready")
                .and_then(|c| c["message"].as_str())
                .unwrap_or("not ready")
                .into(),
        );
    }
    Health::Current
}

fn deployment(obj: &Value, observed: Option<i64>) -> Health {
    if observed.is_none() {
        return Health::InProgress("deployment not observed yet".into());
    }
    if let Some(p) = condition(obj, "Progressing") {
        if p["reason"] == "ProgressDeadlineExceeded" {
            return Health::Failed("progress deadline exceeded".into());
        }
    }
    let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let s = &obj["status"];
    if int(&s["updatedReplicas"]) < want {
        return Health::InProgress(format!(
            "{}/{want} replicas updated",
            int(&s["updatedReplicas"])
        ));
    }
    if int(&s["replicas"]) > int(&s["updatedReplicas"]) {
        return Health::InProgress("old replicas are pending termination".into());
    }
    if int(&s["availableReplicas"]) < want {
        return Health::InProgress(format!(
            "{}/{want} replicas available",
            int(&s["availableReplicas"])
        ));
    }
    Health::Current
}

fn statefulset(obj: &Value, observed: Option<i64>) -> Health {
    if observed.is_none() {
        return Health::InProgress("statefulset not observed yet".into());
    }
    let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let s = &obj["status"];
    if int(&s["readyReplicas"]) < want {
        return Health::InProgress(format!(
            "{}/{want} replicas ready",
            int(&s["readyReplicas"])
        ));
    }
    if obj["spec"]["updateStrategy"]["type"] != "OnDelete"
        && s["currentRevision"] != s["updateRevision"]
    {
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
    if int(&s["updatedNumberScheduled"]) < desired || int(&s["numberAvailable"]) < desired {
        return Health::InProgress(format!(
            "{}/{desired} pods available",
            int(&s["numberAvailable"])
        ));
    }
    Health::Current
}

fn job(obj: &Value) -> Health {
    if is_true(condition(obj, "Failed")) == Some(true) {
        let msg = condition(obj, "Failed")
            .and_then(|c| c["message"].as_str())
            .unwrap_or("job failed");
        return Health::Failed(msg.into());
    }
    if is_true(condition(obj, "Complete")) == Some(true) {
        return Health::Current;
    }
    Health::InProgress("job not complete".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_rules() {
        let mut d = json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1}});
        assert!(matches!(health(&d), Health::InProgress(_)));
        d["status"] = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1});
        assert_eq!(
            health(&d),
            Health::InProgress("1/2 replicas available".into())
        );
        d["status"]["availableReplicas"] = json!(2);
        assert_eq!(health(&d), Health::Current);
        d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert!(matches!(health(&d), Health::Failed(_)));
    }

    #[test]
    fn statefulset_daemonset_job_crd_namespace() {
        let sts = json!({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "readyReplicas": 1, "currentRevision": "a", "updateRevision": "b"}});
        assert!(matches!(health(&sts), Health::InProgress(_)));
        let ds = json!({"kind": "DaemonSet", "metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1, "numberAvailable": 1}});
        assert_eq!(health(&ds), Health::Current);
        let job = json!({"kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True", "message": "boom"}]}});
        assert_eq!(health(&job), Health::Failed("boom".into()));
        let crd = json!({"kind": "CustomResourceDefinition", "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(health(&crd), Health::Current);
        let ns = json!({"kind": "Namespace", "status": {"phase": "Terminating"}});
        assert!(matches!(health(&ns), Health::InProgress(_)));
        let cm = json!({"kind": "ConfigMap"});
        assert_eq!(health(&cm), Health::Current);
        let cr = json!({"kind": "Thing", "status": {"conditions": [{"type": "Stalled", "status": "True", "message": "bad"}]}});
        assert_eq!(health(&cr), Health::Failed("bad".into()));
    }
}
