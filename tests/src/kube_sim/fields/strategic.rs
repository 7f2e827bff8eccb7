//! Strategic merge patch (apimachinery `strategicpatch`) driven by the Go patch tags in the
//! schema data: lists tagged `patchStrategy:"merge"` merge by their `patchMergeKey` (or as a
//! union of values for scalar lists), other lists are replaced; maps merge, `null` deletes;
//! the directives `$patch` (`replace`, `delete`, `merge`), `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` are honoured. Merged lists
//! come out in apimachinery's order (`normalizeElementOrder`): the patch's items in patch (or
//! `$setElementOrder`) order, the server-only items woven in where the live order puts them
//! (checked against kube-apiserver 1.37: env `[A]` patched with `[P]` gives `[P, A]`).

use super::typed::deduced;
use crate::kube_sim::schema::{FieldDef, Resolved, TypeRef, Types};
use serde_json::{Map, Value};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";
const ORDER: &str = "$setElementOrder/";

/// Applies `patch` to `target` of type `root`.
pub fn apply(
    types: &Types,
    root: &TypeRef,
    target: &mut Value,
    patch: &Value,
) -> Result<(), String> {
    match merge_map(types, root, target.clone(), patch)? {
        Some(v) => *target = v,
        None => *target = Value::Object(Map::new()),
    }
    Ok(())
}

fn field<'a>(types: &'a Types, tr: &'a TypeRef, key: &str) -> (Option<&'a FieldDef>, &'a TypeRef) {
    match types.resolve(tr) {
        Resolved::Map(m) => (m.field(key), m.child(key).unwrap_or_else(|| deduced())),
        _ => (None, deduced()),
    }
}

/// Merges a patch map into an original value; None when the patch deletes it.
fn merge_map(
    types: &Types,
    tr: &TypeRef,
    original: Value,
    patch: &Value,
) -> Result<Option<Value>, String> {
    let Some(p) = patch.as_object() else {
        return Ok(Some(patch.clone()));
    };
    match p.get(PATCH).and_then(Value::as_str) {
        Some("delete") => return Ok(None),
        Some("replace") => {
            let mut out = p.clone();
            out.remove(PATCH);
            return Ok(Some(Value::Object(out)));
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {other:?}")),
    }
    let mut out = match original {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(keep) = p.get(RETAIN_KEYS).and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k == PATCH || k == RETAIN_KEYS || k.starts_with(ORDER) {
            continue;
        }
        if let Some(name) = k.strip_prefix(DELETE_FROM) {
            let drop: Vec<&Value> = v.as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if let Some(Value::Array(list)) = out.get_mut(name) {
                list.retain(|x| !drop.contains(&x));
            }
            continue;
        }
        let (def, child) = field(types, tr, k);
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let current = out.remove(k);
        let merged = match (v, current) {
            (Value::Object(_), Some(cur @ Value::Object(_))) => merge_map(types, child, cur, v)?,
            (Value::Object(_), _) => merge_map(types, child, Value::Object(Map::new()), v)?,
            (Value::Array(items), Some(Value::Array(cur))) => {
                let order = p.get(&format!("{ORDER}{k}")).and_then(Value::as_array);
                Some(merge_list(types, child, def, cur, items, order)?)
            }
            (Value::Array(items), _) => {
                Some(merge_list(types, child, def, Vec::new(), items, None)?)
            }
            (other, _) => Some(other.clone()),
        };
        if let Some(m) = merged {
            out.insert(k.clone(), m);
        }
    }
    Ok(Some(Value::Object(out)))
}

fn merge_list(
    types: &Types,
    tr: &TypeRef,
    def: Option<&FieldDef>,
    mut original: Vec<Value>,
    patch: &[Value],
    set_order: Option<&Vec<Value>>,
) -> Result<Value, String> {
    let live = original.clone();
    let go = def.and_then(|d| d.go.as_ref());
    let strategy = go.and_then(|g| g.patch_strategy.as_deref()).unwrap_or("");
    if !strategy.split(',').any(|s| s == "merge") {
        // Replace, minus directive-only items.
        return Ok(Value::Array(
            patch
                .iter()
                .filter(|i| i.get(PATCH).is_none())
                .cloned()
                .collect(),
        ));
    }
    let elem = match types.resolve(tr) {
        Resolved::List(l) => &l.element_type,
        _ => deduced(),
    };
    let Some(key) = go.and_then(|g| g.patch_merge_key.as_deref()) else {
        // A merged list of scalars: the union.
        for v in patch {
            if !original.contains(v) {
                original.push(v.clone());
            }
        }
        let order = set_order.map(Vec::as_slice).unwrap_or(patch);
        return Ok(Value::Array(in_order(original, patch, order, &live, None)));
    };
    for item in patch {
        let Some(k) = item.get(key) else {
            return Err(format!(
                "map: {item} does not contain declared merge key: {key}"
            ));
        };
        let pos = original.iter().position(|o| o.get(key) == Some(k));
        match (item.get(PATCH).and_then(Value::as_str), pos) {
            (Some("delete"), Some(i)) => {
                original.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => {
                let cur = original[i].clone();
                match merge_map(types, elem, cur, item)? {
                    Some(v) => original[i] = v,
                    None => {
                        original.remove(i);
                    }
                }
            }
            (_, None) => {
                if let Some(v) = merge_map(types, elem, Value::Object(Map::new()), item)? {
                    original.push(v);
                }
            }
        }
    }
    let order = set_order.map(Vec::as_slice).unwrap_or(patch);
    Ok(Value::Array(in_order(
        original,
        patch,
        order,
        &live,
        Some(key),
    )))
}

/// apimachinery's `normalizeElementOrder` + `mergeSortedSlice`: the merged items named in the
/// patch, sorted by `order`, with the server-only items (in `live` order) inserted before the
/// first patch item that the live list puts after them.
fn in_order(
    merged: Vec<Value>,
    patch: &[Value],
    order: &[Value],
    live: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let id = |v: &Value| match key {
        Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
        None => v.clone(),
    };
    let index = |list: &[Value], v: &Value| list.iter().position(|x| id(x) == id(v));
    let (mut ours, theirs): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|m| index(patch, m).is_some() || index(order, m).is_some());
    ours.sort_by_key(|v| index(order, v).unwrap_or(usize::MAX));
    let (mut left, mut right) = (theirs.into_iter().peekable(), ours.into_iter().peekable());
    let mut out = Vec::new();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((index(live, l), index(live, r)), (Some(a), Some(b)) if a < b)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube_sim::schema;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_args_are_replaced() {
        let s = schema::k8s();
        let root = s.type_of("apps", "v1", "Deployment").expect("typed");
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "a", "args": ["x"], "env": [{"name": "A", "value": "1"}]},
            {"name": "log", "image": "b"}]}}}});
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "log"}],
            "containers": [{"name": "web", "image": "a2", "args": ["y"], "env": [{"name": "B", "value": "2"}]},
                           {"name": "log", "$patch": "delete"}]}}}});
        apply(&s.types, &root, &mut d, &patch).expect("patches");
        assert_eq!(
            d,
            json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "a2", "args": ["y"], "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}]}}}})
        );
        let mut m = json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}}});
        let patch = json!({"metadata": {"finalizers": ["b"], "labels": {"x": null}, "$deleteFromPrimitiveList/finalizers": ["a"]}});
        apply(&s.types, &root, &mut m, &patch).expect("patches");
        assert_eq!(
            m,
            json!({"metadata": {"finalizers": ["b"], "labels": {"y": "2"}}})
        );
    }

    #[test]
    fn merged_lists_take_apimachinery_order() {
        let s = schema::k8s();
        let root = s.type_of("apps", "v1", "Deployment").expect("typed");
        let env = |names: &[&str]| -> Value {
            names
                .iter()
                .map(|n| json!({"name": n, "value": "1"}))
                .collect()
        };
        let with = |e: Value| json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "env": e}]}}}});
        for (live, patch, want) in [
            (&["A"][..], &["P"][..], &["P", "A"][..]),
            (&["A", "B", "C"], &["B"], &["A", "B", "C"]),
            (&["A", "B"], &["C", "A"], &["C", "A", "B"]),
        ] {
            let mut d = with(env(live));
            apply(&s.types, &root, &mut d, &with(env(patch))).expect("patches");
            assert_eq!(d, with(env(want)), "{live:?} + {patch:?}");
        }
        let mut m = json!({"metadata": {"finalizers": ["a"]}});
        apply(
            &s.types,
            &root,
            &mut m,
            &json!({"metadata": {"finalizers": ["b"]}}),
        )
        .expect("patches");
        assert_eq!(m, json!({"metadata": {"finalizers": ["b", "a"]}}));
    }
}
