//! Drift (pure): does a live object still hold everything ferry applied? Fields others added
//! (defaults, status, other managers' fields) are not drift; a changed or missing field is.

use serde_json::Value;

/// The first path where `live` does not carry `applied`'s value, or None when it does.
pub fn first_difference(applied: &Value, live: &Value) -> Option<String> {
    diff(applied, live, String::new())
}

fn diff(applied: &Value, live: &Value, path: String) -> Option<String> {
    match (applied, live) {
        (Value::Object(a), Value::Object(l)) => {
            for (k, av) in a {
                if path.is_empty() && k == "status" {
                    continue;
                }
                let child = format!("{path}.{k}");
                match l.get(k) {
                    Some(lv) => {
                        if let Some(d) = diff(av, lv, child) {
                            return Some(d);
                        }
                    }
                    None if av.is_null() => {}
                    None => return Some(child),
                }
            }
            None
        }
        (Value::Array(a), Value::Array(l)) => {
            if a.len() != l.len() {
                return Some(path);
            }
            a.iter()
                .zip(l)
                .enumerate()
                .find_map(|(i, (av, lv))| diff(av, lv, format!("{path}[{i}]")))
        }
        (a, l) if a == l => None,
        // Integers and their string forms (ports, quantities) compare by text.
        (a, l)
            if a.as_str()
                .map(str::to_string)
                .or_else(|| a.as_i64().map(|n| n.to_string()))
                == l.as_str()
                    .map(str::to_string)
                    .or_else(|| l.as_i64().map(|n| n.to_string()))
                && !a.is_null() =>
        {
            None
        }
        _ => Some(if path.is_empty() { ".".into() } else { path }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_live_fields_are_not_drift() {
        let applied = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let live = json!({"spec": {"replicas": 1, "paused": false, "template": {"spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always"}]}}}, "status": {}});
        assert_eq!(first_difference(&applied, &live), None);
    }

    #[test]
    fn changed_or_missing_fields_are_drift() {
        let applied = json!({"spec": {"replicas": 1}, "data": {"a": "1"}});
        assert_eq!(
            first_difference(
                &applied,
                &json!({"spec": {"replicas": 3}, "data": {"a": "1"}})
            ),
            Some(".spec.replicas".into())
        );
        assert_eq!(
            first_difference(&applied, &json!({"spec": {"replicas": 1}, "data": {}})),
            Some(".data.a".into())
        );
        let list = json!({"l": [1, 2]});
        assert_eq!(
            first_difference(&list, &json!({"l": [1]})),
            Some(".l".into())
        );
    }
}
