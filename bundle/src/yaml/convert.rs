//! sigs.k8s.io/yaml's conversion of go-yaml values to JSON: merge keys applied, keys named as
//! strings (`1` -> `"1"`, `y` -> `"true"`), floats written as Go writes them.

use super::resolve::{go_float32_key, Scalar};
use serde_json::{Map, Number, Value};

/// A finished node before it is placed in its parent.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Scalar { scalar: Scalar, merge_key: bool },
    Value(Value),
}

/// A mapping key: the merge key `<<`, or a name as sigs.k8s.io/yaml writes it.
pub(super) enum Key {
    Merge,
    Name(String),
}

/// go-yaml's merge: a mapping, or a sequence of mappings where earlier ones win; merged keys
/// override keys set before the `<<` and are overridden by keys after it.
pub(super) fn merge(map: &mut Map<String, Value>, node: Node) -> Result<(), String> {
    const WANT: &str = "map merge requires map or sequence of maps as the value";
    match node {
        Node::Value(Value::Object(source)) => {
            map.extend(source);
            Ok(())
        }
        Node::Value(Value::Array(items)) => {
            if !items.iter().all(Value::is_object) {
                return Err(WANT.into());
            }
            for item in items.into_iter().rev() {
                if let Value::Object(source) = item {
                    map.extend(source);
                }
            }
            Ok(())
        }
        _ => Err(WANT.into()),
    }
}

pub(super) fn to_key(node: Node) -> Result<Key, String> {
    match node {
        Node::Scalar {
            merge_key: true, ..
        } => Ok(Key::Merge),
        Node::Scalar { scalar, .. } => match scalar {
            Scalar::Str(s) => Ok(Key::Name(s)),
            Scalar::Int(i) => Ok(Key::Name(i.to_string())),
            Scalar::Float(f) => Ok(Key::Name(go_float32_key(f))),
            Scalar::Bool(b) => Ok(Key::Name(b.to_string())),
            Scalar::Null => Err("unsupported map key: null".into()),
            Scalar::Uint(_) | Scalar::BigInt(_) => {
                Err("unsupported map key: integer past 64 bits".into())
            }
        },
        Node::Value(_) => Err("invalid map key: a mapping or sequence".into()),
    }
}

pub(super) fn to_value(node: Node) -> Result<Value, String> {
    let scalar = match node {
        Node::Value(v) => return Ok(v),
        Node::Scalar { scalar, .. } => scalar,
    };
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::from(i),
        Scalar::Uint(u) => Value::from(u),
        Scalar::Str(s) => Value::String(s),
        // JSON has no big integers: the API server reads them as floats.
        Scalar::BigInt(text) => float_value(text.parse().unwrap_or(f64::INFINITY))?,
        Scalar::Float(f) => float_value(f)?,
    })
}

/// A float as Go's encoding/json writes it and the API server reads it back: integral values
/// in the int64 range become integers; NaN and infinities are refused (json.Marshal fails).
fn float_value(f: f64) -> Result<Value, String> {
    if !f.is_finite() {
        return Err(format!(
            "unsupported value {f} (JSON has no NaN or infinity)"
        ));
    }
    if f.fract() == 0.0 && f.abs() < 9.223_372_036_854_775e18 {
        return Ok(Value::from(f as i64));
    }
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("unsupported value {f}"))
}

pub(super) fn decode_binary(text: &str) -> Option<String> {
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
