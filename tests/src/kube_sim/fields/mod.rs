//! Field ownership for server-side apply, following structured-merge-diff (the library the real
//! API server uses): field sets with `f:`/`k:`/`v:` path elements and their `fieldsV1`
//! encoding ([`path`]), typed walks of objects against the schema ([`typed`]), and the
//! Apply/Update ownership rules of the field manager ([`managers`]). JSON merge patch is here
//! too.

pub mod json_patch;
pub mod managers;
mod merge;
pub mod path;
pub mod strategic;
pub mod typed;

pub use managers::{ApplyError, Conflict, ManagerEntry, Operation, Writer};
pub use path::{FieldSet, Path, PathElement};
pub use typed::Typed;

use serde_json::{Map, Value};

/// JSON merge patch (RFC 7386): maps merge, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch.as_object() {
        Some(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        None => *target = patch.clone(),
    }
}

#[cfg(test)]
mod tests;
