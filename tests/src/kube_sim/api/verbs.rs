//! The resource verbs (get, list, create, update, patch, apply, delete) of a parsed resource
//! URL, and the request bodies and options they read.

use super::{ok, Api, Target};
use crate::kube_sim::controllers;
use crate::kube_sim::deletion::DeleteOptions;
use crate::kube_sim::errors::ApiError;
use crate::kube_sim::http::{Request, Response};
use crate::kube_sim::lists;
use crate::kube_sim::roundtrip::FieldValidation;
use crate::kube_sim::store::write::{WriteRequest, WriteVerb};
use crate::kube_sim::subresources;
use serde_json::{json, Value};

impl Api {
    pub(super) fn verb(&self, req: &Request, t: Target) -> Result<Response, ApiError> {
        let ns = t.namespace.clone().unwrap_or_default();
        if t.rt.namespaced && t.namespace.is_none() && t.name.is_some() {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
        let dry_run = req.query("dryRun") == Some("All");
        let manager = req
            .query("fieldManager")
            .map(str::to_string)
            .unwrap_or_else(|| {
                req.header("User-Agent")
                    .and_then(|u| u.split('/').next())
                    .unwrap_or("unknown")
                    .to_string()
            });
        if let (Some(sub), Some(name)) = (&t.subresource, &t.name) {
            let mut state = self.state();
            let call = subresources::Call {
                req,
                rt: &t.rt,
                ns: &ns,
                name,
                manager: &manager,
                dry_run,
            };
            return Ok(subresources::route(&mut state, &call, sub));
        }
        let shape = lists::shape(req);
        let mut state = self.state();
        match (req.method.as_str(), &t.name) {
            ("GET", Some(name)) if crate::kube_sim::tables::wanted(req, &t.rt) => {
                let obj = state.get(&t.rt, &ns, name)?;
                let rv = obj["metadata"]["resourceVersion"].clone();
                Ok(crate::kube_sim::tables::namespaces(
                    &[obj],
                    json!({"resourceVersion": rv}),
                ))
            }
            ("GET", Some(name)) => Ok(lists::get_response(state.get(&t.rt, &ns, name)?, shape)),
            ("GET", None) => {
                if req.query("watch").is_some_and(|w| w == "true" || w == "1") {
                    return Ok(Response::new(200, "application/json", Vec::new()));
                }
                lists::list(&state, &t.rt, t.namespace.as_deref(), req)
            }
            ("POST", None)
                if t.rt.crd.is_some()
                    && controllers::crd::terminating(&state, &t.rt.group, &t.rt.plural) =>
            {
                let mut e = ApiError::method_not_supported(&t.rt, "create");
                e.message =
                    "create not allowed while custom resource definition is terminating".into();
                Err(e)
            }
            ("POST", None) => {
                let body = parse_body(req)?;
                let ns = if t.rt.namespaced {
                    t.namespace.clone().ok_or_else(|| {
                        ApiError::bad_request("a namespaced resource needs a namespace in the URL")
                    })?
                } else {
                    String::new()
                };
                let w = state.write(WriteRequest {
                    rt: &t.rt,
                    namespace: &ns,
                    name: None,
                    subresource: "",
                    verb: WriteVerb::Create,
                    body,
                    manager: &manager,
                    dry_run,
                    field_validation: field_validation(req, "CreateOptions")?,
                })?;
                Ok(with_warnings(Response::json(201, &w.obj), &w.warnings))
            }
            ("PUT", Some(name)) => {
                let body = parse_body(req)?;
                let w = state.write(WriteRequest {
                    rt: &t.rt,
                    namespace: &ns,
                    name: Some(name),
                    subresource: "",
                    verb: WriteVerb::Update,
                    body,
                    manager: &manager,
                    dry_run,
                    field_validation: field_validation(req, "UpdateOptions")?,
                })?;
                Ok(with_warnings(ok(w.obj), &w.warnings))
            }
            ("PATCH", Some(name)) => {
                let ct = req.header("Content-Type").unwrap_or_default();
                let ct = ct.split(';').next().unwrap_or_default().trim();
                match ct {
                    "application/apply-patch+yaml" | "application/apply-patch+cbor" if ct.ends_with("yaml") => {
                        let Some(fm) = req.query("fieldManager") else {
                            return Err(ApiError::new(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
                        };
                        let body = parse_body(req)?;
                        let force = req.query("force") == Some("true");
                        let w = state.write(WriteRequest {
                            rt: &t.rt,
                            namespace: &ns,
                            name: Some(name),
                            subresource: "",
                            verb: WriteVerb::Apply { force },
                            body,
                            manager: fm,
                            dry_run,
                            field_validation: field_validation(req, "PatchOptions")?,
                        })?;
                        let status = if w.created { 201 } else { 200 };
                        Ok(with_warnings(Response::json(status, &w.obj), &w.warnings))
                    }
                    "application/merge-patch+json"
                    | "application/strategic-merge-patch+json"
                    | "application/json-patch+json" => {
                        let verb = match ct {
                            "application/merge-patch+json" => WriteVerb::MergePatch,
                            "application/strategic-merge-patch+json" => WriteVerb::StrategicPatch,
                            _ => WriteVerb::JsonPatch,
                        };
                        let body = parse_body(req)?;
                        let w = state.write(WriteRequest {
                            rt: &t.rt,
                            namespace: &ns,
                            name: Some(name),
                            subresource: "",
                            verb,
                            body,
                            manager: &manager,
                            dry_run,
                            field_validation: field_validation(req, "PatchOptions")?,
                        })?;
                        Ok(with_warnings(ok(w.obj), &w.warnings))
                    }
                    other => Err(ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"))),
                }
            }
            ("DELETE", Some(name)) => {
                let opts = DeleteOptions::parse(&req.body, &|k| req.query(k).map(str::to_string))?;
                let d = state.delete_with(&t.rt, &ns, name, &opts)?;
                let warned = crate::kube_sim::deletion::warnings(&t.rt, &opts);
                Ok(with_warnings(Response::json(d.code, &d.body), &warned))
            }
            (m, _) => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("{m} is not supported here"),
            )),
        }
    }
}

/// The `fieldValidation` query parameter of a write.
fn field_validation(req: &Request, options_kind: &str) -> Result<FieldValidation, ApiError> {
    FieldValidation::from_query(req.query("fieldValidation"), options_kind)
}

/// A write's warnings as the real server sends them: `Warning: 299 - "<text>"`.
fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let quoted = serde_json::to_string(w).unwrap_or_default();
        resp.headers
            .push(("Warning".into(), format!("299 - {quoted}")));
    }
    resp
}

/// Parses a JSON or YAML body (YAML is a superset of JSON).
pub(in crate::kube_sim) fn parse_body(req: &Request) -> Result<Value, ApiError> {
    let ct = req.header("Content-Type").unwrap_or("application/json");
    let ct = ct.split(';').next().unwrap_or_default().trim();
    if !(ct.ends_with("json") || ct.ends_with("yaml") || ct == "*/*") {
        return Err(ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct:?})")));
    }
    if let Ok(v) = serde_json::from_slice::<Value>(&req.body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(&req.body)
        .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
    let v: Value = ferry_bundle::yaml::value_from_str(
        "request body",
        text,
        &ferry_bundle::yaml::Budget::default(),
    )
    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("the request body is not an object"));
    }
    Ok(v)
}
