//! Sources: where bundles come from. Every source yields the same thing, a signed manifest and
//! a way to fetch its files, which the reconcile loop verifies with one code path.

pub mod dir;
pub mod http;

use ferry_bundle::local::LocalError;
use ferry_bundle::manifest::FileEntry;
use ferry_bundle::verify::VerifyPolicy;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("source {source_name} is unreachable: {reason}")]
    Unreachable { source_name: String, reason: String },
    #[error("source {source_name} holds no valid bundle{}", if .refused.is_empty() { String::new() } else { format!(" ({} refused: {})", .refused.len(), .refused.join("; ")) })]
    NoBundle { source_name: String, refused: Vec<String> },
    #[error("{origin}: {reason}")]
    File { origin: String, reason: String },
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// Fetches the content files of a found bundle; returned bytes are verified against the entry.
pub trait FileFetcher: Send {
    fn fetch(&mut self, entry: &FileEntry) -> Result<Vec<u8>, SourceError>;
}

/// A bundle a source offers.
pub struct Found {
    pub manifest: Vec<u8>,
    pub signature: Option<String>,
    /// Opaque token: the same cursor next time means nothing changed.
    pub cursor: String,
    /// Human-readable location (file path, URL, commit).
    pub origin: String,
    pub files: Box<dyn FileFetcher>,
    /// Candidates that were refused on the way (named, with the reason).
    pub refused: Vec<String>,
}

/// The result of one poll.
pub enum Poll {
    Unchanged,
    Found(Found),
}

/// A place bundles come from.
pub trait Source: Send {
    /// A short description for logs and errors.
    fn describe(&self) -> String;
    /// Looks for the newest bundle; `cursor` is what the last successful poll returned.
    fn poll(&mut self, cursor: Option<&str>, policy: &VerifyPolicy) -> Result<Poll, SourceError>;
}

/// Files extracted from an archive into a scratch directory (removed when dropped).
pub struct ExtractedFiles {
    pub dir: std::path::PathBuf,
    pub origin: String,
}

impl FileFetcher for ExtractedFiles {
    fn fetch(&mut self, entry: &FileEntry) -> Result<Vec<u8>, SourceError> {
        let origin = format!("{}: {}", self.origin, entry.path);
        let f = std::fs::File::open(self.dir.join(&entry.path)).map_err(|e| SourceError::File { origin: origin.clone(), reason: e.to_string() })?;
        ferry_bundle::verify::read_verified(entry, f).map_err(|e| SourceError::File { origin, reason: e.to_string() })
    }
}

impl Drop for ExtractedFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Builds the source a sync's configuration names.
pub fn from_config(cfg: &crate::config::SourceConfig, scratch: &std::path::Path) -> Box<dyn Source> {
    use crate::config::SourceConfig;
    match cfg {
        SourceConfig::Directory { path, quarantine } => Box::new(dir::DirSource::new(path.clone(), scratch.to_path_buf(), quarantine.clone())),
        SourceConfig::Http { url, signature_url, timeout, auth } => {
            Box::new(http::HttpSource::new(url.clone(), signature_url.clone(), auth, *timeout, scratch.to_path_buf()))
        }
    }
}
