//! Pod spec defaulting (`SetDefaults_PodSpec`, `_Container`, `_Probe`, `_HTTPGetAction`,
//! `_Volume`, the volume sources' `defaultMode`, `_ObjectFieldSelector`, `_Pod`), resource
//! lists (`SetDefaults_ResourceList`: canonical quantities rounded up to milli units) and
//! persistent volume claims.

use super::{default_int, default_ptr, default_str, each_item, object_at, unset};
use crate::kube_sim::roundtrip::quantity::{Quantity, QuantityError};
use serde_json::{json, Map, Value};

/// `SetDefaults_Pod` on top of the pod spec defaults: requests default to limits, and
/// `enableServiceLinks`.
pub fn pod(obj: &mut Value) -> Result<(), QuantityError> {
    pod_spec_at(obj, &["spec"])?;
    let Some(spec) = object_at(obj, &["spec"]) else { return Ok(()) };
    for key in ["containers", "initContainers"] {
        for c in each_item(spec, key) {
            let Some(limits) = c.get("resources").and_then(|r| r.get("limits")).and_then(Value::as_object).cloned() else {
                continue;
            };
            let resources = c.entry("resources").or_insert_with(|| json!({}));
            let requests = resources
                .as_object_mut()
                .map(|r| r.entry("requests").or_insert_with(|| json!({})));
            if let Some(Value::Object(requests)) = requests {
                for (k, v) in limits {
                    requests.entry(k).or_insert(v);
                }
            }
        }
    }
    default_ptr(spec, "enableServiceLinks", json!(true));
    Ok(())
}

/// A `PodTemplateSpec` at `path`.
pub fn template_at(obj: &mut Value, path: &[&str]) -> Result<(), QuantityError> {
    let mut spec_path = path.to_vec();
    spec_path.push("spec");
    pod_spec_at(obj, &spec_path)
}

/// A `PodSpec` at `path`, if there is one.
pub fn pod_spec_at(obj: &mut Value, path: &[&str]) -> Result<(), QuantityError> {
    let Some(spec) = object_at(obj, path) else { return Ok(()) };
    pod_spec(spec)
}

fn pod_spec(spec: &mut Map<String, Value>) -> Result<(), QuantityError> {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_ptr(spec, "securityContext", json!({}));
    default_ptr(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for c in each_item(spec, key) {
            container(c)?;
        }
    }
    for v in each_item(spec, "volumes") {
        volume(v)?;
    }
    if let Some(overhead) = spec.get_mut("overhead") {
        resource_list(overhead)?;
    }
    if let Some(resources) = spec.get_mut("resources").and_then(Value::as_object_mut) {
        for k in ["limits", "requests"] {
            if let Some(list) = resources.get_mut(k) {
                resource_list(list)?;
            }
        }
    }
    Ok(())
}

/// The tag `parsers.ParseImageName` finds; no tag and no digest means `latest`.
fn image_tag(image: &str) -> Option<&str> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => Some(tag),
        None if digest.is_none() => Some("latest"),
        None => None,
    }
}

fn container(c: &mut Map<String, Value>) -> Result<(), QuantityError> {
    if super::unset_str(c.get("imagePullPolicy")) {
        let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
        let policy = if image_tag(image) == Some("latest") { "Always" } else { "IfNotPresent" };
        c.insert("imagePullPolicy".into(), json!(policy));
    }
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    for port in each_item(c, "ports") {
        default_str(port, "protocol", "TCP");
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
            default_int(p, "timeoutSeconds", 1);
            default_int(p, "periodSeconds", 10);
            default_int(p, "successThreshold", 1);
            default_int(p, "failureThreshold", 3);
            http_get(p);
        }
    }
    if let Some(lifecycle) = c.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lifecycle.get_mut(hook).and_then(Value::as_object_mut) {
                http_get(h);
            }
        }
    }
    for env in each_item(c, "env") {
        if let Some(field_ref) = env.get_mut("valueFrom").and_then(|v| v.get_mut("fieldRef")).and_then(Value::as_object_mut) {
            default_str(field_ref, "apiVersion", "v1");
        }
    }
    if let Some(resources) = c.get_mut("resources").and_then(Value::as_object_mut) {
        for k in ["limits", "requests"] {
            if let Some(list) = resources.get_mut(k) {
                resource_list(list)?;
            }
        }
    }
    Ok(())
}

fn http_get(handler: &mut Map<String, Value>) {
    if let Some(h) = handler.get_mut("httpGet").and_then(Value::as_object_mut) {
        default_str(h, "path", "/");
        default_str(h, "scheme", "HTTP");
    }
}

/// `SetDefaults_Volume` (no source means emptyDir) and the sources' defaults.
fn volume(v: &mut Map<String, Value>) -> Result<(), QuantityError> {
    if v.iter().all(|(k, val)| k == "name" || val.is_null()) {
        v.insert("emptyDir".into(), json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
            default_ptr(s, "defaultMode", json!(420));
            downward_items(s);
            for p in each_item(s, "sources") {
                if let Some(token) = p.get_mut("serviceAccountToken").and_then(Value::as_object_mut) {
                    default_ptr(token, "expirationSeconds", json!(3600));
                }
                if let Some(d) = p.get_mut("downwardAPI").and_then(Value::as_object_mut) {
                    downward_items(d);
                }
            }
        }
    }
    if let Some(h) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
        default_ptr(h, "type", json!(""));
    }
    if let Some(e) = v.get_mut("emptyDir").and_then(Value::as_object_mut) {
        if let Some(q) = e.get_mut("sizeLimit").filter(|q| !q.is_null()) {
            *q = json!(Quantity::from_json(q)?.canonical());
        }
    }
    if let Some(spec) = v
        .get_mut("ephemeral")
        .and_then(|e| e.get_mut("volumeClaimTemplate"))
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        claim_spec(spec)?;
    }
    Ok(())
}

fn downward_items(source: &mut Map<String, Value>) {
    for item in each_item(source, "items") {
        if let Some(f) = item.get_mut("fieldRef").and_then(Value::as_object_mut) {
            default_str(f, "apiVersion", "v1");
        }
    }
}

/// A PersistentVolumeClaim (also a StatefulSet's claim template): `volumeMode` and
/// `status.phase`.
pub fn claim(obj: &mut Value) -> Result<(), QuantityError> {
    let Some(m) = obj.as_object_mut() else { return Ok(()) };
    let spec = m.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        claim_spec(spec)?;
    }
    let status = m.entry("status").or_insert_with(|| json!({}));
    if let Some(status) = status.as_object_mut() {
        default_str(status, "phase", "Pending");
        if let Some(capacity) = status.get_mut("capacity") {
            resource_list(capacity)?;
        }
    }
    Ok(())
}

fn claim_spec(spec: &mut Map<String, Value>) -> Result<(), QuantityError> {
    default_ptr(spec, "volumeMode", json!("Filesystem"));
    if let Some(resources) = spec.get_mut("resources").and_then(Value::as_object_mut) {
        for k in ["limits", "requests"] {
            if let Some(list) = resources.get_mut(k) {
                resource_list(list)?;
            }
        }
    }
    Ok(())
}

/// `SetDefaults_LimitRangeItem` and the item's resource lists.
pub fn limit_range(obj: &mut Value) -> Result<(), QuantityError> {
    let Some(spec) = object_at(obj, &["spec"]) else { return Ok(()) };
    for item in each_item(spec, "limits") {
        for k in ["max", "min", "default", "defaultRequest", "maxLimitRequestRatio"] {
            if let Some(list) = item.get_mut(k) {
                resource_list(list)?;
            }
        }
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let get = |item: &Map<String, Value>, k: &str| item.get(k).and_then(Value::as_object).cloned().unwrap_or_default();
        let mut default = get(item, "default");
        let mut default_request = get(item, "defaultRequest");
        for (k, v) in get(item, "max") {
            default.entry(k).or_insert(v);
        }
        for (k, v) in default.clone() {
            default_request.entry(k).or_insert(v);
        }
        for (k, v) in get(item, "min") {
            default_request.entry(k).or_insert(v);
        }
        item.insert("default".into(), Value::Object(default));
        item.insert("defaultRequest".into(), Value::Object(default_request));
    }
    Ok(())
}

/// A `ResourceList` at `path`, if there is one.
pub fn resource_list_at(obj: &mut Value, path: &[&str]) -> Result<(), QuantityError> {
    let mut cur = &mut *obj;
    for p in path {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return Ok(()),
        }
    }
    resource_list(cur)
}

/// `SetDefaults_ResourceList`: every quantity rounded up to milli units, then canonical.
pub fn resource_list(list: &mut Value) -> Result<(), QuantityError> {
    let Some(m) = list.as_object_mut() else { return Ok(()) };
    for v in m.values_mut() {
        if unset(Some(v)) {
            continue;
        }
        let mut q = Quantity::from_json(v)?;
        q.round_up(-3);
        *v = json!(q.canonical());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, tag) in [
            ("nginx", Some("latest")),
            ("nginx:latest", Some("latest")),
            ("nginx:1.27", Some("1.27")),
            ("localhost:5000/app", Some("latest")),
            ("localhost:5000/app:v2", Some("v2")),
            ("nginx@sha256:abcd", None),
        ] {
            assert_eq!(image_tag(image), tag, "{image}");
        }
    }

    #[test]
    fn resource_lists_round_up_to_milli() {
        let mut list = json!({"cpu": "100u", "memory": "1024Mi", "x": 0.5, "y": "1500u"});
        resource_list(&mut list).unwrap();
        assert_eq!(list, json!({"cpu": "1m", "memory": "1Gi", "x": "500m", "y": "2m"}));
    }
}
