//! Which kinds carry `metadata.generation` and what moves it, per the registries'
//! strategies of Kubernetes 1.37.2 (`pkg/registry/**/strategy.go`): `rest.BeforeUpdate` copies
//! the old generation ("requests cannot update generation") and only the strategies below
//! set it to 1 on create and bump it in `PrepareForUpdate`. 1.37 added Pods, PodTemplates,
//! HPAs (HPAGeneration), EndpointSlices, PriorityClasses, CSIDrivers (on their first spec
//! change only) and the `resource.k8s.io` kinds. ConfigMaps, Secrets, Services, Namespaces,
//! PVCs, ServiceAccounts, RBAC, StorageClasses and the rest have none.

use serde_json::Value;

/// What bumps the generation of a kind that has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationRule {
    /// A change of `spec`.
    Spec,
    /// A change of `spec` or of `metadata.annotations` (Deployments: annotations are copied to
    /// their ReplicaSets).
    SpecOrAnnotations,
    /// Any change outside `metadata` and `status` (custom resources, CRDs' whole content).
    AllButMetadataAndStatus,
    /// Webhook configurations and admission policies: any change of their content.
    AllButMetadata,
    /// PodTemplates: a change of `template`.
    Template,
    /// EndpointSlices: any change outside `metadata`, or of the labels.
    AllButMetadataOrLabels,
    /// PriorityClasses: 1 on create, never bumped.
    CreateOnly,
    /// CSIDrivers: none on create; a change of `spec` bumps it (from 0).
    SpecNotOnCreate,
}

/// The generation rule of a kind, or None when the kind has no generation.
pub fn generation_rule(group: &str, kind: &str, custom: bool) -> Option<GenerationRule> {
    if custom {
        return Some(GenerationRule::AllButMetadataAndStatus);
    }
    use GenerationRule::*;
    Some(match (group, kind) {
        ("apps", "Deployment") => SpecOrAnnotations,
        ("apps", "StatefulSet" | "DaemonSet" | "ReplicaSet") => Spec,
        ("", "Pod") | ("autoscaling", "HorizontalPodAutoscaler") => Spec,
        ("", "PodTemplate") => Template,
        ("discovery.k8s.io", "EndpointSlice") => AllButMetadataOrLabels,
        ("scheduling.k8s.io", "PriorityClass") => CreateOnly,
        ("storage.k8s.io", "CSIDriver") => SpecNotOnCreate,
        ("resource.k8s.io", "DeviceClass" | "DeviceTaintRule" | "ResourceSlice") => Spec,
        ("batch", "Job" | "CronJob") => Spec,
        ("", "ReplicationController") => Spec,
        ("networking.k8s.io", "Ingress" | "IngressClass" | "NetworkPolicy") => Spec,
        ("policy", "PodDisruptionBudget") => Spec,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Spec,
        ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration") => Spec,
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "MutatingAdmissionPolicy"
            | "MutatingAdmissionPolicyBinding",
        ) => Spec,
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => AllButMetadata,
        _ => return None,
    })
}

fn without(obj: &Value, keys: &[&str]) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

/// The generation `new` gets when it replaces `old` (None: the kind has none, or it stays
/// absent).
pub fn next_generation(
    rule: Option<GenerationRule>,
    new: &Value,
    old: Option<&Value>,
) -> Option<i64> {
    let rule = rule?;
    let Some(old) = old else {
        return (rule != GenerationRule::SpecNotOnCreate).then_some(1);
    };
    let current = old["metadata"]["generation"].as_i64().unwrap_or(0);
    let changed = match rule {
        GenerationRule::Spec | GenerationRule::SpecNotOnCreate => new["spec"] != old["spec"],
        GenerationRule::Template => new["template"] != old["template"],
        GenerationRule::CreateOnly => false,
        GenerationRule::AllButMetadataOrLabels => {
            without(new, &["metadata"]) != without(old, &["metadata"])
                || new["metadata"]["labels"] != old["metadata"]["labels"]
        }
        GenerationRule::SpecOrAnnotations => {
            new["spec"] != old["spec"]
                || new["metadata"]["annotations"] != old["metadata"]["annotations"]
        }
        GenerationRule::AllButMetadataAndStatus => {
            without(new, &["metadata", "status"]) != without(old, &["metadata", "status"])
        }
        GenerationRule::AllButMetadata => {
            without(new, &["metadata"]) != without(old, &["metadata"])
        }
    };
    // Go omits a zero generation (`omitempty`).
    Some(if changed { current + 1 } else { current }).filter(|g| *g > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generation_moves_only_where_the_strategy_moves_it() {
        let old = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1}});
        let relabelled =
            json!({"metadata": {"generation": 3, "labels": {"a": "b"}}, "spec": {"replicas": 1}});
        let scaled = json!({"metadata": {}, "spec": {"replicas": 2}});
        let dep = generation_rule("apps", "Deployment", false);
        assert_eq!(next_generation(dep, &relabelled, Some(&old)), Some(3));
        assert_eq!(next_generation(dep, &scaled, Some(&old)), Some(4));
        let annotated = json!({"metadata": {"annotations": {"a": "b"}}, "spec": {"replicas": 1}});
        assert_eq!(next_generation(dep, &annotated, Some(&old)), Some(4));
        let sts = generation_rule("apps", "StatefulSet", false);
        assert_eq!(next_generation(sts, &annotated, Some(&old)), Some(3));
        assert_eq!(next_generation(dep, &old, None), Some(1));
        for (g, k) in [
            ("", "ConfigMap"),
            ("", "Secret"),
            ("", "Service"),
            ("", "Namespace"),
            ("rbac.authorization.k8s.io", "Role"),
            ("storage.k8s.io", "StorageClass"),
        ] {
            assert_eq!(generation_rule(g, k, false), None, "{k}");
        }
        // 1.37: HPAs, Pods, PriorityClasses get one on create; CSIDrivers on a spec change.
        let hpa = generation_rule("autoscaling", "HorizontalPodAutoscaler", false);
        assert_eq!(next_generation(hpa, &old, None), Some(1));
        assert_eq!(next_generation(hpa, &scaled, Some(&old)), Some(4));
        let pc = generation_rule("scheduling.k8s.io", "PriorityClass", false);
        assert_eq!(next_generation(pc, &scaled, Some(&old)), Some(3));
        let csi = generation_rule("storage.k8s.io", "CSIDriver", false);
        assert_eq!(next_generation(csi, &old, None), None);
        let bare = json!({"metadata": {}, "spec": {"replicas": 1}});
        assert_eq!(next_generation(csi, &bare, Some(&bare)), None);
        assert_eq!(next_generation(csi, &scaled, Some(&bare)), Some(1));
    }
}
