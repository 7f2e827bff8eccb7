//! The `.bundle` archive: a gzip-compressed tar holding `bundle.yaml`, `bundle.yaml.minisig`
//! and the content files at their paths.
//!
//! Extraction is streaming and bounded: every entry is checked (regular files only, valid
//! paths, no duplicates) and counted against [`Limits`] before and while it is written, and the
//! decompressed stream as a whole is capped, so a tar bomb or an endless stream is cut off.

use crate::limits::Limits;
use crate::manifest::Manifest;
use crate::paths::{self, PathError};
use crate::{MANIFEST_FILE, SIGNATURE_FILE};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use tar::EntryType;
use thiserror::Error;

/// Why an archive could not be written or was refused.
#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error("archive is truncated or corrupt: {0}")]
    Corrupt(String),
    #[error("archive entry {path:?} is a symbolic or hard link")]
    Link { path: String },
    #[error("archive entry {path:?} is a device, fifo or other special file")]
    Special { path: String },
    #[error("archive entry has a bad path: {0}")]
    Path(#[from] PathError),
    #[error("archive entry name is not UTF-8")]
    NotUtf8,
    #[error("archive holds {path:?} twice")]
    Duplicate { path: String },
    #[error("archive holds more than {max} files")]
    TooManyFiles { max: usize },
    #[error("archive entry {path:?} is {size} bytes, above the limit of {max}")]
    FileTooLarge { path: String, size: u64, max: u64 },
    #[error("archive content exceeds the limit of {max} bytes")]
    TooLarge { max: u64 },
    #[error("archive has no {0}")]
    Missing(&'static str),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Writes a gzip tar archive of the plain bundle in `dir` (manifest, signature, files).
pub fn write(
    dir: &Path,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    signature: &str,
    out: impl Write,
) -> io::Result<()> {
    let gz = GzEncoder::new(out, Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    append_bytes(
        &mut tar,
        MANIFEST_FILE,
        manifest_bytes,
        manifest.created.unix(),
    )?;
    append_bytes(
        &mut tar,
        SIGNATURE_FILE,
        signature.as_bytes(),
        manifest.created.unix(),
    )?;
    for f in &manifest.files {
        let data = fs::read(dir.join(&f.path))?;
        append_bytes(&mut tar, &f.path, &data, manifest.created.unix())?;
    }
    tar.into_inner()?.finish()?.flush()
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mtime: u64,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(EntryType::Regular);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    tar.append_data(&mut header, path, data)
}

/// What an extraction produced: manifest and signature in memory, content files on disk.
#[derive(Debug)]
pub struct Extracted {
    pub manifest: Vec<u8>,
    pub signature: Option<String>,
    /// Content paths written under the destination, sorted.
    pub files: BTreeSet<String>,
}

/// Caps a reader at `left` bytes, failing (not ending) when more arrive.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(
                "decompressed stream exceeds the bundle size limit",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Extracts a `.bundle` archive into `dest` (which must be empty or not exist) under `limits`.
/// Nothing is ever written outside `dest`.
pub fn extract(reader: impl Read, dest: &Path, limits: &Limits) -> Result<Extracted, ArchiveError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Write { path, source }
    };
    fs::create_dir_all(dest).map_err(werr(dest))?;
    // Headers take 512 bytes each, plus padding; allow that on top of the content limit.
    let overhead = (limits.max_files as u64 + 8) * 1024;
    let cap =
        limits.max_total_bytes + limits.max_manifest_bytes + limits.max_signature_bytes + overhead;
    let mut archive = tar::Archive::new(Capped {
        inner: GzDecoder::new(reader),
        left: cap,
    });
    let mut manifest = None;
    let mut signature = None;
    let mut files = BTreeSet::new();
    let mut total = 0u64;
    let entries = archive.entries().map_err(corrupt)?;
    for entry in entries {
        let mut entry = entry.map_err(corrupt)?;
        let path_bytes = entry.path_bytes().into_owned();
        let path = String::from_utf8(path_bytes).map_err(|_| ArchiveError::NotUtf8)?;
        let size = entry.header().size().map_err(corrupt)?;
        match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {}
            EntryType::Directory => {
                paths::validate(path.trim_end_matches('/'), limits.max_path_bytes)?;
                continue;
            }
            EntryType::Symlink | EntryType::Link => return Err(ArchiveError::Link { path }),
            _ => return Err(ArchiveError::Special { path }),
        }
        if path == MANIFEST_FILE || path == SIGNATURE_FILE {
            let max = if path == MANIFEST_FILE {
                limits.max_manifest_bytes
            } else {
                limits.max_signature_bytes
            };
            if size > max {
                return Err(ArchiveError::FileTooLarge { path, size, max });
            }
            let slot = if path == MANIFEST_FILE {
                &mut manifest
            } else {
                &mut signature
            };
            if slot.is_some() {
                return Err(ArchiveError::Duplicate { path });
            }
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf).map_err(corrupt)?;
            *slot = Some(buf);
            continue;
        }
        paths::validate(&path, limits.max_path_bytes)?;
        if files.len() >= limits.max_files {
            return Err(ArchiveError::TooManyFiles {
                max: limits.max_files,
            });
        }
        if size > limits.max_file_bytes {
            return Err(ArchiveError::FileTooLarge {
                path,
                size,
                max: limits.max_file_bytes,
            });
        }
        total += size;
        if total > limits.max_total_bytes {
            return Err(ArchiveError::TooLarge {
                max: limits.max_total_bytes,
            });
        }
        if !files.insert(path.clone()) {
            return Err(ArchiveError::Duplicate { path });
        }
        let target = dest.join(&path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(werr(parent))?;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(werr(&target))?;
        let copied = io::copy(&mut (&mut entry).take(size), &mut out).map_err(corrupt)?;
        if copied != size {
            return Err(ArchiveError::Corrupt(format!(
                "entry {path:?} ends after {copied} of {size} bytes"
            )));
        }
    }
    let manifest = manifest.ok_or(ArchiveError::Missing(MANIFEST_FILE))?;
    let signature = signature.map(|s| String::from_utf8_lossy(&s).into_owned());
    Ok(Extracted {
        manifest,
        signature,
        files,
    })
}

fn corrupt(e: io::Error) -> ArchiveError {
    ArchiveError::Corrupt(e.to_string())
}
