//! SOPS files for age recipients, read as the real `sops` CLI writes them (YAML, JSON, dotenv
//! and binary, see [`flat`]):
//! the data key unwrapped with the device's age identities ([`age`]), every value decrypted
//! with its key path as additional data ([`cipher`]), and the file's MAC (SHA-512 over the
//! values in document order, stored encrypted with `lastmodified` as additional data) checked
//! before anything is returned. Written from sops's `sops.go`, `aes/cipher.go` and `stores/`.
//!
//! Pure: bytes and identities in, JSON documents out. Plaintext lives in [`Decrypted`], whose
//! strings are wiped when it is dropped; errors never carry a value, only paths and names.
//! The publisher (`ferry-bundle build`/`inspect`) uses [`inspect`] without any key.

pub mod age;
mod bech32;
pub mod cipher;
pub mod flat;
pub mod generator;
pub mod meta;
pub mod pattern;
pub mod publish;
pub mod tree;
mod walk;

pub use age::{parse_identities, AgeError, Identity};
pub use flat::Format;
pub use meta::Metadata;

use crate::yaml::Budget;
use serde_json::Value;
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

/// Most recipients named in one error.
const MAX_NAMED: usize = 16;

/// Why a sops file could not be used. No variant carries a plaintext value.
#[derive(Debug, Error, PartialEq)]
pub enum SopsError {
    #[error("{file}: not a sops file (no `sops` metadata)")]
    NotSops { file: String },
    #[error("{file}: malformed sops file: {reason}")]
    Malformed { file: String, reason: String },
    #[error("{file}: unsupported sops file: {reason}")]
    Unsupported { file: String, reason: String },
    #[error(
        "{file}: no age identity of this device decrypts it; it is encrypted for {}",
        named(recipients)
    )]
    NoIdentity {
        file: String,
        recipients: Vec<String>,
    },
    #[error("{file}: the data key wrapped for {recipient} fails: {reason}")]
    DataKey {
        file: String,
        recipient: String,
        reason: String,
    },
    #[error(
        "{file}: the value at {path} fails authentication (tampered, or moved from another path)"
    )]
    TamperedValue { file: String, path: String },
    #[error(
        "{file}: MAC mismatch: a value was changed, added or removed after sops encrypted the file"
    )]
    MacMismatch { file: String },
}

fn named(recipients: &[String]) -> String {
    if recipients.is_empty() {
        return "no age recipient".into();
    }
    let mut out: Vec<String> = recipients
        .iter()
        .take(MAX_NAMED)
        .map(|r| crate::text::shown(r))
        .collect();
    if recipients.len() > MAX_NAMED {
        out.push(format!("and {} more", recipients.len() - MAX_NAMED));
    }
    out.join(", ")
}

/// The plaintext documents of one sops file (the `sops` key removed), with the data key.
/// Dropping it wipes every string in the documents.
pub struct Decrypted {
    pub documents: Vec<Value>,
    /// The file's data key (a secret only holders of an identity know; callers may derive
    /// keyed digests from it).
    pub key: Zeroizing<[u8; 32]>,
}

impl Drop for Decrypted {
    fn drop(&mut self) {
        for doc in &mut self.documents {
            wipe(doc);
        }
    }
}

/// Zeroes every string inside `value` (map keys stay).
pub fn wipe(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

/// What a publisher may know of a sops file without a key.
#[derive(Debug, Clone)]
pub struct Summary {
    pub recipients: Vec<String>,
    /// Key types other than age the file is also encrypted for.
    pub other: Vec<String>,
    pub last_modified: String,
}

/// A cheap test before parsing: sops files carry a `sops` key and a `mac`.
pub fn looks_like_sops(bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    (has(b"\nsops:") || bytes.starts_with(b"sops:") || has(b"\"sops\"")) && has(b"mac")
        || has(b"sops_mac=ENC[")
}

/// Parses a file in `format`.
fn parse(
    file: &str,
    bytes: &[u8],
    format: Format,
) -> Result<(Vec<tree::Node>, Metadata), SopsError> {
    let text = std::str::from_utf8(bytes).map_err(|_| SopsError::Malformed {
        file: file.into(),
        reason: "not UTF-8".into(),
    })?;
    let docs = match format {
        Format::Dotenv => flat::dotenv(text, &Budget::default()).map(|d| vec![d]),
        Format::Ini => {
            return Err(SopsError::Unsupported {
                file: file.into(),
                reason: "INI files".into(),
            })
        }
        _ => tree::parse(text, &Budget::default()),
    }
    .map_err(|reason| SopsError::Malformed {
        file: file.into(),
        reason,
    })?;
    let first = docs
        .first()
        .ok_or_else(|| SopsError::NotSops { file: file.into() })?;
    let meta = meta::read(first)
        .ok_or_else(|| SopsError::NotSops { file: file.into() })?
        .map_err(|(unsupported, reason)| {
            let file = file.into();
            match unsupported {
                true => SopsError::Unsupported { file, reason },
                false => SopsError::Malformed { file, reason },
            }
        })?;
    Ok((docs, meta))
}

/// Reads a sops file's metadata (no key needed), in the format its name gives (sops's rule,
/// [`Format::for_path`]). [`SopsError::NotSops`] for plain files.
pub fn inspect(file: &str, bytes: &[u8]) -> Result<Summary, SopsError> {
    inspect_as(file, bytes, Format::for_path(file))
}

/// [`inspect`] in a given format (sops's `--input-type`).
pub fn inspect_as(file: &str, bytes: &[u8], format: Format) -> Result<Summary, SopsError> {
    let (_, meta) = parse(file, bytes, format)?;
    Ok(Summary {
        recipients: meta.age.iter().map(|k| k.recipient.clone()).collect(),
        other: meta.other,
        last_modified: meta.last_modified,
    })
}

/// Decrypts a sops file with `identities`: data key, values, then the MAC, which must match
/// before anything is returned, in the format the file's name gives ([`Format::for_path`]).
/// A dotenv file gives one document, a mapping of strings.
pub fn decrypt(file: &str, bytes: &[u8], identities: &[Identity]) -> Result<Decrypted, SopsError> {
    decrypt_as(file, bytes, Format::for_path(file), identities)
}

/// [`decrypt`] in a given format (a Kustomize `envs` source is dotenv whatever its name).
pub fn decrypt_as(
    file: &str,
    bytes: &[u8],
    format: Format,
    identities: &[Identity],
) -> Result<Decrypted, SopsError> {
    let (docs, meta) = parse(file, bytes, format)?;
    let key = data_key(file, &meta, identities)?;
    let mut walker = walk::Walker::new(file, &meta, &key);
    let mut documents = Vec::with_capacity(docs.len());
    for doc in &docs {
        match walker.document(doc) {
            Ok(value) => documents.push(value),
            Err(e) => {
                documents.iter_mut().for_each(wipe);
                return Err(e);
            }
        }
    }
    let mac = walker.check_mac();
    // Built before the MAC verdict so that a mismatch wipes what was decrypted.
    let decrypted = Decrypted { documents, key };
    mac.map(|()| decrypted)
}

/// Decrypts a binary sops file (a JSON envelope whose `data` is the file) to its bytes, after
/// the MAC matches.
pub fn decrypt_binary(
    file: &str,
    bytes: &[u8],
    identities: &[Identity],
) -> Result<Zeroizing<Vec<u8>>, SopsError> {
    let (docs, meta) = parse(file, bytes, Format::Binary)?;
    let key = data_key(file, &meta, identities)?;
    let mut walker = walk::Walker::new(file, &meta, &key);
    let data = match docs.as_slice() {
        [doc] => walker.binary(doc)?,
        _ => {
            return Err(SopsError::Malformed {
                file: file.into(),
                reason: "a binary sops file is one JSON document".into(),
            })
        }
    };
    walker.check_mac().map(|()| data)
}

fn data_key(
    file: &str,
    meta: &Metadata,
    identities: &[Identity],
) -> Result<Zeroizing<[u8; 32]>, SopsError> {
    let recipients = || meta.age.iter().map(|k| k.recipient.clone()).collect();
    if meta.age.is_empty() {
        return Err(SopsError::Unsupported {
            file: file.into(),
            reason: if meta.other.is_empty() {
                "no age recipient".into()
            } else {
                format!(
                    "encrypted only for {} (no age recipient)",
                    meta.other.join(", ")
                )
            },
        });
    }
    for entry in &meta.age {
        match age::decrypt(entry.enc.as_bytes(), identities) {
            Ok(payload) => {
                let key: [u8; 32] = payload[..].try_into().map_err(|_| SopsError::DataKey {
                    file: file.into(),
                    recipient: crate::text::shown(&entry.recipient),
                    reason: "the data key is not 32 bytes".into(),
                })?;
                return Ok(Zeroizing::new(key));
            }
            Err(AgeError::NoMatch) => continue,
            Err(e) => {
                // Our identity matched a stanza but the rest is broken: say so rather than
                // blaming the keys. A malformed entry for someone else's key is skipped.
                if matches!(e, AgeError::Tampered) {
                    return Err(SopsError::DataKey {
                        file: file.into(),
                        recipient: crate::text::shown(&entry.recipient),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
    Err(SopsError::NoIdentity {
        file: file.into(),
        recipients: recipients(),
    })
}

#[cfg(test)]
mod tests;
