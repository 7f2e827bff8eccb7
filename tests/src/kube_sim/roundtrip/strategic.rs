//! Strategic merge patch (`application/strategic-merge-patch+json`, what `kubectl apply`
//! without `--server-side`, `kubectl label` and `kubectl edit` send), driven by the Go struct
//! tags `patchStrategy`/`patchMergeKey` of the schema's Go facts, with the directives
//! apimachinery's `strategicpatch` understands: `$patch: replace|delete|merge`,
//! `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.

use crate::kube_sim::schema::{GoField, Resolved, TypeRef, Types};
use serde_json::{Map, Value};

const MAX_DEPTH: usize = 64;

/// Applies `patch` to `original` as the API server does for built-in kinds.
pub fn apply(
    types: &Types,
    root: &TypeRef,
    original: &Value,
    patch: &Value,
) -> Result<Value, String> {
    merge_value(types, Some(root), original, patch, 0)
}

fn merge_value(
    types: &Types,
    t: Option<&TypeRef>,
    original: &Value,
    patch: &Value,
    depth: usize,
) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("patch nests too deeply".into());
    }
    match (original, patch) {
        (Value::Object(o), Value::Object(p)) => merge_map(types, t, o, p, depth).map(Value::Object),
        (_, Value::Object(p)) => merge_map(types, t, &Map::new(), p, depth).map(Value::Object),
        (_, other) => Ok(other.clone()),
    }
}

/// The type and Go facts of `key` inside the map type `t`.
fn child<'a>(
    types: &'a Types,
    t: Option<&'a TypeRef>,
    key: &str,
) -> (Option<&'a TypeRef>, Option<&'a GoField>) {
    match t.map(|t| types.resolve(t)) {
        Some(Resolved::Map(m)) => match m.field(key) {
            Some(f) => (Some(&f.type_ref), f.go.as_ref()),
            None => (m.element_type.as_ref(), None),
        },
        _ => (None, None),
    }
}

fn element_type<'a>(types: &'a Types, t: Option<&'a TypeRef>) -> Option<&'a TypeRef> {
    match t.map(|t| types.resolve(t)) {
        Some(Resolved::List(l)) => Some(&l.element_type),
        _ => None,
    }
}

fn merge_map(
    types: &Types,
    t: Option<&TypeRef>,
    original: &Map<String, Value>,
    patch: &Map<String, Value>,
    depth: usize,
) -> Result<Map<String, Value>, String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = patch.clone();
            m.remove("$patch");
            return Ok(m);
        }
        Some("delete") => return Ok(Map::new()),
        Some("merge") | None => {}
        Some(other) => return Err(format!("Unknown patch type: {other}")),
    }
    let mut out = original.clone();
    for (k, pv) in patch {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(remove)) = (out.get_mut(field), pv.as_array()) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        let (ct, go) = child(types, t, k);
        let merged = match (out.get(k), pv) {
            (Some(Value::Array(o)), Value::Array(p)) => merge_list(types, ct, go, o, p, depth)?,
            (_, Value::Array(p)) => merge_list(types, ct, go, &[], p, depth)?,
            (Some(ov), _) => merge_value(types, ct, ov, pv, depth + 1)?,
            (None, _) => merge_value(types, ct, &Value::Null, pv, depth + 1)?,
        };
        out.insert(k.clone(), merged);
    }
    for (k, order) in patch
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("$setElementOrder/").map(|f| (f, v)))
    {
        let (_, go) = child(types, t, k);
        let key = go.and_then(|g| g.patch_merge_key.as_deref());
        if let (Some(Value::Array(items)), Some(order)) = (out.get_mut(k), order.as_array()) {
            let pos = |item: &Value| {
                order.iter().position(|o| match key {
                    Some(mk) => o.get(mk).is_some() && o.get(mk) == item.get(mk),
                    None => o == item,
                })
            };
            items.sort_by_key(|i| pos(i).unwrap_or(usize::MAX));
        }
    }
    if let Some(keep) = patch.get("$retainKeys").and_then(Value::as_array) {
        out.retain(|k, _| keep.iter().any(|r| r.as_str() == Some(k)));
    }
    Ok(out)
}

fn merge_list(
    types: &Types,
    t: Option<&TypeRef>,
    go: Option<&GoField>,
    original: &[Value],
    patch: &[Value],
    depth: usize,
) -> Result<Value, String> {
    let strategy = go.and_then(|g| g.patch_strategy.as_deref()).unwrap_or("");
    if !strategy.split(',').any(|s| s == "merge") {
        let replaced: Vec<Value> = patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .cloned()
            .collect();
        return Ok(Value::Array(replaced));
    }
    let et = element_type(types, t);
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(Value::Array(
            patch
                .iter()
                .filter(|p| p.get("$patch").is_none())
                .cloned()
                .collect(),
        ));
    }
    let Some(key) = go.and_then(|g| g.patch_merge_key.as_deref()) else {
        // A merged list of scalars: the union, patch values appended.
        let mut out = original.to_vec();
        for p in patch {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        return Ok(Value::Array(out));
    };
    let mut out = original.to_vec();
    for p in patch {
        let id = p.get(key).cloned().unwrap_or(Value::Null);
        let at = out.iter().position(|o| o.get(key) == Some(&id));
        if p.get("$patch").and_then(Value::as_str) == Some("delete") {
            out.retain(|o| o.get(key) != Some(&id));
            continue;
        }
        match at {
            Some(i) => out[i] = merge_value(types, et, &out[i], p, depth + 1)?,
            None => out.push(merge_value(types, et, &Value::Null, p, depth + 1)?),
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube_sim::schema;
    use serde_json::json;

    fn deployment_patch(original: Value, patch: Value) -> Value {
        let root = schema::k8s()
            .type_of("apps", "v1", "Deployment")
            .expect("Deployment");
        apply(&schema::k8s().types, &root, &original, &patch).expect("patch applies")
    }

    #[test]
    fn containers_merge_by_name_and_directives_work() {
        let original = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "args": ["a"]},
            {"name": "side", "image": "busybox"}]}}}});
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "web"}],
            "containers": [{"name": "web", "args": null, "image": "nginx:2"}]}}}});
        let out = deployment_patch(original.clone(), patch);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
            {"name": "side", "image": "busybox"}, {"name": "web", "image": "nginx:2"}])
        );
        let delete = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}});
        let out = deployment_patch(original, delete);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn retain_keys_and_atomic_lists() {
        let original = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {"containers": [{"name": "web", "args": ["a", "b"]}]}}}});
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {"spec": {"containers": [{"name": "web", "args": ["c"]}]}}}});
        let out = deployment_patch(original, patch);
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["c"])
        );
    }
}
