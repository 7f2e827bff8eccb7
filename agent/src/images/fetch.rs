//! Fetching the image blobs a verified manifest lists and the cache lacks: each streams from
//! the source through sha256 into a hidden partial file in the cache directory (at most size + 1
//! bytes are read), and is renamed into the cache only when size and digest match. A blob that
//! does not match refuses the revision before anything is applied or served.

use crate::source::{FileFetcher, SourceError};
use crate::store::blobs::BlobCache;
use ferry_bundle::digest::Sha256;
use ferry_bundle::images::{distinct_blobs, ImageEntry};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ImageFetchError {
    #[error("image blob sha256:{sha256}: {source}")]
    Source { sha256: String, source: SourceError },
    #[error(
        "image blob sha256:{sha256} refused: {actual} bytes, the signed manifest says {expected}"
    )]
    Size {
        sha256: String,
        expected: u64,
        actual: u64,
    },
    #[error("image blob sha256:{sha256} refused: content has sha256 {actual}")]
    Digest { sha256: String, actual: String },
    #[error("image blob digest in the manifest: {reason}")]
    Listed { reason: String },
    #[error("image cache {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<ImageFetchError> for SourceError {
    fn from(e: ImageFetchError) -> Self {
        match e {
            ImageFetchError::Source { source, .. } => source,
            other => SourceError::File {
                origin: "images".into(),
                reason: other.to_string(),
            },
        }
    }
}

/// What one fetch moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Blobs fetched from the source.
    pub fetched: usize,
    /// Bytes fetched from the source.
    pub bytes: u64,
    /// Blobs already in the cache (not fetched).
    pub cached: usize,
}

/// Fetches every blob of `images` the cache lacks from `files`.
pub fn fetch_missing(
    cache: &BlobCache,
    images: &[ImageEntry],
    files: &mut dyn FileFetcher,
) -> Result<FetchReport, ImageFetchError> {
    let mut report = FetchReport::default();
    for (sha256, blob) in distinct_blobs(images) {
        let sha256 = Sha256::parse(&sha256).map_err(|e| ImageFetchError::Listed {
            reason: e.to_string(),
        })?;
        if cache.has(&sha256) {
            report.cached += 1;
            continue;
        }
        let reader = files
            .open_image_blob(&sha256)
            .map_err(|source| ImageFetchError::Source {
                sha256: sha256.to_string(),
                source,
            })?;
        store_verified(cache, &sha256, blob.size, reader)?;
        report.fetched += 1;
        report.bytes += blob.size;
    }
    Ok(report)
}

/// Streams `reader` into the cache as `sha256` if it has exactly `size` bytes with that digest.
pub fn store_verified(
    cache: &BlobCache,
    sha256: &Sha256,
    size: u64,
    reader: impl Read,
) -> Result<(), ImageFetchError> {
    let dst = cache.path(sha256);
    // A fresh name for this process (created exclusively, never through a symlink).
    let tmp = cache.partial_path(sha256);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageFetchError::Io { path, source }
    };
    let file = ferry_bundle::safe_open::create_new(&tmp).map_err(io(&tmp))?;
    let copied =
        ferry_bundle::images::pull::copy_hashing(reader.take(size.saturating_add(1)), file);
    let checked = match copied {
        Err(e) => Err(ImageFetchError::Source {
            sha256: sha256.to_string(),
            source: SourceError::File {
                origin: format!("image blob sha256:{sha256}"),
                reason: e.to_string(),
            },
        }),
        Ok((_, actual)) if actual != size => Err(ImageFetchError::Size {
            sha256: sha256.to_string(),
            expected: size,
            actual,
        }),
        Ok((actual, _)) if actual != sha256.as_str() => Err(ImageFetchError::Digest {
            sha256: sha256.to_string(),
            actual,
        }),
        Ok(_) => Ok(()),
    };
    if let Err(e) = checked {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &dst).map_err(io(&dst))
}
