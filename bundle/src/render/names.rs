//! Object names checked as kube-apiserver checks them, per kind, and never more strictly: the
//! built-in kinds whose rule is known from `pkg/apis/*/validation` get it; every other kind
//! (custom resources, aggregated APIs, kinds added later) gets only the rule every name meets
//! (a valid path segment, from apimachinery's `IsValidPathSegmentName`), and the server's
//! dry-run and apply judge the rest.

/// A name rule of kube-apiserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: lowercase alphanumerics, `-` and `.`, at most 253.
    DnsSubdomain,
    /// RFC 1123 label: lowercase alphanumerics and `-`, at most 63.
    DnsLabel,
    /// RFC 1035 label: an RFC 1123 label starting with a letter.
    Dns1035Label,
    /// Not `.` or `..`, no `/` or `%` (RBAC names such as `system:coredns`; the floor for all).
    PathSegment,
}

/// The rule for `kind` in `api_version`'s group.
pub fn rule_for(api_version: &str, kind: &str) -> NameRule {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("", "Namespace") => NameRule::DnsLabel,
        ("", "Service") => NameRule::Dns1035Label,
        ("", "ConfigMap" | "Secret" | "ServiceAccount" | "Pod" | "PersistentVolumeClaim")
        | ("apps", "Deployment" | "DaemonSet" | "ReplicaSet")
        | ("apiextensions.k8s.io", "CustomResourceDefinition") => NameRule::DnsSubdomain,
        _ => NameRule::PathSegment,
    }
}

/// Why `name` breaks `rule`, or `None` when it is valid.
pub fn check(rule: NameRule, name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("a name is required");
    }
    if name == "." || name == ".." || name.contains(['/', '%']) {
        return Some("may not be '.' or '..' and may not contain '/' or '%'");
    }
    match rule {
        NameRule::PathSegment => None,
        NameRule::DnsSubdomain => (!is_dns_subdomain(name)).then_some(
            "must be a lowercase RFC 1123 subdomain (lowercase alphanumerics, '-' or '.', at most 253)",
        ),
        NameRule::DnsLabel => (!is_dns_label(name)).then_some(
            "must be a lowercase RFC 1123 label (lowercase alphanumerics or '-', at most 63)",
        ),
        NameRule::Dns1035Label => (!(is_dns_label(name) && name.as_bytes()[0].is_ascii_lowercase()))
            .then_some("must be an RFC 1035 label (a lowercase letter first, then lowercase alphanumerics or '-', at most 63)"),
    }
}

/// DNS-1123 subdomain.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label_part)
}

/// DNS-1123 label.
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_label_part(s)
}

fn is_label_part(p: &str) -> bool {
    !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && p.as_bytes()[0].is_ascii_alphanumeric()
        && p.as_bytes()[p.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_kind_rules() {
        let ok = |v: &str, k: &str, n: &str| check(rule_for(v, k), n).is_none();
        assert!(ok(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "system:coredns"
        ));
        assert!(ok(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "system:coredns"
        ));
        assert!(!ok("rbac.authorization.k8s.io/v1", "Role", "a/b"));
        assert!(ok("v1", "ConfigMap", "coredns"));
        assert!(!ok("v1", "ConfigMap", "Bad_Name"));
        assert!(!ok("v1", "Service", "1web"));
        assert!(ok("v1", "Pod", "1web"));
        assert!(!ok("v1", "Namespace", "a.b"));
        assert!(ok("example.com/v1", "Widget", "Any_Name:ok"));
        assert!(!ok("example.com/v1", "Widget", ".."));
        assert!(ok("node.k8s.io/v1", "RuntimeClass", "nvidia"));
    }
}
