//! The `.bundle` archive: a gzip-compressed tar holding `bundle.yaml`, `bundle.yaml.minisig`,
//! the content files at their paths and, when the bundle carries container images, every
//! distinct image blob as `blobs/sha256/<hex>`.
//!
//! Extraction is streaming, bounded and verification-first: the head (`bundle.yaml` and its
//! signature, which must be the first members) is read alone under a small decompressed-byte
//! budget and handed to the caller to verify; only then are content members written, and only
//! those the verified manifest lists, at their listed sizes. Every entry is checked (regular
//! files only, valid paths, no duplicates) and counted against [`Limits`] before and while it
//! is written, and the decompressed stream as a whole is capped, so a tar bomb or an endless
//! stream is cut off. Image blobs are members only when the verified manifest lists them, at
//! their listed sizes; they are bounded by the manifest's image limits (checked when it was
//! parsed), not by the content-file limits, and their digests are checked by the reader that
//! takes them (the agent's image fetch) while it streams them into its cache.

use crate::limits::Limits;
use crate::manifest::{FileEntry, Manifest};
use crate::paths::{self, PathError};
use crate::{safe_open, text};
use crate::{MANIFEST_FILE, SIGNATURE_FILE};
use flate2::read::GzDecoder;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tar::EntryType;
use thiserror::Error;

mod write;
pub use write::{image_blob_member, write};

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
    #[error("archive must begin with bundle.yaml and bundle.yaml.minisig, found {found:?} first")]
    HeadFirst { found: String },
    #[error("archive holds file {path:?} that the verified manifest does not list")]
    Unlisted { path: String },
    #[error("archive entry {path:?} is {size} bytes, the verified manifest lists {listed}")]
    SizeMismatch {
        path: String,
        size: u64,
        listed: u64,
    },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// What the verified manifest allows in an archive: its content files and its image blobs.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub files: Vec<FileEntry>,
    /// Distinct image blobs: lowercase hex -> listed size.
    pub image_blobs: BTreeMap<String, u64>,
}

impl Listing {
    /// Everything a verified manifest lists.
    pub fn of(manifest: &Manifest) -> Self {
        Listing {
            files: manifest.files.clone(),
            image_blobs: crate::images::distinct_blobs(&manifest.images)
                .into_iter()
                .map(|(hex, b)| (hex, b.size))
                .collect(),
        }
    }
}

impl From<Vec<FileEntry>> for Listing {
    fn from(files: Vec<FileEntry>) -> Self {
        Listing {
            files,
            image_blobs: BTreeMap::new(),
        }
    }
}

/// The signed head of an archive: its first members, `bundle.yaml` and (when present)
/// `bundle.yaml.minisig`, read with byte bounds and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub manifest: Vec<u8>,
    pub signature: Option<String>,
}

/// What an extraction produced: manifest and signature in memory, content files on disk.
#[derive(Debug)]
pub struct Extracted {
    pub manifest: Vec<u8>,
    pub signature: Option<String>,
    /// Content paths written under the destination, sorted (empty when the head was refused).
    pub files: BTreeSet<String>,
}

/// Caps a reader at a shared budget, failing (not ending) when more arrive. The budget is
/// shared so extraction can start small (the head only) and widen once the head is verified.
struct Capped<R> {
    inner: R,
    left: Rc<Cell<u64>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Never ask for more than the budget allows (plus one byte to notice an overrun).
        let want = buf
            .len()
            .min(self.left.get().saturating_add(1).min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left.get() {
            return Err(io::Error::other(
                "decompressed stream exceeds the bundle size limit",
            ));
        }
        self.left.set(self.left.get() - n as u64);
        Ok(n)
    }
}

/// Decompressed bytes allowed for the head: both members, their headers and long names.
fn head_budget(limits: &Limits) -> u64 {
    limits
        .max_manifest_bytes
        .saturating_add(limits.max_signature_bytes)
        .saturating_add(8 * 1024)
}

/// Decompressed bytes allowed for the content: files plus 1 KiB of headers and padding each.
fn content_budget(limits: &Limits) -> u64 {
    let overhead = (limits.max_files as u64)
        .saturating_add(8)
        .saturating_mul(1024);
    limits.max_total_bytes.saturating_add(overhead)
}

/// Reads only the head of an archive (bounded by the manifest and signature limits); no
/// content member is read and nothing is written.
pub fn read_head(reader: impl Read, limits: &Limits) -> Result<Head, ArchiveError> {
    let left = Rc::new(Cell::new(head_budget(limits)));
    let mut archive = tar::Archive::new(Capped {
        inner: GzDecoder::new(reader),
        left,
    });
    let mut entries = archive.entries().map_err(corrupt)?;
    let (head, _next) = head_of(&mut entries, limits)?;
    Ok(head)
}

/// Extracts a `.bundle` archive into `dest` (which must be empty or not exist) under `limits`,
/// in two steps: the head alone is read first (bounded) and handed to `check`, which verifies
/// it and answers with the files the verified manifest lists; only those files, at their
/// listed sizes, are then written. When `check` answers `None` nothing is written and the
/// result holds the head only. Nothing is ever written outside `dest`.
pub fn extract_verified<L: Into<Listing>>(
    reader: impl Read,
    dest: &Path,
    limits: &Limits,
    check: impl FnOnce(&Head) -> Option<L>,
) -> Result<Extracted, ArchiveError> {
    let left = Rc::new(Cell::new(head_budget(limits)));
    let mut archive = tar::Archive::new(Capped {
        inner: GzDecoder::new(reader),
        left: left.clone(),
    });
    let mut entries = archive.entries().map_err(corrupt)?;
    let (head, next) = head_of(&mut entries, limits)?;
    let Some(listed) = check(&head) else {
        return Ok(Extracted {
            manifest: head.manifest,
            signature: head.signature,
            files: BTreeSet::new(),
        });
    };
    let listing: Listing = listed.into();
    let listed: BTreeMap<String, u64> = listing
        .files
        .into_iter()
        .map(|f| (f.path, f.size))
        .collect();
    let image_blobs: BTreeMap<String, u64> = listing
        .image_blobs
        .into_iter()
        .map(|(hex, size)| (image_blob_member(&hex), size))
        .collect();
    // Listed image blobs widen the budget by exactly their signed sizes (and 1 KiB each).
    let image_budget = image_blobs.values().fold(0u64, |acc, size| {
        acc.saturating_add(*size).saturating_add(1024)
    });
    left.set(content_budget(limits).saturating_add(image_budget));
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Write { path, source }
    };
    fs::create_dir_all(dest).map_err(werr(dest))?;
    let mut content = Content {
        dest,
        limits,
        listed: &listed,
        image_blobs: &image_blobs,
        files: BTreeSet::new(),
        total: 0,
    };
    if let Some(entry) = next {
        content.take(entry)?;
    }
    for entry in entries {
        content.take(entry.map_err(corrupt)?)?;
    }
    Ok(Extracted {
        manifest: head.manifest,
        signature: head.signature,
        files: content.files,
    })
}

type Entries<'a, R> = tar::Entries<'a, Capped<GzDecoder<R>>>;
type Entry<'a, R> = tar::Entry<'a, Capped<GzDecoder<R>>>;

/// Reads the head members; returns them and the first content entry, if one was read.
fn head_of<'a, R: Read>(
    entries: &mut Entries<'a, R>,
    limits: &Limits,
) -> Result<(Head, Option<Entry<'a, R>>), ArchiveError> {
    let mut first = match entries.next() {
        Some(e) => e.map_err(corrupt)?,
        None => return Err(ArchiveError::Missing(MANIFEST_FILE)),
    };
    if first.path_bytes().as_ref() != MANIFEST_FILE.as_bytes() {
        return Err(ArchiveError::HeadFirst {
            found: shown_name(&first.path_bytes()),
        });
    }
    let manifest = read_member(&mut first, MANIFEST_FILE, limits.max_manifest_bytes)?;
    let mut second = match entries.next() {
        Some(e) => e.map_err(corrupt)?,
        None => {
            return Ok((
                Head {
                    manifest,
                    signature: None,
                },
                None,
            ))
        }
    };
    if second.path_bytes().as_ref() != SIGNATURE_FILE.as_bytes() {
        let head = Head {
            manifest,
            signature: None,
        };
        return Ok((head, Some(second)));
    }
    let signature = read_member(&mut second, SIGNATURE_FILE, limits.max_signature_bytes)?;
    let head = Head {
        manifest,
        signature: Some(String::from_utf8_lossy(&signature).into_owned()),
    };
    Ok((head, None))
}

/// Reads one head member: a regular file of at most `max` bytes.
fn read_member<R: Read>(
    entry: &mut Entry<'_, R>,
    name: &str,
    max: u64,
) -> Result<Vec<u8>, ArchiveError> {
    if !matches!(
        entry.header().entry_type(),
        EntryType::Regular | EntryType::Continuous
    ) {
        return Err(ArchiveError::Special { path: name.into() });
    }
    let size = entry.header().size().map_err(corrupt)?;
    if size > max {
        return Err(ArchiveError::FileTooLarge {
            path: name.into(),
            size,
            max,
        });
    }
    let mut buf = Vec::with_capacity(size.min(1 << 20) as usize);
    entry.take(max).read_to_end(&mut buf).map_err(corrupt)?;
    Ok(buf)
}

/// The content step: each entry checked against the limits and the verified listing.
struct Content<'a> {
    dest: &'a Path,
    limits: &'a Limits,
    listed: &'a BTreeMap<String, u64>,
    /// Image blob members (`blobs/sha256/<hex>`) -> listed size.
    image_blobs: &'a BTreeMap<String, u64>,
    files: BTreeSet<String>,
    total: u64,
}

impl Content<'_> {
    fn take<R: Read>(&mut self, entry: Entry<'_, R>) -> Result<(), ArchiveError> {
        let limits = self.limits;
        let path = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| ArchiveError::NotUtf8)?;
        let size = entry.header().size().map_err(corrupt)?;
        match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {}
            EntryType::Directory => {
                paths::validate(path.trim_end_matches('/'), limits.max_path_bytes)?;
                return Ok(());
            }
            EntryType::Symlink | EntryType::Link => {
                return Err(ArchiveError::Link {
                    path: text::shown(&path),
                })
            }
            _ => {
                return Err(ArchiveError::Special {
                    path: text::shown(&path),
                })
            }
        }
        if path == MANIFEST_FILE || path == SIGNATURE_FILE {
            return Err(ArchiveError::Duplicate { path });
        }
        paths::validate(&path, limits.max_path_bytes)?;
        if let (Some(&listed), false) =
            (self.image_blobs.get(&path), self.listed.contains_key(&path))
        {
            if self.files.contains(&path) {
                return Err(ArchiveError::Duplicate { path });
            }
            if listed != size {
                return Err(ArchiveError::SizeMismatch { path, size, listed });
            }
            return self.write(entry, path, size);
        }
        if self.files.len() >= limits.max_files {
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
        self.total = self.total.saturating_add(size);
        if self.total > limits.max_total_bytes {
            return Err(ArchiveError::TooLarge {
                max: limits.max_total_bytes,
            });
        }
        if self.files.contains(&path) {
            return Err(ArchiveError::Duplicate { path });
        }
        match self.listed.get(&path) {
            None => return Err(ArchiveError::Unlisted { path }),
            Some(&listed) if listed != size => {
                return Err(ArchiveError::SizeMismatch { path, size, listed })
            }
            Some(_) => {}
        }
        self.write(entry, path, size)
    }

    /// Writes a checked member to its place under the destination (never through a link).
    fn write<R: Read>(
        &mut self,
        mut entry: Entry<'_, R>,
        path: String,
        size: u64,
    ) -> Result<(), ArchiveError> {
        self.files.insert(path.clone());
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ArchiveError::Write { path, source }
        };
        let target = self.dest.join(&path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(werr(parent))?;
        }
        let mut out = safe_open::create_new(&target).map_err(werr(&target))?;
        let copied = io::copy(&mut (&mut entry).take(size), &mut out).map_err(corrupt)?;
        if copied != size {
            return Err(ArchiveError::Corrupt(format!(
                "entry {path:?} ends after {copied} of {size} bytes"
            )));
        }
        Ok(())
    }
}

/// A member name as shown in an error: escaped and bounded.
fn shown_name(bytes: &[u8]) -> String {
    text::shown(&String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]))
}

fn corrupt(e: io::Error) -> ArchiveError {
    ArchiveError::Corrupt(text::shown(&e.to_string()))
}
