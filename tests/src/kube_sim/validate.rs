//! Validation kube-sim applies before storing an object: names per kind as the real
//! registries validate them, and a few required fields.

use super::resources::ResourceType;
use serde_json::Value;

/// How a kind's `metadata.name` is validated: the name function its registry passes to
/// `ValidateObjectMeta` (kubernetes/kubernetes `pkg/apis/*/validation`, v1.37.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `NameIsDNSSubdomain`: most kinds.
    DnsSubdomain,
    /// `NameIsDNSLabel`: Namespace, and Service (RelaxedServiceNameValidation, GA in 1.37:
    /// a leading digit is fine, a dot is not; DNS-1035 labels before).
    DnsLabel,
    /// `path.IsValidPathSegmentName`: Role, ClusterRole, RoleBinding, ClusterRoleBinding,
    /// APIService (which must also be `version.group`).
    PathSegment,
    /// CertificateSigningRequest: "We don't care what you call your certificate requests."
    Any,
}

impl NameRule {
    pub fn of(rt: &ResourceType) -> NameRule {
        match (rt.group.as_str(), rt.kind.as_str()) {
            ("", "Namespace" | "Service") => NameRule::DnsLabel,
            ("rbac.authorization.k8s.io", _) | ("apiregistration.k8s.io", "APIService") => {
                NameRule::PathSegment
            }
            ("certificates.k8s.io", "CertificateSigningRequest") => NameRule::Any,
            _ => NameRule::DnsSubdomain,
        }
    }

    /// The error texts of apimachinery's validators for `name` (empty when valid).
    pub fn check(self, name: &str) -> Vec<String> {
        match self {
            NameRule::DnsSubdomain => is_dns_subdomain(name),
            NameRule::DnsLabel => is_dns1123_label(name),
            NameRule::PathSegment => path_segment(name),
            NameRule::Any => Vec::new(),
        }
    }
}

const LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let ex: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        ex.join("or ")
    )
}

fn label_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn subdomain_ok(s: &str) -> bool {
    s.split('.').all(label_ok)
}

/// apimachinery `IsDNS1123Subdomain`.
pub fn is_dns_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".into());
    }
    if !subdomain_ok(s) {
        let fmt = format!("{LABEL_FMT}(\\.{LABEL_FMT})*");
        errs.push(regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character", &fmt, &["example.com"]));
    }
    errs
}

/// apimachinery `IsDNS1123Label`.
pub fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".into());
    }
    if !label_ok(s) {
        if subdomain_ok(s) {
            errs.push("must not contain dots".into());
        } else {
            errs.push(regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character", LABEL_FMT, &["my-name", "123-abc"]));
        }
    }
    errs
}

/// apimachinery `path.IsValidPathSegmentName`.
pub fn path_segment(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|c| s.contains(*c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

/// Field errors of `obj` (field path, message); empty when valid.
pub fn check(rt: &ResourceType, name: &str, obj: &Value) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push((
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else {
        for m in NameRule::of(rt).check(name) {
            errs.push((
                "metadata.name".into(),
                format!("Invalid value: \"{name}\": {m}"),
            ));
        }
        if rt.group == "apiregistration.k8s.io" && rt.kind == "APIService" {
            let required = format!(
                "{}.{}",
                obj["spec"]["version"].as_str().unwrap_or(""),
                obj["spec"]["group"].as_str().unwrap_or("")
            );
            if errs.is_empty() && name != required {
                errs.push(("metadata.name".into(), format!("Invalid value: \"{name}\": must be `spec.version+\".\"+spec.group`: {required:?}")));
            }
        }
        if rt.group == "batch" && rt.kind == "CronJob" && name.len() > 52 {
            errs.push((
                "metadata.name".into(),
                format!("Invalid value: \"{name}\": must be no more than 52 characters"),
            ));
        }
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
