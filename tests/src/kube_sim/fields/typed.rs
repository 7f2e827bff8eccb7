//! Typed walks of an object against its schema, as structured-merge-diff's `typed` package
//! does them: the field set an object sets (`ToFieldSet`), the comparison of two objects
//! (added/modified/removed), the merge of an applied configuration into a live object, and the
//! removal of a field set from an object.

use super::path::{FieldSet, PathElement};
use crate::kube_sim::schema::{
    ListDef, ListKind, MapDef, Resolved, TypeRef, Types, UNTYPED_DEDUCED,
};
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// A type graph and the root type of an object.
#[derive(Clone, Copy)]
pub struct Typed<'a> {
    pub types: &'a Types,
    pub root: &'a TypeRef,
}

/// The deduced type: maps granular with deduced values, lists atomic.
pub fn deduced() -> &'static TypeRef {
    static D: OnceLock<TypeRef> = OnceLock::new();
    D.get_or_init(|| TypeRef {
        named_type: Some(UNTYPED_DEDUCED.into()),
        ..TypeRef::default()
    })
}

/// What a node is, for walking.
pub(super) enum Node<'a> {
    /// A granular map: declared fields (if typed) or free keys of the element type.
    Map(Option<&'a MapDef>),
    /// A list merged item by item.
    List(&'a ListDef),
    /// A scalar, or an atomic map or list: owned and replaced whole.
    Leaf,
}

pub(super) fn node<'a>(types: &'a Types, tr: &'a TypeRef, v: Option<&Value>) -> Node<'a> {
    match types.resolve(tr) {
        Resolved::Map(m) if !m.is_atomic() && v.is_none_or(|v| v.is_object() || v.is_null()) => {
            Node::Map(Some(m))
        }
        Resolved::List(l)
            if l.kind() != ListKind::Atomic && v.is_none_or(|v| v.is_array() || v.is_null()) =>
        {
            Node::List(l)
        }
        Resolved::Deduced if v.is_some_and(Value::is_object) => Node::Map(None),
        _ => Node::Leaf,
    }
}

pub(super) fn child_type<'a>(m: Option<&'a MapDef>, key: &str) -> &'a TypeRef {
    m.and_then(|m| m.child(key)).unwrap_or_else(|| deduced())
}

fn is_declared(m: Option<&MapDef>, key: &str) -> bool {
    m.is_some_and(|m| m.field(key).is_some())
}

/// The path element of a list item: its keys, its value (sets) or its index.
pub fn item_element(
    types: &Types,
    l: &ListDef,
    item: &Value,
    index: usize,
) -> Result<PathElement, String> {
    match l.kind() {
        ListKind::Associative(keys) => {
            let obj = item
                .as_object()
                .ok_or("associative list with keys may not have non-map elements")?;
            let elem = match types.resolve(&l.element_type) {
                Resolved::Map(m) => Some(m),
                _ => None,
            };
            let mut pairs = Vec::new();
            for k in keys {
                match obj.get(k) {
                    Some(v) => pairs.push((k.clone(), v.clone())),
                    None => match elem.and_then(|m| m.field(k)).and_then(|f| f.default.clone()) {
                        Some(d) => pairs.push((k.clone(), d)),
                        None => {
                            return Err(format!("associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"))
                        }
                    },
                }
            }
            Ok(PathElement::key(pairs))
        }
        ListKind::Set => Ok(PathElement::value(item)),
        ListKind::Atomic => Ok(PathElement::Index(index)),
    }
}

pub(super) fn items<'v>(
    types: &Types,
    l: &ListDef,
    v: Option<&'v Value>,
) -> Result<Vec<(PathElement, &'v Value)>, String> {
    let arr = match v.and_then(Value::as_array) {
        Some(a) => a,
        None => return Ok(Vec::new()),
    };
    arr.iter()
        .enumerate()
        .map(|(i, item)| Ok((item_element(types, l, item, i)?, item)))
        .collect()
}

impl<'a> Typed<'a> {
    /// The fields `obj` sets (SMD `ToFieldSet`).
    pub fn to_field_set(&self, obj: &Value) -> Result<FieldSet, String> {
        let mut out = FieldSet::new();
        self.fs(self.root, obj, &mut Vec::new(), &mut out)?;
        Ok(out)
    }

    fn fs(
        &self,
        tr: &TypeRef,
        v: &Value,
        path: &mut Vec<PathElement>,
        out: &mut FieldSet,
    ) -> Result<(), String> {
        match node(self.types, tr, Some(v)) {
            Node::Leaf => out.insert(path),
            Node::Map(m) => {
                let Some(obj) = v.as_object() else {
                    return Ok(());
                };
                for (k, child) in obj {
                    path.push(PathElement::field(k));
                    self.fs(child_type(m, k), child, path, out)?;
                    let empty_map = child.as_object().is_some_and(Map::is_empty);
                    if child.is_null() || empty_map || !is_declared(m, k) {
                        out.insert(path);
                    }
                    path.pop();
                }
            }
            Node::List(l) => {
                // Items whose key repeats are owned whole, without descending (SMD).
                let all = items(self.types, l, Some(v))?;
                let mut seen = std::collections::BTreeSet::new();
                let mut dups = std::collections::BTreeSet::new();
                for (pe, _) in &all {
                    if !seen.insert(pe.clone()) {
                        dups.insert(pe.clone());
                    }
                }
                for pe in &dups {
                    path.push(pe.clone());
                    out.insert(path);
                    path.pop();
                }
                for (pe, item) in all {
                    if dups.contains(&pe) {
                        continue;
                    }
                    path.push(pe);
                    self.fs(&l.element_type, item, path, out)?;
                    out.insert(path);
                    path.pop();
                }
            }
        }
        Ok(())
    }

    /// Which fields `rhs` added, modified or removed relative to `lhs` (SMD `Compare`).
    pub fn compare(&self, lhs: &Value, rhs: &Value) -> Result<Comparison, String> {
        let mut c = Comparison::default();
        self.cmp(self.root, Some(lhs), Some(rhs), &mut Vec::new(), &mut c)?;
        Ok(c)
    }

    fn cmp(
        &self,
        tr: &TypeRef,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
        c: &mut Comparison,
    ) -> Result<(), String> {
        let n = node(self.types, tr, rhs.or(lhs));
        let shapes_differ = matches!((lhs, rhs), (Some(l), Some(r)) if !l.is_null() && !r.is_null()
            && (l.is_object() != r.is_object() || l.is_array() != r.is_array()));
        let empty = |v: Option<&Value>| {
            v.is_none_or(|v| {
                v.is_null()
                    || v.as_object().is_some_and(Map::is_empty)
                    || v.as_array().is_some_and(Vec::is_empty)
            })
        };
        let leaf = shapes_differ || matches!(n, Node::Leaf) || (empty(lhs) && empty(rhs));
        if leaf {
            match (lhs, rhs) {
                (None, Some(_)) => c.added.insert(path),
                (Some(_), None) => c.removed.insert(path),
                (Some(l), Some(r)) if l != r => c.modified.insert(path),
                _ => {}
            }
            return Ok(());
        }
        match n {
            Node::Map(m) => {
                let empty_map = Map::new();
                let l = lhs.and_then(Value::as_object).unwrap_or(&empty_map);
                let r = rhs.and_then(Value::as_object).unwrap_or(&empty_map);
                let mut keys: Vec<&String> = l.keys().collect();
                keys.extend(r.keys().filter(|k| !l.contains_key(*k)));
                for k in keys {
                    path.push(PathElement::field(k));
                    self.cmp(child_type(m, k), l.get(k), r.get(k), path, c)?;
                    path.pop();
                }
            }
            Node::List(list) => {
                let li = items(self.types, list, lhs)?;
                let ri = items(self.types, list, rhs)?;
                let mut order: Vec<&PathElement> = li.iter().map(|(pe, _)| pe).collect();
                for (pe, _) in &ri {
                    if !order.contains(&pe) {
                        order.push(pe);
                    }
                }
                order.dedup();
                for pe in order {
                    let lv: Vec<&Value> = li
                        .iter()
                        .filter(|(p, _)| p == pe)
                        .map(|(_, v)| *v)
                        .collect();
                    let rv: Vec<&Value> = ri
                        .iter()
                        .filter(|(p, _)| p == pe)
                        .map(|(_, v)| *v)
                        .collect();
                    path.push(pe.clone());
                    if lv.len() <= 1 && rv.len() <= 1 {
                        self.cmp(
                            &list.element_type,
                            lv.first().copied(),
                            rv.first().copied(),
                            path,
                            c,
                        )?;
                    } else if lv.len() >= 2 && rv.len() >= 2 {
                        if lv != rv {
                            c.modified.insert(path);
                        }
                    } else if lv.len() >= 2 {
                        c.removed.insert(path);
                    } else {
                        c.added.insert(path);
                    }
                    path.pop();
                }
            }
            Node::Leaf => {}
        }
        match (lhs, rhs) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            _ => {}
        }
        Ok(())
    }

    /// `obj` without the fields of `set` (SMD `RemoveItems`); maps and lists emptied by the
    /// removal go too.
    pub fn remove_items(&self, obj: &Value, set: &FieldSet) -> Value {
        self.rm(self.root, obj, set)
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn rm(&self, tr: &TypeRef, v: &Value, set: &FieldSet) -> Option<Value> {
        match node(self.types, tr, Some(v)) {
            Node::Leaf => Some(v.clone()),
            Node::Map(m) => {
                let obj = v.as_object()?;
                if obj.is_empty() {
                    return Some(v.clone());
                }
                let mut out = Map::new();
                for (k, child) in obj {
                    let pe = PathElement::field(k);
                    if set.members.contains(&pe) {
                        continue;
                    }
                    let kept = match set.children.get(&pe) {
                        Some(sub) if !sub.is_empty() => self.rm(child_type(m, k), child, sub),
                        _ => Some(child.clone()),
                    };
                    if let Some(kv) = kept {
                        out.insert(k.clone(), kv);
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Node::List(l) => {
                let arr = v.as_array()?;
                if arr.is_empty() {
                    return Some(v.clone());
                }
                let mut out = Vec::new();
                for (i, item) in arr.iter().enumerate() {
                    let Ok(pe) = item_element(self.types, l, item, i) else {
                        out.push(item.clone());
                        continue;
                    };
                    if set.members.contains(&pe) {
                        continue;
                    }
                    match set.children.get(&pe) {
                        Some(sub) if !sub.is_empty() => {
                            if let Some(kept) = self.rm(&l.element_type, item, sub) {
                                out.push(kept);
                            }
                        }
                        _ => out.push(item.clone()),
                    }
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
        }
    }

    /// Adds every named (declared) field that has children as a member too (SMD
    /// `EnsureNamedFieldsAreMembers`), so removing the set removes those fields whole.
    pub fn ensure_named_fields_are_members(&self, set: &FieldSet) -> FieldSet {
        self.ensure(self.root, set)
    }

    fn ensure(&self, tr: &TypeRef, set: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: set.members.clone(),
            children: Default::default(),
        };
        let resolved = self.types.resolve(tr);
        for (pe, child) in &set.children {
            let child_tr = match (&resolved, pe) {
                (Resolved::Map(m), PathElement::Field(f)) => {
                    if m.field(f).is_some() {
                        out.members.insert(pe.clone());
                    }
                    m.child(f).unwrap_or_else(|| deduced())
                }
                (Resolved::List(l), PathElement::Key(_)) => &l.element_type,
                _ => deduced(),
            };
            out.children
                .insert(pe.clone(), self.ensure(child_tr, child));
        }
        out
    }
}

/// The result of [`Typed::compare`].
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}
