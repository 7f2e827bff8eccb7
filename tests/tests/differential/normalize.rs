//! What of an answer is compared: the status code, the `Warning` headers and the body without
//! what two servers legitimately choose differently (uids, resourceVersions, timestamps,
//! `continue` tokens, allocated cluster IPs and node ports, generated names given as aliases),
//! and the structural walk that lists where two normalized answers differ.

use serde_json::{Map, Value};

/// Metadata fields dropped from every object (and from list metadata).
const DROPPED_METADATA: [&str; 3] = ["uid", "resourceVersion", "selfLink"];

/// Normalizes `v` in place. `aliases` are (value, placeholder) pairs replaced inside every
/// string (generated names, pod-template hashes).
pub fn normalize(v: &mut Value, aliases: &[(String, String)]) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(meta)) = map.get_mut("metadata") {
                for k in DROPPED_METADATA {
                    meta.remove(k);
                }
                if let Some(Value::String(c)) = meta.get_mut("continue") {
                    if !c.is_empty() {
                        *c = "<continue>".into();
                    }
                }
                if let Some(Value::Array(entries)) = meta.get("managedFields") {
                    let keyed = keyed_managed_fields(entries);
                    meta.insert("managedFields".into(), keyed);
                }
            }
            for (k, child) in map.iter_mut() {
                match (k.as_str(), &*child) {
                    ("clusterIP", Value::String(s)) if s != "None" && !s.is_empty() => {
                        *child = Value::String("<ip>".into());
                    }
                    ("clusterIPs", Value::Array(_)) => {
                        *child = Value::String("<ips>".into());
                    }
                    ("nodePort", Value::Number(_)) => *child = Value::String("<port>".into()),
                    _ => normalize(child, aliases),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| normalize(i, aliases)),
        Value::String(s) => *s = scrub(s, aliases),
        _ => {}
    }
}

/// managedFields as a map keyed `manager/operation[/subresource]`: the server sorts entries
/// by operation, time (seconds) and manager and leaves ties in map order, so two servers may
/// list the same entries in another order.
fn keyed_managed_fields(entries: &[Value]) -> Value {
    let mut out = Map::new();
    for e in entries {
        let mut key = format!(
            "{}/{}",
            e["manager"].as_str().unwrap_or(""),
            e["operation"].as_str().unwrap_or("")
        );
        if let Some(sub) = e["subresource"].as_str() {
            key = format!("{key}/{sub}");
        }
        let mut e = e.clone();
        if let Some(m) = e.as_object_mut() {
            m.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "apiVersion" | "fieldsType" | "fieldsV1" | "time"
                )
            });
        }
        out.insert(key, e);
    }
    Value::Object(out)
}

/// A string with UUIDs, RFC 3339 times and aliases replaced by placeholders.
pub fn scrub(s: &str, aliases: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if let Some(n) = uuid_at(&b[i..]) {
            out.push_str("<uid>");
            i += n;
        } else if let Some(n) = time_at(&b[i..]) {
            out.push_str("<time>");
            i += n;
        } else {
            let ch = s[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    aliases
        .iter()
        .fold(out, |acc, (from, to)| acc.replace(from.as_str(), to))
}

/// The length of a UUID (8-4-4-4-12 lowercase hex) at the start of `b`.
fn uuid_at(b: &[u8]) -> Option<usize> {
    const SHAPE: &[usize] = &[8, 4, 4, 4, 12];
    let mut i = 0;
    for (n, len) in SHAPE.iter().enumerate() {
        if n > 0 {
            (b.get(i) == Some(&b'-')).then_some(())?;
            i += 1;
        }
        for _ in 0..*len {
            b.get(i).filter(|c| c.is_ascii_hexdigit())?;
            i += 1;
        }
    }
    Some(i)
}

/// The length of an RFC 3339 time (`2026-12-07T21:13:40Z`, fractions or offsets) at the start.
fn time_at(b: &[u8]) -> Option<usize> {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    for (i, want) in shape.iter().enumerate() {
        let c = *b.get(i)?;
        let ok = if *want == b'd' {
            c.is_ascii_digit()
        } else {
            c == *want
        };
        ok.then_some(())?;
    }
    let mut i = shape.len();
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    match b.get(i) {
        Some(b'Z') => Some(i + 1),
        Some(b'+' | b'-') if b.len() >= i + 6 => Some(i + 6),
        _ => Some(i),
    }
}

/// One place where two normalized answers differ.
#[derive(Debug, Clone)]
pub struct Difference {
    /// `status`, `warnings` or `body.<path>` (`.name`, `[i]`).
    pub path: String,
    pub sim: Value,
    pub real: Value,
}

/// Every place where `sim` and `real` differ, below `path`.
pub fn differences(path: &str, sim: &Value, real: &Value, out: &mut Vec<Difference>) {
    match (sim, real) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let (x, y) = (field(a, k), field(b, k));
                differences(&format!("{path}.{k}"), &x, &y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if sim != real => out.push(Difference {
            path: path.to_string(),
            sim: sim.clone(),
            real: real.clone(),
        }),
        _ => {}
    }
}

/// A member of a map, `null` when absent (absent and `null` compare equal: Go omits both).
fn field(m: &Map<String, Value>, k: &str) -> Value {
    m.get(k).cloned().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uids_times_ips_and_aliases_are_placeholders() {
        let mut v = json!({
            "metadata": {"uid": "x", "resourceVersion": "1", "name": "web-5d8f9",
                         "creationTimestamp": "2026-12-07T21:13:40Z"},
            "spec": {"clusterIP": "10.43.1.2", "clusterIPs": ["10.43.1.2"],
                     "selector": {"controller-uid": "0a1b2c3d-0000-4111-8222-123456789abc"}},
            "msg": "at 2026-12-07T21:13:40.123456Z by web-5d8f9"
        });
        normalize(&mut v, &[("5d8f9".into(), "<hash>".into())]);
        assert_eq!(
            v,
            json!({
                "metadata": {"name": "web-<hash>", "creationTimestamp": "<time>"},
                "spec": {"clusterIP": "<ip>", "clusterIPs": "<ips>",
                         "selector": {"controller-uid": "<uid>"}},
                "msg": "at <time> by web-<hash>"
            })
        );
    }
}
