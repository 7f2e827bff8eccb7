//! The typed round trip every write goes through in the real API server (create, update,
//! patch, apply, dry run alike), as hooks the store's write pipeline calls:
//!
//! 1. [`decode_body`]: the body decoded into the Go types (unknown fields per
//!    `fieldValidation`, type errors, integers, quantities) or, for custom resources,
//!    pruned and defaulted against the CRD schema;
//! 2. [`normalize`]: after the merge with the stored object, defaulting, allocations
//!    (Service cluster IP and node ports, the Job selector) and Go's JSON encoding
//!    (`omitempty`);
//! 3. [`validate`]: immutable fields against the old object, CRD type checks;
//! 4. [`metadata`]: which kinds have a generation and what moves it.

pub mod crd;
pub mod decode;
pub mod defaults;
pub mod encode;
pub mod gofmt;
pub mod immutable;
pub mod metadata;
pub mod quantity;

use super::errors::ApiError;
use super::resources::ResourceType;
use super::schema;
use immutable::FieldError;
use serde_json::{json, Value};

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    /// The server's default when the parameter is absent.
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    /// Parses the query value (absent is `Warn`); anything else is refused as the options'
    /// validation refuses it (`options_kind`: `CreateOptions`, `UpdateOptions`,
    /// `PatchOptions`).
    pub fn from_query(v: Option<&str>, options_kind: &str) -> Result<Self, ApiError> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => {
                let message = format!(
                    "Unsupported value: {:?}: supported values: \"Ignore\", \"Warn\", \"Strict\"",
                    other
                );
                let mut e = ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "{options_kind}.meta.k8s.io \"\" is invalid: fieldValidation: {message}"
                    ),
                );
                e.details = json!({"group": "meta.k8s.io", "kind": options_kind,
                    "causes": [{"reason": "FieldValueNotSupported", "message": message, "field": "fieldValidation"}]});
                Err(e)
            }
        }
    }
}

/// How the body reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteVerb {
    Create,
    Update,
    /// JSON merge or strategic merge patch (the patched object is decoded).
    Patch,
    /// Server-side apply (the apply configuration is typed by structured-merge-diff).
    Apply,
}

/// The object being written.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub rt: &'a ResourceType,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The served version's `openAPIV3Schema`, for custom resources.
    pub crd_schema: Option<&'a Value>,
}

impl Target<'_> {
    /// `Deployment.apps` / `Service`: how `NewInvalid` names the kind.
    fn qualified_kind(&self) -> String {
        if self.rt.group.is_empty() {
            self.rt.kind.clone()
        } else {
            format!("{}.{}", self.rt.kind, self.rt.group)
        }
    }

    fn cannot_handle(&self, detail: &str) -> ApiError {
        let k = &self.rt.kind;
        ApiError::bad_request(format!(
            "{k} in version \"{}\" cannot be handled as a {k}: {detail}",
            self.rt.version
        ))
    }

    fn builtin_type(&self) -> Option<schema::TypeRef> {
        if self.rt.crd.is_some() {
            return None;
        }
        schema::k8s().type_of(&self.rt.group, &self.rt.version, &self.rt.kind)
    }
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Metadata the server owns and ignores in a request body.
const SERVER_OWNED_METADATA: [&str; 3] = ["creationTimestamp", "generation", "selfLink"];

/// Hook 1: decodes `body` in place. Returns the `Warning` texts (`unknown field "spec.foo"`)
/// for the response, or the error the real server answers.
pub fn decode_body(
    t: &Target,
    body: &mut Value,
    verb: WriteVerb,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in SERVER_OWNED_METADATA {
            meta.remove(k);
        }
    }
    // structured-merge-diff names the applied object by the namespace its body gives.
    let applied_ns = body["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let applied = Target {
        namespace: &applied_ns,
        ..*t
    };
    let unknown: Vec<(String, String)> = if let Some(root) = t.builtin_type() {
        let findings = decode::decode(&schema::k8s().types, &root, body);
        if verb == WriteVerb::Apply && !findings.smd_type_errors.is_empty() {
            let mut lines: Vec<String> = findings
                .unknown
                .iter()
                .map(|u| format!("{}: field not declared in schema", u.smd_path))
                .collect();
            lines.extend(findings.smd_type_errors);
            return Err(typed_patch_failure(&applied, &lines));
        }
        if let Some(e) = findings.error {
            return Err(t.cannot_handle(&e));
        }
        findings
            .unknown
            .into_iter()
            .map(|u| (u.decoder_path, u.smd_path))
            .collect()
    } else if let Some(s) = t.crd_schema {
        if verb == WriteVerb::Apply {
            let lines: Vec<String> = crd::apply_scalar_mismatches(s, body)
                .iter()
                .filter_map(|(path, go, v)| {
                    decode::smd_scalar_error(go, v).map(|e| format!("{path}: {e}"))
                })
                .collect();
            if !lines.is_empty() {
                return Err(typed_patch_failure(&applied, &lines));
            }
        }
        let meta_type = schema::TypeRef {
            named_type: Some(OBJECT_META.into()),
            ..schema::TypeRef::default()
        };
        let mut found: Vec<(String, String)> = match body.get_mut("metadata") {
            Some(meta) => decode::decode_field(&schema::k8s().types, &meta_type, meta, "metadata")
                .unknown
                .into_iter()
                .map(|u| (u.decoder_path, u.smd_path))
                .collect(),
            None => Vec::new(),
        };
        found.extend(
            crd::prune_and_default(s, body, verb != WriteVerb::Apply)
                .into_iter()
                .map(|p| (p.clone(), format!(".{p}"))),
        );
        found
    } else {
        Vec::new()
    };
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if verb == WriteVerb::Apply {
        return Err(typed_patch_error(&applied, &unknown));
    }
    match validation {
        FieldValidation::Ignore => Ok(Vec::new()),
        FieldValidation::Warn => Ok(unknown
            .iter()
            .map(|(p, _)| format!("unknown field \"{p}\""))
            .collect()),
        FieldValidation::Strict => {
            let list: Vec<String> = unknown
                .iter()
                .map(|(p, _)| format!("unknown field \"{p}\""))
                .collect();
            Err(t.cannot_handle(&format!("strict decoding error: {}", list.join(", "))))
        }
    }
}

/// structured-merge-diff refuses an apply configuration with undeclared fields; the API
/// server passes that on as a 500 without a reason (kubernetes/kubernetes#122480).
fn typed_patch_error(t: &Target, unknown: &[(String, String)]) -> ApiError {
    let lines: Vec<String> = unknown
        .iter()
        .map(|(_, smd)| format!("{smd}: field not declared in schema"))
        .collect();
    typed_patch_failure(t, &lines)
}

/// The 500 of structured-merge-diff's validation errors (`ValidationErrors.Error()`).
fn typed_patch_failure(t: &Target, lines: &[String]) -> ApiError {
    let detail = if lines.len() == 1 {
        lines[0].clone()
    } else {
        format!("errors:\n  {}", lines.join("\n  "))
    };
    let gv = t.rt.group_version();
    let gvk = if t.rt.group.is_empty() {
        format!("/{gv}, Kind={}", t.rt.kind)
    } else {
        format!("{gv}, Kind={}", t.rt.kind)
    };
    ApiError::new(
        500,
        "",
        format!(
            "failed to create typed patch object ({}/{}; {gvk}): {detail}",
            t.namespace, t.name
        ),
    )
}

/// What [`normalize`] needs to know about the rest of the cluster.
#[derive(Debug, Default, Clone)]
pub struct Cluster {
    pub services: defaults::service::Allocated,
}

/// Hook 2: the merged object becomes what the server stores: defaults, allocations, the Job
/// selector (needs `metadata.uid`), then Go's encoding of the typed object.
pub fn normalize(
    t: &Target,
    obj: &mut Value,
    old: Option<&Value>,
    cluster: &Cluster,
) -> Result<(), ApiError> {
    if t.rt.crd.is_some() {
        if let Some(s) = t.crd_schema {
            crd::prune_and_default(s, obj, true);
        }
        return Ok(());
    }
    if (t.rt.group.as_str(), t.rt.version.as_str()) == ("autoscaling", "v1") {
        // autoscaling/v1 has only `minReplicas` defaulted (no metrics or behavior).
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            if spec.get("minReplicas").is_none_or(Value::is_null) {
                spec.insert("minReplicas".into(), json!(1));
            }
        }
    } else {
        defaults::apply(&t.rt.group, &t.rt.kind, obj)
            .map_err(|e| t.cannot_handle(&e.to_string()))?;
    }
    match (t.rt.group.as_str(), t.rt.kind.as_str()) {
        ("", "Service") => defaults::service::allocate(obj, old, &cluster.services)?,
        // The Job strategy generates the selector in Validate of a create only.
        ("batch", "Job") if old.is_none() => defaults::workloads::job_selector(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd::definition_defaults(obj, old),
        _ => {}
    }
    if let Some(root) = t.builtin_type() {
        if t.rt.group != "apiextensions.k8s.io" {
            // A status this write did not touch stays as its controller wrote it.
            let kept_status = old
                .and_then(|o| o.get("status"))
                .filter(|s| obj.get("status") == Some(*s))
                .cloned();
            encode::encode(&schema::k8s().types, &root, obj);
            if let Some(s) = kept_status {
                obj["status"] = s;
            }
        }
    }
    Ok(())
}

/// Hook 3: validation of the normalized object (against the old one on updates).
pub fn validate(t: &Target, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(s) = t.crd_schema {
        errors.extend(crd::validate(s, obj));
    }
    if let Some(old) = old {
        errors.extend(immutable::check_update(&t.rt.group, &t.rt.kind, obj, old));
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(invalid(t, &errors))
}

/// `errors.NewInvalid`: 422, `Kind.group "name" is invalid: [causes]`.
pub fn invalid(t: &Target, errors: &[FieldError]) -> ApiError {
    let rendered: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    let aggregate = if rendered.len() == 1 {
        rendered[0].clone()
    } else {
        format!("[{}]", rendered.join(", "))
    };
    let kind = t.qualified_kind();
    let mut e = ApiError::new(
        422,
        "Invalid",
        format!("{kind} \"{}\" is invalid: {aggregate}", t.name),
    );
    e.details = json!({
        "name": t.name, "group": t.rt.group, "kind": t.rt.kind,
        "causes": errors.iter().map(|e| json!({"reason": e.kind.reason(), "message": e.message, "field": e.field})).collect::<Vec<_>>()
    });
    e
}

#[cfg(test)]
mod tests;
