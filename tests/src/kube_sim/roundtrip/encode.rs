//! Encoding a decoded object back to JSON as Go's `encoding/json` does with the Kubernetes
//! types: `omitempty` drops empty lists and maps, `false`, `0` and `""` of non-pointer fields
//! and nil pointers; `omitzero` drops zero values (1.37's `creationTimestamp`, so a pod
//! template has none); fields without either are always written (nil as `null`, zero scalars
//! as zero); struct-valued fields are always written (`resources: {}`, `status: {}`), and a
//! zero `metav1.Time` without `omitzero` writes `null`, a zero Quantity `"0"`, a zero
//! IntOrString `0`.

use crate::kube_sim::schema::{GoField, GoShape, MapDef, Resolved, TypeRef, Types};
use serde_json::{json, Map, Value};

const MAX_DEPTH: usize = 64;

/// Re-encodes `obj` (already decoded against `root`) in place.
pub fn encode(types: &Types, root: &TypeRef, obj: &mut Value) {
    value(types, root, obj, 0);
}

fn is_go_struct(m: &MapDef) -> bool {
    !m.fields.is_empty() && m.fields.iter().any(|f| f.go.is_some())
}

fn value(types: &Types, t: &TypeRef, v: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match types.resolve(t) {
        Resolved::Map(m) if is_go_struct(m) => {
            if let Some(obj) = v.as_object_mut() {
                go_struct(types, m, obj, depth);
            }
        }
        Resolved::Map(m) => {
            if let (Some(obj), Some(elem)) = (v.as_object_mut(), &m.element_type) {
                for child in obj.values_mut() {
                    value(types, elem, child, depth + 1);
                }
            }
        }
        Resolved::List(l) => {
            for item in v.as_array_mut().into_iter().flatten() {
                value(types, &l.element_type, item, depth + 1);
            }
        }
        _ => {}
    }
}

/// The JSON a Go zero value of this field writes, or None when `omitempty` drops it.
fn zero(types: &Types, t: &TypeRef, g: &GoField, depth: usize) -> Option<Value> {
    if g.omitzero {
        return None;
    }
    if g.ptr || matches!(g.shape, GoShape::List | GoShape::Map) {
        return (!g.omitempty).then_some(Value::Null);
    }
    match (g.shape, g.scalar.as_deref()) {
        (GoShape::Struct, _) => {
            let mut v = json!({});
            value(types, t, &mut v, depth + 1);
            Some(v)
        }
        (_, Some("Time" | "MicroTime" | "RawExtension" | "JSON" | "FieldsV1")) => Some(Value::Null),
        (_, Some("Quantity")) => Some(json!("0")),
        (_, Some("IntOrString")) => Some(json!(0)),
        (_, Some("Duration")) => Some(json!("0s")),
        _ if g.omitempty => None,
        (_, Some("string")) => Some(json!("")),
        (_, Some("bool")) => Some(json!(false)),
        (_, Some("bytes")) => Some(Value::Null),
        _ if g.is_integer() || g.scalar.as_deref() == Some("float64") => Some(json!(0)),
        _ => None,
    }
}

/// True when `omitempty` drops this (non-null) value of a non-pointer field.
fn empty(g: &GoField, v: &Value) -> bool {
    if !g.omitempty || g.ptr {
        return false;
    }
    match (g.shape, v) {
        (GoShape::List, Value::Array(a)) => a.is_empty(),
        (GoShape::Map, Value::Object(o)) => o.is_empty(),
        (GoShape::Scalar, Value::String(s)) => {
            s.is_empty() && matches!(g.scalar.as_deref(), Some("string" | "bytes"))
        }
        (GoShape::Scalar, Value::Bool(b)) => !b,
        (GoShape::Scalar, Value::Number(n)) => {
            n.as_f64() == Some(0.0) && (g.is_integer() || g.scalar.as_deref() == Some("float64"))
        }
        _ => false,
    }
}

fn go_struct(types: &Types, m: &MapDef, obj: &mut Map<String, Value>, depth: usize) {
    for field in &m.fields {
        let Some(g) = &field.go else { continue };
        let present = obj.get(&field.name).is_some_and(|v| !v.is_null());
        if !present {
            match zero(types, &field.type_ref, g, depth) {
                Some(z) => obj.insert(field.name.clone(), z),
                None => obj.remove(&field.name),
            };
            continue;
        }
        let drop = obj.get(&field.name).is_some_and(|v| empty(g, v));
        if drop {
            obj.remove(&field.name);
        } else if let Some(child) = obj.get_mut(&field.name) {
            value(types, &field.type_ref, child, depth + 1);
        }
    }
}
