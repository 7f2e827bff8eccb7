//! Render: bundle files -> objects. Multi-document YAML, `v1/List` flattened, device variables
//! substituted (`${NAME}`, `${NAME:=default}`, `$${...}` for a literal), every object checked
//! for apiVersion, kind and name, errors naming file and document index. Pure.

use serde_json::Value;
use std::collections::BTreeMap;
use thiserror::Error;

/// A rendered object before scope resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    pub origin: String,
    pub api_version: String,
    pub kind: String,
    pub value: Value,
}

/// Why a bundle's content cannot become objects.
#[derive(Debug, Error, PartialEq)]
pub enum RenderError {
    #[error("{file}: not UTF-8")]
    NotUtf8 { file: String },
    #[error("{file}: undefined variable ${{{var}}} (define it under device.vars or use ${{{var}:=default}})")]
    UndefinedVariable { file: String, var: String },
    #[error("{file}: unterminated ${{ in variable reference")]
    Unterminated { file: String },
    #[error("{file}#{index}: invalid YAML: {reason}")]
    Yaml {
        file: String,
        index: usize,
        reason: String,
    },
    #[error("{file}#{index}: not an object")]
    NotAnObject { file: String, index: usize },
    #[error("{file}#{index}: missing or empty {field}")]
    Missing {
        file: String,
        index: usize,
        field: &'static str,
    },
    #[error("{file}#{index}: invalid name {name:?} for {kind}")]
    InvalidName {
        file: String,
        index: usize,
        kind: String,
        name: String,
    },
    #[error("{file}#{index}: {kind}/{name} is also defined in {other}")]
    Duplicate {
        file: String,
        index: usize,
        kind: String,
        name: String,
        other: String,
    },
    #[error("{file}#{index}: object is {size} bytes, above the limit of {max}")]
    TooLarge {
        file: String,
        index: usize,
        size: usize,
        max: usize,
    },
    #[error("{file}: more than {max} documents")]
    TooManyDocuments { file: String, max: usize },
}

/// Largest object kube-apiserver stores (etcd's request limit is 1.5 MiB).
pub const MAX_OBJECT_BYTES: usize = 1_572_864;
const MAX_DOCUMENTS_PER_FILE: usize = 10_000;

/// True for files rendered as manifests.
pub fn is_manifest_file(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml") || path.ends_with(".json")
}

/// Substitutes `${VAR}` references from `vars`.
pub fn substitute(
    file: &str,
    text: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| RenderError::Unterminated { file: file.into() })?;
            let expr = &tail[..end];
            let (name, default) = match expr.split_once(":=") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            let valid =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                // Not a variable reference (e.g. shell code in a ConfigMap): keep as is.
                out.push_str("${");
                rest = tail;
                continue;
            }
            match vars.get(name).map(String::as_str).or(default) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(RenderError::UndefinedVariable {
                        file: file.into(),
                        var: name.into(),
                    })
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders one file's bytes into objects.
pub fn render_file(
    file: &str,
    bytes: &[u8],
    vars: &BTreeMap<String, String>,
) -> Result<Vec<RenderedObject>, RenderError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| RenderError::NotUtf8 { file: file.into() })?;
    let text = substitute(file, text, vars)?;
    let mut out = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
        if index >= MAX_DOCUMENTS_PER_FILE {
            return Err(RenderError::TooManyDocuments {
                file: file.into(),
                max: MAX_DOCUMENTS_PER_FILE,
            });
        }
        let value: Value = serde::Deserialize::deserialize(doc).map_err(|e| RenderError::Yaml {
            file: file.into(),
            index,
            reason: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        if value["kind"] == "List" && value["items"].is_array() {
            let mut value = value; // the items are moved out, not copied
            for item in value["items"]
                .as_array_mut()
                .map(std::mem::take)
                .into_iter()
                .flatten()
            {
                out.push(check(file, index, item)?);
            }
        } else {
            out.push(check(file, index, value)?);
        }
    }
    Ok(out)
}

fn check(file: &str, index: usize, value: Value) -> Result<RenderedObject, RenderError> {
    if !value.is_object() {
        return Err(RenderError::NotAnObject {
            file: file.into(),
            index,
        });
    }
    let field = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let api_version = field(&value["apiVersion"]).ok_or(RenderError::Missing {
        file: file.into(),
        index,
        field: "apiVersion",
    })?;
    let kind = field(&value["kind"]).ok_or(RenderError::Missing {
        file: file.into(),
        index,
        field: "kind",
    })?;
    let name = field(&value["metadata"]["name"]).ok_or(RenderError::Missing {
        file: file.into(),
        index,
        field: "metadata.name",
    })?;
    if !is_dns_subdomain(&name) {
        return Err(RenderError::InvalidName {
            file: file.into(),
            index,
            kind,
            name,
        });
    }
    let size = serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(0);
    if size > MAX_OBJECT_BYTES {
        return Err(RenderError::TooLarge {
            file: file.into(),
            index,
            size,
            max: MAX_OBJECT_BYTES,
        });
    }
    Ok(RenderedObject {
        origin: format!("{file}#{index}"),
        api_version,
        kind,
        value,
    })
}

/// DNS-1123 subdomain, the rule most object names follow.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && p.as_bytes()[0].is_ascii_alphanumeric()
                && p.as_bytes()[p.len() - 1].is_ascii_alphanumeric()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("DEVICE_ID".to_string(), "edge-7".to_string())].into()
    }

    #[test]
    fn substitution_forms() {
        assert_eq!(
            substitute("f", "id=${DEVICE_ID}", &vars()).unwrap(),
            "id=edge-7"
        );
        assert_eq!(substitute("f", "${SITE:=lab}", &vars()).unwrap(), "lab");
        assert_eq!(
            substitute("f", "$${DEVICE_ID} $HOME ${a b}", &vars()).unwrap(),
            "${DEVICE_ID} $HOME ${a b}"
        );
        assert_eq!(
            substitute("f", "${NOPE}", &vars()).unwrap_err(),
            RenderError::UndefinedVariable {
                file: "f".into(),
                var: "NOPE".into()
            }
        );
    }

    /// Replays the render fuzz seeds (and crashes saved there as regressions).
    #[test]
    fn fuzz_seeds_render_without_panicking() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/render");
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let data = std::fs::read(e.path()).unwrap();
            let _ = render_file("seed.yaml", &data, &vars());
        }
    }

    #[test]
    fn multi_document_lists_and_errors() {
        let y = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s\n";
        let objs = render_file("x.yaml", y, &vars()).unwrap();
        assert_eq!(
            objs.iter().map(|o| o.kind.as_str()).collect::<Vec<_>>(),
            ["ConfigMap", "Secret"]
        );
        assert_eq!(objs[1].origin, "x.yaml#2");
        let e = render_file(
            "x.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
            &vars(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "x.yaml#0: missing or empty metadata.name");
        let e =
            render_file("x.yaml", b"kind: ConfigMap\nmetadata: {name: a}\n", &vars()).unwrap_err();
        assert!(matches!(
            e,
            RenderError::Missing {
                field: "apiVersion",
                ..
            }
        ));
        let e = render_file(
            "x.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n",
            &vars(),
        )
        .unwrap_err();
        assert!(matches!(e, RenderError::InvalidName { .. }));
        let e = render_file("x.yaml", b"a: [1\n", &vars()).unwrap_err();
        assert!(matches!(e, RenderError::Yaml { index: 0, .. }));
        let e = render_file("x.yaml", &[0xff, 0xfe], &vars()).unwrap_err();
        assert!(matches!(e, RenderError::NotUtf8 { .. }));
        let e = render_file("x.yaml", b"- 1\n- 2\n", &vars()).unwrap_err();
        assert!(matches!(e, RenderError::NotAnObject { .. }));
    }
}
