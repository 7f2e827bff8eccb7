//! Reading the fetched commit of the Git source: a file of the bundle directory by path, and
//! the content files of a found bundle (verified against the manifest's entries).

use super::{FileFetcher, SourceError};
use ferry_bundle::manifest::FileEntry;
use ferry_bundle::verify;
use std::path::PathBuf;

/// Reads a file of the bundle directory at a commit, if its size (from the object header, before
/// anything is inflated) is at most `max` bytes: a 512 MiB `bundle.yaml` is refused unread.
pub(super) fn read_blob(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    path: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, String> {
    let commit = repo.find_commit(commit).map_err(|e| e.to_string())?;
    let tree = commit.tree().map_err(|e| e.to_string())?;
    let Some(entry) = tree.lookup_entry_by_path(path).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    if !entry.mode().is_blob() {
        return Err(format!("{path} is not a regular file in the repository"));
    }
    let size = repo
        .find_header(entry.object_id())
        .map_err(|e| e.to_string())?
        .size();
    if size > max {
        let name = path.rsplit('/').next().unwrap_or(path);
        return Err(format!(
            "{name} is {size} bytes, larger than the limit of {max} bytes: not read"
        ));
    }
    let object = entry.object().map_err(|e| e.to_string())?;
    Ok(Some(object.detach().data))
}

/// Reads content files from the fetched commit (the repository is reopened by path: gix's
/// handles are not `Send` without its `parallel` feature, which ferry leaves out).
pub(super) struct TreeFiles {
    pub(super) repo_dir: PathBuf,
    pub(super) commit: gix::ObjectId,
    pub(super) prefix: String,
    pub(super) origin: String,
}

impl FileFetcher for TreeFiles {
    fn fetch(&mut self, entry: &FileEntry) -> Result<Vec<u8>, SourceError> {
        let path = if self.prefix.is_empty() {
            entry.path.clone()
        } else {
            format!("{}/{}", self.prefix, entry.path)
        };
        let err = |reason: String| SourceError::File {
            origin: format!("{}: {path}", self.origin),
            reason,
        };
        let repo = gix::open(&self.repo_dir).map_err(|e| err(e.to_string()))?;
        // Larger than listed is refused by the header, before it is read.
        let data = read_blob(&repo, self.commit, &path, entry.size)
            .map_err(err)?
            .ok_or_else(|| err("missing in the commit".into()))?;
        verify::read_verified(entry, data.as_slice()).map_err(|e| err(e.to_string()))
    }
}
