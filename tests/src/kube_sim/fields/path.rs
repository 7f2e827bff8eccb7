//! Field paths and field sets as structured-merge-diff models them (`fieldpath` package):
//! path elements (`f:` field, `k:` associative key, `v:` set value, `i:` index), the set tree
//! of members and children with its algebra, the `FieldsV1` JSON encoding of `managedFields`,
//! and the path text of conflict messages (`.spec.containers[name="web"].image`).

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One step of a path. The variant order is SMD's: fields, then keys, then values, then indexes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    Field(String),
    /// Key fields of an associative list item, sorted by name; values as canonical JSON text.
    Key(Vec<(String, String)>),
    /// A set item's value as canonical JSON text.
    Value(String),
    Index(usize),
}

impl PathElement {
    pub fn field(name: &str) -> Self {
        PathElement::Field(name.to_string())
    }

    /// A key element from (name, value) pairs.
    pub fn key(pairs: Vec<(String, Value)>) -> Self {
        let mut k: Vec<(String, String)> =
            pairs.into_iter().map(|(n, v)| (n, json_text(&v))).collect();
        k.sort_by(|a, b| a.0.cmp(&b.0));
        PathElement::Key(k)
    }

    pub fn value(v: &Value) -> Self {
        PathElement::Value(json_text(v))
    }

    /// The `fieldsV1` key: `f:name`, `k:{"name":"web"}`, `v:"x"`, `i:0`.
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(n) => format!("f:{n}"),
            PathElement::Key(k) => {
                let inner: Vec<String> = k
                    .iter()
                    .map(|(n, v)| format!("{}:{v}", json_text(&Value::String(n.clone()))))
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `fieldsV1` key.
    pub fn from_fields_v1_key(s: &str) -> Result<Self, String> {
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("invalid field path element {s:?}"))?;
        match kind {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => {
                let v: Value = serde_json::from_str(rest)
                    .map_err(|e| format!("invalid key element {s:?}: {e}"))?;
                let obj = v
                    .as_object()
                    .ok_or_else(|| format!("invalid key element {s:?}: not an object"))?;
                Ok(PathElement::key(
                    obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ))
            }
            "v" => {
                let v: Value = serde_json::from_str(rest)
                    .map_err(|e| format!("invalid value element {s:?}: {e}"))?;
                Ok(PathElement::value(&v))
            }
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|_| format!("invalid index element {s:?}")),
            _ => Err(format!("invalid field path element {s:?}")),
        }
    }
}

/// The path text SMD prints (`PathElement.String()`).
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(k) => {
                let inner: Vec<String> = k.iter().map(|(n, v)| format!("{n}={v}")).collect();
                write!(f, "[{}]", inner.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the object root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Path(pub Vec<PathElement>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

impl Path {
    pub fn fields(names: &[&str]) -> Self {
        Path(names.iter().map(|n| PathElement::field(n)).collect())
    }
}

/// Canonical JSON text of a value (object keys sorted, as serde_json's map keeps them).
pub fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A set of paths: the members at this level and the sets below each child element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    pub members: BTreeSet<PathElement>,
    pub children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The set below one child element (empty when absent).
    pub fn with_prefix(&self, pe: &PathElement) -> FieldSet {
        self.children.get(pe).cloned().unwrap_or_default()
    }

    fn tidy(mut self) -> Self {
        self.children.retain(|_, c| !c.is_empty());
        self
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out.tidy()
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, c)| {
                other
                    .children
                    .get(pe)
                    .map(|o| (pe.clone(), c.intersection(o)))
            })
            .collect();
        FieldSet { members, children }.tidy()
    }

    /// Members of `other` are removed at their level only (SMD `Difference`).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .map(|(pe, c)| match other.children.get(pe) {
                Some(o) => (pe.clone(), c.difference(o)),
                None => (pe.clone(), c.clone()),
            })
            .collect();
        FieldSet { members, children }.tidy()
    }

    /// Also removes everything below a member of `other` (SMD `RecursiveDifference`).
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter(|(pe, _)| !other.members.contains(pe))
            .map(|(pe, c)| match other.children.get(pe) {
                Some(o) => (pe.clone(), c.recursive_difference(o)),
                None => (pe.clone(), c.clone()),
            })
            .collect();
        FieldSet { members, children }.tidy()
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        let mut keys: BTreeSet<&PathElement> = self.members.iter().collect();
        keys.extend(self.children.keys());
        for pe in keys {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(Path(prefix.clone()));
            }
            if let Some(c) = self.children.get(pe) {
                c.collect_paths(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON (`{"f:spec":{"f:replicas":{}},...}`), `.` marking a child that is
    /// also a member.
    pub fn to_fields_v1(&self) -> Value {
        self.emit(false)
    }

    fn emit(&self, include_self: bool) -> Value {
        let mut m = Map::new();
        if include_self && !(self.members.is_empty() && self.children.is_empty()) {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for pe in &self.members {
            if !self.children.contains_key(pe) {
                m.insert(pe.to_fields_v1_key(), Value::Object(Map::new()));
            }
        }
        for (pe, c) in &self.children {
            m.insert(pe.to_fields_v1_key(), c.emit(self.members.contains(pe)));
        }
        Value::Object(m)
    }

    /// Parses `fieldsV1` JSON; errors name the bad element.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let obj = v.as_object().ok_or("fieldsV1 must be an object")?;
        let mut out = FieldSet::new();
        for (k, child) in obj {
            if k == "." {
                continue;
            }
            let pe = PathElement::from_fields_v1_key(k)?;
            let c = child
                .as_object()
                .ok_or("fieldsV1 entries must be objects")?;
            if c.is_empty() {
                out.members.insert(pe);
                continue;
            }
            if c.contains_key(".") {
                out.members.insert(pe.clone());
            }
            let sub = FieldSet::from_fields_v1(child)?;
            if !sub.is_empty() {
                out.children.insert(pe, sub);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trip_with_keys_values_and_dot() {
        let v = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}},
                       "f:finalizers": {"v:\"a\"": {}},
                       "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}}});
        let s = FieldSet::from_fields_v1(&v).expect("parses");
        assert_eq!(s.to_fields_v1(), v);
        let paths: Vec<String> = s.paths().iter().map(Path::to_string).collect();
        assert!(paths.contains(&".spec.containers[name=\"web\"].image".to_string()));
        assert!(paths.contains(&".spec.ports[containerPort=80,protocol=\"TCP\"]".to_string()));
        assert!(paths.contains(&".spec.finalizers[=\"a\"]".to_string()));
    }

    #[test]
    fn algebra_follows_smd() {
        let p = |names: &[&str]| Path::fields(names).0;
        let mut a = FieldSet::new();
        a.insert(&p(&["spec", "a"]));
        a.insert(&p(&["spec", "b", "c"]));
        a.insert(&p(&["spec", "b"]));
        let mut b = FieldSet::new();
        b.insert(&p(&["spec", "b"]));
        let d = a.difference(&b);
        assert!(d.has(&p(&["spec", "b", "c"])) && !d.has(&p(&["spec", "b"])));
        let r = a.recursive_difference(&b);
        assert!(!r.has(&p(&["spec", "b", "c"])) && r.has(&p(&["spec", "a"])));
        assert_eq!(a.intersection(&b), b);
        assert_eq!(a.union(&b), a);
    }
}
