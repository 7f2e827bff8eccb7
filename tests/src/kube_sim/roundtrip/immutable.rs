//! Update validation of immutable fields, worded as `pkg/apis/*/validation` words it
//! (Kubernetes 1.37.2, values rendered as JSON): workload selectors, Job
//! selector/template/completions/completionMode, the StatefulSet's selector, claim templates,
//! service name and pod management policy, Service cluster IPs, PriorityClass value and
//! preemption policy, PersistentVolumeClaim spec, ConfigMap and
//! Secret with `immutable: true`, Secret `type`. Runs on normalized (defaulted, encoded)
//! objects, so equal means what `apiequality.Semantic.DeepEqual` means there.

use super::gofmt;
use serde_json::{json, Value};

/// One `field.Error`: its path, type and rendered detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub kind: ErrorKind,
    /// Everything after `<field>: ` in the message.
    pub message: String,
}

/// The `field.ErrorType`s used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Invalid,
    /// `field.TypeInvalid` (a CRD schema's `type`).
    TypeInvalid,
    Forbidden,
}

impl ErrorKind {
    /// The `reason` of a cause in the Status details.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "FieldValueInvalid",
            ErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            ErrorKind::Forbidden => "FieldValueForbidden",
        }
    }
}

fn immutable(field: &str, rendered_new: String) -> FieldError {
    FieldError {
        field: field.into(),
        kind: ErrorKind::Invalid,
        message: format!("Invalid value: {rendered_new}: field is immutable"),
    }
}

fn forbidden(field: &str, detail: &str) -> FieldError {
    FieldError {
        field: field.into(),
        kind: ErrorKind::Forbidden,
        message: format!("Forbidden: {detail}"),
    }
}

const WHEN_IMMUTABLE: &str = "field is immutable when `immutable` is set";

/// The immutable-field errors of updating `old` to `new`.
pub fn check_update(group: &str, kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (group, kind) {
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => selector(new, old, &mut errs),
        ("apps", "StatefulSet") => stateful_set(new, old, &mut errs),
        ("batch", "Job") => job(new, old, &mut errs),
        ("", "Service") => service(new, old, &mut errs),
        ("", "PersistentVolumeClaim") => claim(new, old, &mut errs),
        ("scheduling.k8s.io", "PriorityClass") => {
            if new["value"] != old["value"] {
                errs.push(forbidden("value", "may not be changed in an update."));
            }
            if new["preemptionPolicy"] != old["preemptionPolicy"] {
                let value = gofmt::json(&new["preemptionPolicy"]);
                errs.push(immutable("preemptionPolicy", value));
            }
        }
        ("", "ConfigMap") => sealed(new, old, &["data", "binaryData"], &mut errs),
        ("", "Secret") => {
            if new["type"] != old["type"] {
                errs.push(immutable("type", gofmt::string(&new["type"])));
            }
            sealed(new, old, &["data"], &mut errs);
        }
        _ => {}
    }
    errs
}

fn selector(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    if new["spec"]["selector"] != old["spec"]["selector"] {
        errs.push(immutable(
            "spec.selector",
            gofmt::label_selector(&new["spec"]["selector"]),
        ));
    }
}

/// `ValidateStatefulSetUpdate` (1.37): selector, claim templates, service name and pod
/// management policy are each immutable (1.32 refused any other spec change as a whole).
fn stateful_set(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (spec, old_spec) = (&new["spec"], &old["spec"]);
    selector(new, old, errs);
    let templates = &spec["volumeClaimTemplates"];
    if strip_nulls(templates) != strip_nulls(&old_spec["volumeClaimTemplates"]) {
        let rendered = match templates.as_array() {
            Some(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|t| gofmt::internal_object(&t["metadata"]))
                    .collect();
                format!("[{}]", items.join(","))
            }
            None => "null".into(),
        };
        errs.push(immutable("spec.volumeClaimTemplates", rendered));
    }
    for (k, render) in [
        ("serviceName", gofmt::string as fn(&Value) -> String),
        ("podManagementPolicy", gofmt::string),
    ] {
        if spec[k] != old_spec[k] {
            errs.push(immutable(&format!("spec.{k}"), render(&spec[k])));
        }
    }
}

/// `ValidateJobSpecUpdate` and `validatePodTemplateUpdate`.
fn job(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (spec, old_spec) = (&new["spec"], &old["spec"]);
    let elastic = spec["completionMode"] == "Indexed" && spec["completions"] == spec["parallelism"];
    if spec["completions"] != old_spec["completions"] && !elastic {
        errs.push(immutable(
            "spec.completions",
            gofmt::scalar(&spec["completions"]),
        ));
    }
    selector(new, old, errs);
    let mut old_template = old_spec["template"].clone();
    let suspended_never_started =
        old_spec["suspend"] == json!(true) && old["status"]["startTime"].is_null();
    if suspended_never_started {
        let t = &spec["template"];
        for (path, value) in [
            (&["metadata", "labels"][..], &t["metadata"]["labels"]),
            (&["metadata", "annotations"], &t["metadata"]["annotations"]),
            (&["spec", "nodeSelector"], &t["spec"]["nodeSelector"]),
            (&["spec", "tolerations"], &t["spec"]["tolerations"]),
            (&["spec", "schedulingGates"], &t["spec"]["schedulingGates"]),
            (&["spec", "affinity"], &t["spec"]["affinity"]),
        ] {
            let slot = path.iter().fold(&mut old_template, |v, k| &mut v[*k]);
            *slot = value.clone();
        }
    }
    if strip_nulls(&spec["template"]) != strip_nulls(&old_template) {
        errs.push(immutable(
            "spec.template",
            gofmt::internal_object(&spec["template"]["metadata"]),
        ));
    }
    if spec["completionMode"] != old_spec["completionMode"] {
        errs.push(immutable(
            "spec.completionMode",
            gofmt::string(&spec["completionMode"]),
        ));
    }
    if spec["podFailurePolicy"] != old_spec["podFailurePolicy"] {
        errs.push(immutable("spec.podFailurePolicy", "{...}".into()));
    }
    if spec["backoffLimitPerIndex"] != old_spec["backoffLimitPerIndex"] {
        errs.push(immutable(
            "spec.backoffLimitPerIndex",
            gofmt::scalar(&spec["backoffLimitPerIndex"]),
        ));
    }
}

/// `v` without null members, and without objects that held nothing but nulls (the slots
/// the mutable-directive copy creates on a template that had none of them).
fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let kept: serde_json::Map<String, Value> = m
                .iter()
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .filter(|(_, v)| !v.is_null())
                .collect();
            if kept.is_empty() && !m.is_empty() {
                Value::Null
            } else {
                Value::Object(kept)
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// `validateServiceClusterIPsRelatedFields` on update: the primary cluster IP may not change
/// once set (changes to and from ExternalName aside).
fn service(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let external = |v: &Value| v["spec"]["type"] == "ExternalName";
    if external(new) || external(old) {
        return;
    }
    let old_ips = old["spec"]["clusterIPs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let new_ips = new["spec"]["clusterIPs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(old_primary) = old_ips.first() else {
        return;
    };
    match new_ips.first() {
        None => errs.push(FieldError {
            field: "spec.clusterIPs[0]".into(),
            kind: ErrorKind::Invalid,
            message: format!(
                "Invalid value: {}: primary clusterIP can not be unset",
                gofmt::json(&new["spec"]["clusterIPs"])
            ),
        }),
        Some(p) if p != old_primary => errs.push(FieldError {
            field: "spec.clusterIPs[0]".into(),
            kind: ErrorKind::Invalid,
            message: format!(
                "Invalid value: {}: may not change once set",
                gofmt::json(&new["spec"]["clusterIPs"])
            ),
        }),
        Some(_) => {}
    }
}

/// `ValidatePersistentVolumeClaimUpdate`: only a bound claim may change its storage request
/// (and only grow it); `volumeName` may be set once.
fn claim(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let mut new_clone = new["spec"].clone();
    let mut old_clone = old["spec"].clone();
    if old_clone["volumeName"].as_str().is_none_or(str::is_empty) {
        old_clone["volumeName"] = new_clone["volumeName"].clone();
    }
    let bound = new["status"]["phase"] == "Bound";
    if bound && new_clone["resources"]["requests"].is_object() {
        new_clone["resources"]["requests"]["storage"] =
            old["spec"]["resources"]["requests"]["storage"].clone();
    }
    if bound {
        new_clone["volumeAttributesClassName"] = old_clone["volumeAttributesClassName"].clone();
    }
    if strip_nulls(&new_clone) != strip_nulls(&old_clone) {
        errs.push(forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));
    }
    let size = |v: &Value| {
        super::quantity::Quantity::from_json(&v["spec"]["resources"]["requests"]["storage"])
            .ok()
            .map(|q| q.as_f64())
    };
    if let (Some(n), Some(o)) = (size(new), size(old)) {
        if n < o {
            errs.push(forbidden(
                "spec.resources.requests.storage",
                "field can not be less than previous value",
            ));
        }
    }
}

/// ConfigMap/Secret with `immutable: true`: neither the flag nor the data may change.
fn sealed(new: &Value, old: &Value, data_fields: &[&str], errs: &mut Vec<FieldError>) {
    if old["immutable"] != json!(true) {
        return;
    }
    if new["immutable"] != json!(true) {
        errs.push(forbidden("immutable", WHEN_IMMUTABLE));
    }
    for f in data_fields {
        let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|m| m.is_empty());
        if new[*f] != old[*f] && !(empty(&new[*f]) && empty(&old[*f])) {
            errs.push(forbidden(f, WHEN_IMMUTABLE));
        }
    }
}
