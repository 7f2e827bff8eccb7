//! The content-addressed blob cache: `blobs/<sha256>` files, written through a temporary file,
//! fsync and rename, so a partial download never reaches the cache.
//!
//! Blobs are named only by a validated [`Sha256`] (no text is ever joined into a path) and
//! opened without following symlinks, only when they are regular files.

use ferry_bundle::digest::{NotSha256, Sha256};
use ferry_bundle::safe_open;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BlobError {
    #[error("blob cache {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("blob cache: {0}")]
    BadDigest(#[from] NotSha256),
}

/// What names a blob: a [`Sha256`], or text that must parse as one.
pub trait BlobKey {
    fn sha256(&self) -> Result<Sha256, NotSha256>;
}

impl BlobKey for Sha256 {
    fn sha256(&self) -> Result<Sha256, NotSha256> {
        Ok(self.clone())
    }
}

impl BlobKey for str {
    fn sha256(&self) -> Result<Sha256, NotSha256> {
        Sha256::parse(self)
    }
}

impl BlobKey for String {
    fn sha256(&self) -> Result<Sha256, NotSha256> {
        Sha256::parse(self)
    }
}

/// A directory of verified blobs named by their sha256.
pub struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    pub fn open(dir: &Path) -> Result<Self, BlobError> {
        fs::create_dir_all(dir).map_err(|source| BlobError::Io {
            path: dir.into(),
            source,
        })?;
        Ok(BlobCache { dir: dir.into() })
    }

    /// Where the blob lives: the cache directory joined with 64 hex digits, nothing else
    /// (crate-visible for the image fetch, which streams into a partial file next to it).
    pub(crate) fn path(&self, sha256: &Sha256) -> PathBuf {
        self.dir.join(sha256.as_str())
    }

    /// A fresh partial file for `sha256`, named by this process and an unpredictable suffix:
    /// processes sharing the cache (the daemon and `sync --once`) never write or remove each
    /// other's partial files; [`BlobCache::gc`] removes those of processes that are gone.
    pub(crate) fn partial_path(&self, sha256: &Sha256) -> PathBuf {
        self.dir.join(format!(
            ".{sha256}.{}-{}{PARTIAL}",
            std::process::id(),
            safe_open::unpredictable_suffix()
        ))
    }

    pub fn has<K: BlobKey + ?Sized>(&self, key: &K) -> bool {
        key.sha256()
            .is_ok_and(|d| safe_open::is_regular(&self.path(&d)))
    }

    /// Opens a blob for streaming: (file, size). Symlinks and special files are refused.
    pub fn open_blob<K: BlobKey + ?Sized>(&self, key: &K) -> Result<(fs::File, u64), BlobError> {
        let p = self.path(&key.sha256()?);
        let io = |source| BlobError::Io {
            path: p.clone(),
            source,
        };
        let f = safe_open::open_regular(&p).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        Ok((f, len))
    }

    pub fn read<K: BlobKey + ?Sized>(&self, key: &K) -> Result<Vec<u8>, BlobError> {
        use std::io::Read;
        let sha256 = key.sha256()?;
        let (mut f, len) = self.open_blob(&sha256)?;
        let mut data = Vec::with_capacity(len as usize);
        f.read_to_end(&mut data).map_err(|source| BlobError::Io {
            path: self.path(&sha256),
            source,
        })?;
        Ok(data)
    }

    /// Stores already-verified `data` under `sha256`.
    pub fn put<K: BlobKey + ?Sized>(&self, key: &K, data: &[u8]) -> Result<(), BlobError> {
        let sha256 = key.sha256()?;
        let dst = self.path(&sha256);
        let tmp = self.partial_path(&sha256);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BlobError::Io { path, source }
        };
        let written = safe_open::create_new(&tmp).and_then(|mut f| {
            f.write_all(data)?;
            f.sync_all()
        });
        if let Err(source) = written {
            // A full disk must not keep the partial file: it would only take more space.
            let _ = fs::remove_file(&tmp);
            return Err(BlobError::Io { path: tmp, source });
        }
        fs::rename(&tmp, &dst).map_err(io(&dst))?;
        Ok(())
    }

    /// Removes blobs not in `keep` and partial files left by processes that are gone; returns
    /// how many were removed.
    pub fn gc(&self, keep: &BTreeSet<String>) -> Result<usize, BlobError> {
        let mut removed = 0;
        for e in fs::read_dir(&self.dir).map_err(|source| BlobError::Io {
            path: self.dir.clone(),
            source,
        })? {
            let Ok(e) = e else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if writer_alive(&name) {
                continue;
            }
            if !keep.contains(&name) && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// How partial file names end.
const PARTIAL: &str = ".partial";

/// Whether `name` is a partial file of a process that still runs (see
/// [`BlobCache::partial_path`]: `.<sha256>.<pid>-<suffix>.partial`).
fn writer_alive(name: &str) -> bool {
    let Some(rest) = name.strip_suffix(PARTIAL) else {
        return false;
    };
    let pid = rest
        .rsplit('.')
        .next()
        .and_then(|p| p.split('-').next())
        .and_then(|p| p.parse::<u32>().ok());
    pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digests_name_blobs_and_links_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(&d.path().join("blobs")).unwrap();
        let data = b"hello";
        let sha = Sha256::of(data);
        cache.put(&sha, data).unwrap();
        assert_eq!(cache.read(&sha).unwrap(), data);
        assert!(cache.has(sha.as_str()));
        for bad in ["../../etc/passwd", "/dev/zero", "..", ""] {
            assert!(!cache.has(bad));
            assert!(matches!(cache.read(bad), Err(BlobError::BadDigest(_))));
        }
        let other = Sha256::of(b"other");
        std::os::unix::fs::symlink("/dev/zero", d.path().join("blobs").join(other.as_str()))
            .unwrap();
        assert!(!cache.has(&other));
        assert!(cache.read(&other).is_err());
    }
}
