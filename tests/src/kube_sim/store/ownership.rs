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
/// kinds with a status subresource (their strategies reset it), everything but `status` on the
/// status subresource.
pub fn ignored(rt: &ResourceType, subresource: &str) -> FieldSet {
    match subresource {
        "status" => managers::top_level(&["spec", "metadata"]),
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
    fields::managers::apply(&typed, live, config, current, writer, force, &ignored).map_err(|e| {
        match e {
            ApplyError::Conflicts(c) => conflict_error(&c),
            ApplyError::Invalid(m) => ApiError::invalid(&rt.kind, name, vec![(String::new(), m)]),
        }
    })
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
