//! Field ownership of a write: the glue between the store and [`crate::kube_sim::fields`]
//! (which type an object has, which fields the strategy resets, the 409 of a conflict).

use crate::kube_sim::errors::ApiError;
use crate::kube_sim::fields::{
    self, managers, ApplyError, Conflict, FieldSet, ManagerEntry, Typed, Writer,
};
use crate::kube_sim::resources::ResourceType;
use crate::kube_sim::schema;
use serde_json::{json, Value};

/// The fields a write to this (sub)resource does not own: `status` on the main resource of
/// kinds with a status subresource (their strategies reset it), `spec` on the status
/// subresource (the status strategies' reset fields; metadata a status write changes, such
/// as the Deployment revision annotation, is owned by its writer).
pub fn ignored(rt: &ResourceType, subresource: &str) -> FieldSet {
    match subresource {
        "status" => managers::top_level(&["spec"]),
        _ if rt.has_status() => managers::top_level(&["status"]),
        _ => FieldSet::new(),
    }
}

/// The object an `Update` manager's create is compared against: the Go zero object of the
/// kind for built-ins (non-pointer structs present), `{}` for custom resources.
pub fn zero(rt: &ResourceType) -> Value {
    match rt.type_source {
        crate::kube_sim::resources::TypeSource::Builtin(_) => {
            schema::zero_object(&schema::k8s().types, &rt.root_type())
        }
        _ => json!({}),
    }
}

/// Server-side apply of `config` onto `live`; conflicts become the real server's 409.
pub fn apply(
    rt: &ResourceType,
    name: &str,
    live: &Value,
    config: &Value,
    current: &[ManagerEntry],
    writer: &Writer<'_>,
    force: bool,
) -> Result<(Value, Vec<ManagerEntry>), ApiError> {
    let root = rt.root_type();
    let typed = Typed {
        types: &schema::k8s().types,
        root: &root,
    };
    let ignored = ignored(rt, writer.subresource);
    let invalid = |m: String| ApiError::invalid(&rt.kind, name, vec![(String::new(), m)]);
    // An existing object nobody manages (every entry emptied, or never tracked) is first
    // given to `before-first-apply` as an Update from the zero object (apimachinery
    // `skipnonapplied.go`), so the applier does not silently take what is there.
    let first: Vec<ManagerEntry>;
    let current = if current.is_empty() && live["metadata"]["uid"].is_string() {
        let before = Writer {
            manager: BEFORE_FIRST_APPLY,
            subresource: "",
            ..writer.clone()
        };
        first = fields::managers::update(&typed, &zero(rt), live, &[], &before, &ignored)
            .map_err(invalid)?;
        &first[..]
    } else {
        current
    };
    let (mut merged, managers) =
        match fields::managers::apply(&typed, live, config, current, writer, force, &ignored) {
            Ok(r) => r,
            Err(ApplyError::Invalid(m)) => return Err(invalid(m)),
            Err(ApplyError::Conflicts(conflicts)) => {
                let allowed =
                    allowed_by_last_applied(&typed, live, writer.manager, &rt.group_version());
                let remaining: Vec<Conflict> = conflicts
                    .into_iter()
                    .filter(|c| !allowed.has(&c.path.0))
                    .collect();
                if !remaining.is_empty() {
                    return Err(conflict_error(&remaining));
                }
                fields::managers::apply(&typed, live, config, current, writer, true, &ignored)
                    .map_err(|e| match e {
                        ApplyError::Conflicts(c) => conflict_error(&c),
                        ApplyError::Invalid(m) => invalid(m),
                    })?
            }
        };
    update_last_applied(&mut merged, config, writer.manager);
    Ok((merged, managers))
}

const BEFORE_FIRST_APPLY: &str = "before-first-apply";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Conflicts `kubectl` may override when it first applies server-side an object it applied
/// client-side: the fields of the last-applied annotation still holding those values
/// (apimachinery `lastappliedmanager.go`).
fn allowed_by_last_applied(
    typed: &Typed<'_>,
    live: &Value,
    manager: &str,
    api_version: &str,
) -> FieldSet {
    if manager != "kubectl" {
        return FieldSet::new();
    }
    let Some(text) = live["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .filter(|t| !t.is_empty())
    else {
        return FieldSet::new();
    };
    let Ok(last) = serde_json::from_str::<Value>(text) else {
        return FieldSet::new();
    };
    if last["apiVersion"].as_str() != Some(api_version) {
        return FieldSet::new();
    }
    let (Ok(set), Ok(cmp)) = (typed.to_field_set(&last), typed.compare(&last, live)) else {
        return FieldSet::new();
    };
    set.difference(&cmp.modified)
        .difference(&cmp.added)
        .difference(&cmp.removed)
}

/// `kubectl` applying server-side keeps an existing last-applied annotation current, so a
/// later client-side apply still works (apimachinery `lastappliedupdater.go`).
fn update_last_applied(merged: &mut Value, config: &Value, manager: &str) {
    let has = merged["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .is_some_and(|t| !t.is_empty());
    if manager != "kubectl" || !has {
        return;
    }
    let mut applied = config.clone();
    if let Some(a) = applied["metadata"]["annotations"].as_object_mut() {
        a.remove(LAST_APPLIED);
    }
    let text = format!("{}\n", serde_json::to_string(&applied).unwrap_or_default());
    merged["metadata"]["annotations"][LAST_APPLIED] = Value::String(text);
}

/// The managers after an Update-operation write of `new` over `live`.
pub fn update(
    rt: &ResourceType,
    name: &str,
    live: &Value,
    new: &Value,
    current: &[ManagerEntry],
    writer: &Writer<'_>,
) -> Result<Vec<ManagerEntry>, ApiError> {
    let root = rt.root_type();
    let typed = Typed {
        types: &schema::k8s().types,
        root: &root,
    };
    let ignored = ignored(rt, writer.subresource);
    fields::managers::update(&typed, live, new, current, writer, &ignored)
        .map_err(|m| ApiError::invalid(&rt.kind, name, vec![(String::new(), m)]))
}

/// 409 Conflict with one `FieldManagerConflict` cause per field, as `NewApplyConflict` builds it.
pub fn conflict_error(conflicts: &[Conflict]) -> ApiError {
    let mut e = ApiError::new(409, "Conflict", managers::conflict_message(conflicts));
    e.details = json!({
        "causes": conflicts.iter().map(|c| json!({"reason": "FieldManagerConflict",
            "message": format!("conflict with {}", c.manager), "field": c.path.to_string()})).collect::<Vec<_>>()
    });
    e
}
