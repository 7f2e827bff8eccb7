//! Opening a bundle that is on local disk, in any of its encodings, and verifying it whole.
//!
//! Used by `ferry-bundle verify`/`inspect` and by the agent's local directory source.

use crate::archive::{self, ArchiveError};
use crate::digest::sha256_reader;
use crate::layout::{self, LayoutError, SignedManifest};
use crate::limits::Limits;
use crate::manifest::{FileEntry, Manifest};
use crate::safe_open;
use crate::verify::{self, Verdict, VerifyError, VerifyPolicy};
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The encodings a local bundle can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A directory with `bundle.yaml` and files at their paths.
    Plain,
    /// A directory with `bundle.yaml` and `blobs/sha256/<hex>`.
    Exploded,
    /// A `.bundle` archive (extracted to a scratch directory).
    Archive,
}

/// Why a local bundle could not be opened or verified.
#[derive(Debug, Error)]
pub enum LocalError {
    #[error("{path}: {source}")]
    Layout { path: PathBuf, source: LayoutError },
    #[error("{path}: {source}")]
    Archive { path: PathBuf, source: ArchiveError },
    #[error("{path}: {source}")]
    Verify { path: PathBuf, source: VerifyError },
    #[error("{path}: cannot open: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LocalError {
    /// The verification error inside, if that is what this is.
    pub fn verify_error(&self) -> Option<&VerifyError> {
        match self {
            LocalError::Verify { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A bundle opened from disk: signed manifest in memory, content reachable by path.
#[derive(Debug)]
pub struct Opened {
    pub origin: PathBuf,
    pub encoding: Encoding,
    pub signed: SignedManifest,
    root: PathBuf,
}

impl Opened {
    /// Where an image blob is on disk (`blobs/sha256/<hex>` in every directory encoding;
    /// archives do not carry images).
    pub fn image_blob_path(&self, sha256: &str) -> PathBuf {
        layout::blob_path(&self.root, sha256)
    }

    /// Where the content of `entry` is on disk.
    pub fn file_path(&self, entry: &FileEntry) -> PathBuf {
        match self.encoding {
            Encoding::Exploded => layout::blob_path(&self.root, &entry.sha256),
            Encoding::Plain | Encoding::Archive => layout::plain_path(&self.root, entry),
        }
    }
}

/// A directory with `blobs/sha256` is exploded unless its first file is at its plain path (a
/// plain bundle that carries images keeps the image blobs in `blobs/sha256` too).
fn detect_dir_encoding(path: &Path, manifest: &[u8]) -> Encoding {
    if !safe_open::is_real_dir(&path.join("blobs").join("sha256")) {
        return Encoding::Plain;
    }
    match Manifest::parse(manifest)
        .ok()
        .and_then(|m| m.files.first().cloned())
    {
        Some(first)
            if std::fs::symlink_metadata(layout::plain_path(path, &first))
                .is_ok_and(|m| m.is_file()) =>
        {
            Encoding::Plain
        }
        _ => Encoding::Exploded,
    }
}

/// Opens `path`: a plain or exploded bundle directory, or a `.bundle` archive. Only the
/// signed head is read (bounded by `limits`); an archive's content is extracted into `scratch`
/// by [`verify`], after the signature and manifest passed.
pub fn open(path: &Path, limits: &Limits, scratch: &Path) -> Result<Opened, LocalError> {
    let lerr = |source| LocalError::Layout {
        path: path.into(),
        source,
    };
    if safe_open::is_real_dir(path) {
        let signed =
            layout::read_signed(path, limits.max_manifest_bytes, limits.max_signature_bytes)
                .map_err(lerr)?;
        let encoding = detect_dir_encoding(path, &signed.manifest);
        return Ok(Opened {
            origin: path.into(),
            encoding,
            signed,
            root: path.into(),
        });
    }
    let file = safe_open::open_regular(path).map_err(|source| LocalError::Io {
        path: path.into(),
        source,
    })?;
    let head = archive::read_head(file, limits).map_err(|source| LocalError::Archive {
        path: path.into(),
        source,
    })?;
    Ok(Opened {
        origin: path.into(),
        encoding: Encoding::Archive,
        signed: SignedManifest {
            manifest: head.manifest,
            signature: head.signature,
        },
        root: scratch.into(),
    })
}

/// Verifies the manifest and then every file's size and digest. An archive is read a second
/// time and extracted only once its head is verified, and only if that head is byte for byte
/// the one [`open`] read (the file may have changed in between).
pub fn verify(opened: &Opened, policy: &VerifyPolicy) -> Result<Verdict, LocalError> {
    let verr = |source| LocalError::Verify {
        path: opened.origin.clone(),
        source,
    };
    let verdict = verify::verify_manifest(
        &opened.signed.manifest,
        opened.signed.signature.as_deref(),
        policy,
    )
    .map_err(verr)?;
    if opened.encoding == Encoding::Archive {
        extract_verified(opened, &verdict, &policy.limits)?;
    }
    for entry in &verdict.manifest().manifest.files {
        verify_file_on_disk(entry, &opened.file_path(entry)).map_err(verr)?;
    }
    Ok(verdict)
}

/// Extracts the archive of `opened` into its scratch directory, allowing only the files of
/// the verified manifest, and only when the archive's head is still the verified one.
fn extract_verified(opened: &Opened, verdict: &Verdict, limits: &Limits) -> Result<(), LocalError> {
    let aerr = |source| LocalError::Archive {
        path: opened.origin.clone(),
        source,
    };
    let file = safe_open::open_regular(&opened.origin).map_err(|source| LocalError::Io {
        path: opened.origin.clone(),
        source,
    })?;
    let expected = archive::Head {
        manifest: opened.signed.manifest.clone(),
        signature: opened.signed.signature.clone(),
    };
    let listing = archive::Listing::of(&verdict.manifest().manifest);
    let extracted = archive::extract_verified(file, &opened.root, limits, |head| {
        (*head == expected).then_some(listing)
    })
    .map_err(aerr)?;
    if extracted.manifest != expected.manifest || extracted.signature != expected.signature {
        return Err(aerr(ArchiveError::Corrupt(
            "the archive changed while it was being read".into(),
        )));
    }
    Ok(())
}

/// Streams the file at `path` through sha256 and checks it against `entry`, reading at most
/// one byte more than the manifest allows.
pub fn verify_file_on_disk(entry: &FileEntry, path: &Path) -> Result<(), VerifyError> {
    if !safe_open::is_regular(path) {
        return Err(VerifyError::MissingFile {
            path: entry.path.clone(),
        });
    }
    let file = safe_open::open_regular(path).map_err(|e| VerifyError::Read {
        path: entry.path.clone(),
        reason: e.to_string(),
    })?;
    let (actual, size) =
        sha256_reader(file.take(entry.size.saturating_add(1))).map_err(|e| VerifyError::Read {
            path: entry.path.clone(),
            reason: e.to_string(),
        })?;
    verify::check_measured(entry, size, &actual)
}
