//! Device-side verification of a bundle, in the order the design fixes: signature, parse, name,
//! expiry, revision, targets, then every file's path shape, size and digest under the limits.
//!
//! Pure: it takes bytes and a policy and returns a verdict; fetching is the caller's job.

use crate::digest::sha256_hex;
use crate::keys::TrustedKeys;
use crate::limits::Limits;
use crate::manifest::{FileEntry, Manifest, ManifestError, Timestamp};
use crate::paths::{self, PathError};
use crate::sign::{self, SignatureError};
pub use crate::targets::Device;
use std::io::Read;
use thiserror::Error;

/// A verification failure; each check has its own variant.
#[derive(Debug, Error)]
pub enum VerifyError {
    #[error("manifest is {size} bytes, above the limit of {max}")]
    ManifestTooLarge { size: u64, max: u64 },
    #[error("bad signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("manifest does not parse: {0}")]
    Manifest(#[from] ManifestError),
    #[error("signature's trusted comment {found:?} does not match the manifest ({expected:?})")]
    CommentMismatch { found: String, expected: String },
    #[error("bundle is named {found:?}, this sync expects {expected:?}")]
    WrongName { found: String, expected: String },
    #[error("bundle {name} revision {revision} expired at {expires} (now {now})")]
    Expired {
        name: String,
        revision: u64,
        expires: Timestamp,
        now: Timestamp,
    },
    #[error("bundle {name} revision {revision} is below the highest applied revision {highest}: rollback refused")]
    Rollback {
        name: String,
        revision: u64,
        highest: u64,
    },
    #[error("bundle {name} revision {revision} does not target device {device}")]
    NotTargeted {
        name: String,
        revision: u64,
        device: String,
    },
    #[error("bundle lists {count} files, above the limit of {max}")]
    TooManyFiles { count: usize, max: usize },
    #[error("bundle content totals {total} bytes, above the limit of {max}")]
    TooLarge { total: u64, max: u64 },
    #[error("file {path} is {size} bytes, above the per-file limit of {max}")]
    FileTooLarge { path: String, size: u64, max: u64 },
    #[error("bad file path: {0}")]
    Path(#[from] PathError),
    #[error("file {path} is missing")]
    MissingFile { path: String },
    #[error("file {path} has {actual} bytes, manifest says {expected}")]
    SizeMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("file {path} has sha256 {actual}, manifest says {expected}")]
    DigestMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("cannot read file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(transparent)]
    ImageOwner(#[from] crate::images::ImageOwnerError),
}

/// Whether signatures are checked. Skipping is an explicit, per-source opt-out.
#[derive(Clone)]
pub enum SignaturePolicy {
    Required(TrustedKeys),
    /// Accept unsigned bundles (the source said `insecureSkipSignature: true`).
    Skip,
}

/// Everything the device knows when it verifies a bundle.
#[derive(Clone)]
pub struct VerifyPolicy {
    pub signatures: SignaturePolicy,
    /// The bundle name the sync expects.
    pub name: String,
    pub now: Timestamp,
    /// The highest revision this sync has applied, if any.
    pub highest_applied: Option<u64>,
    pub device: Device,
    pub limits: Limits,
    /// The image names this sync may carry (the agent's `images.prefixes`).
    pub images: crate::images::ImagePolicy,
}

/// A manifest whose signature, metadata and file list passed; files still need [`verify_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedManifest {
    pub manifest: Manifest,
    /// sha256 of the exact manifest bytes: the bundle's identity.
    pub digest: String,
    /// Key id that signed it (None when signatures were skipped).
    pub key_id: Option<String>,
}

/// The outcome of verifying a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A newer revision, to be applied once its files are verified.
    New(VerifiedManifest),
    /// The same revision as the highest applied: nothing to do.
    UpToDate(VerifiedManifest),
}

impl Verdict {
    pub fn manifest(&self) -> &VerifiedManifest {
        match self {
            Verdict::New(m) | Verdict::UpToDate(m) => m,
        }
    }
}

/// Verifies a manifest and its signature against `policy` (see module docs for the order).
pub fn verify_manifest(
    manifest_bytes: &[u8],
    signature: Option<&str>,
    policy: &VerifyPolicy,
) -> Result<Verdict, VerifyError> {
    let size = manifest_bytes.len() as u64;
    if size > policy.limits.max_manifest_bytes {
        return Err(VerifyError::ManifestTooLarge {
            size,
            max: policy.limits.max_manifest_bytes,
        });
    }
    let good = match &policy.signatures {
        SignaturePolicy::Required(keys) => {
            Some(sign::check(manifest_bytes, signature.unwrap_or(""), keys)?)
        }
        SignaturePolicy::Skip => None,
    };
    let manifest = Manifest::parse(manifest_bytes)?;
    if let Some(good) = &good {
        let expected = sign::trusted_comment(&manifest);
        if good.trusted_comment != expected {
            return Err(VerifyError::CommentMismatch {
                found: good.trusted_comment.clone(),
                expected,
            });
        }
    }
    if manifest.name != policy.name {
        return Err(VerifyError::WrongName {
            found: manifest.name.clone(),
            expected: policy.name.clone(),
        });
    }
    if policy.now >= manifest.expires {
        return Err(VerifyError::Expired {
            name: manifest.name.clone(),
            revision: manifest.revision,
            expires: manifest.expires,
            now: policy.now,
        });
    }
    let up_to_date = match policy.highest_applied {
        Some(highest) if manifest.revision < highest => {
            return Err(VerifyError::Rollback {
                name: manifest.name.clone(),
                revision: manifest.revision,
                highest,
            })
        }
        Some(highest) => manifest.revision == highest,
        None => false,
    };
    if !crate::targets::matches(&manifest.targets, &policy.device) {
        return Err(VerifyError::NotTargeted {
            name: manifest.name.clone(),
            revision: manifest.revision,
            device: policy.device.id.clone(),
        });
    }
    check_file_list(&manifest, &policy.limits)?;
    policy.images.check(&manifest.images)?;
    let verified = VerifiedManifest {
        digest: sha256_hex(manifest_bytes),
        key_id: good.map(|g| g.key_id),
        manifest,
    };
    Ok(if up_to_date {
        Verdict::UpToDate(verified)
    } else {
        Verdict::New(verified)
    })
}

/// Checks count, sizes and path shapes of the listed files against `limits`.
pub fn check_file_list(manifest: &Manifest, limits: &Limits) -> Result<(), VerifyError> {
    if manifest.files.len() > limits.max_files {
        return Err(VerifyError::TooManyFiles {
            count: manifest.files.len(),
            max: limits.max_files,
        });
    }
    let mut total = 0u64;
    for f in &manifest.files {
        paths::validate(&f.path, limits.max_path_bytes)?;
        if f.size > limits.max_file_bytes {
            return Err(VerifyError::FileTooLarge {
                path: f.path.clone(),
                size: f.size,
                max: limits.max_file_bytes,
            });
        }
        total = total.saturating_add(f.size);
    }
    if total > limits.max_total_bytes {
        return Err(VerifyError::TooLarge {
            total,
            max: limits.max_total_bytes,
        });
    }
    Ok(())
}

/// Checks one file's content against its entry: size first, then digest.
pub fn verify_file(entry: &FileEntry, data: &[u8]) -> Result<(), VerifyError> {
    if data.len() as u64 != entry.size {
        return check_measured(entry, data.len() as u64, "");
    }
    check_measured(entry, entry.size, &sha256_hex(data))
}

/// Compares a file's measured size and sha256 with its entry (size first).
pub fn check_measured(entry: &FileEntry, size: u64, sha256: &str) -> Result<(), VerifyError> {
    if size != entry.size {
        return Err(VerifyError::SizeMismatch {
            path: entry.path.clone(),
            expected: entry.size,
            actual: size,
        });
    }
    if sha256 != entry.sha256 {
        return Err(VerifyError::DigestMismatch {
            path: entry.path.clone(),
            expected: entry.sha256.clone(),
            actual: sha256.to_string(),
        });
    }
    Ok(())
}

/// Reads at most `entry.size + 1` bytes from `reader` and verifies them: a longer stream is cut
/// off and refused without being held in memory.
pub fn read_verified(entry: &FileEntry, reader: impl Read) -> Result<Vec<u8>, VerifyError> {
    let mut data = Vec::with_capacity(entry.size.min(1 << 20) as usize);
    reader
        .take(entry.size.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| VerifyError::Read {
            path: entry.path.clone(),
            reason: e.to_string(),
        })?;
    verify_file(entry, &data)?;
    Ok(data)
}
