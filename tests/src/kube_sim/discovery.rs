//! Discovery (`/api`, `/apis`, legacy and aggregated) and the OpenAPI v3 documents kubectl
//! reads before `apply --server-side`.

use super::resources::ResourceType;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// True when the client accepts aggregated discovery v2.
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|t| {
            t.contains("as=APIGroupDiscoveryList") && t.contains("v=v2") && !t.contains("v=v2beta1")
        })
    })
}

/// group -> versions -> resource types, core group under "".
fn by_group(types: &[ResourceType]) -> BTreeMap<String, BTreeMap<String, Vec<&ResourceType>>> {
    let mut m: BTreeMap<String, BTreeMap<String, Vec<&ResourceType>>> = BTreeMap::new();
    for t in types {
        m.entry(t.group.clone())
            .or_default()
            .entry(t.version.clone())
            .or_default()
            .push(t);
    }
    m
}

/// `kubectl get all` lists the resources in category "all".
fn categories(t: &ResourceType) -> Vec<&'static str> {
    match t.kind.as_str() {
        "Service" | "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" => vec!["all"],
        _ => vec![],
    }
}

pub fn version() -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0+k3s1-kube-sim", "gitCommit": "kube-sim",
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"})
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

fn group_entry(group: &str, versions: &BTreeMap<String, Vec<&ResourceType>>) -> Value {
    let vs: Vec<Value> = versions
        .keys()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub fn api_group_list(types: &[ResourceType]) -> Value {
    let groups: Vec<Value> = by_group(types)
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(types: &[ResourceType], group: &str) -> Option<Value> {
    let all = by_group(types);
    let vs = all.get(group)?;
    let mut e = group_entry(group, vs);
    e["kind"] = json!("APIGroup");
    e["apiVersion"] = json!("v1");
    Some(e)
}

/// `APIResourceList` for one group/version, or None when nothing is served there.
pub fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let rts: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if rts.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut resources = Vec::new();
    for t in rts {
        resources.push(json!({"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
            "verbs": VERBS, "shortNames": t.short_names, "categories": categories(t), "storageVersionHash": "kubesim"}));
        resources.push(json!({"name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
            "kind": t.kind, "verbs": ["get", "patch", "update"]}));
        if super::subresources::scalable(t) {
            resources.push(json!({"name": format!("{}/scale", t.plural), "singularName": "", "namespaced": t.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// Aggregated discovery for the core group (`core == true`) or all named groups.
pub fn aggregated(types: &[ResourceType], core: bool) -> Value {
    let items: Vec<Value> = by_group(types)
        .iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|(v, rts)| {
                    let resources: Vec<Value> = rts
                        .iter()
                        .map(|t| json!({"resource": t.plural, "responseKind": {"group": t.group, "version": t.version, "kind": t.kind},
                            "scope": if t.namespaced { "Namespaced" } else { "Cluster" }, "singularResource": t.singular,
                            "verbs": VERBS, "shortNames": t.short_names, "categories": categories(t),
                            "subresources": super::subresources::aggregated_entries(t)}))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The per-group-version OpenAPI v3 document.
pub fn openapi_gv(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let rts: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if rts.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".into(),
        json!({"type": "object"}),
    );
    for t in rts {
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let schema_name = format!(
            "kubesim.{}.{}.{}",
            if t.group.is_empty() { "core" } else { &t.group },
            t.version,
            t.kind
        );
        schemas.insert(schema_name.clone(), json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "x-kubernetes-group-version-kind": [gvk.clone()],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}));
        let obj_ref = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        let q = |n: &str, ty: &str| json!({"name": n, "in": "query", "schema": {"type": ty, "uniqueItems": true}});
        let params = json!([
            q("dryRun", "string"),
            q("fieldManager", "string"),
            q("fieldValidation", "string"),
            q("force", "boolean")
        ]);
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": obj_ref}}},
                        "201": {"description": "Created", "content": {"application/json": {"schema": obj_ref}}}});
        let item = json!({
            "get": {"operationId": format!("read{}", t.kind), "responses": ok, "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk},
            "put": {"operationId": format!("replace{}", t.kind), "parameters": params, "responses": ok, "x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk,
                    "requestBody": {"content": {"*/*": {"schema": obj_ref}}, "required": true}},
            "patch": {"operationId": format!("patch{}", t.kind), "parameters": params, "responses": ok, "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
                      "requestBody": {"content": {
                          "application/apply-patch+yaml": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}},
                          "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}},
                          "application/strategic-merge-patch+json": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}}, "required": true}},
            "delete": {"operationId": format!("delete{}", t.kind), "responses": ok, "x-kubernetes-action": "delete", "x-kubernetes-group-version-kind": gvk},
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}]
        });
        let base = format!("/{}", gv_path(&t.group, &t.version));
        let p = if t.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{base}/{}/{{name}}", t.plural)
        };
        paths.insert(p, item);
        let collection = json!({"post": {"operationId": format!("create{}", t.kind), "parameters": params, "responses": ok, "x-kubernetes-action": "post",
            "x-kubernetes-group-version-kind": gvk, "requestBody": {"content": {"*/*": {"schema": obj_ref}}, "required": true}}});
        let cp = if t.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("{base}/{}", t.plural)
        };
        paths.insert(cp, collection);
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths, "components": {"schemas": schemas}}),
    )
}

fn hash(v: &Value) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(v).unwrap_or_default()))[..32].to_uppercase()
}

/// `/openapi/v3`: one entry per served group/version with a content hash in the URL.
pub fn openapi_root(types: &[ResourceType]) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, vs) in by_group(types) {
        for v in vs.keys() {
            if let Some(doc) = openapi_gv(types, &g, v) {
                let p = gv_path(&g, v);
                paths.insert(
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash(&doc))}),
                );
            }
        }
    }
    json!({"paths": paths})
}
