//! How `field.Invalid` renders a bad value (apimachinery v0.37.2 `field.Error.ErrorBody`):
//! `%q` for strings, `%v` for numbers and booleans, and `json.Marshal` of anything else
//! (`{"matchLabels":{"app":"web2"}}`, `["10.43.0.5"]`, `null` for nil pointers and slices).
//! Go marshals struct fields in declaration order, so structs are written field by field.

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

/// `json.Marshal` of a value whose JSON has no struct with several fields (slices, maps):
/// `["a","b"]`, `null`.
pub fn json(v: &Value) -> String {
    v.to_string()
}

/// A struct's JSON: `fields` in Go's declaration order, `omitempty` ones left out when absent.
fn go_struct(v: &Value, fields: &[&str]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|f| v.get(*f).map(|x| format!("{}:{}", quote(f), x)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// `json.Marshal` of a `*metav1.LabelSelector`.
pub fn label_selector(v: &Value) -> String {
    if v.is_null() {
        return "null".into();
    }
    let mut parts = Vec::new();
    if let Some(m) = v.get("matchLabels") {
        parts.push(format!("\"matchLabels\":{m}"));
    }
    if let Some(items) = v.get("matchExpressions").and_then(Value::as_array) {
        let reqs: Vec<String> = items
            .iter()
            .map(|r| go_struct(r, &["key", "operator", "values"]))
            .collect();
        parts.push(format!("\"matchExpressions\":[{}]", reqs.join(",")));
    }
    format!("{{{}}}", parts.join(","))
}

/// A value of an internal type (`core.PodTemplateSpec`, `[]core.PersistentVolumeClaim`): the
/// real server marshals the internal Go struct, whose fields carry no json tags (`"Spec":
/// {"Containers": [...]}`) except the embedded ObjectMeta's, flattened. kube-sim writes that
/// metadata and abbreviates the rest: `{"name":"data",...}`.
pub fn internal_object(metadata: &Value) -> String {
    let meta = go_struct(
        metadata,
        &[
            "name",
            "generateName",
            "namespace",
            "uid",
            "labels",
            "annotations",
        ],
    );
    match meta.strip_suffix('}') {
        Some(head) if head.len() > 1 => format!("{head},...}}"),
        _ => "{...}".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_print_as_json_marshal_prints_them() {
        assert_eq!(
            label_selector(&json!({"matchLabels": {"app": "web2"}})),
            r#"{"matchLabels":{"app":"web2"}}"#
        );
        assert_eq!(
            label_selector(
                &json!({"matchExpressions": [{"values": ["a", "b"], "operator": "In", "key": "k"}]})
            ),
            r#"{"matchExpressions":[{"key":"k","operator":"In","values":["a","b"]}]}"#
        );
        assert_eq!(json(&json!(["10.43.0.5"])), r#"["10.43.0.5"]"#);
        assert_eq!(json(&Value::Null), "null");
        assert_eq!(
            internal_object(&json!({"name": "data"})),
            r#"{"name":"data",...}"#
        );
        assert_eq!(internal_object(&json!({})), "{...}");
    }
}
