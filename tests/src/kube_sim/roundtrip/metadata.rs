//! Which kinds carry `metadata.generation` and what moves it, per the registries'
//! strategies of Kubernetes 1.32 (`pkg/registry/**/strategy.go`): `rest.BeforeUpdate` copies
//! the old generation ("requests cannot update generation") and only the strategies below
//! set it to 1 on create and bump it in `PrepareForUpdate`. ConfigMaps, Secrets, Services,
//! Namespaces, PVCs, ServiceAccounts, RBAC, StorageClasses, HPAs (HPAGeneration came later)
//! and the rest have none.

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
        ("batch", "Job" | "CronJob") => Spec,
        ("", "ReplicationController") => Spec,
        ("networking.k8s.io", "Ingress" | "IngressClass" | "NetworkPolicy") => Spec,
        ("policy", "PodDisruptionBudget") => Spec,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Spec,
        ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration") => Spec,
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding") => Spec,
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration") => {
            AllButMetadata
        }
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
pub fn next_generation(rule: Option<GenerationRule>, new: &Value, old: Option<&Value>) -> Option<i64> {
    let rule = rule?;
    let Some(old) = old else { return Some(1) };
    let current = old["metadata"]["generation"].as_i64().unwrap_or(0);
    let changed = match rule {
        GenerationRule::Spec => new["spec"] != old["spec"],
        GenerationRule::SpecOrAnnotations => {
            new["spec"] != old["spec"] || new["metadata"]["annotations"] != old["metadata"]["annotations"]
        }
        GenerationRule::AllButMetadataAndStatus => {
            without(new, &["metadata", "status"]) != without(old, &["metadata", "status"])
        }
        GenerationRule::AllButMetadata => without(new, &["metadata"]) != without(old, &["metadata"]),
    };
    Some(if changed { current + 1 } else { current })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generation_moves_only_where_the_strategy_moves_it() {
        let old = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1}});
        let relabelled = json!({"metadata": {"generation": 3, "labels": {"a": "b"}}, "spec": {"replicas": 1}});
        let scaled = json!({"metadata": {}, "spec": {"replicas": 2}});
        let dep = generation_rule("apps", "Deployment", false);
        assert_eq!(next_generation(dep, &relabelled, Some(&old)), Some(3));
        assert_eq!(next_generation(dep, &scaled, Some(&old)), Some(4));
        let annotated = json!({"metadata": {"annotations": {"a": "b"}}, "spec": {"replicas": 1}});
        assert_eq!(next_generation(dep, &annotated, Some(&old)), Some(4));
        let sts = generation_rule("apps", "StatefulSet", false);
        assert_eq!(next_generation(sts, &annotated, Some(&old)), Some(3));
        assert_eq!(next_generation(dep, &old, None), Some(1));
        for (g, k) in [("", "ConfigMap"), ("", "Secret"), ("", "Service"), ("", "Namespace"), ("rbac.authorization.k8s.io", "Role"), ("autoscaling", "HorizontalPodAutoscaler")] {
            assert_eq!(generation_rule(g, k, false), None, "{k}");
        }
    }
}
