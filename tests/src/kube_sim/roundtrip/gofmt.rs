//! How `field.Invalid` renders a bad value in Go: `%q` for strings, `%v` for numbers and
//! booleans, `%#v` for structs (`v1.LabelSelector{MatchLabels:map[string]string{...}, ...}`),
//! and `null` for nil pointers.

use serde_json::Value;

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A string field (`%q`).
pub fn string(v: &Value) -> String {
    match v {
        Value::Null => "\"\"".into(),
        Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

/// A number, boolean or nil pointer (`%v`, `null`).
pub fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

/// `[]string{"a", "b"}` or `[]string(nil)`.
pub fn string_slice(v: &Value) -> String {
    match v.as_array() {
        None => "[]string(nil)".into(),
        Some(items) => {
            let parts: Vec<String> = items.iter().map(string).collect();
            format!("[]string{{{}}}", parts.join(", "))
        }
    }
}

fn string_map(v: &Value) -> String {
    match v.as_object() {
        None => "map[string]string(nil)".into(),
        Some(m) => {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{}:{}", quote(k), string(v))).collect();
            format!("map[string]string{{{}}}", parts.join(", "))
        }
    }
}

/// `%#v` of a `metav1.LabelSelector` (after the pointer is dereferenced).
pub fn label_selector(v: &Value) -> String {
    if v.is_null() {
        return "null".into();
    }
    let expressions = match v["matchExpressions"].as_array() {
        None => "[]v1.LabelSelectorRequirement(nil)".into(),
        Some(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|r| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        string(&r["key"]),
                        string(&r["operator"]),
                        string_slice(&r["values"])
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        string_map(&v["matchLabels"]),
        expressions
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_print_like_go() {
        assert_eq!(
            label_selector(&json!({"matchLabels": {"app": "web2"}})),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
        assert_eq!(
            label_selector(&json!({"matchExpressions": [{"key": "k", "operator": "In", "values": ["a", "b"]}]})),
            r#"v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"k", Operator:"In", Values:[]string{"a", "b"}}}}"#
        );
        assert_eq!(string_slice(&json!(["10.43.0.5"])), r#"[]string{"10.43.0.5"}"#);
    }
}
