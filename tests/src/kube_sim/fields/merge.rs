//! Merging an applied configuration into a live object (structured-merge-diff `typed/merge.go`):
//! the applied value wins at leaves and atomic values, maps merge key by key, associative and
//! set lists merge item by item in SMD's order.

use super::path::PathElement;
use super::typed::{child_type, items, node, Node, Typed};
use crate::kube_sim::schema::{ListDef, TypeRef};
use serde_json::{Map, Value};

impl Typed<'_> {
    /// `lhs` with `rhs` merged in (SMD `Merge`, the applied value winning at leaves).
    pub fn merge(&self, lhs: &Value, rhs: &Value) -> Result<Value, String> {
        Ok(self
            .mrg(self.root, Some(lhs), Some(rhs))?
            .unwrap_or(Value::Null))
    }

    fn mrg(
        &self,
        tr: &TypeRef,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
    ) -> Result<Option<Value>, String> {
        let keep_rhs = || Ok(rhs.or(lhs).cloned());
        let n = node(self.types, tr, rhs.or(lhs));
        let shapes_differ = matches!((lhs, rhs), (Some(l), Some(r)) if l.is_object() != r.is_object() || l.is_array() != r.is_array());
        if shapes_differ || matches!(n, Node::Leaf) || rhs.is_none() || lhs.is_none() {
            return keep_rhs();
        }
        match n {
            Node::Map(m) => {
                let (Some(l), Some(r)) = (
                    lhs.and_then(Value::as_object),
                    rhs.and_then(Value::as_object),
                ) else {
                    return keep_rhs();
                };
                if l.is_empty() && r.is_empty() {
                    return keep_rhs();
                }
                let mut out = Map::new();
                for (k, lv) in l {
                    if let Some(v) = self.mrg(child_type(m, k), Some(lv), r.get(k))? {
                        out.insert(k.clone(), v);
                    }
                }
                for (k, rv) in r.iter().filter(|(k, _)| !l.contains_key(*k)) {
                    if let Some(v) = self.mrg(child_type(m, k), None, Some(rv))? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            Node::List(list) => {
                let li = items(self.types, list, lhs)?;
                let ri = items(self.types, list, rhs)?;
                if li.is_empty() && ri.is_empty() {
                    return keep_rhs();
                }
                self.merge_items(list, &li, &ri)
                    .map(|v| Some(Value::Array(v)))
            }
            Node::Leaf => keep_rhs(),
        }
    }

    /// Item order of SMD's list merge: live order, with applied items placed where the applied
    /// order puts them relative to the items both have.
    fn merge_items(
        &self,
        list: &ListDef,
        li: &[(PathElement, &Value)],
        ri: &[(PathElement, &Value)],
    ) -> Result<Vec<Value>, String> {
        let in_l = |pe: &PathElement| li.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
        let in_r = |pe: &PathElement| ri.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
        let mut shared: std::collections::VecDeque<&PathElement> = ri
            .iter()
            .map(|(p, _)| p)
            .filter(|p| in_l(p).is_some())
            .collect();
        let mut next_shared = shared.pop_front();
        let mut merged_r: Vec<&PathElement> = Vec::new();
        let mut out = Vec::new();
        let (mut l, mut r) = (0, 0);
        while l < li.len() || r < ri.len() {
            if l < li.len() && r < ri.len() {
                let pe = &li[l].0;
                if *pe == ri[r].0 {
                    merged_r.push(pe);
                    if let Some(v) = self.mrg(&list.element_type, in_l(pe), in_r(pe))? {
                        out.push(v);
                    }
                    l += 1;
                    r += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                if in_r(pe).is_some() && next_shared.is_some_and(|n| n != pe) {
                    l += 1;
                    continue;
                }
            }
            if l < li.len() {
                let pe = &li[l].0;
                if in_r(pe).is_none() {
                    out.push(li[l].1.clone());
                    l += 1;
                    continue;
                } else if merged_r.contains(&pe) {
                    l += 1;
                }
            }
            if r < ri.len() {
                let pe = &ri[r].0;
                merged_r.push(pe);
                if let Some(v) = self.mrg(&list.element_type, in_l(pe), in_r(pe))? {
                    out.push(v);
                }
                r += 1;
                if next_shared.is_some_and(|n| n == pe) {
                    next_shared = shared.pop_front();
                }
            }
        }
        Ok(out)
    }
}
