//! Signing and checking the manifest's minisign signature (prehashed, `ED`).
//!
//! The trusted comment repeats the bundle's name and revision:
//! `ferry-bundle name=<name> revision=<revision>`.

use crate::keys::{key_id, SigningKey, TrustedKeys};
use crate::manifest::Manifest;
use minisign::SignatureBox;
use std::io::Cursor;
use thiserror::Error;

/// Why signing failed.
#[derive(Debug, Error)]
pub enum SignError {
    #[error("signing with key {key_id} failed: {reason}")]
    Sign { key_id: String, reason: String },
}

/// Why a signature was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("signature is missing")]
    Missing,
    #[error("signature is not in minisign format: {0}")]
    Malformed(String),
    #[error("signed by key {key_id}, which is not trusted")]
    UnknownKey { key_id: String },
    #[error("signature by key {key_id} does not match the manifest: {reason}")]
    Invalid { key_id: String, reason: String },
    #[error("legacy (non-prehashed) minisign signature refused")]
    Legacy,
}

/// The trusted comment ferry writes for `manifest`.
pub fn trusted_comment(manifest: &Manifest) -> String {
    format!(
        "ferry-bundle name={} revision={}",
        manifest.name, manifest.revision
    )
}

/// Checks `signature` over `manifest_bytes` like [`check`] and returns the bundle name its
/// trusted comment names, for callers that learn the name before parsing the manifest.
pub fn signed_name(
    manifest_bytes: &[u8],
    signature: &str,
    keys: &TrustedKeys,
) -> Result<String, SignatureError> {
    let good = check(manifest_bytes, signature, keys)?;
    good.trusted_comment
        .strip_prefix("ferry-bundle name=")
        .and_then(|rest| rest.split_once(" revision="))
        .map(|(name, _)| name.to_string())
        .ok_or_else(|| {
            SignatureError::Malformed(format!(
                "trusted comment is not ferry's: {}",
                crate::text::shown(&good.trusted_comment)
            ))
        })
}

/// Signs `manifest_bytes` (the exact `bundle.yaml` content) and returns the `.minisig` text.
pub fn sign(manifest_bytes: &[u8], comment: &str, key: &SigningKey) -> Result<String, SignError> {
    let untrusted = format!("signature from ferry-bundle secret key {}", key.key_id());
    let sig = minisign::sign(
        key.public.as_ref(),
        &key.secret,
        Cursor::new(manifest_bytes),
        Some(comment),
        Some(&untrusted),
    )
    .map_err(|e| SignError::Sign {
        key_id: key.key_id(),
        reason: e.to_string(),
    })?;
    Ok(sig.to_string())
}

/// A signature that checked out: which key made it and what it vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodSignature {
    pub key_id: String,
    pub trusted_comment: String,
}

/// Checks `signature` (`.minisig` text) over `manifest_bytes` against the trusted keys.
pub fn check(
    manifest_bytes: &[u8],
    signature: &str,
    keys: &TrustedKeys,
) -> Result<GoodSignature, SignatureError> {
    if signature.trim().is_empty() {
        return Err(SignatureError::Missing);
    }
    let sig = SignatureBox::from_string(signature)
        .map_err(|e| SignatureError::Malformed(e.to_string()))?;
    if !sig.is_prehashed() {
        return Err(SignatureError::Legacy);
    }
    let id = key_id(sig.keynum());
    let key = keys
        .find(sig.keynum())
        .ok_or_else(|| SignatureError::UnknownKey { key_id: id.clone() })?;
    minisign::verify(
        &key.key,
        &sig,
        Cursor::new(manifest_bytes),
        true,
        false,
        false,
    )
    .map_err(|e| SignatureError::Invalid {
        key_id: id.clone(),
        reason: e.to_string(),
    })?;
    let trusted_comment = sig
        .trusted_comment()
        .map_err(|e| SignatureError::Malformed(e.to_string()))?;
    Ok(GoodSignature {
        key_id: id,
        trusted_comment,
    })
}
