//! Render: bundle files -> objects, shared by the device (ferry-agent) and the publisher
//! (`ferry-bundle build` checks a bundle's content the way a device will read it).
//!
//! Each file is read as kubectl reads it ([`crate::yaml`]), document by document; a document is
//! substituted ([`substitute`]) unless it opts out with the annotation [`SUBSTITUTE_ANNOTATION`]
//! `: disabled`, then read again; `v1/List` is flattened; every object is checked for
//! apiVersion, kind and a name valid for its kind ([`names`]). Errors name the file and
//! document. Pure.

pub mod names;
pub mod substitute;

pub use substitute::{SubstituteError, Substitution};

use crate::yaml::{Budget, Reader, Stream, YamlError};
use serde_json::Value;
use std::collections::BTreeMap;
use thiserror::Error;

/// An object annotated `ferry.dev/substitute: disabled` is not substituted (like Flux's
/// `kustomize.toolkit.fluxcd.io/substitute: disabled`).
pub const SUBSTITUTE_ANNOTATION: &str = "ferry.dev/substitute";

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
    #[error(transparent)]
    Parse(#[from] YamlError),
    #[error("{file}#{index}: {source}")]
    Substitute {
        file: String,
        index: usize,
        source: SubstituteError,
    },
    #[error("{file}#{index}: not an object")]
    NotAnObject { file: String, index: usize },
    #[error("{file}#{index}: missing or empty {field}")]
    Missing {
        file: String,
        index: usize,
        field: &'static str,
    },
    #[error("{file}#{index}: invalid name {name:?} for {kind}: {reason}")]
    InvalidName {
        file: String,
        index: usize,
        kind: String,
        name: String,
        reason: &'static str,
    },
    #[error("{file}#{index}: object is {size} bytes, above the limit of {max}")]
    TooLarge {
        file: String,
        index: usize,
        size: usize,
        max: usize,
    },
}

/// Largest object kube-apiserver stores (etcd's request limit is 1.5 MiB).
pub const MAX_OBJECT_BYTES: usize = 1_572_864;
/// Most documents one file may hold.
pub const MAX_DOCUMENTS_PER_FILE: usize = 10_000;

/// True for files rendered as manifests.
pub fn is_manifest_file(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml") || path.ends_with(".json")
}

/// Renders one file's bytes with `vars`, leaving undefined variables as they are.
pub fn render_file(
    file: &str,
    bytes: &[u8],
    vars: &BTreeMap<String, String>,
) -> Result<Vec<RenderedObject>, RenderError> {
    render_file_with(
        file,
        bytes,
        &Substitution {
            vars,
            strict: false,
        },
    )
}

/// Renders one file's bytes into objects.
pub fn render_file_with(
    file: &str,
    bytes: &[u8],
    how: &Substitution,
) -> Result<Vec<RenderedObject>, RenderError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| RenderError::NotUtf8 { file: file.into() })?;
    let budget = Budget {
        max_documents: MAX_DOCUMENTS_PER_FILE,
        ..Budget::default()
    };
    let mut reader = Reader::new(file, &budget);
    let mut out = Vec::new();
    match reader.split(text)? {
        Stream::Json(json) => {
            let plain = reader.json(json)?;
            let substituted = if json.contains("${") && !plain.iter().all(opted_out) {
                let text = substitute::substitute(json, how).map_err(|source| {
                    RenderError::Substitute {
                        file: file.into(),
                        index: 0,
                        source,
                    }
                })?;
                Reader::new(file, &budget).json(&text)?
            } else {
                plain.clone()
            };
            for (index, (p, s)) in plain.into_iter().zip(substituted).enumerate() {
                let value = if opted_out(&p) { p } else { s };
                push(file, index, value, &mut out)?;
            }
        }
        Stream::Yaml(chunks) => {
            for (index, chunk) in chunks.into_iter().enumerate() {
                let value = yaml_document(&mut reader, file, index, chunk, how)?;
                push(file, index, value, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// Renders documents that were read already (a SOPS file's decrypted documents): no
/// substitution (device variables never reach secret values), the same checks as a file.
pub fn render_documents(
    file: &str,
    documents: Vec<Value>,
) -> Result<Vec<RenderedObject>, RenderError> {
    let mut out = Vec::new();
    for (index, value) in documents.into_iter().enumerate() {
        push(file, index, value, &mut out)?;
    }
    Ok(out)
}

/// One YAML document: read as written to see its opt-out annotation, then substituted and read
/// again. A document that reads only once substituted (`{a: ${X}}` in flow style) cannot opt out.
fn yaml_document(
    reader: &mut Reader,
    file: &str,
    index: usize,
    chunk: &str,
    how: &Substitution,
) -> Result<Value, RenderError> {
    let substituted = |chunk: &str| {
        substitute::substitute(chunk, how).map_err(|source| RenderError::Substitute {
            file: file.into(),
            index,
            source,
        })
    };
    if !chunk.contains('$') {
        return Ok(reader.document(index, chunk)?);
    }
    match reader.document(index, chunk) {
        Ok(value) if opted_out(&value) => Ok(value),
        Ok(value) => {
            let text = substituted(chunk)?;
            if text == chunk {
                return Ok(value);
            }
            Ok(reader.document(index, &text)?)
        }
        Err(_) => Ok(reader.document(index, &substituted(chunk)?)?),
    }
}

fn opted_out(value: &Value) -> bool {
    value["metadata"]["annotations"][SUBSTITUTE_ANNOTATION] == "disabled"
}

fn push(
    file: &str,
    index: usize,
    value: Value,
    out: &mut Vec<RenderedObject>,
) -> Result<(), RenderError> {
    if value.is_null() {
        return Ok(());
    }
    if value["kind"] == "List" && value["items"].is_array() {
        if let Value::Object(mut list) = value {
            if let Some(Value::Array(items)) = list.remove("items") {
                for item in items {
                    out.push(check(file, index, item)?);
                }
            }
        }
        return Ok(());
    }
    out.push(check(file, index, value)?);
    Ok(())
}

fn check(file: &str, index: usize, value: Value) -> Result<RenderedObject, RenderError> {
    if !value.is_object() {
        return Err(RenderError::NotAnObject {
            file: file.into(),
            index,
        });
    }
    let field = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let missing = |field| RenderError::Missing {
        file: file.into(),
        index,
        field,
    };
    let api_version = field(&value["apiVersion"]).ok_or_else(|| missing("apiVersion"))?;
    let kind = field(&value["kind"]).ok_or_else(|| missing("kind"))?;
    let name = field(&value["metadata"]["name"]).ok_or_else(|| missing("metadata.name"))?;
    if let Some(reason) = names::check(names::rule_for(&api_version, &kind), &name) {
        return Err(RenderError::InvalidName {
            file: file.into(),
            index,
            kind,
            name: crate::text::shown(&name),
            reason,
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

#[cfg(test)]
mod tests;
