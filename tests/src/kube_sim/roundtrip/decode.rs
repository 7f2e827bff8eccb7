//! Decoding a request body into the Go types, as the API server's JSON decoder does it:
//! unknown fields (the `fieldValidation` directive decides whether they are dropped silently,
//! dropped with a warning, or refused), JSON type mismatches worded as Go's `encoding/json`
//! words them, whole floats in integer fields taken as integers, quantities parsed and
//! canonical, base64 of `[]byte` fields checked. Driven by the schema's Go facts.

use super::quantity::Quantity;
use crate::kube_sim::schema::{
    FieldDef, GoField, GoShape, ListKind, MapDef, Resolved, ScalarKind, TypeRef, Types,
};
use base64::Engine;
use serde_json::{json, Value};

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
/// Nesting deeper than this is not walked (no built-in kind comes close).
const MAX_DEPTH: usize = 64;

/// What the decoder found wrong that is not fatal by itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    /// Unknown fields, already removed.
    pub unknown: Vec<UnknownField>,
    /// The first fatal decoding error (Go's decoder reports the first one), without the
    /// "cannot be handled" prefix.
    pub error: Option<String>,
    /// Scalar type mismatches as structured-merge-diff words them for an apply
    /// configuration (`.spec.replicas: expected numeric (int or float), got string`).
    pub smd_type_errors: Vec<String>,
}

/// An unknown field, spelled as the JSON decoder (`spec.containers[0].foo`) and as
/// structured-merge-diff (`.spec.containers[name="web"].foo`) spell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    pub decoder_path: String,
    pub smd_path: String,
}

/// Walks `obj` against the type `root`, fixing what Go's decoder fixes and recording the rest.
pub fn decode(types: &Types, root: &TypeRef, obj: &mut Value) -> Findings {
    let mut walk = Walk {
        types,
        findings: Findings::default(),
    };
    walk.value(root, None, obj, &Paths::default(), 0);
    walk.findings
}

/// The same for the object at `field` of a root object (a custom resource's `metadata`,
/// decoded as the real `ObjectMeta`).
pub fn decode_field(types: &Types, t: &TypeRef, obj: &mut Value, field: &str) -> Findings {
    let mut walk = Walk {
        types,
        findings: Findings::default(),
    };
    let at = Paths::default().field(field, "");
    walk.value(t, None, obj, &at, 0);
    walk.findings
}

/// The two spellings of a location: with list indices (unknown-field warnings) and Go's
/// dotted field path without them (type errors), plus the Go struct being filled.
#[derive(Debug, Default, Clone)]
struct Paths {
    indexed: String,
    smd: String,
    dotted: String,
    parent_struct: String,
}

impl Paths {
    fn field(&self, name: &str, parent_struct: &str) -> Paths {
        let join = |base: &str| {
            if base.is_empty() {
                name.to_string()
            } else {
                format!("{base}.{name}")
            }
        };
        Paths {
            indexed: join(&self.indexed),
            smd: format!("{}.{name}", self.smd),
            dotted: join(&self.dotted),
            parent_struct: parent_struct.to_string(),
        }
    }
    fn index(&self, i: usize, smd_label: String) -> Paths {
        Paths {
            indexed: format!("{}[{i}]", self.indexed),
            smd: format!("{}{smd_label}", self.smd),
            ..self.clone()
        }
    }
    fn key(&self, k: &str) -> Paths {
        Paths {
            indexed: format!("{}.{k}", self.indexed),
            smd: format!("{}.{k}", self.smd),
            ..self.clone()
        }
    }
}

struct Walk<'a> {
    types: &'a Types,
    findings: Findings,
}

/// How Go's decoder names a JSON value in a type error.
fn json_kind(v: &Value, integer_target: bool) -> String {
    match v {
        Value::String(_) => "string".into(),
        Value::Number(n) if integer_target => {
            format!("number {}", super::quantity::go_number_text(n))
        }
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
        Value::Null => "null".into(),
    }
}

/// `validateScalar` of structured-merge-diff for a scalar field of Go type `go_type` (only
/// scalars; structural mismatches are left to the decoder's wording).
pub(super) fn smd_scalar_error(go_type: &str, v: &Value) -> Option<String> {
    let go_type = go_type.trim_start_matches('*');
    let unstructured_type = match v {
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null => return None,
    };
    let shown = match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Array(_) | Value::Object(_) => return None,
        other => other.to_string(),
    };
    match go_type {
        "int" | "int32" | "int64" | "uint32" | "uint64" | "float64" if !v.is_number() => Some(
            format!("expected numeric (int or float), got {unstructured_type}"),
        ),
        "string" | "[]byte" if !v.is_string() => Some(format!(
            "expected string, got &value.valueUnstructured{{Value:{shown}}}"
        )),
        "bool" if !v.is_boolean() => {
            let plain = v.as_str().map(str::to_string).unwrap_or(shown);
            Some(format!("expected boolean, got &{{{plain}}}"))
        }
        _ => None,
    }
}

/// How structured-merge-diff names a list item: by its keys, its value, or its index.
fn smd_label(kind: ListKind<'_>, item: &Value, i: usize) -> String {
    match kind {
        ListKind::Associative(keys) => {
            let parts: Vec<String> = keys
                .iter()
                .filter(|k| !item[k.as_str()].is_null())
                .map(|k| format!("{k}={}", item[k.as_str()]))
                .collect();
            format!("[{}]", parts.join(","))
        }
        ListKind::Set => format!("[={item}]"),
        ListKind::Atomic => format!("[{i}]"),
    }
}

fn struct_name(t: &TypeRef) -> String {
    t.named_type
        .as_deref()
        .and_then(|n| n.rsplit('.').next())
        .unwrap_or("")
        .to_string()
}

impl Walk<'_> {
    fn fail(&mut self, msg: String) {
        if self.findings.error.is_none() {
            self.findings.error = Some(msg);
        }
    }

    fn type_error(&mut self, v: &Value, at: &Paths, go_type: &str, integer: bool) {
        if let Some(e) = smd_scalar_error(go_type, v) {
            self.findings
                .smd_type_errors
                .push(format!("{}: {e}", at.smd));
        }
        let what = json_kind(v, integer);
        let go_type = go_type.trim_start_matches('*');
        self.fail(format!(
            "json: cannot unmarshal {what} into Go struct field {}.{} of type {go_type}",
            at.parent_struct, at.dotted
        ));
    }

    fn value(
        &mut self,
        t: &TypeRef,
        go: Option<&GoField>,
        v: &mut Value,
        at: &Paths,
        depth: usize,
    ) {
        if depth > MAX_DEPTH || v.is_null() {
            return;
        }
        if t.named_type.as_deref() == Some(QUANTITY) {
            return self.quantity(v, at);
        }
        if let Some(g) = go {
            if g.shape == GoShape::Scalar {
                return self.scalar(g, v, at);
            }
        }
        match self.types.resolve(t) {
            Resolved::Map(m) if !m.fields.is_empty() && m.fields.iter().any(|f| f.go.is_some()) => {
                self.go_struct(t, m, v, at, depth)
            }
            Resolved::Map(m) => self.go_map(m, go, v, at, depth),
            Resolved::List(l) => match v.as_array_mut() {
                Some(items) => {
                    for (i, item) in items.iter_mut().enumerate() {
                        let label = smd_label(l.kind(), item, i);
                        self.value(&l.element_type, None, item, &at.index(i, label), depth + 1);
                    }
                }
                None => self.type_error(v, at, go.map_or("[]", |g| g.go.as_str()), false),
            },
            Resolved::Scalar(ScalarKind::String) if !v.is_string() => {
                self.type_error(v, at, go.map_or("string", |g| g.go.as_str()), false)
            }
            Resolved::Scalar(ScalarKind::Boolean) if !v.is_boolean() => {
                self.type_error(v, at, go.map_or("bool", |g| g.go.as_str()), false)
            }
            _ => {}
        }
    }

    fn go_struct(&mut self, t: &TypeRef, m: &MapDef, v: &mut Value, at: &Paths, depth: usize) {
        let name = struct_name(t);
        let Some(obj) = v.as_object_mut() else {
            return self.type_error(v, at, &name, false);
        };
        let keys: Vec<String> = obj.keys().cloned().collect();
        for key in keys {
            let Some(field) = m.field(&key) else {
                obj.remove(&key);
                let p = at.field(&key, &name);
                self.findings.unknown.push(UnknownField {
                    decoder_path: p.indexed,
                    smd_path: p.smd,
                });
                continue;
            };
            let FieldDef { type_ref, go, .. } = field;
            if let Some(child) = obj.get_mut(&key) {
                self.value(
                    type_ref,
                    go.as_ref(),
                    child,
                    &at.field(&key, &name),
                    depth + 1,
                );
            }
        }
    }

    fn go_map(
        &mut self,
        m: &MapDef,
        go: Option<&GoField>,
        v: &mut Value,
        at: &Paths,
        depth: usize,
    ) {
        let bytes = go.is_some_and(|g| g.go.contains("[]byte"));
        let Some(obj) = v.as_object_mut() else {
            return self.type_error(
                v,
                at,
                go.map_or("map[string]string", |g| g.go.as_str()),
                false,
            );
        };
        let Some(elem) = &m.element_type else { return };
        for (k, child) in obj.iter_mut() {
            if bytes {
                self.bytes(child, at);
                continue;
            }
            self.value(elem, None, child, &at.key(k), depth + 1);
        }
    }

    fn bytes(&mut self, v: &Value, at: &Paths) {
        match v.as_str() {
            Some(s) => {
                if let Err(e) = base64::engine::general_purpose::STANDARD.decode(s) {
                    let offset = match e {
                        base64::DecodeError::InvalidByte(i, _)
                        | base64::DecodeError::InvalidLastSymbol(i, _) => i,
                        _ => s.len(),
                    };
                    self.fail(format!("illegal base64 data at input byte {offset}"));
                }
            }
            None if v.is_null() => {}
            None => self.type_error(v, at, "[]uint8", false),
        }
    }

    fn quantity(&mut self, v: &mut Value, _at: &Paths) {
        match Quantity::from_json(v) {
            Ok(q) => *v = json!(q.canonical()),
            Err(e) => self.fail(e.to_string()),
        }
    }

    fn scalar(&mut self, g: &GoField, v: &mut Value, at: &Paths) {
        match g.scalar.as_deref() {
            Some("string") if !v.is_string() => self.type_error(v, at, &g.go, false),
            Some("bool") if !v.is_boolean() => self.type_error(v, at, &g.go, false),
            Some("bytes") => self.bytes(v, at),
            Some("Quantity") => self.quantity(v, at),
            Some("float64") if !v.is_number() => self.type_error(v, at, &g.go, false),
            Some("IntOrString") => self.int_or_string(g, v, at),
            Some("Time" | "MicroTime") if !v.is_string() => self.type_error(v, at, "Time", false),
            _ if g.is_integer() => self.integer(g, v, at),
            _ => {}
        }
    }

    fn integer(&mut self, g: &GoField, v: &mut Value, at: &Paths) {
        let Some(n) = v.as_number() else {
            return self.type_error(v, at, &g.go, false);
        };
        if n.is_i64() || n.is_u64() {
            return;
        }
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            *v = json!(f as i64);
        } else {
            self.type_error(v, at, &g.go, true);
        }
    }

    fn int_or_string(&mut self, g: &GoField, v: &mut Value, at: &Paths) {
        match v {
            Value::String(_) => {}
            Value::Number(n) if n.is_i64() || n.is_u64() => {}
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 2.2e9 {
                    *v = json!(f as i64);
                } else {
                    let text = super::quantity::go_number_text(n);
                    self.fail(format!(
                        "json: cannot unmarshal number {text} into Go value of type int32"
                    ));
                }
            }
            _ => self.type_error(v, at, &g.go, false),
        }
    }
}
