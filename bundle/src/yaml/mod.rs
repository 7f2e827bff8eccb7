//! The one YAML reader of the workspace, reading YAML as kubectl does, with a budget.
//!
//! kubectl (and kube-apiserver) read manifests with sigs.k8s.io/yaml over go-yaml v2: YAML 1.1
//! scalars (`yes`/`on`/`off` are booleans, `0644` is 420), `<<` merge keys, documents split on
//! `---` lines, a stream starting with `{` read as JSON. This module does the same on
//! granit-parser (the event parser under serde-saphyr, which kube's `config` feature already
//! brings), with its own composer ([`compose`]) and go-yaml's resolution table ([`resolve`]).
//! See `docs/bundle-format.md` ("How YAML is read") for the rules and the known differences.
//!
//! Every parse has a [`Budget`] (bytes, depth, nodes, nodes copied by aliases, documents): an
//! alias bomb, 100k-deep flow nesting or a huge document is refused with [`YamlError::Budget`]
//! naming the source, in time and memory bounded by the budget.

mod compose;
mod convert;
mod emit;
mod json;
pub mod resolve;

pub use emit::to_string;

use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

/// Bounds on one parse (one file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Largest input, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes (scalars and collections) in the result, aliases expanded.
    pub max_nodes: usize,
    /// Most nodes copied by aliases (the alias-bomb bound).
    pub max_alias_nodes: usize,
    /// Most documents in one file.
    pub max_documents: usize,
}

impl Default for Budget {
    /// Sized for real manifests (the largest CRD bundles have ~100k nodes) and a device with
    /// `MemoryMax=128M`: 500k nodes are ~50 MB of JSON values at worst.
    fn default() -> Self {
        Budget {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 200,
            max_nodes: 500_000,
            max_alias_nodes: 50_000,
            max_documents: 10_000,
        }
    }
}

impl Budget {
    /// The budget for small configuration files (agent config, `bundle.yaml`).
    pub fn small() -> Self {
        Budget {
            max_bytes: 1024 * 1024,
            max_depth: 32,
            max_nodes: 100_000,
            max_alias_nodes: 1_000,
            max_documents: 1,
        }
    }
}

/// Which bound of the [`Budget`] a parse hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Bytes(usize),
    Depth(usize),
    Nodes(usize),
    AliasNodes(usize),
    Documents(usize),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Bytes(n) => write!(f, "larger than {n} bytes"),
            Limit::Depth(n) => write!(f, "nested deeper than {n} levels"),
            Limit::Nodes(n) => write!(f, "more than {n} nodes"),
            Limit::AliasNodes(n) => write!(f, "aliases expand to more than {n} nodes"),
            Limit::Documents(n) => write!(f, "more than {n} documents"),
        }
    }
}

/// Why a YAML or JSON text was refused. `source` names the file; `document` counts from 0.
#[derive(Debug, Error, PartialEq)]
pub enum YamlError {
    #[error("{file}: not UTF-8")]
    NotUtf8 { file: String },
    #[error("{file}#{document}: over the parse budget: {limit} (line {line})")]
    Budget {
        file: String,
        document: usize,
        line: usize,
        limit: Limit,
    },
    #[error("{file}#{document}: invalid YAML at line {line} column {column}: {reason}")]
    Syntax {
        file: String,
        document: usize,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{file}#{document}: line {line}: {reason}")]
    Invalid {
        file: String,
        document: usize,
        line: usize,
        reason: String,
    },
    #[error("{file}#{document}: invalid JSON: {reason}")]
    Json {
        file: String,
        document: usize,
        reason: String,
    },
    #[error("{file}: invalid document separator {line:?} (only a comment may follow `---`)")]
    Separator { file: String, line: String },
    #[error("{file}: {reason}")]
    Shape { file: String, reason: String },
}

impl YamlError {
    fn budget(source: &str, document: usize, limit: Limit) -> Self {
        YamlError::Budget {
            file: source.into(),
            document,
            line: 0,
            limit,
        }
    }
}

/// Parses one YAML document (or JSON) into `T`, within `budget`, for ferry's own typed files
/// ([`resolve::Schema::Config`]). An empty text is `null`.
pub fn from_str_bounded<T: DeserializeOwned>(
    source: &str,
    text: &str,
    budget: &Budget,
) -> Result<T, YamlError> {
    let value = single(source, text, budget, resolve::Schema::Config)?;
    serde_json::from_value(value).map_err(|e| YamlError::Shape {
        file: source.into(),
        reason: crate::text::shown(&e.to_string()),
    })
}

/// [`from_str_bounded`] for bytes: refuses non-UTF-8 before anything else.
pub fn from_slice_bounded<T: DeserializeOwned>(
    source: &str,
    bytes: &[u8],
    budget: &Budget,
) -> Result<T, YamlError> {
    check_bytes(source, bytes.len(), budget)?;
    let text = std::str::from_utf8(bytes).map_err(|_| YamlError::NotUtf8 {
        file: source.into(),
    })?;
    from_str_bounded(source, text, budget)
}

/// Parses at most one document into a JSON value, as kubectl reads it.
pub fn value_from_str(source: &str, text: &str, budget: &Budget) -> Result<Value, YamlError> {
    single(source, text, budget, resolve::Schema::Kubectl)
}

fn single(
    source: &str,
    text: &str,
    budget: &Budget,
    schema: resolve::Schema,
) -> Result<Value, YamlError> {
    let mut docs = documents_in(source, text, budget, schema)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        _ => Err(YamlError::Shape {
            file: source.into(),
            reason: "more than one document".into(),
        }),
    }
}

/// Splits and parses a file as kubectl does: a text starting with `{` is a JSON stream, anything
/// else YAML documents separated by `---` lines. Empty documents come back as `Value::Null`
/// (kubectl skips them; so do callers).
pub fn documents(source: &str, text: &str, budget: &Budget) -> Result<Vec<Value>, YamlError> {
    documents_in(source, text, budget, resolve::Schema::Kubectl)
}

fn documents_in(
    source: &str,
    text: &str,
    budget: &Budget,
    schema: resolve::Schema,
) -> Result<Vec<Value>, YamlError> {
    let mut reader = Reader::new(source, budget);
    reader.schema = schema;
    match reader.split(text)? {
        Stream::Json(text) => reader.json(text),
        Stream::Yaml(chunks) => chunks
            .into_iter()
            .enumerate()
            .map(|(index, chunk)| reader.document(index, chunk))
            .collect(),
    }
}

/// A file split as kubectl splits it.
#[derive(Debug)]
pub enum Stream<'t> {
    /// A text starting with `{`: concatenated JSON values.
    Json(&'t str),
    /// YAML documents, one text each (separator lines removed, a leading BOM dropped).
    Yaml(Vec<&'t str>),
}

/// Reads one file document by document, charging one [`Budget`] across all of them (for
/// callers that look at each document before reading the next, e.g. render's substitution).
pub struct Reader<'s> {
    source: &'s str,
    left: Budget,
    schema: resolve::Schema,
}

impl<'s> Reader<'s> {
    pub fn new(source: &'s str, budget: &Budget) -> Self {
        Reader {
            source,
            left: *budget,
            schema: resolve::Schema::Kubectl,
        }
    }

    /// Checks the size and splits the text.
    pub fn split<'t>(&self, text: &'t str) -> Result<Stream<'t>, YamlError> {
        check_bytes(self.source, text.len(), &self.left)?;
        if text.trim_start().starts_with('{') {
            return Ok(Stream::Json(text));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let chunks = split_documents(self.source, text)?;
        if chunks.len() > self.left.max_documents {
            let limit = Limit::Documents(self.left.max_documents);
            return Err(YamlError::budget(self.source, chunks.len() - 1, limit));
        }
        Ok(Stream::Yaml(chunks))
    }

    /// Parses one YAML document (`index` names it in errors), charging the budget.
    pub fn document(&mut self, index: usize, text: &str) -> Result<Value, YamlError> {
        check_bytes(self.source, text.len(), &self.left)?;
        let (value, used) = compose::compose(self.source, index, text, &self.left, self.schema)?;
        self.left.max_nodes -= used.nodes;
        self.left.max_alias_nodes -= used.alias_nodes;
        Ok(value)
    }

    /// Parses a JSON stream within the budget.
    pub fn json(&mut self, text: &str) -> Result<Vec<Value>, YamlError> {
        json::stream(self.source, text, &self.left)
    }
}

fn check_bytes(source: &str, len: usize, budget: &Budget) -> Result<(), YamlError> {
    if len > budget.max_bytes {
        return Err(YamlError::budget(source, 0, Limit::Bytes(budget.max_bytes)));
    }
    Ok(())
}

/// apimachinery's `YAMLReader`: a line starting with `---` ends a document; only spaces and a
/// comment may follow it. Separator lines are not part of any document; empty chunks between
/// separators are dropped, as kubectl drops them.
fn split_documents<'t>(source: &str, text: &'t str) -> Result<Vec<&'t str>, YamlError> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
        let line = &text[pos..end];
        if let Some(rest) = line.strip_prefix("---") {
            let trimmed = rest.trim();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                return Err(YamlError::Separator {
                    file: source.into(),
                    line: crate::text::shown(line.trim_end()),
                });
            }
            if pos > start {
                chunks.push(&text[start..pos]);
            }
            start = end;
        }
        pos = end;
    }
    if text.len() > start {
        chunks.push(&text[start..]);
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests;
