//! Discovery, the part of kube-sim the schema data drives: every built-in group version's
//! resource list (kind, scope, verbs, shortNames, categories, singular name, storage version
//! hash, `status`/`scale` subresources), the versions of every group, and aggregated discovery
//! (v2, as kubectl reads it), kube-sim against the real server. Custom resources other tests create meanwhile on the shared control plane, and
//! subresources kube-sim does not serve (`pods/exec`, `serviceaccounts/token`...), are left out.

use super::*;
use ferry_tests::kube_sim::schema;
use std::collections::{BTreeMap, BTreeSet};

/// The group versions of the built-in resources (`""` for the core group).
fn builtin_group_versions() -> BTreeSet<(String, String)> {
    schema::k8s()
        .resources
        .iter()
        .map(|r| (r.group.clone(), r.version.clone()))
        .collect()
}

/// name -> facts of the resources (and `status`/`scale` subresources) of one list.
fn resources(a: &Answer) -> Value {
    let mut out = BTreeMap::new();
    for r in a.body["resources"].as_array().into_iter().flatten() {
        let name = r["name"].as_str().unwrap_or_default();
        let served = match name.split_once('/') {
            None => true,
            Some((_, sub)) => sub == "status" || sub == "scale",
        };
        if served {
            out.insert(name.to_string(), r.clone());
        }
    }
    json!(out)
}

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Aggregated discovery as group -> version -> resource -> entry (subresources by name).
fn aggregated(list: &Value, groups: &BTreeSet<String>) -> Value {
    let mut out = BTreeMap::new();
    for item in list["items"].as_array().into_iter().flatten() {
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        if !groups.contains(name) {
            continue;
        }
        let mut versions = BTreeMap::new();
        for v in item["versions"].as_array().into_iter().flatten() {
            let mut res = BTreeMap::new();
            for r in v["resources"].as_array().into_iter().flatten() {
                let mut r = r.clone();
                let subs: BTreeMap<String, Value> = r["subresources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["subresource"] == "status" || s["subresource"] == "scale")
                    .map(|s| {
                        (
                            s["subresource"].as_str().unwrap_or_default().into(),
                            s.clone(),
                        )
                    })
                    .collect();
                r["subresources"] = json!(subs);
                res.insert(r["resource"].as_str().unwrap_or_default().to_string(), r);
            }
            let mut v = v.clone();
            v["resources"] = json!(res);
            versions.insert(v["version"].as_str().unwrap_or_default().to_string(), v);
        }
        out.insert(name.to_string(), json!([item["metadata"], versions]));
    }
    json!(out)
}

/// `/api/v1` and every built-in `/apis/G/V`, compared resource by resource; `/apis` compared
/// as group -> versions and preferred version (the real server orders groups by priority,
/// kube-sim by name: clients look groups up by name).
pub fn discovery(p: &mut Pair) {
    let gvs = builtin_group_versions();
    let groups = |a: &Answer| {
        let mut out = BTreeMap::new();
        for g in a.body["groups"].as_array().into_iter().flatten() {
            let name = g["name"].as_str().unwrap_or_default().to_string();
            if gvs.iter().any(|(group, _)| *group == name) {
                out.insert(name, json!([g["versions"], g["preferredVersion"]]));
            }
        }
        json!(out)
    };
    let [s, r] = [&p.sim, &p.real].map(|t| t.send("GET", "/apis", None, None));
    p.compare_values("group list", &groups(&s), &groups(&r));
    for (group, version) in &gvs {
        let path = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let [s, r] = [&p.sim, &p.real].map(|t| t.send("GET", &path, None, None));
        let step = format!("resources of {path}");
        if s.status != r.status {
            p.compare_values(&step, &json!(s.status), &json!(r.status));
            continue;
        }
        let head =
            |a: &Answer| json!([a.body["kind"], a.body["apiVersion"], a.body["groupVersion"]]);
        p.compare_values(&step, &head(&s), &head(&r));
        p.compare_values(&step, &resources(&s), &resources(&r));
    }
    let names: BTreeSet<String> = gvs.iter().map(|(g, _)| g.clone()).collect();
    for path in ["/api", "/apis"] {
        let [s, r] = [&p.sim, &p.real].map(|t| aggregated(&t.get_accept(path, AGGREGATED), &names));
        let groups = r.as_object().map_or(0, |m| m.len());
        assert!(groups >= if path == "/api" { 1 } else { 20 }, "{path}: {r}");
        p.compare_values(&format!("aggregated {path}"), &s, &r);
    }
}
