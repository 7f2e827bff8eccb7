//! The OpenAPI v3 documents kube-sim serves (`/openapi/v3/...`), generated from the merge
//! types: object schemas with `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`, `x-kubernetes-patch-strategy`/`-patch-merge-key` (from the Go
//! tags), `x-kubernetes-group-version-kind`, and per resource the GET/PUT/PATCH/DELETE/POST
//! operations with the `dryRun`, `fieldManager`, `fieldValidation` and `force` parameters
//! kubectl looks for.

use super::resources::{ResourceType, TypeSource};
use super::schema::{
    self, GoField, ListKind, Resolved, ScalarKind, TypeRef, Types, UNTYPED_ATOMIC, UNTYPED_DEDUCED,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Wire scalars that are named types in the schema, as the real documents describe them.
fn named_scalar(name: &str) -> Option<Value> {
    Some(match name.rsplit('.').next()? {
        "Time" => json!({"type": "string", "format": "date-time"}),
        "MicroTime" => json!({"type": "string", "format": "date-time"}),
        "Quantity" => json!({"type": "string"}),
        "IntOrString" => json!({"type": "string", "format": "int-or-string"}),
        "Duration" => json!({"type": "string"}),
        _ => return None,
    })
}

/// Collects component schemas while converting types.
struct Gen<'a> {
    types: &'a Types,
    schemas: Map<String, Value>,
    todo: Vec<String>,
    seen: BTreeSet<String>,
}

impl<'a> Gen<'a> {
    fn schema_of(&mut self, tr: &TypeRef, go: Option<&GoField>) -> Value {
        if let Some(n) = &tr.named_type {
            if n == UNTYPED_ATOMIC || n == UNTYPED_DEDUCED {
                return json!({"x-kubernetes-preserve-unknown-fields": true});
            }
            if self.seen.insert(n.clone()) {
                self.todo.push(n.clone());
            }
            return reference(n);
        }
        self.inline(tr, go)
    }

    fn inline(&mut self, tr: &TypeRef, go: Option<&GoField>) -> Value {
        let types = self.types;
        match types.resolve(tr) {
            Resolved::Map(m) => {
                let mut s = json!({"type": "object"});
                if !m.fields.is_empty() {
                    let mut props = Map::new();
                    for f in &m.fields {
                        let mut p = self.schema_of(&f.type_ref, f.go.as_ref());
                        if let Some(g) = &f.go {
                            if let (Some(ps), Some(obj)) = (&g.patch_strategy, p.as_object_mut()) {
                                if obj.contains_key("$ref") {
                                    p = json!({"allOf": [p.clone()]});
                                }
                                p["x-kubernetes-patch-strategy"] = json!(ps);
                                if let Some(k) = &g.patch_merge_key {
                                    p["x-kubernetes-patch-merge-key"] = json!(k);
                                }
                            }
                        }
                        props.insert(f.name.clone(), p);
                    }
                    s["properties"] = Value::Object(props);
                }
                if let Some(e) = &m.element_type {
                    s["additionalProperties"] = self.schema_of(e, None);
                }
                if m.is_atomic() {
                    s["x-kubernetes-map-type"] = json!("atomic");
                }
                s
            }
            Resolved::List(l) => {
                let mut s =
                    json!({"type": "array", "items": self.schema_of(&l.element_type, None)});
                match l.kind() {
                    ListKind::Atomic => s["x-kubernetes-list-type"] = json!("atomic"),
                    ListKind::Set => s["x-kubernetes-list-type"] = json!("set"),
                    ListKind::Associative(keys) => {
                        s["x-kubernetes-list-type"] = json!("map");
                        s["x-kubernetes-list-map-keys"] = json!(keys);
                    }
                }
                s
            }
            Resolved::Scalar(ScalarKind::String) => match go.and_then(|g| g.scalar.as_deref()) {
                Some("bytes") => json!({"type": "string", "format": "byte"}),
                _ => json!({"type": "string"}),
            },
            Resolved::Scalar(ScalarKind::Boolean) => json!({"type": "boolean"}),
            Resolved::Scalar(ScalarKind::Numeric) => match go.and_then(|g| g.scalar.as_deref()) {
                Some("int32") => json!({"type": "integer", "format": "int32"}),
                Some("int64") => json!({"type": "integer", "format": "int64"}),
                Some("float64") => json!({"type": "number", "format": "double"}),
                _ if go.is_some_and(GoField::is_integer) => json!({"type": "integer"}),
                Some(_) => json!({"type": "number"}),
                None => json!({"type": "integer"}),
            },
            _ => json!({"x-kubernetes-preserve-unknown-fields": true}),
        }
    }

    fn drain(&mut self) {
        while let Some(n) = self.todo.pop() {
            let s = match named_scalar(&n) {
                Some(s) => s,
                None => match self.types.get(&n) {
                    Some(tr) => {
                        let tr = tr.clone();
                        self.inline(&tr, None)
                    }
                    None => json!({"x-kubernetes-preserve-unknown-fields": true}),
                },
            };
            self.schemas.insert(n, s);
        }
    }
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The schema name of a resource's kind.
fn kind_schema_name(t: &ResourceType) -> String {
    match &t.type_source {
        TypeSource::Builtin(n) => n.clone(),
        _ => {
            let reversed: Vec<&str> = t.group.split('.').rev().collect();
            format!("{}.{}.{}", reversed.join("."), t.version, t.kind)
        }
    }
}

/// A generated document and its content hash.
#[derive(Clone)]
pub struct Document {
    pub doc: Arc<Value>,
    pub hash: String,
}

/// Identity of what a group version's document is generated from: its resources and, for
/// custom resources, the converted schema instance.
fn fingerprint(types: &[ResourceType], group: &str, version: &str) -> String {
    let mut parts: Vec<String> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .map(|t| match &t.type_source {
            TypeSource::Crd(a) => format!("{}:{:p}", t.plural, Arc::as_ptr(a)),
            _ => t.plural.clone(),
        })
        .collect();
    parts.sort();
    format!("{group}/{version}|{}", parts.join(","))
}

/// The per-group-version OpenAPI v3 document, generated once per set of resources (kubectl
/// reads `/openapi/v3` before every server-side apply).
pub fn cached(types: &[ResourceType], group: &str, version: &str) -> Option<Document> {
    static CACHE: OnceLock<Mutex<HashMap<String, Document>>> = OnceLock::new();
    let key = fingerprint(types, group, version);
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(d) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Some(d.clone());
    }
    let doc = document(types, group, version)?;
    let hash = hex::encode(Sha256::digest(serde_json::to_vec(&doc).unwrap_or_default()))[..32]
        .to_uppercase();
    let d = Document {
        doc: Arc::new(doc),
        hash,
    };
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    if c.len() > 256 {
        c.clear();
    }
    c.insert(key, d.clone());
    Some(d)
}

/// The per-group-version OpenAPI v3 document.
pub fn document(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let rts: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if rts.is_empty() {
        return None;
    }
    let mut gen = Gen {
        types: &schema::k8s().types,
        schemas: Map::new(),
        todo: Vec::new(),
        seen: BTreeSet::new(),
    };
    gen.schemas.insert(PATCH.into(), json!({"type": "object"}));
    let mut paths = Map::new();
    for t in rts {
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let name = kind_schema_name(t);
        let root = t.root_type();
        gen.seen.insert(name.clone());
        let mut s = gen.inline(&root, None);
        s["x-kubernetes-group-version-kind"] = json!([gvk.clone()]);
        gen.schemas.insert(name.clone(), s);
        gen.drain();
        add_paths(&mut paths, t, &name, &gvk);
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": format!("v{}", crate::kube_sim::schema::k8s().kubernetes_version)},
        "paths": paths, "components": {"schemas": gen.schemas}}),
    )
}

fn add_paths(paths: &mut Map<String, Value>, t: &ResourceType, name: &str, gvk: &Value) {
    let obj_ref = reference(name);
    let q = |n: &str, ty: &str| json!({"name": n, "in": "query", "schema": {"type": ty, "uniqueItems": true}});
    let params = json!([
        q("dryRun", "string"),
        q("fieldManager", "string"),
        q("fieldValidation", "string"),
        q("force", "boolean")
    ]);
    let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": obj_ref}}},
                    "201": {"description": "Created", "content": {"application/json": {"schema": obj_ref}}}});
    let patch_body = json!({"content": {
        "application/apply-patch+yaml": {"schema": reference(PATCH)},
        "application/json-patch+json": {"schema": reference(PATCH)},
        "application/merge-patch+json": {"schema": reference(PATCH)},
        "application/strategic-merge-patch+json": {"schema": reference(PATCH)}}, "required": true});
    let has = |v: &str| t.verbs.iter().any(|x| x == v);
    let mut item = Map::new();
    let op = |verb: &str, action: &str| json!({"operationId": format!("{verb}{}", t.kind), "responses": ok, "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk});
    if has("get") {
        item.insert("get".into(), op("read", "get"));
    }
    if has("update") {
        let mut o = op("replace", "put");
        o["parameters"] = params.clone();
        o["requestBody"] = json!({"content": {"*/*": {"schema": obj_ref}}, "required": true});
        item.insert("put".into(), o);
    }
    if has("patch") {
        let mut o = op("patch", "patch");
        o["parameters"] = params.clone();
        o["requestBody"] = patch_body.clone();
        item.insert("patch".into(), o);
    }
    if has("delete") {
        item.insert("delete".into(), op("delete", "delete"));
    }
    item.insert(
        "parameters".into(),
        json!([{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}]),
    );
    let base = format!("/{}", gv_path(&t.group, &t.version));
    let prefix = if t.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", t.plural)
    } else {
        format!("{base}/{}", t.plural)
    };
    if item.len() > 1 {
        paths.insert(format!("{prefix}/{{name}}"), Value::Object(item));
    }
    if has("create") {
        let mut o = op("create", "post");
        o["parameters"] = params;
        o["requestBody"] = json!({"content": {"*/*": {"schema": obj_ref}}, "required": true});
        paths.insert(prefix, json!({"post": o}));
    }
}
