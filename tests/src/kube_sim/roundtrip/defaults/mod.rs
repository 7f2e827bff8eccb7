//! Defaulting of built-in kinds as the real API server does it on every write: the
//! `SetDefaults_*` functions of `pkg/apis/*/v1` (Kubernetes 1.37.2, run by the generated
//! defaulters on every nested struct), plus what the registries' strategies fill in
//! (`PrepareForCreate`, the Job selector). Cluster-wide allocations (Service cluster IPs and
//! node ports) live in [`service`] because they need the other Services.

pub mod pod;
pub mod service;
pub mod workloads;

use super::quantity::QuantityError;
use serde_json::{json, Map, Value};

/// A value that is absent or JSON `null` (a nil Go pointer, slice or map).
pub(crate) fn unset(v: Option<&Value>) -> bool {
    v.is_none_or(Value::is_null)
}

/// A Go string field at its zero value (absent, null or "").
pub(crate) fn unset_str(v: Option<&Value>) -> bool {
    v.is_none_or(|v| v.is_null() || v.as_str() == Some(""))
}

/// Sets `key` when it is nil (pointer fields).
pub(crate) fn default_ptr(m: &mut Map<String, Value>, key: &str, value: Value) {
    if unset(m.get(key)) {
        m.insert(key.into(), value);
    }
}

/// Sets `key` when it is the empty string (non-pointer string fields).
pub(crate) fn default_str(m: &mut Map<String, Value>, key: &str, value: &str) {
    if unset_str(m.get(key)) {
        m.insert(key.into(), json!(value));
    }
}

/// Sets an int32 field whose Go zero value (0) means "unset".
pub(crate) fn default_int(m: &mut Map<String, Value>, key: &str, value: i64) {
    if m.get(key)
        .is_none_or(|v| v.is_null() || v.as_i64() == Some(0))
    {
        m.insert(key.into(), json!(value));
    }
}

/// The object at `path`, created as `{}` on the way when `create` is set.
pub(crate) fn object_at<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for p in path {
        cur = cur.as_object_mut()?.get_mut(*p)?;
    }
    cur.as_object_mut()
}

/// Every object in the array at `key` of `m`.
pub(crate) fn each_item<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// Runs the defaulters of one kind on `obj` (the decoded body, before it meets the stored
/// object). Fails only where decoding fails (an unparsable quantity).
pub fn apply(group: &str, kind: &str, obj: &mut Value) -> Result<(), QuantityError> {
    match (group, kind) {
        ("", "Pod") => pod::pod(obj)?,
        ("", "PodTemplate") => pod::template_at(obj, &["template"])?,
        ("", "ReplicationController") => {
            pod::template_at(obj, &["spec", "template"])?;
            if let Some(spec) = object_at(obj, &["spec"]) {
                default_ptr(spec, "replicas", json!(1));
            }
        }
        ("", "Service") => service::defaults(obj),
        ("", "Secret") => secret(obj),
        ("", "Namespace") => namespace(obj),
        ("", "PersistentVolumeClaim") => {
            pod::claim(obj)?;
        }
        ("", "PersistentVolume") => persistent_volume(obj)?,
        ("", "ResourceQuota") => {
            for path in [
                &["spec", "hard"][..],
                &["status", "hard"],
                &["status", "used"],
            ] {
                pod::resource_list_at(obj, path)?;
            }
        }
        ("", "LimitRange") => pod::limit_range(obj)?,
        ("", "Endpoints") => {
            if let Some(m) = obj.as_object_mut() {
                for subset in each_item(m, "subsets") {
                    for port in each_item(subset, "ports") {
                        default_str(port, "protocol", "TCP");
                    }
                }
            }
        }
        ("apps", _) | ("batch", _) => workloads::apply(kind, obj)?,
        ("networking.k8s.io", "NetworkPolicy") => network_policy(obj),
        ("networking.k8s.io", "IngressClass") => {
            if let Some(p) = object_at(obj, &["spec", "parameters"]) {
                default_ptr(p, "scope", json!("Cluster"));
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => rbac_binding(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(obj),
        ("scheduling.k8s.io", "PriorityClass") => {
            if let Some(m) = obj.as_object_mut() {
                default_ptr(m, "preemptionPolicy", json!("PreemptLowerPriority"));
            }
        }
        ("resource.k8s.io", "ResourceClaim") => device_requests(obj, &["spec"]),
        ("resource.k8s.io", "ResourceClaimTemplate") => device_requests(obj, &["spec", "spec"]),
        ("storage.k8s.io", "StorageClass") => {
            if let Some(m) = obj.as_object_mut() {
                default_ptr(m, "reclaimPolicy", json!("Delete"));
                default_ptr(m, "volumeBindingMode", json!("Immediate"));
            }
        }
        ("storage.k8s.io", "CSIDriver") => {
            if let Some(spec) = object_at(obj, &["spec"]) {
                default_ptr(spec, "attachRequired", json!(true));
                default_ptr(spec, "podInfoOnMount", json!(false));
                default_ptr(spec, "storageCapacity", json!(false));
                default_ptr(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
                default_ptr(spec, "requiresRepublish", json!(false));
                if spec
                    .get("volumeLifecycleModes")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                {
                    spec.insert("volumeLifecycleModes".into(), json!(["Persistent"]));
                }
            }
        }
        ("node.k8s.io", "RuntimeClass") => pod::resource_list_at(obj, &["overhead", "podFixed"])?,
        _ => {}
    }
    Ok(())
}

/// `SetDefaults_Secret`, and the v1 -> internal conversion that folds `stringData` into
/// `data` (stringData wins) and drops it.
fn secret(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    default_str(m, "type", "Opaque");
    if let Some(Value::Object(string_data)) = m.remove("stringData") {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let data = m.entry("data").or_insert_with(|| json!({}));
        if !data.is_object() {
            *data = json!({});
        }
        if let Some(d) = data.as_object_mut() {
            for (k, v) in string_data {
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                d.insert(k, json!(b64.encode(text)));
            }
        }
    }
}

/// `SetDefaults_Namespace` (the name label), the strategy's `spec.finalizers` and
/// `SetDefaults_NamespaceStatus`.
fn namespace(obj: &mut Value) {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !name.is_empty() {
        if !obj["metadata"]["labels"].is_object() {
            obj["metadata"]["labels"] = json!({});
        }
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
    }
    let Some(m) = obj.as_object_mut() else { return };
    let spec = m.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        if spec
            .get("finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            spec.insert("finalizers".into(), json!(["kubernetes"]));
        }
    }
    let status = m.entry("status").or_insert_with(|| json!({}));
    if let Some(status) = status.as_object_mut() {
        default_str(status, "phase", "Active");
    }
}

fn persistent_volume(obj: &mut Value) -> Result<(), QuantityError> {
    pod::resource_list_at(obj, &["spec", "capacity"])?;
    let Some(m) = obj.as_object_mut() else {
        return Ok(());
    };
    let spec = m.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default_ptr(spec, "volumeMode", json!("Filesystem"));
    }
    let status = m.entry("status").or_insert_with(|| json!({}));
    if let Some(status) = status.as_object_mut() {
        default_str(status, "phase", "Pending");
    }
    Ok(())
}

fn network_policy(obj: &mut Value) {
    let Some(spec) = object_at(obj, &["spec"]) else {
        return;
    };
    for direction in ["ingress", "egress"] {
        for rule in each_item(spec, direction) {
            for port in each_item(rule, "ports") {
                default_ptr(port, "protocol", json!("TCP"));
            }
        }
    }
    if spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        let egress = spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty());
        let types = if egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        spec.insert("policyTypes".into(), types);
    }
}

/// `SetDefaults_RoleBinding`/`ClusterRoleBinding` and `SetDefaults_Subject`.
fn rbac_binding(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    if let Some(role_ref) = m.get_mut("roleRef").and_then(Value::as_object_mut) {
        default_str(role_ref, "apiGroup", "rbac.authorization.k8s.io");
    }
    for subject in each_item(m, "subjects") {
        let group = match subject.get("kind").and_then(Value::as_str) {
            Some("User" | "Group") => "rbac.authorization.k8s.io",
            _ => continue,
        };
        default_str(subject, "apiGroup", group);
    }
}

/// `SetDefaults_HorizontalPodAutoscaler` of autoscaling/v2 (1.37: `copyHPAScalingRules` keeps
/// a given `tolerance` too).
fn hpa(obj: &mut Value) {
    let Some(spec) = object_at(obj, &["spec"]) else {
        return;
    };
    default_ptr(spec, "minReplicas", json!(1));
    if spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    let Some(behavior) = spec.get_mut("behavior").and_then(Value::as_object_mut) else {
        return;
    };
    let up = json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15}]});
    let down = json!({"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]});
    for (key, defaults) in [("scaleUp", up), ("scaleDown", down)] {
        let mut rules = defaults;
        if let (Some(given), Some(r)) = (
            behavior.get(key).and_then(Value::as_object),
            rules.as_object_mut(),
        ) {
            for field in [
                "selectPolicy",
                "stabilizationWindowSeconds",
                "policies",
                "tolerance",
            ] {
                if let Some(v) = given.get(field).filter(|v| !v.is_null()) {
                    r.insert(field.into(), v.clone());
                }
            }
        }
        behavior.insert(key.into(), rules);
    }
}

/// `SetDefaults_ExactDeviceRequest` and `SetDefaults_DeviceSubRequest` of resource.k8s.io/v1
/// over the claim spec at `path`: `allocationMode: ExactCount`, then `count: 1`.
fn device_requests(obj: &mut Value, path: &[&str]) {
    let Some(devices) = object_at(obj, path).and_then(|s| s.get_mut("devices")) else {
        return;
    };
    let Some(devices) = devices.as_object_mut() else {
        return;
    };
    let exact = |r: &mut Map<String, Value>| {
        default_str(r, "allocationMode", "ExactCount");
        if r.get("allocationMode").and_then(Value::as_str) == Some("ExactCount")
            && r.get("count").and_then(Value::as_i64).unwrap_or(0) == 0
        {
            r.insert("count".into(), json!(1));
        }
    };
    for request in each_item(devices, "requests") {
        if let Some(r) = request.get_mut("exactly").and_then(Value::as_object_mut) {
            exact(r);
        }
        for sub in each_item(request, "firstAvailable") {
            exact(sub);
        }
    }
}

#[cfg(test)]
mod tests;
