//! JSON patch (RFC 6902): `add`, `remove`, `replace`, `move`, `copy` and `test` operations on
//! JSON pointers (RFC 6901), as the real server applies `application/json-patch+json`.

use serde_json::Value;

/// At most this many operations per patch (the real server's limit is 10000).
const MAX_OPERATIONS: usize = 10_000;

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {pointer:?}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in path {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("missing path element {t:?}"))?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| format!("invalid index {t:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("index {i} out of range"))?
            }
            _ => return Err(format!("cannot traverse into {t:?}")),
        };
    }
    Ok(cur)
}

fn get(doc: &Value, pointer: &str) -> Result<Value, String> {
    doc.pointer(pointer)
        .cloned()
        .ok_or_else(|| format!("path {pointer:?} not found"))
}

fn add(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let t = tokens(pointer)?;
    let Some((last, path)) = t.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse()
                    .map_err(|_| format!("invalid index {last:?}"))?
            };
            if i > a.len() {
                return Err(format!("index {i} out of range"));
            }
            a.insert(i, value);
        }
        _ => return Err(format!("cannot add at {pointer:?}")),
    }
    Ok(())
}

fn remove(doc: &mut Value, pointer: &str) -> Result<Value, String> {
    let t = tokens(pointer)?;
    let (last, path) = t.split_last().ok_or("cannot remove the whole document")?;
    match parent(doc, path)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("path {pointer:?} not found")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid index {last:?}"))?;
            if i >= a.len() {
                return Err(format!("index {i} out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("cannot remove {pointer:?}")),
    }
}

/// Applies the patch (an array of operations) to `doc`.
pub fn apply(doc: &mut Value, patch: &Value) -> Result<(), String> {
    let ops = patch
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    if ops.len() > MAX_OPERATIONS {
        return Err(format!(
            "the JSON patch has {} operations, more than {MAX_OPERATIONS}",
            ops.len()
        ));
    }
    for op in ops {
        let path = op["path"].as_str().ok_or("operation without a path")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("{} operation without a value", op["op"]))
        };
        match op["op"].as_str() {
            Some("add") => add(doc, path, value()?)?,
            Some("remove") => {
                remove(doc, path)?;
            }
            Some("replace") => {
                remove(doc, path)?;
                add(doc, path, value()?)?;
            }
            Some("move") => {
                let from = op["from"].as_str().ok_or("move without from")?;
                let v = remove(doc, from)?;
                add(doc, path, v)?;
            }
            Some("copy") => {
                let from = op["from"].as_str().ok_or("copy without from")?;
                let v = get(doc, from)?;
                add(doc, path, v)?;
            }
            Some("test") => {
                if get(doc, path)? != value()? {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unknown JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc6902_operations() {
        let mut d = json!({"a": {"b": [1, 2]}, "c/d": 1});
        apply(
            &mut d,
            &json!([
                {"op": "add", "path": "/a/b/1", "value": 9},
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "replace", "path": "/c~1d", "value": 2},
                {"op": "copy", "from": "/c~1d", "path": "/e"},
                {"op": "move", "from": "/e", "path": "/f"},
                {"op": "test", "path": "/f", "value": 2},
                {"op": "remove", "path": "/a/b/0"}
            ]),
        )
        .expect("applies");
        assert_eq!(d, json!({"a": {"b": [9, 2, 3]}, "c/d": 2, "f": 2}));
        assert!(apply(&mut d, &json!([{"op": "test", "path": "/f", "value": 3}])).is_err());
        assert!(apply(&mut d, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }
}
