//! The resource types kube-sim serves: every built-in resource of Kubernetes 1.37.2 (from the
//! generated schema data, see [`super::schema`]) plus the resources of established CRDs.

use super::schema::{self, crd, TypeRef};
use serde_json::Value;
use std::sync::Arc;

/// Where the merge type of a resource comes from.
#[derive(Debug, Clone)]
pub enum TypeSource {
    /// A named type of the built-in schema.
    Builtin(String),
    /// Converted from the CRD's `openAPIV3Schema` (deduced when it has none).
    Crd(Arc<TypeRef>),
    /// Create-only review kinds: no stored objects, no type.
    Untyped,
}

/// One served resource (a group/version/plural with its kind and scope).
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    /// `status` and/or `scale`.
    pub subresources: Vec<String>,
    /// Name of the CRD that defines it, for custom resources.
    pub crd: Option<String>,
    pub type_source: TypeSource,
}

impl PartialEq for ResourceType {
    fn eq(&self, o: &Self) -> bool {
        (&self.group, &self.version, &self.plural) == (&o.group, &o.version, &o.plural)
    }
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
    pub fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s == "status")
    }
    /// The root merge type of the kind.
    pub fn root_type(&self) -> TypeRef {
        match &self.type_source {
            TypeSource::Builtin(n) => TypeRef {
                named_type: Some(n.clone()),
                ..TypeRef::default()
            },
            TypeSource::Crd(t) => (**t).clone(),
            TypeSource::Untyped => crd::root_type(None),
        }
    }
}

/// The built-in kinds, from the generated Kubernetes 1.37.2 data.
pub fn builtins() -> Vec<ResourceType> {
    schema::k8s()
        .resources
        .iter()
        .map(|r| ResourceType {
            group: r.group.clone(),
            version: r.version.clone(),
            kind: r.kind.clone(),
            plural: r.plural.clone(),
            singular: r.singular.clone(),
            namespaced: r.namespaced,
            short_names: r.short_names.clone(),
            categories: r.categories.clone(),
            verbs: r.verbs.clone(),
            subresources: r.subresources.clone(),
            crd: None,
            type_source: match &r.type_name {
                Some(n) => TypeSource::Builtin(n.clone()),
                None => TypeSource::Untyped,
            },
        })
        .collect()
}

/// The resource types a CRD object defines (one per served version).
pub fn from_crd(crd_obj: &Value) -> Vec<ResourceType> {
    let spec = &crd_obj["spec"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default()
    };
    let names = &spec["names"];
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    spec["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["served"].as_bool().unwrap_or(true))
                .map(|v| {
                    let mut subresources = Vec::new();
                    if v["subresources"]["status"].is_object() {
                        subresources.push("status".to_string());
                    }
                    if v["subresources"]["scale"].is_object() {
                        subresources.push("scale".to_string());
                    }
                    ResourceType {
                        group: s(&spec["group"]),
                        version: s(&v["name"]),
                        kind: s(&names["kind"]),
                        plural: s(&names["plural"]),
                        singular: names["singular"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| s(&names["kind"]).to_lowercase()),
                        namespaced,
                        short_names: strings(&names["shortNames"]),
                        categories: strings(&names["categories"]),
                        verbs: [
                            "delete",
                            "deletecollection",
                            "get",
                            "list",
                            "patch",
                            "create",
                            "update",
                            "watch",
                        ]
                        .iter()
                        .map(|v| v.to_string())
                        .collect(),
                        subresources,
                        crd: crd_obj["metadata"]["name"].as_str().map(str::to_string),
                        type_source: TypeSource::Crd(Arc::new(crd::root_type(
                            v["schema"].get("openAPIV3Schema"),
                        ))),
                    }
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
