//! Building a file list from a directory of content (the publisher's side).
//!
//! Order is deterministic (sorted by path), paths are normalized to `/`-separated relative
//! paths, hidden entries (names starting with `.`) are left out and named, anything that is
//! not a regular file or directory (symlinks, devices, sockets) is refused, and so is a file
//! at a reserved top-level path (`bundle.yaml`, `bundle.yaml.minisig`): no content file
//! vanishes without a word. A nested `bundle.yaml` is content like any other file.

use crate::digest::sha256_reader;
use crate::manifest::FileEntry;
use crate::paths::{self, PathError};
use std::fs;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a content directory cannot become a bundle.
#[derive(Debug, Error)]
pub enum SourceDirError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is a symlink; bundles hold regular files only")]
    Symlink(PathBuf),
    #[error("{0} is not a regular file (device, socket or fifo)")]
    Special(PathBuf),
    #[error("{path}: {source}")]
    BadPath { path: PathBuf, source: PathError },
    #[error("{0} has a name that is not UTF-8")]
    NotUtf8(PathBuf),
    #[error("{0}: this path is reserved for the bundle manifest and its signature at the top of a bundle; move the file into a subdirectory (e.g. crds/) or rename it")]
    Reserved(PathBuf),
}

/// A content file found on disk with its manifest entry.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub entry: FileEntry,
    pub disk_path: PathBuf,
}

/// The content of a directory.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// Every regular file, sorted by bundle path.
    pub files: Vec<SourceFile>,
    /// Hidden entries left out (relative paths; a directory ends with `/`), sorted.
    pub hidden: Vec<String>,
}

/// Lists every regular file under `root` with its size and digest, sorted by bundle path; a
/// file at `bundle.yaml` or `bundle.yaml.minisig` (top level) is refused.
pub fn collect(root: &Path) -> Result<Collected, SourceDirError> {
    let mut out = Collected::default();
    walk(root, root, &mut out)?;
    out.files.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    out.hidden.sort();
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Collected) -> Result<(), SourceDirError> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| SourceDirError::NotUtf8(path.clone()))?;
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        let ft = meta.file_type();
        if name.starts_with('.') {
            let slash = if ft.is_dir() { "/" } else { "" };
            out.hidden
                .push(format!("{}{slash}", relative(root, &path)?));
            continue;
        }
        if ft.is_symlink() {
            return Err(SourceDirError::Symlink(path));
        } else if ft.is_dir() {
            walk(root, &path, out)?;
        } else if ft.is_file() {
            let rel = relative(root, &path)?;
            if rel == crate::MANIFEST_FILE || rel == crate::SIGNATURE_FILE {
                return Err(SourceDirError::Reserved(path));
            }
            paths::validate(&rel, usize::MAX).map_err(|source| SourceDirError::BadPath {
                path: path.clone(),
                source,
            })?;
            let file = fs::File::open(&path).map_err(io(&path))?;
            let (sha256, size) = sha256_reader(file).map_err(io(&path))?;
            out.files.push(SourceFile {
                entry: FileEntry {
                    path: rel,
                    size,
                    sha256,
                },
                disk_path: path,
            });
        } else {
            return Err(SourceDirError::Special(path));
        }
    }
    Ok(())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SourceDirError + '_ {
    move |source| SourceDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn relative(root: &Path, path: &Path) -> Result<String, SourceDirError> {
    let rel = path
        .strip_prefix(root)
        .map_err(|_| SourceDirError::NotUtf8(path.to_path_buf()))?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Ok(parts
        .ok_or_else(|| SourceDirError::NotUtf8(path.to_path_buf()))?
        .join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_sorted_names_hidden_and_keeps_nested_bundle_yaml() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("b/c")).unwrap();
        fs::create_dir_all(dir.path().join("b/.git")).unwrap();
        fs::write(dir.path().join("b/c/z.yaml"), "z").unwrap();
        fs::write(dir.path().join("b/c/bundle.yaml"), "crds").unwrap();
        fs::write(dir.path().join("a.yaml"), "a").unwrap();
        fs::write(dir.path().join(".hidden"), "h").unwrap();
        let c = collect(dir.path()).unwrap();
        let paths: Vec<_> = c.files.iter().map(|f| f.entry.path.as_str()).collect();
        assert_eq!(paths, ["a.yaml", "b/c/bundle.yaml", "b/c/z.yaml"]);
        assert_eq!(c.files[0].entry.size, 1);
        assert_eq!(c.hidden, [".hidden", "b/.git/"]);
    }

    #[test]
    fn refuses_content_at_the_manifest_paths() {
        for reserved in [crate::MANIFEST_FILE, crate::SIGNATURE_FILE] {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(reserved), "m").unwrap();
            let err = collect(dir.path()).unwrap_err();
            assert!(matches!(&err, SourceDirError::Reserved(p) if p.ends_with(reserved)));
            assert!(err.to_string().contains("reserved for the bundle manifest"));
        }
    }

    #[test]
    fn refuses_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        assert!(matches!(
            collect(dir.path()),
            Err(SourceDirError::Symlink(_))
        ));
    }
}
