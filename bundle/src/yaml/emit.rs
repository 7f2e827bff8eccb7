//! A small YAML writer for ferry's own documents (the signed `bundle.yaml`): block mappings and
//! sequences, strings plain only when unambiguous and double-quoted (JSON escapes) otherwise, so
//! what is written reads back as the same value under go-yaml's YAML 1.1 rules (`"yes"` and
//! `"0644"` stay strings) and the bytes are deterministic.

use serde::Serialize;
use serde_json::Value;

/// Writes `value` as YAML. Serializing plain structs cannot fail; a value serde_json cannot
/// represent becomes `null`.
pub fn to_string<T: Serialize>(value: &T) -> String {
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut out = String::new();
    match &value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::String(s) => text(s),
        other => other.to_string(),
    }
}

/// A string plain when it is unambiguous (simple characters, read back as the same string under
/// go-yaml's rules), double-quoted otherwise.
fn text(s: &str) -> String {
    let simple = s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./+-".contains(c))
        && super::resolve::resolve_plain(s) == super::resolve::Scalar::Str(s.to_string());
    if simple {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty())
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first key of a sequence item follows its `- ` on the same line.
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&text(k));
        out.push(':');
        write_child(out, v, indent);
    }
}

fn write_seq(out: &mut String, a: &[Value], indent: usize) {
    for v in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push(' ');
                write_map(out, m, indent + 2);
            }
            _ => write_child(out, v, indent),
        }
    }
}

fn write_child(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if is_block(v) => {
            out.push('\n');
            write_map(out, m, indent + 2);
        }
        Value::Array(a) if is_block(v) => {
            out.push('\n');
            write_seq(out, a, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}
