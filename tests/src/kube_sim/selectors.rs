//! Label and field selectors as the list verb accepts them.

use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector (`a=b,c!=d,e,!f,g in (x,y),h notin (z)`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn set_values(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_string()).collect())
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for term in split_top(s) {
            let req = if let Some((k, v)) = term.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once(" notin ") {
                Req::NotIn(
                    k.trim().into(),
                    set_values(v).ok_or(format!("bad set in {term:?}"))?,
                )
            } else if let Some((k, v)) = term.split_once(" in ") {
                Req::In(
                    k.trim().into(),
                    set_values(v).ok_or(format!("bad set in {term:?}"))?,
                )
            } else if let Some(k) = term.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else {
                Req::Exists(term.clone())
            };
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    /// Selects everything (no requirement).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => labels.get(k) == Some(v),
            Req::NotEq(k, v) => labels.get(k) != Some(v),
            Req::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Req::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Req::Exists(k) => labels.contains_key(k),
            Req::NotExists(k) => !labels.contains_key(k),
        })
    }
}

/// The labels of an object as a map.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A field selector over `metadata.name` and `metadata.namespace` (`=`, `==`, `!=`).
pub fn field_matches(selector: &str, obj: &Value) -> Result<bool, String> {
    for term in selector.split(',').filter(|t| !t.is_empty()) {
        let (field, want, negate) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, true)
        } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            (f, v, false)
        } else {
            return Err(format!("invalid field selector {term:?}"));
        };
        let actual = match field.trim() {
            "metadata.name" => obj["metadata"]["name"].as_str().unwrap_or_default(),
            "metadata.namespace" => obj["metadata"]["namespace"].as_str().unwrap_or_default(),
            other => return Err(format!("field label not supported: {other}")),
        };
        if (actual == want.trim()) == negate {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selector_forms() {
        let l: BTreeMap<String, String> = [("app", "web"), ("tier", "fe")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&l);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("app in (web, api),!missing"));
        assert!(!m("tier notin (fe)"));
        assert!(!m("missing"));
        assert!(m(""));
    }

    #[test]
    fn field_selector() {
        let obj = serde_json::json!({"metadata": {"name": "a", "namespace": "n"}});
        assert!(field_matches("metadata.name=a", &obj).unwrap());
        assert!(!field_matches("metadata.name=a,metadata.namespace!=n", &obj).unwrap());
        assert!(field_matches("spec.x=1", &obj).is_err());
    }
}
