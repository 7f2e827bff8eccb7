//! Admission checks kube-sim applies before storing an object: names and required fields.

use super::resources::ResourceType;
use serde_json::Value;

/// A DNS-1123 subdomain (most object names).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label_part)
}

/// A DNS-1123 label (Namespaces, Services).
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_dns_label_part(s)
}

fn is_dns_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// Field errors of `obj` (field path, message); empty when valid.
pub fn check(rt: &ResourceType, name: &str, obj: &Value) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    let label_named = matches!(rt.kind.as_str(), "Namespace" | "Service");
    // RBAC objects are named as path segments (rbac validation's ValidateRBACName is
    // path.IsValidPathSegmentName): `system:coredns` is a valid ClusterRole name.
    let rbac_named = rt.group == "rbac.authorization.k8s.io";
    if rbac_named && !name.is_empty() {
        if name == "." || name == ".." || name.contains(['/', '%']) {
            errs.push(("metadata.name".into(), format!("Invalid value: \"{name}\": may not be '.' or '..' and may not contain '/' or '%'")));
        }
    } else if name.is_empty() {
        errs.push((
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else if label_named && !is_dns_label(name) {
        errs.push(("metadata.name".into(), format!("Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character")));
    } else if !label_named && !is_dns_subdomain(name) {
        errs.push(("metadata.name".into(), format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")));
    }
    if let Some(labels) = obj["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            if !v.is_string() {
                errs.push((
                    format!("metadata.labels.{k}"),
                    "Invalid value: label values must be strings".into(),
                ));
            }
        }
    }
    match rt.kind.as_str() {
        "ConfigMap" => {
            if let Some(data) = obj["data"].as_object() {
                for (k, v) in data {
                    if !v.is_string() {
                        errs.push((
                            format!("data.{k}"),
                            "Invalid value: must be a string".into(),
                        ));
                    }
                }
            }
        }
        "Deployment" | "StatefulSet" | "DaemonSet" => {
            if obj["spec"]["selector"].is_null() {
                errs.push(("spec.selector".into(), "Required value".into()));
            }
            containers(&obj["spec"]["template"], "spec.template", &mut errs);
        }
        "Job" => containers(&obj["spec"]["template"], "spec.template", &mut errs),
        "CronJob" => containers(
            &obj["spec"]["jobTemplate"]["spec"]["template"],
            "spec.jobTemplate.spec.template",
            &mut errs,
        ),
        "CustomResourceDefinition" => {
            let spec = &obj["spec"];
            for f in ["group", "names.plural", "names.kind", "scope"] {
                let v = f.split('.').fold(spec, |v, k| &v[k]);
                if v.as_str().is_none_or(str::is_empty) {
                    errs.push((format!("spec.{f}"), "Required value".into()));
                }
            }
            let expected = format!(
                "{}.{}",
                spec["names"]["plural"].as_str().unwrap_or(""),
                spec["group"].as_str().unwrap_or("")
            );
            if name != expected {
                errs.push((
                    "metadata.name".into(),
                    format!(
                        "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
                    ),
                ));
            }
        }
        _ => {}
    }
    errs
}

fn containers(template: &Value, at: &str, errs: &mut Vec<(String, String)>) {
    match template["spec"]["containers"].as_array() {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                for f in ["name", "image"] {
                    if c[f].as_str().is_none_or(str::is_empty) {
                        errs.push((
                            format!("{at}.spec.containers[{i}].{f}"),
                            "Required value".into(),
                        ));
                    }
                }
            }
        }
        _ => errs.push((format!("{at}.spec.containers"), "Required value".into())),
    }
}
