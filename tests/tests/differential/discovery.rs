//! Discovery, the part of kube-sim the schema data drives: every built-in group version's
//! resource list (kind, scope, verbs, shortNames, categories, singular name, storage version
//! hash, `status`/`scale` subresources) and the versions of every group, kube-sim against the
//! real server. Custom resources other tests create meanwhile on the shared control plane, and
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
        let head = |a: &Answer| json!([a.body["kind"], a.body["apiVersion"], a.body["groupVersion"]]);
        p.compare_values(&step, &head(&s), &head(&r));
        p.compare_values(&step, &resources(&s), &resources(&r));
    }
}
