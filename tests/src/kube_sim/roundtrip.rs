//! The typed round trip of the real registry, as hooks of the write pipeline
//! (see [`super::store::write`]): field validation of the request body, normalization of the
//! object (defaulting, canonical values, Go `omitempty`), and validation against the old object
//! (immutable fields). This stub passes everything through unchanged; the round-trip work fills
//! it in.

use super::errors::ApiError;
use super::resources::ResourceType;
use serde_json::Value;

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Strict,
    #[default]
    Warn,
    Ignore,
}

impl FieldValidation {
    /// Parses the query value (`Strict`, `Warn`, `Ignore`; absent is `Warn`).
    pub fn parse(q: Option<&str>) -> Result<Self, ApiError> {
        match q {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn or Strict, got {other:?}"
            ))),
        }
    }
}

/// Hook 1: checks the decoded body (unknown and duplicate fields); returns the warnings to
/// send in `Warning` headers, or the 400 of `Strict`.
pub fn check_fields(
    _rt: &ResourceType,
    _body: &Value,
    _mode: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    Ok(Vec::new())
}

/// Hook 2: the object as the registry stores it (defaults, canonical quantities, omitempty,
/// server-owned metadata). `old` is the stored object on updates.
pub fn normalize(_rt: &ResourceType, _obj: &mut Value, _old: Option<&Value>) {}

/// Hook 3: validation errors (field path, message) of the normalized object against the old
/// one (immutable fields); empty when valid.
pub fn validate(_rt: &ResourceType, _obj: &Value, _old: Option<&Value>) -> Vec<(String, String)> {
    Vec::new()
}
