//! An autoscaler like the HorizontalPodAutoscaler controller: it keeps its target's replicas
//! within `minReplicas`..`maxReplicas` (kube-sim has no metrics, so it never scales on load)
//! and writes them through the target's `scale` subresource, which shows in the target's
//! managedFields as an Update with `subresource: scale`.

use super::super::store::{Key, State};
use super::condition;
use serde_json::json;

pub fn run(state: &mut State) {
    for (key, hpa) in state.objects_of("autoscaling", "horizontalpodautoscalers") {
        let target = &hpa["spec"]["scaleTargetRef"];
        let kind = target["kind"].as_str().unwrap_or_default();
        let plural = match kind {
            "Deployment" => "deployments",
            "StatefulSet" => "statefulsets",
            "ReplicaSet" => "replicasets",
            _ => continue,
        };
        let tkey: Key = (
            "apps".into(),
            plural.into(),
            key.2.clone(),
            target["name"].as_str().unwrap_or_default().to_string(),
        );
        let now = state.clock.now_rfc3339();
        let Some(obj) = state.stored_obj(&tkey).cloned() else {
            let status = json!({"currentReplicas": 0, "desiredReplicas": 0, "conditions": [
                condition("AbleToScale", "False", "FailedGetScale",
                    &format!("the HPA controller was unable to get the target's current scale: {}.apps \"{}\" not found", plural, tkey.3), &now)]});
            state.write_status(&key, keep_times(&hpa, status));
            continue;
        };
        let current = obj["spec"]["replicas"].as_i64().unwrap_or(1);
        let min = hpa["spec"]["minReplicas"].as_i64().unwrap_or(1);
        let max = hpa["spec"]["maxReplicas"].as_i64().unwrap_or(current);
        let desired = current.clamp(min, max.max(min));
        if desired != current {
            let _ = state.write_scale(&tkey, desired, super::MANAGER);
        }
        let limited = current != desired;
        let status = json!({"currentReplicas": current, "desiredReplicas": desired, "conditions": [
            condition("AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale", &now),
            condition("ScalingActive", "False", "FailedGetResourceMetric", "the HPA was unable to compute the replica count: no metrics known to kube-sim", &now),
            condition("ScalingLimited", if limited { "True" } else { "False" }, match (limited, current < min) { (false, _) => "DesiredWithinRange", (true, true) => "TooFewReplicas", (true, false) => "TooManyReplicas" },
                match (limited, current < min) { (false, _) => "the desired count is within the acceptable range", (true, true) => "the desired replica count is less than the minimum replica count", (true, false) => "the desired replica count is more than the maximum replica count" }, &now)]});
        state.write_status(&key, keep_times(&hpa, status));
    }
}

/// HPA conditions (which have no lastUpdateTime) keep their times while they hold; the status
/// names the generation it saw (HPAGeneration, 1.37).
fn keep_times(hpa: &serde_json::Value, mut new: serde_json::Value) -> serde_json::Value {
    new["observedGeneration"] = hpa["metadata"]["generation"].clone();
    let mut conds = hpa["status"]["conditions"].clone();
    for mut c in new["conditions"].as_array().cloned().unwrap_or_default() {
        if let Some(m) = c.as_object_mut() {
            m.remove("lastUpdateTime");
        }
        conds = super::merge_condition(&conds, c);
    }
    new["conditions"] = conds;
    new
}
