//! The `status` and `scale` subresources: `/status` reads the object and writes only its
//! status (managedFields entry with `subresource: status`); `/scale` reads and writes an
//! `autoscaling/v1` Scale for Deployments, StatefulSets and ReplicaSets, changing only
//! `spec.replicas` (managedFields entry with `subresource: scale`). Writes to the main
//! resource leave the status alone.

use super::api::parse_body;
use super::errors::ApiError;
use super::fields;
use super::http::{Request, Response};
use super::resources::ResourceType;
use super::roundtrip::FieldValidation;
use super::store::{Key, State, WriteRequest, WriteVerb, Written};
use serde_json::{json, Value};

/// Kinds whose status is only written through `/status` (from the schema data).
pub fn has_status(rt: &ResourceType) -> bool {
    rt.has_status()
}

/// Kinds served with a `scale` subresource (from the schema data, or a CRD's
/// `subresources.scale`).
pub fn scalable(rt: &ResourceType) -> bool {
    rt.subresources.iter().any(|s| s == "scale")
}

/// On a write to the main resource, a Namespace's `spec.finalizers` stays: only its
/// `finalize` subresource changes it (the status itself is kept by the write pipeline's
/// strategy reset).
pub fn keep_namespace_finalizers(rt: &ResourceType, old: &Value, obj: &mut Value) {
    if !(rt.group.is_empty() && rt.kind == "Namespace") {
        return;
    }
    match old["spec"].get("finalizers") {
        Some(f) => obj["spec"]["finalizers"] = f.clone(),
        None => {
            if let Some(spec) = obj["spec"].as_object_mut() {
                spec.remove("finalizers");
            }
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
    let mut scale = json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"], "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector_string(obj)}});
    if scale["status"]["selector"] == "" {
        // `selector` is omitempty (a CRD without `labelSelectorPath`).
        scale["status"]
            .as_object_mut()
            .map(|s| s.remove("selector"));
    }
    scale
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

    /// Sets `spec.replicas` through the scale subresource as `manager` (its managedFields
    /// entry has `subresource: scale`).
    pub fn write_scale(&mut self, key: &Key, replicas: i64, manager: &str) -> Result<(), ApiError> {
        let Some(stored) = self.objects.get(key) else {
            return Ok(());
        };
        let mut new = stored.obj.clone();
        new["spec"]["replicas"] = json!(replicas);
        if new == stored.obj {
            return Ok(());
        }
        let managers = self.managers_after(key, &new, manager, "scale");
        if self.mutate(key, |o| o["spec"]["replicas"] = json!(replicas)) {
            if let Some(stored) = self.objects.get_mut(key) {
                stored.managers = managers;
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

    /// PUT or PATCH (merge, strategic, JSON or apply) `/status`: through the write pipeline
    /// with `subresource: status`, which takes only the status of the result and records the
    /// manager with `subresource: status`.
    pub fn write_status_request(
        &mut self,
        c: &Call,
        verb: WriteVerb,
        body: Value,
    ) -> Result<Written, ApiError> {
        self.write(WriteRequest {
            rt: c.rt,
            namespace: c.ns,
            name: Some(c.name),
            subresource: "status",
            verb,
            body,
            manager: c.manager,
            dry_run: c.dry_run,
            field_validation: FieldValidation::from_query(
                c.req.query("fieldValidation"),
                if verb == WriteVerb::Update {
                    "UpdateOptions"
                } else {
                    "PatchOptions"
                },
            )?,
        })
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
            let w = state.write_status_request(c, WriteVerb::Update, body)?;
            Ok(ok(w.obj))
        }
        ("status", "PATCH") => {
            let verb = patch_verb(c.req)?;
            let call = Call { manager, ..*c };
            let body = parse_body(c.req)?;
            let w = state.write_status_request(&call, verb, body)?;
            Ok(ok(w.obj))
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

/// The write verb of a PATCH by its Content-Type.
fn patch_verb(req: &Request) -> Result<WriteVerb, ApiError> {
    let ct = req.header("Content-Type").unwrap_or_default();
    match ct.split(';').next().unwrap_or_default().trim() {
        "application/merge-patch+json" => Ok(WriteVerb::MergePatch),
        "application/strategic-merge-patch+json" => Ok(WriteVerb::StrategicPatch),
        "application/json-patch+json" => Ok(WriteVerb::JsonPatch),
        "application/apply-patch+yaml" => Ok(WriteVerb::Apply {
            force: req.query("force") == Some("true"),
        }),
        other => Err(ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"))),
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}
