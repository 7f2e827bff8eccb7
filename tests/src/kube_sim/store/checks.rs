//! Request checks of the decode step: the body's apiVersion, kind, name and namespace against
//! the URL, apply configurations, and `resourceVersion` preconditions.

use crate::kube_sim::errors::ApiError;
use crate::kube_sim::resources::ResourceType;
use serde_json::Value;

/// A merge or strategic patch must be a JSON object (the patch decodes into a Go map).
pub(super) fn check_patch_object(patch: &Value) -> Result<(), ApiError> {
    let go_type = match patch {
        Value::Object(_) => return Ok(()),
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Bool(_) => "bool",
        Value::Null => return Ok(()),
    };
    Err(ApiError::bad_request(format!(
        "error decoding patch: json: cannot unmarshal {go_type} into Go value of type map[string]interface {{}}"
    )))
}

/// Checks the body's apiVersion/kind against the URL.
pub(super) fn check_body(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was not a JSON or YAML object",
        ));
    }
    if let Some(av) = body["apiVersion"].as_str() {
        if av != rt.group_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                rt.group_version()
            )));
        }
    }
    if let Some(k) = body["kind"].as_str() {
        if k != rt.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )));
        }
    }
    Ok(())
}

pub(super) fn check_name(
    rt: &ResourceType,
    ns: &str,
    name: &str,
    body: &Value,
) -> Result<(), ApiError> {
    if let Some(n) = body["metadata"]["name"].as_str() {
        if n != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    if rt.namespaced {
        if let Some(n) = body["metadata"]["namespace"].as_str() {
            if n != ns {
                return Err(ApiError::bad_request(format!("the namespace of the object ({n}) does not match the namespace on the request ({ns})")));
            }
        }
    }
    Ok(())
}

pub(super) fn check_apply_config(body: &Value) -> Result<(), ApiError> {
    if body["apiVersion"].is_null() || body["kind"].is_null() {
        return Err(ApiError::bad_request(
            "apiVersion and kind must be set in an apply patch",
        ));
    }
    if body["metadata"]
        .get("managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    Ok(())
}

pub(super) fn check_resource_version(
    rt: &ResourceType,
    name: &str,
    body: &Value,
    old: &Value,
) -> Result<(), ApiError> {
    if let Some(rv) = body["metadata"]["resourceVersion"].as_str() {
        if Some(rv) != old["metadata"]["resourceVersion"].as_str() {
            return Err(ApiError::conflict(
                &rt.qualified(),
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
    }
    Ok(())
}
