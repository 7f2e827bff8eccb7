//! Discovery (`/api`, `/apis`, legacy and aggregated v2) from the served resource types: verbs,
//! short names, categories and the `status`/`scale` subresources of each, versions ordered
//! by Kubernetes version priority (so `autoscaling` prefers `v2`). The OpenAPI v3 documents are
//! in [`super::openapi`].

use super::openapi;
use super::resources::ResourceType;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::BTreeMap;

pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// True when the client accepts aggregated discovery v2.
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|t| {
            t.contains("as=APIGroupDiscoveryList") && t.contains("v=v2") && !t.contains("v=v2beta1")
        })
    })
}

/// Kubernetes version priority (apimachinery `version.CompareKubeAwareVersionStrings`): GA
/// before beta before alpha, higher numbers first. `Less` means `a` is preferred.
pub fn version_priority(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> (u8, u32, u32) {
        let Some(rest) = v.strip_prefix('v') else {
            return (3, 0, 0);
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major = digits.parse().unwrap_or(0);
        let tail = &rest[digits.len()..];
        let (stage, minor) = if let Some(m) = tail.strip_prefix("beta") {
            (1, m.parse().unwrap_or(0))
        } else if let Some(m) = tail.strip_prefix("alpha") {
            (2, m.parse().unwrap_or(0))
        } else if tail.is_empty() {
            (0, 0)
        } else {
            (3, 0)
        };
        (stage, major, minor)
    }
    let (sa, ma, na) = parse(a);
    let (sb, mb, nb) = parse(b);
    sa.cmp(&sb)
        .then(mb.cmp(&ma))
        .then(nb.cmp(&na))
        .then(a.cmp(b))
}

/// group -> versions (preferred first) -> resource types, core group under "".
fn by_group(types: &[ResourceType]) -> BTreeMap<String, Vec<(String, Vec<&ResourceType>)>> {
    let mut m: BTreeMap<String, BTreeMap<String, Vec<&ResourceType>>> = BTreeMap::new();
    for t in types {
        m.entry(t.group.clone())
            .or_default()
            .entry(t.version.clone())
            .or_default()
            .push(t);
    }
    m.into_iter()
        .map(|(g, vs)| {
            let mut v: Vec<(String, Vec<&ResourceType>)> = vs.into_iter().collect();
            v.sort_by(|a, b| version_priority(&a.0, &b.0));
            (g, v)
        })
        .collect()
}

/// `/version`: the Kubernetes version of the schema data (the real control plane's).
pub fn version() -> Value {
    let s = crate::kube_sim::schema::k8s();
    let (major, minor) = s.major_minor();
    json!({"major": major, "minor": minor, "gitVersion": format!("v{}-kube-sim", s.kubernetes_version),
           "gitCommit": "kube-sim", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
           "goVersion": "go1.26.8", "compiler": "gc", "platform": "linux/amd64"})
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

fn group_entry(group: &str, versions: &[(String, Vec<&ResourceType>)]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|(v, _)| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
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

/// apiserver `discovery.StorageVersionHash`: built-in resources take it from the schema data
/// (which knows their storage versions, and which have no storage); custom resources hash
/// their served version.
fn storage_version_hash(t: &ResourceType) -> Option<String> {
    use base64::Engine;
    if t.crd.is_none() {
        return crate::kube_sim::schema::k8s()
            .resource_by_plural(&t.group, &t.version, &t.plural)
            .and_then(|r| r.storage_version_hash.clone());
    }
    let d = Sha256::digest(format!("{}/{}/{}", t.group, t.version, t.kind));
    Some(base64::engine::general_purpose::STANDARD.encode(&d[..8]))
}

/// The kind a subresource answers with: `Scale` (autoscaling/v1) for `scale`.
fn sub_kind(t: &ResourceType, sub: &str) -> (String, String, String) {
    match sub {
        "scale" => ("autoscaling".into(), "v1".into(), "Scale".into()),
        _ => (t.group.clone(), t.version.clone(), t.kind.clone()),
    }
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
        let mut r = json!({"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
            "verbs": t.verbs});
        if let Some(hash) = storage_version_hash(t) {
            r["storageVersionHash"] = json!(hash);
        }
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        resources.push(r);
        for sub in &t.subresources {
            let (g, v, k) = sub_kind(t, sub);
            let mut s = json!({"name": format!("{}/{sub}", t.plural), "singularName": "", "namespaced": t.namespaced,
                "kind": k, "verbs": ["get", "patch", "update"]});
            if sub == "scale" {
                s["group"] = json!(g);
                s["version"] = json!(v);
            }
            resources.push(s);
        }
    }
    // The core group's list carries no apiVersion; the named groups' do.
    let mut list = json!({"kind": "APIResourceList", "groupVersion": gv, "resources": resources});
    if !group.is_empty() {
        list["apiVersion"] = json!("v1");
    }
    Some(list)
}

/// The `responseKind` of aggregated discovery: built-in resources leave group and version
/// empty for their own kind (the real server's `apiresource` conversion); custom resources
/// and `scale` name them.
fn response_kind(t: &ResourceType, (g, v, k): (String, String, String)) -> Value {
    if t.crd.is_none() && g == t.group && v == t.version {
        json!({"group": "", "version": "", "kind": k})
    } else {
        json!({"group": g, "version": v, "kind": k})
    }
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
                        .map(|t| {
                            let subs: Vec<Value> = t.subresources.iter().map(|sub| {
                                json!({"subresource": sub, "responseKind": response_kind(t, sub_kind(t, sub)), "verbs": ["get", "patch", "update"]})
                            }).collect();
                            let own = (t.group.clone(), t.version.clone(), t.kind.clone());
                            let mut r = json!({"resource": t.plural, "responseKind": response_kind(t, own),
                                "scope": if t.namespaced { "Namespaced" } else { "Cluster" }, "singularResource": t.singular,
                                "verbs": t.verbs});
                            if !t.short_names.is_empty() {
                                r["shortNames"] = json!(t.short_names);
                            }
                            if !t.categories.is_empty() {
                                r["categories"] = json!(t.categories);
                            }
                            if !subs.is_empty() {
                                r["subresources"] = json!(subs);
                            }
                            r
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            // No zero creationTimestamp (`omitzero`); the core group has no name.
            let metadata = if g.is_empty() { json!({}) } else { json!({"name": g}) };
            json!({"metadata": metadata, "versions": versions})
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
    openapi::cached(types, group, version).map(|d| (*d.doc).clone())
}

/// `/openapi/v3`: one entry per served group/version with a content hash in the URL.
pub fn openapi_root(types: &[ResourceType]) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, vs) in by_group(types) {
        for (v, _) in vs {
            if let Some(d) = openapi::cached(types, &g, &v) {
                let p = gv_path(&g, &v);
                paths.insert(
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", d.hash)}),
                );
            }
        }
    }
    json!({"paths": paths})
}
