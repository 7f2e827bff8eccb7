//! Go encoding facts: the JSON an empty Go object of a kind encodes to (what the real server
//! compares a create against when it records an `Update` manager), from the Go field facts.

use super::types::{GoShape, Resolved, TypeRef, Types};
use serde_json::{json, Map, Value};

/// `encoding/json` of the zero value of the type: non-pointer structs are always present,
/// fields without `omitempty` are present as their zero (`null` for pointers, slices, maps);
/// `omitzero` fields are absent.
pub fn zero_object(types: &Types, tr: &TypeRef) -> Value {
    zero(types, tr, 0)
}

fn zero(types: &Types, tr: &TypeRef, depth: usize) -> Value {
    let Resolved::Map(m) = types.resolve(tr) else {
        return Value::Null;
    };
    let mut out = Map::new();
    if depth > 24 {
        return Value::Object(out);
    }
    for f in &m.fields {
        let Some(go) = &f.go else { continue };
        let v = if go.omitzero {
            None
        } else if go.ptr {
            (!go.omitempty).then_some(Value::Null)
        } else {
            match go.shape {
                GoShape::Struct => Some(zero(types, &f.type_ref, depth + 1)),
                GoShape::List | GoShape::Map => (!go.omitempty).then_some(Value::Null),
                GoShape::Scalar => match go.scalar.as_deref() {
                    // Struct-backed scalars with their own marshalling: never omitted.
                    Some("Time" | "MicroTime" | "RawExtension") => Some(Value::Null),
                    Some("Quantity") => Some(json!("0")),
                    Some("IntOrString") => Some(json!(0)),
                    Some("Duration") => Some(json!("0s")),
                    _ if go.omitempty => None,
                    Some("string") => Some(json!("")),
                    Some("bool") => Some(json!(false)),
                    Some("bytes") => Some(Value::Null),
                    _ => Some(json!(0)),
                },
            }
        };
        if let Some(v) = v {
            out.insert(f.name.clone(), v);
        }
    }
    Value::Object(out)
}
