//! The `status` and `scale` subresources: `/status` reads the object and writes only its
//! status (managedFields entry with `subresource: status`); `/scale` reads and writes an
//! `autoscaling/v1` Scale for Deployments, StatefulSets and ReplicaSets, changing only
//! `spec.replicas` (managedFields entry with `subresource: scale`). Writes to the main
//! resource leave the status alone.

use super::api::parse_body;
use super::controllers::record_manager;
use super::errors::ApiError;
use super::fields;
use super::http::{Request, Response};
use super::resources::ResourceType;
use super::store::{Key, State};
use serde_json::{json, Value};

/// Kinds whose status is only written through `/status`.
pub fn has_status(rt: &ResourceType) -> bool {
    match rt.group.as_str() {
        "" => matches!(
            rt.kind.as_str(),
            "Namespace"
                | "Service"
                | "Pod"
                | "PersistentVolumeClaim"
                | "PersistentVolume"
                | "Node"
                | "ReplicationController"
        ),
        "apps"
        | "batch"
        | "autoscaling"
        | "policy"
        | "apiextensions.k8s.io"
        | "networking.k8s.io"
        | "apiregistration.k8s.io" => true,
        _ => rt.crd.is_some(),
    }
}

/// Kinds served with a `scale` subresource.
pub fn scalable(rt: &ResourceType) -> bool {
    rt.group == "apps"
        && matches!(
            rt.kind.as_str(),
            "Deployment" | "StatefulSet" | "ReplicaSet"
        )
}

/// The `subresources` of a resource in aggregated discovery.
pub fn aggregated_entries(rt: &ResourceType) -> Vec<Value> {
    let mut out = vec![
        json!({"subresource": "status", "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind}, "verbs": ["get", "patch", "update"]}),
    ];
    if scalable(rt) {
        out.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
    }
    out
}

/// On a write to the main resource, the stored status stays (and a Namespace's
/// `spec.finalizers`, which only its `finalize` subresource changes).
pub fn keep_status(rt: &ResourceType, old: &Value, obj: &mut Value) {
    if !has_status(rt) {
        return;
    }
    if rt.group.is_empty() && rt.kind == "Namespace" {
        match old["spec"].get("finalizers") {
            Some(f) => obj["spec"]["finalizers"] = f.clone(),
            None => {
                if let Some(spec) = obj["spec"].as_object_mut() {
                    spec.remove("finalizers");
                }
            }
        }
    }
    match old.get("status") {
        Some(s) => obj["status"] = s.clone(),
        None => {
            obj.as_object_mut().map(|m| m.remove("status"));
        }
    }
}

fn selector_string(obj: &Value) -> String {
    let mut parts: Vec<String> = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    for e in obj["spec"]["selector"]["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let key = e["key"].as_str().unwrap_or_default();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    parts.sort();
    parts.join(",")
}

/// The `autoscaling/v1` Scale of an object.
pub fn scale_of(obj: &Value) -> Value {
    let m = &obj["metadata"];
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"], "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector_string(obj)}})
}

impl State {
    fn stored_or_404(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<(Key, Value), ApiError> {
        let key = Self::key(rt, ns, name);
        self.objects
            .get(&key)
            .map(|s| (key.clone(), s.obj.clone()))
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), name))
    }

    /// Sets `spec.replicas` through the scale subresource as `manager`.
    pub fn write_scale(&mut self, key: &Key, replicas: i64, manager: &str) -> Result<(), ApiError> {
        let changed = self.mutate(key, |o| o["spec"]["replicas"] = json!(replicas));
        if let Some(stored) = self.objects.get_mut(key) {
            let api_version = stored.obj["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if changed {
                let owned: fields::FieldSet = [vec!["spec".to_string(), "replicas".to_string()]]
                    .into_iter()
                    .collect();
                record_manager(&mut stored.managers, manager, &api_version, "scale", owned);
            }
        }
        Ok(())
    }

    /// GET `/scale`.
    pub fn get_scale(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        Ok(scale_of(&self.stored_or_404(rt, ns, name)?.1))
    }

    /// PUT or PATCH `/scale`: `scale` is the new Scale (a patch already merged into the old one).
    pub fn update_scale(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        scale: &Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let (key, obj) = self.stored_or_404(rt, ns, name)?;
        if let Some(rv) = scale["metadata"]["resourceVersion"].as_str() {
            if Some(rv) != obj["metadata"]["resourceVersion"].as_str() {
                return Err(ApiError::conflict(&rt.qualified(), name, "the object has been modified; please apply your changes to the latest version and try again"));
            }
        }
        let Some(replicas) = scale["spec"]["replicas"].as_i64().filter(|r| *r >= 0) else {
            return Err(ApiError::invalid(
                "Scale",
                name,
                vec![(
                    "spec.replicas".into(),
                    format!(
                        "Invalid value: {}: must be greater than or equal to 0",
                        scale["spec"]["replicas"]
                    ),
                )],
            ));
        };
        if dry_run {
            let mut o = obj.clone();
            o["spec"]["replicas"] = json!(replicas);
            return Ok(scale_of(&o));
        }
        self.write_scale(&key, replicas, manager)?;
        self.get_scale(rt, ns, name)
    }

    /// PUT or PATCH `/status`: only the status of `new` is taken.
    pub fn update_status(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        new: &Value,
        manager: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let (key, obj) = self.stored_or_404(rt, ns, name)?;
        if let Some(rv) = new["metadata"]["resourceVersion"].as_str() {
            if Some(rv) != obj["metadata"]["resourceVersion"].as_str() {
                return Err(ApiError::conflict(&rt.qualified(), name, "the object has been modified; please apply your changes to the latest version and try again"));
            }
        }
        let status = new.get("status").cloned().unwrap_or(Value::Null);
        if dry_run {
            let mut o = obj;
            o["status"] = status;
            return Ok(o);
        }
        self.write_status_as(&key, status, manager);
        self.get(rt, ns, name)
    }
}

/// One request to a subresource of one object.
pub struct Call<'a> {
    pub req: &'a Request,
    pub rt: &'a ResourceType,
    pub ns: &'a str,
    pub name: &'a str,
    pub manager: &'a str,
    pub dry_run: bool,
}

fn ok(v: Value) -> Response {
    Response::json(200, &v)
}

/// Serves GET/PUT/PATCH on `/status` and `/scale` (404 for other subresources).
pub fn route(state: &mut State, call: &Call, sub: &str) -> Response {
    match serve(state, call, sub) {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

fn serve(state: &mut State, c: &Call, sub: &str) -> Result<Response, ApiError> {
    let (rt, ns, name, dry_run) = (c.rt, c.ns, c.name, c.dry_run);
    let ct = c.req.header("Content-Type").unwrap_or_default();
    let apply = ct.starts_with("application/apply-patch");
    let manager = match c.req.query("fieldManager") {
        Some(m) if apply => m,
        _ => c.manager,
    };
    let method = c.req.method.as_str();
    let unsupported = |what: &str| {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on the {what} subresource"),
        )
    };
    match (sub, method) {
        ("status", _) if !has_status(rt) => Err(not_found()),
        ("scale", _) if !scalable(rt) => Err(not_found()),
        ("status", "GET") => Ok(ok(state.get(rt, ns, name)?)),
        ("status", "PUT") => {
            let body = parse_body(c.req)?;
            Ok(ok(
                state.update_status(rt, ns, name, &body, manager, dry_run)?
            ))
        }
        ("status", "PATCH") => {
            let body = parse_body(c.req)?;
            let mut obj = state.get(rt, ns, name)?;
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            fields::merge_patch(&mut obj, &body);
            Ok(ok(
                state.update_status(rt, ns, name, &obj, manager, dry_run)?
            ))
        }
        ("status", _) => Err(unsupported("status")),
        ("scale", "GET") => Ok(ok(state.get_scale(rt, ns, name)?)),
        ("scale", "PUT") => {
            let body = parse_body(c.req)?;
            Ok(ok(
                state.update_scale(rt, ns, name, &body, manager, dry_run)?
            ))
        }
        ("scale", "PATCH") => {
            let body = parse_body(c.req)?;
            let mut scale = state.get_scale(rt, ns, name)?;
            if let Some(m) = scale["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            fields::merge_patch(&mut scale, &body);
            Ok(ok(
                state.update_scale(rt, ns, name, &scale, manager, dry_run)?
            ))
        }
        ("scale", _) => Err(unsupported("scale")),
        _ => Err(not_found()),
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}
