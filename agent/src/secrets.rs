//! The device's side of SOPS: its age identities (`decryption.ageKeyFile`, a root-only file
//! with one or more `AGE-SECRET-KEY-1...` lines, several for rotation) and the decryption of a
//! bundle's SOPS files just before their objects are resolved and applied
//! ([`ferry_bundle::sops`] does the cryptography). Plaintext stays in memory: the decrypted
//! documents are wiped when dropped, an object's recorded hash is keyed with the file's data
//! key (so state.db holds nothing a guess could be checked against), and the process is made
//! non-dumpable once identities are loaded. docs/secrets.md.

use ferry_bundle::sops::generator::{self, GeneratedSecret};
use ferry_bundle::sops::{self, Identity, SopsError};
use serde::Deserialize;
use serde_json::Value;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use thiserror::Error;
use zeroize::Zeroizing;

/// Largest identity file read (an identity line is 74 bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// `decryption:` in the agent config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DecryptionConfig {
    /// age identities, as `age-keygen -o` writes them; mode 0600 or stricter, owned by the
    /// agent's user, not a symlink.
    pub age_key_file: PathBuf,
}

/// Why identities could not be used, or a SOPS file not decrypted.
#[derive(Debug, Error)]
pub enum SecretsError {
    #[error("decryption.ageKeyFile {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("{file}: a SOPS file, but this device has no decryption.ageKeyFile; it is encrypted for {recipients}")]
    NotConfigured { file: String, recipients: String },
    #[error(transparent)]
    Sops(#[from] SopsError),
    #[error("{file}: generated Secret {name}: {reason}")]
    Generated {
        file: String,
        name: String,
        reason: String,
    },
}

/// Reads and checks the identity file: a regular file (a symlink is refused), mode 0600 or
/// stricter, owned by the effective user, at most [`MAX_KEY_FILE_BYTES`], with at least one
/// identity. The buffer is wiped after parsing.
pub fn load_identities(path: &Path) -> Result<Vec<Identity>, SecretsError> {
    let bad = |reason: String| SecretsError::KeyFile {
        path: path.into(),
        reason,
    };
    let file = ferry_bundle::safe_open::open_regular(path).map_err(|e| bad(e.to_string()))?;
    let meta = file.metadata().map_err(|e| bad(e.to_string()))?;
    if meta.mode() & 0o077 != 0 {
        return Err(bad(format!(
            "mode {:04o} lets others read it; chmod 600",
            meta.mode() & 0o7777
        )));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid {
        return Err(bad(format!(
            "owned by uid {}, not by the agent's uid {euid}",
            meta.uid()
        )));
    }
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(bad(format!("larger than {MAX_KEY_FILE_BYTES} bytes")));
    }
    let ids = sops::parse_identities(&text).map_err(|e| bad(e.to_string()))?;
    no_core_dumps();
    Ok(ids)
}

/// A process holding identities or plaintext is not dumpable: no core file, no ptrace or
/// /proc/PID/mem by other users.
fn no_core_dumps() {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes this process's dumpable flag.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// The device's identities, read once per use (a pass), and only when a SOPS file needs them.
pub struct Keyring<'a> {
    config: Option<&'a DecryptionConfig>,
    loaded: Option<Vec<Identity>>,
}

/// One decrypted file: its documents (wiped on drop) and the key for object hashes.
pub struct Opened {
    pub plain: sops::Decrypted,
}

impl<'a> Keyring<'a> {
    pub fn new(config: Option<&'a DecryptionConfig>) -> Self {
        Keyring {
            config,
            loaded: None,
        }
    }

    /// Decrypts `bytes` (a SOPS file of the bundle at `file`, in the format its name gives).
    pub fn open(&mut self, file: &str, bytes: &[u8]) -> Result<Opened, SecretsError> {
        self.open_as(file, bytes, sops::Format::for_path(file))
    }

    /// Decrypts `bytes` read in `format` (YAML, JSON or dotenv).
    pub fn open_as(
        &mut self,
        file: &str,
        bytes: &[u8],
        format: sops::Format,
    ) -> Result<Opened, SecretsError> {
        let ids = self.identities(file, bytes, format)?;
        Ok(Opened {
            plain: sops::decrypt_as(file, bytes, format, ids)?,
        })
    }

    /// Decrypts a binary SOPS file to its bytes.
    pub fn open_binary(
        &mut self,
        file: &str,
        bytes: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let ids = self.identities(file, bytes, sops::Format::Binary)?;
        Ok(sops::decrypt_binary(file, bytes, ids)?)
    }

    /// Decrypts a host file: a binary SOPS file to its bytes, a YAML or JSON one to the JSON
    /// of its one document.
    pub fn open_host_file(
        &mut self,
        file: &str,
        bytes: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let format = sops::Format::for_path(file);
        if matches!(format, sops::Format::Yaml | sops::Format::Json) {
            let opened = self.open_as(file, bytes, format)?;
            let [doc] = opened.plain.documents.as_slice() else {
                return Err(SecretsError::Sops(SopsError::Unsupported {
                    file: file.into(),
                    reason: "a host file of several documents".into(),
                }));
            };
            let mut text = Zeroizing::new(serde_json::to_vec_pretty(doc).unwrap_or_default());
            text.push(b'\n');
            return Ok(text);
        }
        self.open_binary(file, bytes)
    }

    fn identities(
        &mut self,
        file: &str,
        bytes: &[u8],
        format: sops::Format,
    ) -> Result<&[Identity], SecretsError> {
        let Some(config) = self.config else {
            let summary = sops::inspect_as(file, bytes, format)?;
            return Err(SecretsError::NotConfigured {
                file: file.into(),
                recipients: summary.recipients.join(", "),
            });
        };
        if self.loaded.is_none() {
            self.loaded = Some(load_identities(&config.age_key_file)?);
        }
        Ok(self.loaded.as_deref().unwrap_or_default())
    }
}

/// Completes the Secrets Kustomize generated from SOPS sources among `objects` (rendered from
/// `file`): decrypts each source (read by bundle path with `read`) and puts the plaintext in
/// the Secret's data. Returns the origins of the completed objects with their hash keys.
pub fn complete_generated(
    keyring: &mut Keyring,
    entries: &[GeneratedSecret],
    file: &str,
    objects: &mut [ferry_bundle::render::RenderedObject],
    mut read: impl FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<Vec<(String, HashKey)>, SecretsError> {
    let mut keys = Vec::new();
    for entry in entries.iter().filter(|e| e.file == file) {
        let bad = |reason: String| SecretsError::Generated {
            file: file.into(),
            name: ferry_bundle::text::shown(&entry.name),
            reason,
        };
        let Some(object) = objects.iter_mut().find(|o| entry.is(file, &o.value)) else {
            return Err(bad("not in the rendered file".into()));
        };
        let mut hash_key = None;
        let env = match entry.envs.first() {
            Some(path) => {
                let bytes = read(path).map_err(bad)?;
                let opened = keyring.open_as(path, &bytes, sops::Format::Dotenv)?;
                hash_key = Some(opened.hash_key());
                Some(opened)
            }
            None => None,
        };
        let mut files = Vec::new();
        for f in &entry.files {
            let bytes = read(&f.path).map_err(bad)?;
            files.push((f.key.as_str(), keyring.open_binary(&f.path, &bytes)?));
        }
        let env_map = env
            .as_ref()
            .and_then(|o| o.plain.documents.first())
            .and_then(Value::as_object);
        let file_refs: Vec<(&str, &[u8])> = files.iter().map(|(k, b)| (*k, &b[..])).collect();
        generator::fill(&mut object.value, env_map, &file_refs).map_err(bad)?;
        let key = match hash_key {
            Some(k) => k,
            // Binary sources only: key the hash with the first file's plaintext digest.
            None => HashKey::from_secret(files.first().map_or(&[][..], |(_, b)| &b[..])),
        };
        keys.push((object.origin.clone(), key));
    }
    Ok(keys)
}

impl Opened {
    /// The documents, copied out for rendering (the caller's copies end up in objects).
    pub fn documents(&self) -> Vec<Value> {
        self.plain.documents.clone()
    }

    /// The key for this file's objects' recorded hashes.
    pub fn hash_key(&self) -> HashKey {
        HashKey::from_secret(&self.plain.key[..])
    }
}

/// Keys the recorded hash of an object decrypted from a SOPS file: state.db keeps
/// `sops:HMAC-SHA-256(key, plain hash)`, which only holders of the file's data key can compute,
/// so a guessed secret cannot be checked against it. It changes when the content does.
pub struct HashKey(Zeroizing<[u8; 32]>);

impl HashKey {
    /// A key derived from secret bytes (a decrypted file nobody without the key holds).
    fn from_secret(secret: &[u8]) -> HashKey {
        let tag = hmac(secret, b"ferry object hash v1");
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(tag.as_ref());
        HashKey(out)
    }

    pub fn keyed(&self, plain_hash: &str) -> String {
        let tag = hmac(&self.0[..], plain_hash.as_bytes());
        format!("sops:{}", hex::encode(tag.as_ref()))
    }
}

fn hmac(key: &[u8], message: &[u8]) -> ring::hmac::Tag {
    ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), message)
}

/// Decrypts `bytes` when it is a SOPS file: `declared` by the signed manifest (then it must
/// be one), or recognised by its `sops` metadata. `None` for any other file.
pub fn open_if_sops(
    keyring: &mut Keyring,
    file: &str,
    bytes: &[u8],
    declared: bool,
) -> Option<Result<Opened, SecretsError>> {
    if !declared && !sops::looks_like_sops(bytes) {
        return None;
    }
    match keyring.open(file, bytes) {
        Err(SecretsError::Sops(SopsError::NotSops { .. })) if !declared => None,
        other => Some(other),
    }
}

/// Replaces the recorded hash of every object that came from a SOPS file with its keyed hash.
pub fn key_hashes(
    desired: &mut [crate::engine::object::DesiredObject],
    keys: &[(String, HashKey)],
) {
    if keys.is_empty() {
        return;
    }
    for d in desired {
        let file = d
            .origin
            .rsplit_once('#')
            .map_or(d.origin.as_str(), |(f, _)| f);
        // A SOPS file's objects by file, a generated Secret by its origin.
        if let Some((_, key)) = keys.iter().find(|(k, _)| k == file || *k == d.origin) {
            d.hash = key.keyed(&d.hash);
        }
    }
}

/// `check-config`: the identity file exists, is private and parses.
pub fn check(config: Option<&DecryptionConfig>) -> Result<(), SecretsError> {
    match config {
        Some(c) => load_identities(&c.age_key_file).map(drop),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// An identity from the real age-keygen.
    fn keygen() -> String {
        let out = std::process::Command::new("age-keygen").output().unwrap();
        assert!(
            out.status.success(),
            "age-keygen (Debian package age) is needed"
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(dir: &Path, mode: u32, text: &str) -> PathBuf {
        let p = dir.join("age.key");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn key_file_must_be_private_real_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), 0o600, &keygen());
        assert_eq!(load_identities(&p).unwrap().len(), 1);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = load_identities(&p).unwrap_err().to_string();
        assert!(e.contains("mode 0640"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let e = load_identities(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let bad = write(dir.path(), 0o600, "AGE-SECRET-KEY-1NOTAKEY\n");
        let e = load_identities(&bad).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(
            !e.contains("NOTAKEY"),
            "the key file's text is never shown: {e}"
        );
    }
}
