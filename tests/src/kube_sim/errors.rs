//! Kubernetes `Status` failure responses, as the real API server words them.

use super::http::Response;
use super::resources::ResourceType;
use serde_json::{json, Value};

/// A failed request: HTTP code, reason and message, rendered as a `Status` object.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
    /// `metadata.continue` of the Status (only a 410 for an expired continue token has one).
    pub list_continue: Option<String>,
}

/// The etcd3 store's message for a continue token that was compacted away.
pub const INCONSISTENT_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// The mux's answer for a path under a group version nobody serves (e.g. once its CRD is
/// gone): plain text, not a `Status`.
pub fn page_not_found() -> Response {
    Response::new(
        404,
        "text/plain; charset=utf-8",
        b"404 page not found\n".to_vec(),
    )
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
            list_continue: None,
        }
    }
    pub fn not_found(resource: &str, name: &str) -> Self {
        let mut e = Self::new(404, "NotFound", format!("{resource} \"{name}\" not found"));
        e.details = json!({"name": name, "kind": resource});
        e
    }
    pub fn already_exists(resource: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        );
        e.details = json!({"name": name, "kind": resource});
        e
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    /// 422 with one cause per invalid field.
    pub fn invalid(kind: &str, name: &str, causes: Vec<(String, String)>) -> Self {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {}", text.join(", ")),
        );
        e.details = json!({
            "name": name, "kind": kind,
            "causes": causes.iter().map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f})).collect::<Vec<_>>()
        });
        e
    }
    /// 409 `Operation cannot be fulfilled on R "name": why` (storage conflicts, preconditions).
    pub fn conflict(resource: &str, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
        );
        e.details = match resource.split_once('.') {
            Some((plural, group)) => json!({"name": name, "group": group, "kind": plural}),
            None => json!({"name": name, "kind": resource}),
        };
        e
    }
    /// 403 as `apierrors.NewForbidden` words it: `R "name" is forbidden: why`.
    pub fn forbidden(rt: &ResourceType, name: &str, why: &str) -> Self {
        let message = if name.is_empty() {
            format!("{} is forbidden: {why}", rt.qualified())
        } else {
            format!("{} \"{name}\" is forbidden: {why}", rt.qualified())
        };
        let mut e = Self::new(403, "Forbidden", message);
        e.details = json!({"name": name, "group": rt.group, "kind": rt.plural});
        if rt.group.is_empty() {
            e.details.as_object_mut().map(|d| d.remove("group"));
        }
        e
    }
    /// The NamespaceLifecycle admission plugin's answer to a create in a Terminating namespace.
    pub fn namespace_terminating(rt: &ResourceType, ns: &str, name: &str) -> Self {
        let mut e = Self::forbidden(
            rt,
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        );
        e.details["causes"] = json!([{"reason": "NamespaceTerminating",
            "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]);
        e
    }
    /// 410 Expired for a continue token older than the last compaction (etcd3 store's
    /// `inconsistentContinue`), carrying a fresh token that continues at the latest version.
    pub fn continue_expired(fresh_token: String) -> Self {
        let mut e = Self::new(410, "Expired", INCONSISTENT_CONTINUE);
        e.list_continue = Some(fresh_token);
        e
    }
    /// 405 as the apiserver words a verb a resource does not support.
    pub fn method_not_supported(rt: &ResourceType, verb: &str) -> Self {
        let mut e = Self::new(
            405,
            "MethodNotAllowed",
            format!(
                "{verb} is not supported on resources of kind \"{}\"",
                rt.qualified()
            ),
        );
        e.details = json!({"group": rt.group, "kind": rt.plural});
        e
    }
    pub fn response(&self) -> Response {
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        });
        if self.reason.is_empty() {
            // StatusReasonUnknown is omitted (`omitempty`).
            status.as_object_mut().map(|s| s.remove("reason"));
        }
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        if let Some(c) = &self.list_continue {
            status["metadata"]["continue"] = json!(c);
        }
        Response::json(self.code, &status)
    }
}
