//! The merge type of a custom resource, converted from its CRD's `openAPIV3Schema` the way the
//! apiextensions server feeds it to structured-merge-diff: `x-kubernetes-list-type`
//! (`atomic`, `set`, `map` with `x-kubernetes-list-map-keys`), `x-kubernetes-map-type`,
//! `x-kubernetes-preserve-unknown-fields` and `x-kubernetes-int-or-string` (deduced), embedded
//! resources; `metadata` is the real ObjectMeta.

use super::types::{
    ElementRelationship, FieldDef, ListDef, MapDef, ScalarKind, TypeRef, UNTYPED_DEDUCED,
};
use serde_json::Value;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn named(n: &str) -> TypeRef {
    TypeRef {
        named_type: Some(n.to_string()),
        ..TypeRef::default()
    }
}

fn scalar(kind: ScalarKind) -> TypeRef {
    TypeRef {
        scalar: Some(kind),
        ..TypeRef::default()
    }
}

/// The root type of a custom resource; without a schema, everything is deduced.
pub fn root_type(schema: Option<&Value>) -> TypeRef {
    let Some(s) = schema.filter(|s| s.is_object()) else {
        return named(UNTYPED_DEDUCED);
    };
    let mut t = convert(s, 0);
    if let Some(m) = t.map.as_mut() {
        for (name, tr) in [
            ("apiVersion", scalar(ScalarKind::String)),
            ("kind", scalar(ScalarKind::String)),
            ("metadata", named(OBJECT_META)),
        ] {
            m.fields.retain(|f| f.name != name);
            m.fields.push(FieldDef {
                name: name.into(),
                type_ref: tr,
                default: None,
                go: None,
            });
        }
    }
    t
}

fn convert(s: &Value, depth: usize) -> TypeRef {
    if depth > 32 || s["x-kubernetes-int-or-string"] == Value::Bool(true) {
        return named(UNTYPED_DEDUCED);
    }
    let ty = s["type"].as_str().unwrap_or("");
    match ty {
        "string" => scalar(ScalarKind::String),
        "integer" | "number" => scalar(ScalarKind::Numeric),
        "boolean" => scalar(ScalarKind::Boolean),
        "array" => {
            let elem = s
                .get("items")
                .map(|i| convert(i, depth + 1))
                .unwrap_or_else(|| named(UNTYPED_DEDUCED));
            let (rel, keys) = match s["x-kubernetes-list-type"].as_str() {
                Some("map") => (
                    ElementRelationship::Associative,
                    s["x-kubernetes-list-map-keys"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|k| k.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                Some("set") => (ElementRelationship::Associative, Vec::new()),
                _ => (ElementRelationship::Atomic, Vec::new()),
            };
            TypeRef {
                list: Some(Box::new(ListDef {
                    element_type: elem,
                    element_relationship: Some(rel),
                    keys,
                })),
                ..TypeRef::default()
            }
        }
        "object" | "" => {
            let props = s["properties"].as_object();
            let preserve = s["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
            if props.is_none()
                && s.get("additionalProperties").is_none()
                && (preserve || ty.is_empty())
            {
                return named(UNTYPED_DEDUCED);
            }
            let mut fields: Vec<FieldDef> = props
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| FieldDef {
                            name: k.clone(),
                            type_ref: convert(v, depth + 1),
                            default: v.get("default").cloned(),
                            go: None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if s["x-kubernetes-embedded-resource"] == Value::Bool(true) {
                for (name, tr) in [
                    ("apiVersion", scalar(ScalarKind::String)),
                    ("kind", scalar(ScalarKind::String)),
                    ("metadata", named(OBJECT_META)),
                ] {
                    if !fields.iter().any(|f| f.name == name) {
                        fields.push(FieldDef {
                            name: name.into(),
                            type_ref: tr,
                            default: None,
                            go: None,
                        });
                    }
                }
            }
            let element_type = match s.get("additionalProperties") {
                Some(ap) if ap.is_object() => Some(convert(ap, depth + 1)),
                Some(Value::Bool(true)) => Some(named(UNTYPED_DEDUCED)),
                _ if preserve => Some(named(UNTYPED_DEDUCED)),
                _ => None,
            };
            let element_relationship = match s["x-kubernetes-map-type"].as_str() {
                Some("atomic") => Some(ElementRelationship::Atomic),
                _ => None,
            };
            TypeRef {
                map: Some(Box::new(MapDef {
                    fields,
                    element_type,
                    element_relationship,
                })),
                ..TypeRef::default()
            }
        }
        _ => named(UNTYPED_DEDUCED),
    }
}
