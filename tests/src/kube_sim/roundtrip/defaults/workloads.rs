//! apps/v1 and batch/v1 defaulting (`SetDefaults_Deployment`, `_DaemonSet`, `_StatefulSet`,
//! `_ReplicaSet`, `_Job`, `_CronJob`) and the Job strategy's generated selector.

use super::{default_ptr, default_str, each_item, object_at, pod};
use crate::kube_sim::roundtrip::quantity::QuantityError;
use serde_json::{json, Value};

/// The defaulters of an apps/v1 or batch/v1 kind.
pub fn apply(kind: &str, obj: &mut Value) -> Result<(), QuantityError> {
    match kind {
        "Deployment" => deployment(obj),
        "DaemonSet" => daemon_set(obj),
        "StatefulSet" => stateful_set(obj)?,
        "ReplicaSet" => {
            if let Some(spec) = object_at(obj, &["spec"]) {
                default_ptr(spec, "replicas", json!(1));
            }
        }
        "Job" => job(obj),
        "CronJob" => cron_job(obj),
        _ => return Ok(()),
    }
    let template: &[&str] = if kind == "CronJob" {
        &["spec", "jobTemplate", "spec", "template"]
    } else {
        &["spec", "template"]
    };
    pod::template_at(obj, template)
}

fn deployment(obj: &mut Value) {
    let Some(spec) = object_at(obj, &["spec"]) else {
        return;
    };
    default_ptr(spec, "replicas", json!(1));
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if let Some(s) = strategy.as_object_mut() {
        default_str(s, "type", "RollingUpdate");
        if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            default_ptr(s, "rollingUpdate", json!({}));
            if let Some(r) = s.get_mut("rollingUpdate").and_then(Value::as_object_mut) {
                default_ptr(r, "maxUnavailable", json!("25%"));
                default_ptr(r, "maxSurge", json!("25%"));
            }
        }
    }
    default_ptr(spec, "revisionHistoryLimit", json!(10));
    default_ptr(spec, "progressDeadlineSeconds", json!(600));
}

fn daemon_set(obj: &mut Value) {
    let Some(spec) = object_at(obj, &["spec"]) else {
        return;
    };
    let strategy = spec.entry("updateStrategy").or_insert_with(|| json!({}));
    if let Some(s) = strategy.as_object_mut() {
        default_str(s, "type", "RollingUpdate");
        if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            default_ptr(s, "rollingUpdate", json!({}));
            if let Some(r) = s.get_mut("rollingUpdate").and_then(Value::as_object_mut) {
                default_ptr(r, "maxUnavailable", json!(1));
                default_ptr(r, "maxSurge", json!(0));
            }
        }
    }
    default_ptr(spec, "revisionHistoryLimit", json!(10));
}

fn stateful_set(obj: &mut Value) -> Result<(), QuantityError> {
    if let Some(spec) = object_at(obj, &["spec"]) {
        default_str(spec, "podManagementPolicy", "OrderedReady");
        let strategy = spec.entry("updateStrategy").or_insert_with(|| json!({}));
        if let Some(s) = strategy.as_object_mut() {
            if super::unset_str(s.get("type")) {
                s.insert("type".into(), json!("RollingUpdate"));
                default_ptr(s, "rollingUpdate", json!({}));
            }
            if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                if let Some(r) = s.get_mut("rollingUpdate").and_then(Value::as_object_mut) {
                    default_ptr(r, "partition", json!(0));
                    // MaxUnavailableStatefulSet, on by default in 1.37.
                    default_ptr(r, "maxUnavailable", json!(1));
                }
            }
        }
        let policy = spec
            .entry("persistentVolumeClaimRetentionPolicy")
            .or_insert_with(|| json!({}));
        if let Some(p) = policy.as_object_mut() {
            default_str(p, "whenDeleted", "Retain");
            default_str(p, "whenScaled", "Retain");
        }
        default_ptr(spec, "replicas", json!(1));
        default_ptr(spec, "revisionHistoryLimit", json!(10));
        for claim in spec
            .get_mut("volumeClaimTemplates")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            pod::claim(claim)?;
        }
    }
    Ok(())
}

fn job(obj: &mut Value) {
    let template_labels = obj["spec"]["template"]["metadata"]["labels"].clone();
    let Some(spec) = object_at(obj, &["spec"]) else {
        return;
    };
    if super::unset(spec.get("completions")) && super::unset(spec.get("parallelism")) {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default_ptr(spec, "parallelism", json!(1));
    let per_index = !super::unset(spec.get("backoffLimitPerIndex"));
    default_ptr(
        spec,
        "backoffLimit",
        json!(if per_index { i64::from(i32::MAX) } else { 6 }),
    );
    default_ptr(spec, "completionMode", json!("NonIndexed"));
    default_ptr(spec, "suspend", json!(false));
    let with_failure_policy = !super::unset(spec.get("podFailurePolicy"));
    default_ptr(
        spec,
        "podReplacementPolicy",
        json!(if with_failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        }),
    );
    if let Some(policy) = spec
        .get_mut("podFailurePolicy")
        .and_then(Value::as_object_mut)
    {
        for rule in each_item(policy, "rules") {
            for pattern in each_item(rule, "onPodConditions") {
                default_str(pattern, "status", "True");
            }
        }
    }
    let job_labels_empty = obj["metadata"]["labels"]
        .as_object()
        .is_none_or(|l| l.is_empty());
    if template_labels.is_object() && job_labels_empty {
        obj["metadata"]["labels"] = template_labels;
    }
}

/// The Job strategy's selector generation (`manualSelector` unset or false), run once the
/// object has its uid, followed by the label defaulting the stored object gets on read.
pub fn job_selector(obj: &mut Value) {
    let uid = obj["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if obj["spec"]["manualSelector"] == json!(true) || !obj["spec"].is_object() {
        return;
    }
    if obj["spec"]["manualSelector"].is_null() {
        obj["spec"]["manualSelector"] = json!(false);
    }
    if !obj["spec"]["template"].is_object() {
        obj["spec"]["template"] = json!({});
    }
    if !obj["spec"]["template"]["metadata"].is_object() {
        obj["spec"]["template"]["metadata"] = json!({});
    }
    if !obj["spec"]["template"]["metadata"]["labels"].is_object() {
        obj["spec"]["template"]["metadata"]["labels"] = json!({});
    }
    if let Some(labels) = obj["spec"]["template"]["metadata"]["labels"].as_object_mut() {
        for (k, v) in [
            ("batch.kubernetes.io/job-name", &name),
            ("job-name", &name),
            ("batch.kubernetes.io/controller-uid", &uid),
            ("controller-uid", &uid),
        ] {
            labels.entry(k).or_insert_with(|| json!(v));
        }
    }
    if !obj["spec"]["selector"].is_object() {
        obj["spec"]["selector"] = json!({});
    }
    if !obj["spec"]["selector"]["matchLabels"].is_object() {
        obj["spec"]["selector"]["matchLabels"] = json!({});
    }
    if let Some(m) = obj["spec"]["selector"]["matchLabels"].as_object_mut() {
        m.entry("batch.kubernetes.io/controller-uid")
            .or_insert_with(|| json!(uid));
    }
    if obj["metadata"]["labels"]
        .as_object()
        .is_none_or(|l| l.is_empty())
    {
        obj["metadata"]["labels"] = obj["spec"]["template"]["metadata"]["labels"].clone();
    }
}

fn cron_job(obj: &mut Value) {
    let Some(spec) = object_at(obj, &["spec"]) else {
        return;
    };
    default_str(spec, "concurrencyPolicy", "Allow");
    default_ptr(spec, "suspend", json!(false));
    default_ptr(spec, "successfulJobsHistoryLimit", json!(3));
    default_ptr(spec, "failedJobsHistoryLimit", json!(1));
}
