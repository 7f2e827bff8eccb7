//! The content-addressed blob cache: `blobs/<sha256>` files, written through a temporary file,
//! fsync and rename, so a partial download never reaches the cache.

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

    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    pub fn has(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    pub fn read(&self, sha256: &str) -> Result<Vec<u8>, BlobError> {
        let p = self.path(sha256);
        fs::read(&p).map_err(|source| BlobError::Io { path: p, source })
    }

    /// Stores already-verified `data` under `sha256`.
    pub fn put(&self, sha256: &str, data: &[u8]) -> Result<(), BlobError> {
        let dst = self.path(sha256);
        let tmp = self.dir.join(format!(".{sha256}.partial"));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BlobError::Io { path, source }
        };
        let written = fs::File::create(&tmp).and_then(|mut f| {
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

    /// Removes blobs not in `keep` and leftover partial files; returns how many were removed.
    pub fn gc(&self, keep: &BTreeSet<String>) -> Result<usize, BlobError> {
        let mut removed = 0;
        for e in fs::read_dir(&self.dir).map_err(|source| BlobError::Io {
            path: self.dir.clone(),
            source,
        })? {
            let Ok(e) = e else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) && fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
