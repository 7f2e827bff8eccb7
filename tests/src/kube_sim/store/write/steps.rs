//! Helpers of the write pipeline: strategy resets, system metadata, the `managedFields` a
//! write sends, strategic merge patch, and what the store holds that a write needs (a CRD's
//! schema, cluster allocations).

use super::super::State;
use super::WriteVerb;
use crate::kube_sim::errors::ApiError;
use crate::kube_sim::fields::{self, managers, ManagerEntry};
use crate::kube_sim::resources::{ResourceType, TypeSource};
use crate::kube_sim::roundtrip;
use crate::kube_sim::schema;
use serde_json::{json, Map, Value};

impl WriteVerb {
    /// True for the patch verbs whose result (not the body) is decoded and checked.
    pub(super) fn is_patch(self) -> bool {
        matches!(
            self,
            WriteVerb::MergePatch | WriteVerb::StrategicPatch | WriteVerb::JsonPatch
        )
    }
}

/// A strategic merge patch by the Go patch tags of the kind; custom resources have none and
/// get the real server's 415.
pub(super) fn strategic_patch(
    rt: &ResourceType,
    obj: &mut Value,
    patch: &Value,
) -> Result<(), ApiError> {
    if !matches!(rt.type_source, TypeSource::Builtin(_)) {
        return Err(ApiError::new(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"));
    }
    fields::strategic::apply(&schema::k8s().types, &rt.root_type(), obj, patch).map_err(|e| {
        ApiError::bad_request(format!("strategic merge patch of {} failed: {e}", rt.kind))
    })
}

/// What a non-apply write says about `managedFields` (apimachinery `fieldmanager.go`).
pub(super) enum SentManagers {
    /// Absent, empty or undecodable: the stored managers stay the base.
    Keep,
    /// Decodable entries: they replace the stored ones (editing managedFields directly).
    Replace(Vec<ManagerEntry>),
    /// `[{}]`: reset, and the write itself is not tracked.
    Reset,
}

impl SentManagers {
    pub(super) fn of(v: Option<&Value>) -> SentManagers {
        let Some(list) = v.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
            return SentManagers::Keep;
        };
        if list
            .iter()
            .all(|e| e.as_object().is_some_and(Map::is_empty))
        {
            return SentManagers::Reset;
        }
        match managers::parse_entries(&Value::Array(list.clone())) {
            Ok(ms) if !ms.is_empty() => SentManagers::Replace(ms),
            _ => SentManagers::Keep,
        }
    }
}

/// Strategy resets: the main resource of a kind with a status subresource keeps the old
/// status (a create starts without one); the status subresource changes only `status`.
pub(super) fn reset_by_strategy(
    rt: &ResourceType,
    subresource: &str,
    obj: &mut Value,
    old: Option<&Value>,
) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if subresource == "status" {
        if let Some(old) = old {
            let status = map.remove("status");
            *obj = old.clone();
            if let Some(s) = status {
                obj["status"] = s;
            }
        }
        return;
    }
    if rt.has_status() {
        match old.and_then(|o| o.get("status")) {
            Some(s) => {
                map.insert("status".into(), s.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
}

/// apiVersion/kind/name/namespace from the URL; managedFields never stored in the object.
pub(super) fn system_metadata(
    rt: &ResourceType,
    ns: &str,
    name: &str,
    obj: &mut Value,
    _old: Option<&Value>,
) {
    obj["apiVersion"] = json!(rt.group_version());
    obj["kind"] = json!(rt.kind);
    if !obj["metadata"].is_object() {
        obj["metadata"] = Value::Object(Map::new());
    }
    obj["metadata"]["name"] = json!(name);
    if let Some(m) = obj["metadata"].as_object_mut() {
        if rt.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.remove("managedFields");
    }
}

pub(super) fn managers_equal(a: &[ManagerEntry], b: &[ManagerEntry]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.manager == y.manager
                && x.operation == y.operation
                && x.subresource == y.subresource
                && x.fields == y.fields
        })
}

impl State {
    /// The `openAPIV3Schema` of the served version of a custom resource's CRD.
    pub(super) fn crd_schema(&self, rt: &ResourceType) -> Option<Value> {
        let crd = rt.crd.as_deref()?;
        let key = (
            "apiextensions.k8s.io".to_string(),
            "customresourcedefinitions".to_string(),
            String::new(),
            crd.to_string(),
        );
        let stored = self.objects.get(&key)?;
        stored.obj["spec"]["versions"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == rt.version.as_str())
            .map(|v| v["schema"]["openAPIV3Schema"].clone())
            .filter(Value::is_object)
    }

    /// What other objects hold that a write may allocate (Service cluster IPs, node ports).
    pub(super) fn cluster_allocations(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
    ) -> roundtrip::Cluster {
        if !(rt.group.is_empty() && rt.kind == "Service") {
            return roundtrip::Cluster::default();
        }
        let others = self
            .objects
            .iter()
            .filter(|(k, _)| k.0.is_empty() && k.1 == "services" && !(k.2 == ns && k.3 == name))
            .map(|(_, s)| &s.obj);
        roundtrip::Cluster {
            services: roundtrip::defaults::service::Allocated::from_services(others),
        }
    }
}
