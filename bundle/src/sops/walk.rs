//! The walk of `sops.go`'s `Tree.Decrypt`: every leaf in document order, its path (mapping keys
//! only; sequence items share their parent's path), decrypted where the file's rule says it
//! is encrypted, and fed to the MAC (all values, or only encrypted ones with
//! `mac_only_encrypted`; nulls never). Unencrypted scalars come out as kubectl reads them.

use super::cipher::{self, Plain, ValueError};
use super::meta::Metadata;
use super::tree::{is_null, Leaf, Node};
use super::SopsError;
use crate::yaml::resolve::{resolve_plain, Scalar};
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

/// sha256("sops"): the MAC's first input when only encrypted values count (sops.go).
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

pub(super) struct Walker<'a> {
    file: &'a str,
    meta: &'a Metadata,
    key: &'a [u8; 32],
    mac: Sha512,
    path: Vec<String>,
}

impl<'a> Walker<'a> {
    pub fn new(file: &'a str, meta: &'a Metadata, key: &'a [u8; 32]) -> Self {
        let mut mac = Sha512::new();
        if meta.mac_only_encrypted {
            mac.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        Walker {
            file,
            meta,
            key,
            mac,
            path: Vec::new(),
        }
    }

    fn malformed(&self, reason: String) -> SopsError {
        SopsError::Malformed {
            file: self.file.into(),
            reason,
        }
    }

    fn shown_path(&self) -> String {
        crate::text::shown(&self.path.join(":"))
    }

    /// One document, its top-level `sops` key left out.
    pub fn document(&mut self, doc: &Node) -> Result<Value, SopsError> {
        match doc {
            Node::Map(entries) => {
                let mut out = Map::new();
                for (k, v) in entries.iter().filter(|(k, _)| k != "sops") {
                    self.path.push(k.clone());
                    let value = self.node(v);
                    self.path.pop();
                    out.insert(k.clone(), value?);
                }
                Ok(Value::Object(out))
            }
            _ => Err(self.malformed("a document is not a mapping".into())),
        }
    }

    /// The `data` value of a binary file's envelope, as bytes (sops's `BinaryStore`).
    pub fn binary(&mut self, doc: &Node) -> Result<Zeroizing<Vec<u8>>, SopsError> {
        let Some(Node::Leaf(leaf)) = doc.get("data") else {
            return Err(self.malformed("a binary sops file without a `data` string".into()));
        };
        if let Node::Map(entries) = doc {
            if entries.iter().any(|(k, _)| k != "data" && k != "sops") {
                return Err(self.malformed("a binary sops file holds only `data`".into()));
            }
        }
        self.path.push("data".into());
        let encrypted = self.meta.rule.encrypts(&self.path);
        let plain = match encrypted {
            false => Ok(Zeroizing::new(leaf.text.clone().into_bytes())),
            true => cipher::decrypt_raw(&leaf.text, self.key, "data:")
                .map(|(bytes, _)| bytes)
                .map_err(|e| self.value_error(e)),
        };
        self.path.pop();
        let plain = plain?;
        if encrypted || !self.meta.mac_only_encrypted {
            self.mac.update(&plain[..]);
        }
        Ok(plain)
    }

    fn value_error(&self, e: ValueError) -> SopsError {
        match e {
            ValueError::Tampered => SopsError::TamperedValue {
                file: self.file.into(),
                path: self.shown_path(),
            },
            ValueError::Format(r) | ValueError::Type(r) => {
                self.malformed(format!("{}: {r}", self.shown_path()))
            }
        }
    }

    fn node(&mut self, node: &Node) -> Result<Value, SopsError> {
        match node {
            Node::Map(entries) => {
                let mut out = Map::new();
                for (k, v) in entries {
                    self.path.push(k.clone());
                    let value = self.node(v);
                    self.path.pop();
                    out.insert(k.clone(), value?);
                }
                Ok(Value::Object(out))
            }
            Node::Seq(items) => items
                .iter()
                .map(|item| self.node(item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Node::Leaf(leaf) => self.leaf(leaf),
        }
    }

    fn leaf(&mut self, leaf: &Leaf) -> Result<Value, SopsError> {
        if leaf.plain && leaf.tag.is_none() && is_null(&leaf.text) {
            return Ok(Value::Null);
        }
        let encrypted = self.meta.rule.encrypts(&self.path);
        if !encrypted {
            if !self.meta.mac_only_encrypted {
                let bytes = v3_bytes(leaf).map_err(|r| self.malformed(r))?;
                self.mac.update(&bytes[..]);
            }
            return kubectl_value(leaf).map_err(|r| self.malformed(r));
        }
        if leaf.plain && !matches!(v3_scalar(leaf), Scalar::Str(_)) {
            let path = self.shown_path();
            return Err(self.malformed(format!("{path}: expected an encrypted value")));
        }
        let aad = format!("{}:", self.path.join(":"));
        let plain = cipher::decrypt(&leaf.text, self.key, &aad).map_err(|e| self.value_error(e))?;
        self.mac.update(&cipher::mac_bytes(&plain)[..]);
        Ok(match plain {
            Plain::Str(s) => Value::String(s.as_str().to_string()),
            Plain::Int(i) => Value::from(i),
            Plain::Float(f) => float_value(f).map_err(|r| self.malformed(r))?,
            Plain::Bool(b) => Value::Bool(b),
        })
    }

    /// Compares the MAC of what was walked with the file's (decrypted with `lastmodified` as
    /// additional data).
    pub fn check_mac(self) -> Result<(), SopsError> {
        let computed = Zeroizing::new(hex::encode_upper(self.mac.finalize()));
        let stored = cipher::decrypt(&self.meta.mac, self.key, &self.meta.last_modified);
        match stored {
            Ok(Plain::Str(s)) if s.as_str() == computed.as_str() => Ok(()),
            _ => Err(SopsError::MacMismatch {
                file: self.file.into(),
            }),
        }
    }
}

/// A scalar as go-yaml v3 (sops's YAML reader) types it: only `true`/`false` in three
/// spellings are booleans; numbers as go-yaml resolves them; the rest strings.
fn v3_scalar(leaf: &Leaf) -> Scalar {
    let resolvable = match leaf.tag.as_deref() {
        None => leaf.plain,
        Some(t) => matches!(t, "int" | "float" | "bool" | "null"),
    };
    if !resolvable {
        return Scalar::Str(leaf.text.clone());
    }
    match leaf.text.as_str() {
        "true" | "True" | "TRUE" => Scalar::Bool(true),
        "false" | "False" | "FALSE" => Scalar::Bool(false),
        t => match resolve_plain(t) {
            Scalar::Bool(_) => Scalar::Str(t.into()),
            other => other,
        },
    }
}

/// The MAC bytes of an unencrypted scalar (`sops.ToBytes` of go-yaml v3's value).
fn v3_bytes(leaf: &Leaf) -> Result<Zeroizing<Vec<u8>>, String> {
    Ok(Zeroizing::new(match v3_scalar(leaf) {
        Scalar::Null => Vec::new(),
        Scalar::Bool(b) => cipher::mac_bytes(&Plain::Bool(b)).to_vec(),
        Scalar::Int(i) => i.to_string().into_bytes(),
        Scalar::Float(f) => cipher::go_float(f).into_bytes(),
        Scalar::BigInt(s) => s
            .parse::<f64>()
            .map(cipher::go_float)
            .unwrap_or(s)
            .into_bytes(),
        Scalar::Uint(_) => return Err("an unsigned integer past 63 bits".into()),
        Scalar::Str(s) => s.into_bytes(),
    }))
}

/// An unencrypted scalar as kubectl reads it (go-yaml v2's resolution).
fn kubectl_value(leaf: &Leaf) -> Result<Value, String> {
    let scalar = match (leaf.plain, leaf.tag.as_deref()) {
        (true, None) => resolve_plain(&leaf.text),
        (_, Some("int" | "float" | "bool" | "null")) => resolve_plain(&leaf.text),
        _ => Scalar::Str(leaf.text.clone()),
    };
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::from(i),
        Scalar::Uint(u) => Value::from(u),
        Scalar::BigInt(s) => float_value(s.parse().map_err(|_| "a number out of range")?)?,
        Scalar::Float(f) => float_value(f)?,
        Scalar::Str(s) => Value::String(s),
    })
}

fn float_value(f: f64) -> Result<Value, String> {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Ok(Value::from(f as i64));
    }
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| "infinite or NaN number".into())
}
