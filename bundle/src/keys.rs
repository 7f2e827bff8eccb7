//! minisign keys: the publisher's secret key and the set of public keys a device trusts.
//!
//! Files are the minisign formats, byte-compatible with the `minisign` CLI (`minisign -G`).

use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox};
use std::fs;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a key could not be loaded or made.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not a minisign public key: {reason}")]
    BadPublicKey { path: PathBuf, reason: String },
    #[error("key file {path} is not a usable minisign secret key: {reason}")]
    BadSecretKey { path: PathBuf, reason: String },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to overwrite existing key file {0}")]
    Exists(PathBuf),
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("no trusted public key found in {0}")]
    NoKeys(PathBuf),
}

/// A public key with its 8-byte key id as minisign prints it (hex, upper case).
#[derive(Clone)]
pub struct TrustedKey {
    /// Where the key came from (file path or "inline").
    pub origin: String,
    pub key: PublicKey,
}

impl TrustedKey {
    /// minisign's key id: the key number as a little-endian u64, printed as 16 hex digits.
    pub fn key_id(&self) -> String {
        key_id(self.key.keynum())
    }
}

/// Formats a minisign key number the way the CLI does.
pub fn key_id(keynum: &[u8]) -> String {
    let mut n = [0u8; 8];
    n.copy_from_slice(&keynum[..8.min(keynum.len())]);
    format!("{:016X}", u64::from_le_bytes(n))
}

/// Every public key a device accepts signatures from; several at once allow key rotation.
#[derive(Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// An empty set (trusts nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key given as minisign public-key text (file content or the bare base64 line).
    pub fn add_text(&mut self, origin: &str, text: &str) -> Result<(), KeyError> {
        let bad = |reason: String| KeyError::BadPublicKey {
            path: PathBuf::from(origin),
            reason,
        };
        let trimmed = text.trim();
        let key = if trimmed.lines().count() == 1 {
            PublicKey::from_base64(trimmed).map_err(|e| bad(e.to_string()))?
        } else {
            PublicKeyBox::from_string(text)
                .and_then(|b| b.into_public_key())
                .map_err(|e| bad(e.to_string()))?
        };
        self.keys.push(TrustedKey {
            origin: origin.to_string(),
            key,
        });
        Ok(())
    }

    /// Adds the key in `path` (a `.pub` file).
    pub fn add_file(&mut self, path: &Path) -> Result<(), KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.into(),
            source,
        })?;
        self.add_text(&path.display().to_string(), &text)
    }

    /// Loads `path`: one key file, or every `*.pub` file of a directory.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let mut keys = TrustedKeys::new();
        if path.is_dir() {
            let entries = fs::read_dir(path).map_err(|source| KeyError::Read {
                path: path.into(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pub"))
                .collect();
            files.sort();
            for f in files {
                keys.add_file(&f)?;
            }
            if keys.is_empty() {
                return Err(KeyError::NoKeys(path.into()));
            }
        } else {
            keys.add_file(path)?;
        }
        Ok(keys)
    }

    /// Merges another set into this one.
    pub fn extend(&mut self, other: TrustedKeys) {
        self.keys.extend(other.keys);
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter()
    }

    /// The key whose id matches a signature's key number.
    pub fn find(&self, keynum: &[u8]) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.key.keynum() == keynum)
    }
}

/// A publisher's secret key, decrypted and ready to sign.
pub struct SigningKey {
    pub(crate) secret: SecretKey,
    /// The matching public key, when known (used to double-check each signature).
    pub(crate) public: Option<PublicKey>,
}

impl SigningKey {
    /// Loads a minisign secret key file. An encrypted key needs `password`.
    pub fn load(path: &Path, password: Option<String>) -> Result<Self, KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.into(),
            source,
        })?;
        let bad = |reason: String| KeyError::BadSecretKey {
            path: path.into(),
            reason,
        };
        let boxed = SecretKeyBox::from_string(&text).map_err(|e| bad(e.to_string()))?;
        let secret = match password {
            Some(p) => boxed.into_secret_key(Some(p)),
            None => boxed
                .into_unencrypted_secret_key()
                .or_else(|e| unencrypted_cli_key(&text).ok_or(e)),
        }
        .map_err(|e| bad(format!("{e} (an encrypted key needs FERRY_KEY_PASSWORD)")))?;
        let public = PublicKey::from_secret_key(&secret).ok();
        Ok(SigningKey { secret, public })
    }

    /// The key id of this key.
    pub fn key_id(&self) -> String {
        key_id(self.secret.keynum())
    }
}

/// Reads an unencrypted key written by `minisign -G -W`. The CLI stores a checksum for such
/// keys that the minisign crate does not recompute the same way, so the crate refuses them as
/// "corrupted"; the key material itself is the same format.
fn unencrypted_cli_key(text: &str) -> Option<SecretKey> {
    use base64::Engine;
    let line = text.lines().nth(1)?.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .ok()?;
    // Bytes 2..4 are the KDF algorithm; all zero means "not encrypted".
    if bytes.len() < 4 || bytes[2..4] != [0, 0] {
        return None;
    }
    SecretKey::from_bytes(&bytes).ok()
}

/// Generates a key pair and writes `<stem>.pub` and `<stem>.key` (minisign CLI formats).
/// With a password the secret key is encrypted like `minisign -G`; without, like `minisign -G -W`.
pub fn generate(
    stem: &Path,
    password: Option<String>,
    force: bool,
) -> Result<(PathBuf, PathBuf), KeyError> {
    let pub_path = stem.with_extension("pub");
    let key_path = stem.with_extension("key");
    for p in [&pub_path, &key_path] {
        if p.exists() && !force {
            return Err(KeyError::Exists(p.clone()));
        }
    }
    let kp = match &password {
        Some(pw) => KeyPair::generate_encrypted_keypair(Some(pw.clone())),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| KeyError::Generate(e.to_string()))?;
    let pk_box = kp
        .pk
        .to_box()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let sk_box = kp
        .sk
        .to_box(Some("ferry-bundle secret key"))
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    write_private(&key_path, sk_box.to_string().as_bytes())?;
    fs::write(&pub_path, pk_box.to_string()).map_err(|source| KeyError::Write {
        path: pub_path.clone(),
        source,
    })?;
    Ok((pub_path, key_path))
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| KeyError::Write {
            path: path.into(),
            source,
        })?;
    f.write_all(data).map_err(|source| KeyError::Write {
        path: path.into(),
        source,
    })
}
