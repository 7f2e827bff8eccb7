//! Simulated controllers: workloads roll out and become ready after a delay (or never, for a
//! marked image), Jobs complete or fail, Namespaces are Active, CRDs become Established.

use super::resources::ResourceType;
use super::store::SimConfig;
use serde_json::{json, Value};
use std::time::Duration;

/// Annotation that marks a workload as never becoming ready.
pub const NEVER_READY_ANNOTATION: &str = "kube-sim.ferry.dev/never-ready";

fn images(obj: &Value) -> Vec<String> {
    let spec = if obj["kind"] == "CronJob" {
        &obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &obj["spec"]["template"]["spec"]
    };
    spec["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["image"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn marked(obj: &Value, patterns: &[String]) -> bool {
    images(obj)
        .iter()
        .any(|i| patterns.iter().any(|p| i.contains(p.as_str())))
}

fn never_ready(obj: &Value, config: &SimConfig) -> bool {
    obj["metadata"]["annotations"][NEVER_READY_ANNOTATION] == "true"
        || marked(obj, &config.never_ready_images)
}

fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// Sets the status right after a write; returns when the controller will act next, if at all.
pub fn on_write(
    rt: &ResourceType,
    obj: &mut Value,
    generation_changed: bool,
    config: &SimConfig,
) -> Option<Duration> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            obj["status"] = json!({"phase": "Active"});
            None
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if obj["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Established"))
            {
                return None;
            }
            obj["status"] = json!({"conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"}],
                "acceptedNames": obj["spec"]["names"].clone()});
            Some(config.crd_delay)
        }
        ("apps", _) if generation_changed => {
            let n = replicas(obj);
            let observed = obj["metadata"]["generation"].as_i64().unwrap_or(1) - 1;
            obj["status"] = match rt.kind.as_str() {
                "DaemonSet" => {
                    json!({"observedGeneration": observed, "desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 0, "numberUnavailable": 1})
                }
                _ => {
                    json!({"observedGeneration": observed, "replicas": n, "updatedReplicas": 0, "unavailableReplicas": n,
                    "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated"},
                                   {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}]})
                }
            };
            Some(config.ready_delay)
        }
        ("batch", "Job") if generation_changed && obj["status"]["conditions"].is_null() => {
            obj["status"] = json!({"active": 1});
            Some(config.ready_delay)
        }
        _ => None,
    }
}

/// What the controller does once the delay has passed.
pub fn settle(obj: &mut Value, config: &SimConfig) {
    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
    let n = replicas(obj);
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    if kind == "Job" {
        obj["status"] = if marked(obj, &config.failing_images) {
            json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]})
        } else {
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
        };
        return;
    }
    let stuck = never_ready(obj, config);
    obj["status"] = match (kind.as_str(), stuck) {
        ("DaemonSet", false) => {
            json!({"observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "updatedNumberScheduled": 1, "numberReady": 1, "numberAvailable": 1})
        }
        ("DaemonSet", true) => {
            json!({"observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "updatedNumberScheduled": 1, "numberReady": 0, "numberUnavailable": 1})
        }
        ("StatefulSet", false) => {
            json!({"observedGeneration": generation, "replicas": n, "readyReplicas": n, "currentReplicas": n,
            "updatedReplicas": n, "availableReplicas": n, "currentRevision": format!("r{generation}"), "updateRevision": format!("r{generation}")})
        }
        ("StatefulSet", true) => {
            json!({"observedGeneration": generation, "replicas": n, "readyReplicas": 0, "currentReplicas": n,
            "updatedReplicas": n, "currentRevision": format!("r{generation}"), "updateRevision": format!("r{generation}")})
        }
        (_, false) => {
            json!({"observedGeneration": generation, "replicas": n, "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                           {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]})
        }
        (_, true) => {
            json!({"observedGeneration": generation, "replicas": n, "updatedReplicas": n, "unavailableReplicas": n,
            "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                           {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]})
        }
    };
}

/// Marks a CRD Established.
pub fn establish_crd(obj: &mut Value) {
    obj["status"] = json!({"conditions": [
        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}],
        "acceptedNames": obj["spec"]["names"].clone(),
        "storedVersions": obj["spec"]["versions"].as_array().map(|vs| vs.iter().filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect::<Vec<_>>()).unwrap_or_default()});
}
