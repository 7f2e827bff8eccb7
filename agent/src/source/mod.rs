//! Sources: where bundles come from. Every source yields the same thing, a signed manifest and
//! a way to fetch its files, which the reconcile loop verifies with one code path.

pub mod dir;

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

/// Builds the source a sync's configuration names.
pub fn from_config(cfg: &crate::config::SourceConfig, scratch: &std::path::Path) -> Box<dyn Source> {
    match cfg {
        crate::config::SourceConfig::Directory { path } => Box::new(dir::DirSource::new(path.clone(), scratch.to_path_buf())),
    }
}
