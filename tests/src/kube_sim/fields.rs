//! Field ownership for server-side apply: the set of leaf paths each manager owns, how applied
//! configuration merges into a live object, and the `fieldsV1` encoding of `managedFields`.
//!
//! Maps merge key by key; lists and scalars are leaves owned whole (kube-sim treats every list
//! as atomic, where the real server merges some lists by key, e.g. containers by name).

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A path of map keys from the object root to a leaf.
pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

/// Top-level keys that are never owned by a manager.
const UNOWNED_TOP: &[&str] = &["apiVersion", "kind", "status"];
/// metadata keys that are owned (the rest are system or identity fields).
const OWNED_META: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// The leaf paths of an object that a manager sending it would own.
pub fn leaves(obj: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    if let Some(map) = obj.as_object() {
        for (k, v) in map {
            if UNOWNED_TOP.contains(&k.as_str()) {
                continue;
            }
            if k == "metadata" {
                if let Some(meta) = v.as_object() {
                    for (mk, mv) in meta {
                        if OWNED_META.contains(&mk.as_str()) {
                            collect(mv, vec!["metadata".into(), mk.clone()], &mut out);
                        }
                    }
                }
                continue;
            }
            collect(v, vec![k.clone()], &mut out);
        }
    }
    out
}

fn collect(v: &Value, path: FieldPath, out: &mut FieldSet) {
    match v.as_object() {
        Some(map) if !map.is_empty() => {
            for (k, child) in map {
                let mut p = path.clone();
                p.push(k.clone());
                collect(child, p, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// The value at `path`, if present.
pub fn get<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, k| v.as_object()?.get(k))
}

/// Sets `path` to `value`, creating maps on the way.
pub fn set(obj: &mut Value, path: &[String], value: Value) {
    let mut cur = obj;
    for k in &path[..path.len() - 1] {
        if !cur.get(k).is_some_and(Value::is_object) {
            cur[k.as_str()] = Value::Object(Map::new());
        }
        cur = &mut cur[k.as_str()];
    }
    cur[path[path.len() - 1].as_str()] = value;
}

/// Removes `path`, then removes parent maps it left empty (never the top-level sections).
pub fn remove(obj: &mut Value, path: &[String]) {
    fn rec(v: &mut Value, path: &[String], depth: usize) {
        let Some(map) = v.as_object_mut() else { return };
        if path.len() == 1 {
            map.remove(&path[0]);
            return;
        }
        if let Some(child) = map.get_mut(&path[0]) {
            rec(child, &path[1..], depth + 1);
            if depth >= 1 && child.as_object().is_some_and(Map::is_empty) {
                map.remove(&path[0]);
            }
        }
    }
    rec(obj, path, 0);
}

/// Renders a field set as the `fieldsV1` tree (`{"f:spec": {"f:replicas": {}}}`).
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for path in set {
        let mut cur = &mut root;
        for k in path {
            let key = format!("f:{k}");
            if cur.get(&key).is_none() {
                cur[key.as_str()] = Value::Object(Map::new());
            }
            cur = &mut cur[key.as_str()];
        }
    }
    root
}

/// JSON merge patch (RFC 7386): maps merge, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch.as_object() {
        Some(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        None => *target = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_skip_identity_and_status() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "y", "labels": {"a": "1"}},
            "data": {"k": "v", "l": "w"}, "status": {"s": 1}});
        let l = leaves(&obj);
        let expect: FieldSet = [
            vec!["data", "k"],
            vec!["data", "l"],
            vec!["metadata", "labels", "a"],
        ]
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect();
        assert_eq!(l, expect);
        assert_eq!(to_fields_v1(&l)["f:data"]["f:k"], json!({}));
    }

    #[test]
    fn remove_prunes_empty_parents() {
        let mut obj = json!({"spec": {"a": {"b": 1}, "c": 2}});
        remove(&mut obj, &["spec".into(), "a".into(), "b".into()]);
        assert_eq!(obj, json!({"spec": {"c": 2}}));
    }

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 5}, "e": [1]}));
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}, "e": [1]}));
    }
}
