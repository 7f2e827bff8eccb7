//! Ownership (pure): which fields of ferry's manifest another field manager holds, read from
//! the live object's `managedFields` (`fieldsV1`), and which of those ferry yields instead of
//! forcing them back: fields set through the `scale` subresource (an autoscaler's
//! `replicas`), injected CA bundles (`caBundle`), and, with `force: false`, any field in
//! conflict. Paths are walked against the manifest itself, so list items keyed by name
//! (`k:{"name":"main"}`) resolve without a schema.

use super::FIELD_MANAGER;
use serde_json::Value;
use std::fmt;

/// One step into a manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A path into a manifest (`.spec.template.spec.containers[0].image`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FieldPath(pub Vec<Step>);

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.0 {
            match s {
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// Why ferry leaves a field to another manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YieldReason {
    /// Set through the `scale` subresource (HorizontalPodAutoscaler, `kubectl scale`).
    ScaleSubresource,
    /// A CA bundle injected by a webhook or CA injector.
    InjectedCaBundle,
    /// A conflict with `force: false`.
    Conflict,
}

impl fmt::Display for YieldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            YieldReason::ScaleSubresource => "set through the scale subresource",
            YieldReason::InjectedCaBundle => "injected CA bundle",
            YieldReason::Conflict => "conflict, force is off",
        })
    }
}

/// A field of ferry's manifest that another manager holds and ferry leaves alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Yielded {
    pub path: FieldPath,
    pub manager: String,
    pub reason: YieldReason,
}

/// Whether `managed` (live `managedFields`) has an entry other than ferry's apply entry. When
/// it has none, [`yielded`] finds nothing in it, so the drift check keeps no copy of it.
pub fn others_manage(managed: &Value) -> bool {
    managed
        .as_array()
        .is_some_and(|entries| entries.iter().any(|m| !is_ours(m)))
}

fn is_ours(entry: &Value) -> bool {
    entry["manager"] == FIELD_MANAGER && entry["operation"] == "Apply"
}

/// Fields of `manifest` held by managers other than ferry's apply entry, per `managed`
/// (the live `managedFields`), that ferry yields: scale-subresource fields and `caBundle`s.
pub fn yielded(manifest: &Value, managed: &Value) -> Vec<Yielded> {
    let entries = managed.as_array().map(Vec::as_slice).unwrap_or_default();
    let ours: Vec<FieldPath> = entries
        .iter()
        .filter(|m| is_ours(m))
        .flat_map(|m| owned_in(manifest, &m["fieldsV1"]))
        .collect();
    let mut out = Vec::new();
    for m in entries.iter().filter(|m| !is_ours(m)) {
        let manager = m["manager"].as_str().unwrap_or("unknown").to_string();
        let scale = m["subresource"] == "scale";
        for path in owned_in(manifest, &m["fieldsV1"]) {
            if ours.contains(&path) {
                continue;
            }
            let ca = matches!(path.0.last(), Some(Step::Key(k)) if k == "caBundle");
            let reason = if scale {
                YieldReason::ScaleSubresource
            } else if ca {
                YieldReason::InjectedCaBundle
            } else {
                continue;
            };
            if !out.iter().any(|y: &Yielded| y.path == path) {
                out.push(Yielded {
                    path,
                    manager: manager.clone(),
                    reason,
                });
            }
        }
    }
    out
}

/// The manager (other than ferry's apply entry) that owns `path` (or a field above or below
/// it) in `live`, read from its `managedFields`.
pub fn owner_of(live: &Value, path: &str) -> Option<String> {
    let target = parse_cause_field(live, path)?;
    let overlaps = |p: &FieldPath| p.0.starts_with(&target.0) || target.0.starts_with(&p.0);
    live["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .filter(|m| !(m["manager"] == FIELD_MANAGER && m["operation"] == "Apply"))
        .find(|m| owned_in(live, &m["fieldsV1"]).iter().any(overlaps))
        .and_then(|m| m["manager"].as_str())
        .map(str::to_string)
}

/// The leaf paths of `manifest` that a `fieldsV1` set marks as owned.
pub fn owned_in(manifest: &Value, fields: &Value) -> Vec<FieldPath> {
    let mut out = Vec::new();
    walk(manifest, fields, &mut Vec::new(), &mut out);
    out
}

fn walk(value: &Value, fields: &Value, path: &mut Vec<Step>, out: &mut Vec<FieldPath>) {
    let Some(map) = fields.as_object() else {
        return;
    };
    let leaf_here = map.is_empty() || (map.len() == 1 && map.contains_key("."));
    if leaf_here {
        if !path.is_empty() {
            out.push(FieldPath(path.clone()));
        }
        return;
    }
    for (k, sub) in map {
        if let Some(name) = k.strip_prefix("f:") {
            if let Some(child) = value.as_object().and_then(|o| o.get(name)) {
                path.push(Step::Key(name.to_string()));
                walk(child, sub, path, out);
                path.pop();
            }
        } else if let Some(key) = k.strip_prefix("k:") {
            let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key) else {
                continue;
            };
            let found = value.as_array().and_then(|items| {
                items
                    .iter()
                    .position(|item| key.iter().all(|(kk, kv)| &item[kk.as_str()] == kv))
            });
            if let Some(i) = found {
                path.push(Step::Index(i));
                walk(&value[i], sub, path, out);
                path.pop();
            }
        } else if let Some(v) = k.strip_prefix("v:") {
            let Ok(v) = serde_json::from_str::<Value>(v) else {
                continue;
            };
            if let Some(i) = value
                .as_array()
                .and_then(|a| a.iter().position(|x| x == &v))
            {
                path.push(Step::Index(i));
                out.push(FieldPath(path.clone()));
                path.pop();
            }
        } else if let Some(i) = k.strip_prefix("i:").and_then(|i| i.parse::<usize>().ok()) {
            if let Some(child) = value.as_array().and_then(|a| a.get(i)) {
                path.push(Step::Index(i));
                walk(child, sub, path, out);
                path.pop();
            }
        }
    }
}

/// Parses a conflict cause's field (`.spec.replicas`,
/// `.spec.template.spec.containers[name="main"].image`, `.items[0]`) against `manifest`.
pub fn parse_cause_field(manifest: &Value, field: &str) -> Option<FieldPath> {
    let mut steps = Vec::new();
    let mut cur = manifest;
    let mut rest = field.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            cur = cur.get(key)?;
            steps.push(Step::Key(key.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let sel = &r[..end];
            let items = cur.as_array()?;
            let i = match sel.split_once('=') {
                Some((k, v)) => {
                    let v = v.trim_matches('"');
                    items.iter().position(|it| {
                        let x = if k.is_empty() { it } else { &it[k] };
                        x.as_str() == Some(v) || x.to_string().as_str() == v
                    })?
                }
                None => sel.parse().ok()?,
            };
            cur = items.get(i)?;
            steps.push(Step::Index(i));
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    (!steps.is_empty()).then_some(FieldPath(steps))
}

/// Removes `paths` from `manifest` (list items from the highest index down), then maps the
/// removal left empty (an empty map in an apply would claim the whole field).
pub fn strip(manifest: &mut Value, paths: &[FieldPath]) {
    let mut sorted: Vec<&FieldPath> = paths.iter().collect();
    sorted.sort();
    for p in sorted.into_iter().rev() {
        remove(manifest, &p.0);
        for depth in (1..p.0.len()).rev() {
            let parent = &p.0[..depth];
            if get(manifest, parent).is_some_and(|v| v.as_object().is_some_and(|m| m.is_empty()))
                && !matches!(parent, [Step::Key(k)] if k == "metadata")
            {
                remove(manifest, parent);
            } else {
                break;
            }
        }
    }
}

fn get<'a>(v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(v, |cur, s| match s {
        Step::Key(k) => cur.get(k.as_str()),
        Step::Index(i) => cur.get(*i),
    })
}

fn remove(v: &mut Value, steps: &[Step]) {
    match steps {
        [] => {}
        [Step::Key(k)] => {
            if let Some(m) = v.as_object_mut() {
                m.remove(k);
            }
        }
        [Step::Index(i)] => {
            if let Some(a) = v.as_array_mut().filter(|a| *i < a.len()) {
                a.remove(*i);
            }
        }
        [Step::Key(k), rest @ ..] => {
            if let Some(c) = v.get_mut(k.as_str()) {
                remove(c, rest);
            }
        }
        [Step::Index(i), rest @ ..] => {
            if let Some(c) = v.get_mut(*i) {
                remove(c, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "main", "image": "x", "env": [{"name": "A", "value": "1"}]}]}}}})
    }

    #[test]
    fn scale_and_ca_bundle_are_yielded_other_managers_are_not() {
        let managed = json!([
            {"manager": "ferry", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-edit", "operation": "Update",
             "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"main\"}": {".": {}, "f:image": {}}}}}}}}
        ]);
        let y = yielded(&deployment(), &managed);
        assert_eq!(y.len(), 1, "{y:?}");
        assert_eq!(y[0].path.to_string(), ".spec.replicas");
        assert_eq!(y[0].reason, YieldReason::ScaleSubresource);
        let hook =
            json!({"webhooks": [{"name": "w", "clientConfig": {"caBundle": "", "url": "u"}}]});
        let managed = json!([{"manager": "cainjector", "operation": "Update", "fieldsV1":
            {"f:webhooks": {"k:{\"name\":\"w\"}": {"f:clientConfig": {"f:caBundle": {}}}}}}]);
        let y = yielded(&hook, &managed);
        assert_eq!(y[0].path.to_string(), ".webhooks[0].clientConfig.caBundle");
        assert_eq!(y[0].reason, YieldReason::InjectedCaBundle);
    }

    #[test]
    fn managed_fields_with_only_ferrys_apply_entry_yield_nothing_and_need_no_copy() {
        let ours = json!([{"manager": "ferry", "operation": "Apply",
            "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}]);
        assert!(!others_manage(&ours));
        assert!(yielded(&deployment(), &ours).is_empty());
        // What the drift check keeps instead (livelist): nothing.
        assert!(yielded(&deployment(), &Value::Null).is_empty());
        assert!(!others_manage(&Value::Null));
        let status = json!([{"manager": "ferry", "operation": "Apply", "fieldsV1": {}},
            {"manager": "kube-controller-manager", "operation": "Update",
             "subresource": "status", "fieldsV1": {}}]);
        assert!(others_manage(&status));
        // ferry's entry by another operation is someone else's as far as yielding goes.
        assert!(others_manage(
            &json!([{"manager": "ferry", "operation": "Update"}])
        ));
    }

    #[test]
    fn keyed_items_and_atomic_lists_resolve_against_the_manifest() {
        let d = deployment();
        let keyed = json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
            "k:{\"name\":\"main\"}": {"f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:value": {}}}},
            "k:{\"name\":\"sidecar\"}": {"f:image": {}}}}}}});
        let paths: Vec<String> = owned_in(&d, &keyed).iter().map(|p| p.to_string()).collect();
        assert_eq!(
            paths,
            vec![".spec.template.spec.containers[0].env[0].value"]
        );
        let atomic = json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}});
        assert_eq!(
            owned_in(&d, &atomic)[0].to_string(),
            ".spec.template.spec.containers"
        );
    }

    #[test]
    fn the_owner_of_a_changed_field_is_found() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "ferry", "operation": "Apply", "fieldsV1": {"f:data": {"f:other": {}}}},
            {"manager": "kubectl-patch", "operation": "Update", "fieldsV1": {"f:data": {"f:value": {}}}}]},
            "data": {"value": "edited", "other": "1"}});
        assert_eq!(
            owner_of(&live, ".data.value").as_deref(),
            Some("kubectl-patch")
        );
        assert_eq!(owner_of(&live, ".data.other"), None);
    }

    #[test]
    fn stripping_the_last_key_removes_the_emptied_map() {
        let mut cm = json!({"metadata": {"name": "a"}, "data": {"value": "1"}});
        let path = parse_cause_field(&cm, ".data.value").unwrap();
        strip(&mut cm, &[path]);
        assert_eq!(cm, json!({"metadata": {"name": "a"}}));
    }

    #[test]
    fn conflict_fields_parse_and_strip() {
        let mut d = deployment();
        let p =
            parse_cause_field(&d, ".spec.template.spec.containers[name=\"main\"].image").unwrap();
        assert_eq!(p.to_string(), ".spec.template.spec.containers[0].image");
        let r = parse_cause_field(&d, ".spec.replicas").unwrap();
        assert!(parse_cause_field(&d, ".spec.nothing").is_none());
        strip(&mut d, &[p, r]);
        assert_eq!(
            d,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "main", "env": [{"name": "A", "value": "1"}]}]}}}})
        );
    }
}
