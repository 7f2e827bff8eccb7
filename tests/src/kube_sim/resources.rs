//! The resource types kube-sim serves: the built-in kinds ferry needs, plus established CRDs.

use serde_json::Value;

/// One served resource (a group/version/plural with its kind and scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// Name of the CRD that defines it, for custom resources.
    pub crd: Option<String>,
}

impl ResourceType {
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// The `plural` or `plural.group` name used in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
    /// True for kinds whose objects carry a `spec` with a pod template.
    pub fn is_workload(&self) -> bool {
        self.group == "apps"
            && matches!(
                self.kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet"
            )
    }
}

fn rt(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        crd: None,
    }
}

/// The built-in kinds.
pub fn builtins() -> Vec<ResourceType> {
    vec![
        rt("", "v1", "Namespace", "namespaces", false, &["ns"]),
        rt("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
        rt("", "v1", "Secret", "secrets", true, &[]),
        rt("", "v1", "Service", "services", true, &["svc"]),
        rt("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"]),
        rt("apps", "v1", "Deployment", "deployments", true, &["deploy"]),
        // Kinds the simulated controllers create or read (sim-lifecycle).
        rt("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"]),
        rt("", "v1", "Pod", "pods", true, &["po"]),
        rt(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
            &["pvc"],
        ),
        rt(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            false,
            &["pv"],
        ),
        rt(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            false,
            &["sc"],
        ),
        rt(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
            &["hpa"],
        ),
        rt("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"]),
        rt("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"]),
        rt("batch", "v1", "Job", "jobs", true, &[]),
        rt("batch", "v1", "CronJob", "cronjobs", true, &["cj"]),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            true,
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
            &[],
        ),
        rt(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            &[],
        ),
        rt(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["crd", "crds"],
        ),
    ]
}

/// The resource types a CRD object defines (one per served version).
pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let short: Vec<String> = names["shortNames"]
        .as_array()
        .map(|a| a.iter().map(s).collect())
        .unwrap_or_default();
    spec["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["served"].as_bool().unwrap_or(true))
                .map(|v| ResourceType {
                    group: s(&spec["group"]),
                    version: s(&v["name"]),
                    kind: s(&names["kind"]),
                    plural: s(&names["plural"]),
                    singular: names["singular"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| s(&names["kind"]).to_lowercase()),
                    namespaced,
                    short_names: short.clone(),
                    crd: crd["metadata"]["name"].as_str().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// k3s's HelmChart CRD, pre-installed like on a real k3s node.
pub fn helmchart_crd() -> Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "helmcharts.helm.cattle.io"},
        "spec": {
            "group": "helm.cattle.io",
            "scope": "Namespaced",
            "names": {"plural": "helmcharts", "singular": "helmchart", "kind": "HelmChart", "listKind": "HelmChartList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    })
}
