//! On-disk layouts of a bundle.
//!
//! * the *plain* layout: `bundle.yaml`, `bundle.yaml.minisig` and the files at their paths
//!   (what `ferry-bundle build` writes and a local directory source reads);
//! * the *exploded* content-addressed layout: `bundle.yaml`, `bundle.yaml.minisig` and
//!   `blobs/sha256/<hex>` (what `ferry-bundle publish` writes for HTTP delta updates).

use crate::manifest::{FileEntry, Manifest};
use crate::{MANIFEST_FILE, SIGNATURE_FILE};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a layout could not be read or written.
#[derive(Debug, Error)]
pub enum LayoutError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is larger than {max} bytes")]
    TooLarge { path: PathBuf, max: u64 },
}

/// The manifest bytes and signature text of a bundle directory (either layout).
#[derive(Debug, Clone)]
pub struct SignedManifest {
    pub manifest: Vec<u8>,
    pub signature: Option<String>,
}

/// Reads `bundle.yaml` (at most `max_manifest` bytes) and, if present, `bundle.yaml.minisig`.
pub fn read_signed(
    dir: &Path,
    max_manifest: u64,
    max_signature: u64,
) -> Result<SignedManifest, LayoutError> {
    let manifest = read_bounded(&dir.join(MANIFEST_FILE), max_manifest)?;
    let sig_path = dir.join(SIGNATURE_FILE);
    let signature = if fs::symlink_metadata(&sig_path).is_ok() {
        let bytes = read_bounded(&sig_path, max_signature)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        None
    };
    Ok(SignedManifest {
        manifest,
        signature,
    })
}

/// Reads a regular file (never through a symlink, never a FIFO or device), refusing one
/// larger than `max` without reading it all.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, LayoutError> {
    let f = crate::safe_open::open_regular(path).map_err(|source| LayoutError::Read {
        path: path.into(),
        source,
    })?;
    let mut buf = Vec::new();
    f.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| LayoutError::Read {
            path: path.into(),
            source,
        })?;
    if buf.len() as u64 > max {
        return Err(LayoutError::TooLarge {
            path: path.into(),
            max,
        });
    }
    Ok(buf)
}

/// Where a plain-layout file lives.
pub fn plain_path(dir: &Path, entry: &FileEntry) -> PathBuf {
    dir.join(&entry.path)
}

/// Where the exploded layout keeps the blob with digest `sha256`.
pub fn blob_path(dir: &Path, sha256: &str) -> PathBuf {
    dir.join("blobs").join("sha256").join(sha256)
}

/// The URL-relative path of a blob in the exploded layout.
pub fn blob_rel(sha256: &str) -> String {
    format!("blobs/sha256/{sha256}")
}

/// Writes the exploded layout of a plain bundle directory `src` into `out`.
/// Blobs already present are kept (content addressing makes them identical).
pub fn write_exploded(
    src: &Path,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    signature: &str,
    out: &Path,
) -> Result<(), LayoutError> {
    let w = |path: PathBuf| move |source| LayoutError::Write { path, source };
    let blobs = out.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(w(blobs.clone()))?;
    for f in &manifest.files {
        let dst = blob_path(out, &f.sha256);
        if !dst.exists() {
            let tmp = dst.with_extension("tmp");
            fs::copy(plain_path(src, f), &tmp).map_err(w(tmp.clone()))?;
            fs::rename(&tmp, &dst).map_err(w(dst.clone()))?;
        }
    }
    // Image blobs are already content-addressed in `src/blobs/sha256`.
    for sha256 in crate::images::distinct_blobs(&manifest.images).keys() {
        let dst = blob_path(out, sha256);
        if !dst.exists() {
            let tmp = dst.with_extension("tmp");
            fs::copy(blob_path(src, sha256), &tmp).map_err(w(tmp.clone()))?;
            fs::rename(&tmp, &dst).map_err(w(dst.clone()))?;
        }
    }
    // Signature first, manifest last: a poller that sees the new manifest finds its blobs.
    write_atomic(&out.join(SIGNATURE_FILE), signature.as_bytes())?;
    write_atomic(&out.join(MANIFEST_FILE), manifest_bytes)
}

/// Writes `data` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), LayoutError> {
    let tmp = path.with_extension("tmp~");
    fs::write(&tmp, data).map_err(|source| LayoutError::Write {
        path: tmp.clone(),
        source,
    })?;
    fs::rename(&tmp, path).map_err(|source| LayoutError::Write {
        path: path.into(),
        source,
    })
}
