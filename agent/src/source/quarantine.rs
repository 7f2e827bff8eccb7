//! The quarantine of a directory source: refused candidates are moved out of the drop so they
//! are not retried, each into a fresh directory of its own with a `reason` file.
//!
//! The quarantine may live where others can write (a USB stick), so nothing there is trusted:
//! below the point where its path parts from the drop's (the operator's choice above it), each
//! directory is opened `O_NOFOLLOW|O_DIRECTORY` (a planted symlink anywhere on the way is
//! refused, not followed), and everything after is reached through the opened directory
//! (`/proc/self/fd/N/...`), never by walking the path again. Each refusal gets a new directory
//! with an unpredictable name, created with `mkdir` (which fails on anything already there)
//! and opened the same way, and the `reason` file inside it is created
//! `O_CREAT|O_EXCL|O_NOFOLLOW`. When the quarantine is on another
//! filesystem than the drop, the candidate is copied (regular files and directories only),
//! fsynced and then removed. A quarantine equal to the drop or inside it is refused.

use ferry_bundle::safe_open;
use ferry_bundle::text;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a candidate could not be quarantined.
#[derive(Debug, Error)]
pub enum QuarantineError {
    #[error("quarantine {quarantine} is the drop directory {drop} or inside it")]
    InsideDrop { quarantine: PathBuf, drop: PathBuf },
    #[error("quarantine {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is a symlink or special file; left in place")]
    NotMovable { path: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> QuarantineError + '_ {
    move |source| QuarantineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Refuses a quarantine that is the drop itself or lies inside it (it would be rescanned, and
/// every pass would move files again). Paths are compared after resolving what exists.
pub fn check_placement(quarantine: &Path, drop: &Path) -> Result<(), QuarantineError> {
    let resolve = |p: &Path| {
        // Resolve the longest existing ancestor; keep the rest as written.
        let mut existing = p.to_path_buf();
        let mut rest = Vec::new();
        while fs::symlink_metadata(&existing).is_err() {
            match (existing.file_name(), existing.parent()) {
                (Some(name), Some(parent)) => {
                    rest.push(name.to_os_string());
                    existing = parent.to_path_buf();
                }
                _ => break,
            }
        }
        let mut out = fs::canonicalize(&existing).unwrap_or(existing);
        out.extend(rest.iter().rev());
        out
    };
    let (q, d) = (resolve(quarantine), resolve(drop));
    if q.starts_with(&d) {
        return Err(QuarantineError::InsideDrop {
            quarantine: quarantine.into(),
            drop: drop.into(),
        });
    }
    Ok(())
}

/// Moves `candidate` (a file or directory in `drop`) into a new directory under `quarantine`
/// with a `reason` file; returns where it went.
pub fn quarantine(
    quarantine: &Path,
    drop: &Path,
    candidate: &Path,
    reason: &str,
) -> Result<PathBuf, QuarantineError> {
    check_placement(quarantine, drop)?;
    let meta = fs::symlink_metadata(candidate).map_err(io_err(candidate))?;
    if !(meta.is_file() || meta.is_dir()) {
        return Err(QuarantineError::NotMovable {
            path: candidate.into(),
        });
    }
    let qdir = open_quarantine(quarantine, drop)?;
    let name = candidate
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Our own fresh directory, opened without following links: nothing can be planted in it.
    let slot_name = format!(
        "{}-{}",
        crate::store::now(),
        safe_open::unpredictable_suffix()
    );
    let shown_slot = quarantine.join(&slot_name);
    let slot = step(&qdir, std::ffi::OsStr::new(&slot_name), &shown_slot, true)?;
    let mut reason_file =
        safe_open::create_new(&through(&slot).join("reason")).map_err(io_err(&shown_slot))?;
    writeln!(
        reason_file,
        "{}\n{}",
        text::shown(&name),
        text::bounded(reason, 4096)
    )
    .map_err(io_err(&shown_slot))?;
    // The moved candidate keeps a safe name: the original one may hold anything.
    let safe = safe_name(&name);
    move_across(candidate, &through(&slot).join(&safe))?;
    Ok(shown_slot.join(safe))
}

/// The path of an opened directory that reaches it without walking its path again.
fn through(dir: &fs::File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()))
}

/// Creates (`fresh`: it must not exist yet; otherwise an existing one is fine) and opens `name` in `parent` as a
/// directory without following a symlink; `shown` names it in errors.
fn step(
    parent: &fs::File,
    name: &std::ffi::OsStr,
    shown: &Path,
    fresh: bool,
) -> Result<fs::File, QuarantineError> {
    let path = through(parent).join(name);
    let made = fs::DirBuilder::new().mode(0o700).create(&path);
    match made {
        Err(e) if fresh || e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(io_err(shown)(e))
        }
        _ => {}
    }
    safe_open::open_dir(&path).map_err(|_| QuarantineError::NotMovable { path: shown.into() })
}

/// Opens the quarantine directory, creating what is missing. Above the point where its path
/// parts from the drop's it is opened as configured (the operator chose it, links included);
/// below, every component is a real directory or the quarantine is refused.
fn open_quarantine(quarantine: &Path, drop: &Path) -> Result<fs::File, QuarantineError> {
    let q = std::path::absolute(quarantine).map_err(io_err(quarantine))?;
    let d = std::path::absolute(drop).map_err(io_err(drop))?;
    let shared = q
        .components()
        .zip(d.components())
        .take_while(|(a, b)| a == b)
        .count();
    let base: PathBuf = q.components().take(shared).collect();
    let mut dir = fs::File::open(&base).map_err(io_err(&base))?;
    let mut shown = base;
    for c in q.components().skip(shared) {
        let std::path::Component::Normal(name) = c else {
            return Err(QuarantineError::NotMovable { path: q.clone() });
        };
        shown.push(name);
        dir = step(&dir, name, &shown, false)?;
    }
    Ok(dir)
}

/// A file name with anything but `[A-Za-z0-9._-]` replaced, bounded, never `.` or `..`.
fn safe_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.trim_matches('.').is_empty() {
        s = "candidate".into();
    }
    s
}

/// Renames, or copies, fsyncs and removes when the rename crosses filesystems.
fn move_across(from: &Path, to: &Path) -> Result<(), QuarantineError> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(EXDEV) => {
            copy_tree(from, to)?;
            let meta = fs::symlink_metadata(from).map_err(io_err(from))?;
            if meta.is_dir() {
                fs::remove_dir_all(from).map_err(io_err(from))
            } else {
                fs::remove_file(from).map_err(io_err(from))
            }
        }
        Err(e) => Err(io_err(from)(e)),
    }
}

/// `EXDEV` ("Invalid cross-device link") on Linux.
const EXDEV: i32 = 18;

/// Copies regular files and directories (never symlinks or special files), fsyncing each.
fn copy_tree(from: &Path, to: &Path) -> Result<(), QuarantineError> {
    let meta = fs::symlink_metadata(from).map_err(io_err(from))?;
    if meta.is_dir() {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(to)
            .map_err(io_err(to))?;
        for e in fs::read_dir(from).map_err(io_err(from))? {
            let e = e.map_err(io_err(from))?;
            let name = e.file_name();
            let ft = e.file_type().map_err(io_err(from))?;
            if ft.is_dir() || ft.is_file() {
                copy_tree(&e.path(), &to.join(&name))?;
            }
        }
        return fs::File::open(to)
            .and_then(|d| d.sync_all())
            .map_err(io_err(to));
    }
    let mut src = safe_open::open_regular(from).map_err(io_err(from))?;
    let mut dst = safe_open::create_new(to).map_err(io_err(to))?;
    io::copy(&mut src, &mut dst).map_err(io_err(to))?;
    dst.sync_all().map_err(io_err(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_inside_the_drop_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let drop = d.path().join("drop");
        fs::create_dir_all(&drop).unwrap();
        assert!(check_placement(&drop, &drop).is_err());
        assert!(check_placement(&drop.join("q"), &drop).is_err());
        assert!(check_placement(&drop.join("./q/../q2"), &drop).is_err());
        assert!(check_placement(&d.path().join("q"), &drop).is_ok());
        std::os::unix::fs::symlink(&drop, d.path().join("alias")).unwrap();
        assert!(check_placement(&d.path().join("alias/q"), &drop).is_err());
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("a\nb\u{1b}[31m.bundle"), "a_b__31m.bundle");
        assert_eq!(safe_name(".."), "candidate");
    }

    #[test]
    fn copies_across_filesystems() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/a"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        copy_tree(&src, &d.path().join("dst")).unwrap();
        assert_eq!(fs::read(d.path().join("dst/sub/a")).unwrap(), b"x");
        assert!(fs::symlink_metadata(d.path().join("dst/link")).is_err());
    }
}
