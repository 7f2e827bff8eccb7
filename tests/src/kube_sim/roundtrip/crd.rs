//! Custom resources against their CRD's structural schema (`openAPIV3Schema`), as
//! apiextensions-apiserver treats them: defaults from `default` (applied where the parent
//! object exists), pruning of fields the schema does not declare (kept below
//! `x-kubernetes-preserve-unknown-fields: true`, `additionalProperties` and embedded
//! resources' metadata), and type, `required` and `enum` checks answered as 422 causes.

use super::immutable::{ErrorKind, FieldError};
use serde_json::{json, Value};

const MAX_DEPTH: usize = 64;

/// What walking a custom resource found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Pruned fields (`spec.foo`), already removed.
    pub pruned: Vec<String>,
    pub errors: Vec<FieldError>,
}

/// Prunes and (with `with_defaults`) defaults `obj` in place (root `apiVersion`, `kind` and
/// `metadata` are the server's) and reports the pruned fields.
pub fn prune_and_default(schema: &Value, obj: &mut Value, with_defaults: bool) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Some(m) = obj.as_object_mut() {
        for (k, v) in m.iter_mut() {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match property(schema, k) {
                Some(s) => walk(s, v, k, &mut pruned, with_defaults, 1),
                None if preserves(schema) => {}
                None => pruned.push(k.clone()),
            }
        }
        m.retain(|k, _| !pruned.contains(k));
        if with_defaults {
            defaults(schema, m);
        }
    }
    pruned
}

/// Type, `required` and `enum` errors of a (pruned, defaulted) custom resource.
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(m) = obj.as_object() {
        required(schema, m, "", &mut errors);
        for (k, v) in m {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = property(schema, k) {
                check(s, v, k, &mut errors, 1);
            }
        }
    }
    errors
}

/// Scalars of an apply configuration whose JSON type differs from the schema's: (SMD path such
/// as `.spec.size`, the Go type structured-merge-diff checks against, the value). The real
/// server refuses these in the typed patch, before any validation (500; seen on 1.37).
pub fn apply_scalar_mismatches(schema: &Value, obj: &Value) -> Vec<(String, &'static str, Value)> {
    fn walk(
        schema: &Value,
        v: &Value,
        path: &str,
        out: &mut Vec<(String, &'static str, Value)>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH || schema["x-kubernetes-int-or-string"] == true {
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    if let Some(s) = property(schema, k) {
                        walk(s, child, &format!("{path}.{k}"), out, depth + 1);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(
                        &schema["items"],
                        item,
                        &format!("{path}[{i}]"),
                        out,
                        depth + 1,
                    );
                }
            }
            Value::Null => {}
            scalar => {
                let go = match schema["type"].as_str() {
                    Some("integer") => "int64",
                    Some("number") => "float64",
                    Some("string") => "string",
                    Some("boolean") => "bool",
                    _ => return,
                };
                if !type_ok(schema["type"].as_str().unwrap_or(""), scalar, schema) {
                    out.push((path.to_string(), go, scalar.clone()));
                }
            }
        }
    }
    let mut out = Vec::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = property(schema, k) {
                walk(s, v, &format!(".{k}"), &mut out, 1);
            }
        }
    }
    out
}

fn property<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    schema["properties"].get(key).or_else(|| {
        schema["additionalProperties"]
            .as_object()
            .map(|_| &schema["additionalProperties"])
    })
}

fn preserves(schema: &Value) -> bool {
    schema["x-kubernetes-preserve-unknown-fields"] == true || schema["additionalProperties"] == true
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn defaults(schema: &Value, m: &mut serde_json::Map<String, Value>) {
    if let Some(props) = schema["properties"].as_object() {
        for (k, s) in props {
            if let Some(d) = s.get("default") {
                if !m.contains_key(k) {
                    m.insert(k.clone(), d.clone());
                }
            }
        }
    }
}

fn walk(
    schema: &Value,
    v: &mut Value,
    path: &str,
    pruned: &mut Vec<String>,
    with_defaults: bool,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            let embedded = schema["x-kubernetes-embedded-resource"] == true;
            let mut drop = Vec::new();
            for (k, child) in m.iter_mut() {
                if embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                match property(schema, k) {
                    Some(s) => walk(s, child, &join(path, k), pruned, with_defaults, depth + 1),
                    None if preserves(schema) => {}
                    None => drop.push(k.clone()),
                }
            }
            for k in drop {
                m.remove(&k);
                pruned.push(join(path, &k));
            }
            if with_defaults {
                defaults(schema, m);
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(
                    &schema["items"],
                    item,
                    &format!("{path}[{i}]"),
                    pruned,
                    with_defaults,
                    depth + 1,
                );
            }
        }
        _ => {}
    }
}

/// The name kube-openapi gives a JSON value's type.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(expected: &str, v: &Value, schema: &Value) -> bool {
    if schema["x-kubernetes-int-or-string"] == true {
        return v.is_string() || type_name(v) == "integer";
    }
    match (expected, type_name(v)) {
        ("", _) => true,
        (_, "null") => schema["nullable"] == true,
        ("number", "integer") => true,
        (e, got) => e == got,
    }
}

fn required(
    schema: &Value,
    m: &serde_json::Map<String, Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for r in schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !m.contains_key(r) {
            errors.push(FieldError {
                field: join(path, r),
                kind: ErrorKind::Invalid,
                message: "Required value".into(),
            });
        }
    }
}

fn check(schema: &Value, v: &Value, path: &str, errors: &mut Vec<FieldError>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let expected = schema["type"].as_str().unwrap_or("");
    if !type_ok(expected, v, schema) {
        let got = type_name(v);
        errors.push(FieldError {
            field: path.into(),
            kind: ErrorKind::TypeInvalid,
            message: format!(
                "Invalid value: \"{got}\": {path} in body must be of type {expected}: \"{got}\""
            ),
        });
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
            errors.push(FieldError {
                field: path.into(),
                kind: ErrorKind::Invalid,
                message: format!(
                    "Unsupported value: {v}: supported values: {}",
                    list.join(", ")
                ),
            });
        }
    }
    match v {
        Value::Object(m) => {
            required(schema, m, path, errors);
            for (k, child) in m {
                if let Some(s) = property(schema, k) {
                    check(s, child, &join(path, k), errors, depth + 1);
                }
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for (i, item) in items.iter().enumerate() {
                check(
                    &schema["items"],
                    item,
                    &format!("{path}[{i}]"),
                    errors,
                    depth + 1,
                );
            }
        }
        _ => {}
    }
}

/// What the CRD registry adds to a CustomResourceDefinition: `spec.conversion` defaults to
/// `strategy: None`, and a create starts with an empty status holding the storage version
/// (`PrepareForCreate`), which the naming and establishing controllers fill in later.
pub fn definition_defaults(crd: &mut Value, old: Option<&Value>) {
    if crd["spec"]["conversion"].is_null() {
        crd["spec"]["conversion"] = json!({"strategy": "None"});
    }
    if old.is_none() {
        let stored: Vec<Value> = crd["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["storage"] == true)
            .map(|v| v["name"].clone())
            .collect();
        crd["status"] = json!({"acceptedNames": {"kind": "", "plural": ""},
            "conditions": null, "storedVersions": stored});
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer"},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "port": {"x-kubernetes-int-or-string": true},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}}})
    }

    #[test]
    fn unknown_fields_are_pruned_and_defaults_filled() {
        let mut cr = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"size": 1, "foo": 1,
            "extra": {"anything": {"deep": true}}, "labels": {"k": "v"}, "items": [{"name": "n", "bar": 2}]}, "top": 1});
        let pruned = prune_and_default(&schema(), &mut cr, true);
        assert_eq!(
            pruned,
            vec![
                "spec.items[0].bar".to_string(),
                "spec.foo".into(),
                "top".into()
            ]
        );
        assert_eq!(
            cr["spec"],
            json!({"size": 1, "mode": "a", "extra": {"anything": {"deep": true}}, "labels": {"k": "v"}, "items": [{"name": "n"}]})
        );
        assert!(validate(&schema(), &cr).is_empty());
    }

    #[test]
    fn types_required_and_enums_are_checked() {
        let cr = json!({"spec": {"size": "big", "mode": "c", "port": 8080}});
        let errs: Vec<String> = validate(&schema(), &cr)
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(errs, vec![
            "spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\"".to_string(),
            "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"".into(),
        ]);
        let missing = validate(&schema(), &json!({"spec": {}}));
        assert_eq!(missing[0].field, "spec.size");
        assert_eq!(missing[0].message, "Required value");
    }
}
