//! Installing one host file without following a symlink anywhere: every directory from the
//! root down is opened with `O_NOFOLLOW | O_DIRECTORY` relative to its parent (`openat`), so a
//! parent swapped for a symlink between the check and the install is refused, and all writes go
//! through the held directory descriptor. The new content is written beside the target
//! (`O_EXCL`), fsynced, the current version hard-linked to `<target>.ferry-prev`, and renamed
//! into place; the directory is fsynced after each step.

use super::plan::Current;
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use thiserror::Error;

/// Suffix of the kept previous version.
pub const PREV_SUFFIX: &str = ".ferry-prev";
const NEW_SUFFIX: &str = ".ferry-new";

/// Why a host file could not be read or installed.
#[derive(Debug, Error)]
pub enum InstallError {
    #[error("host path {path}: a parent directory is a symlink or not a directory")]
    SymlinkInPath { path: String },
    #[error("host path {path}: the target is a symlink")]
    SymlinkTarget { path: String },
    #[error("host path {path}: the target is a directory or special file")]
    SpecialFile { path: String },
    #[error("host path {path}: the previous version ({path}.ferry-prev) is gone; cannot restore")]
    PreviousMissing { path: String },
    #[error("host path {path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: std::io::Error,
    },
}

fn io<'a>(path: &'a str, op: &'static str) -> impl FnOnce(std::io::Error) -> InstallError + 'a {
    move |source| InstallError::Io {
        path: path.to_string(),
        op,
        source,
    }
}

fn cstr(s: &str) -> std::io::Result<CString> {
    CString::new(s).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

fn check(rc: libc::c_int) -> std::io::Result<libc::c_int> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A target's parent directory, held open, and the target's file name.
pub struct Parent {
    dir: OwnedFd,
    name: String,
    target: String,
}

fn open_dir_at(dir: Option<&OwnedFd>, name: &str) -> std::io::Result<OwnedFd> {
    let c = cstr(name)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: c is a valid NUL-terminated string; the returned fd is owned below.
    let fd = check(unsafe {
        match dir {
            Some(d) => libc::openat(d.as_raw_fd(), c.as_ptr(), flags),
            None => libc::open(c.as_ptr(), flags),
        }
    })?;
    // SAFETY: fd was just returned by open/openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Parent {
    /// Opens the parent of `target` (absolute, normalized) under `root`, creating missing
    /// directories (mode 0755), following no symlink below the root.
    pub fn open(root: &Path, target: &str, create: bool) -> Result<Parent, InstallError> {
        let root_str = root.to_str().ok_or_else(|| InstallError::Io {
            path: target.into(),
            op: "root path",
            source: std::io::ErrorKind::InvalidInput.into(),
        })?;
        let mut dir = open_dir_at(None, root_str).map_err(io(target, "open root"))?;
        let rel = target.trim_start_matches('/');
        let (parents, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (p.split('/').collect::<Vec<_>>(), n),
            None => (Vec::new(), rel),
        };
        for comp in parents {
            dir = match open_dir_at(Some(&dir), comp) {
                Ok(d) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                    let c = cstr(comp).map_err(io(target, "mkdir"))?;
                    // SAFETY: valid fd and C string.
                    check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) })
                        .map_err(io(target, "mkdir"))?;
                    open_dir_at(Some(&dir), comp).map_err(|e| symlink_or(e, target))?
                }
                Err(e) => return Err(symlink_or(e, target)),
            };
        }
        Ok(Parent {
            dir,
            name: name.to_string(),
            target: target.to_string(),
        })
    }

    fn stat(&self, name: &str) -> std::io::Result<Option<libc::stat>> {
        let c = cstr(name)?;
        // SAFETY: an all-zero stat is a valid value; fstatat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd, C string and out pointer.
        let rc = unsafe {
            libc::fstatat(
                self.dir.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        match check(rc) {
            Ok(_) => Ok(Some(st)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn open_file(&self, name: &str, flags: libc::c_int, mode: u32) -> std::io::Result<File> {
        let c = cstr(name)?;
        // SAFETY: valid fd and C string.
        let fd = check(unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                c.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        })?;
        // SAFETY: fd was just returned by openat.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// What is at `<target><suffix>` now, with the sha256 of a regular file.
    pub fn current(&self, suffix: &str) -> Result<Current, InstallError> {
        let name = format!("{}{suffix}", self.name);
        let st = self.stat(&name).map_err(io(&self.target, "stat"))?;
        let Some(st) = st else {
            return Ok(Current::Missing);
        };
        match st.st_mode & libc::S_IFMT {
            libc::S_IFLNK => Ok(Current::Symlink),
            libc::S_IFREG => {
                let f = self
                    .open_file(&name, libc::O_RDONLY | libc::O_NONBLOCK, 0)
                    .map_err(io(&self.target, "open"))?;
                let (sha256, _) =
                    ferry_bundle::digest::sha256_reader(f).map_err(io(&self.target, "read"))?;
                Ok(Current::Regular { sha256 })
            }
            _ => Ok(Current::Special),
        }
    }

    fn sync_dir(&self) -> Result<(), InstallError> {
        // SAFETY: valid fd.
        check(unsafe { libc::fsync(self.dir.as_raw_fd()) })
            .map(|_| ())
            .map_err(io(&self.target, "fsync directory"))
    }

    fn unlink(&self, name: &str) -> Result<(), InstallError> {
        let c = cstr(name).map_err(io(&self.target, "unlink"))?;
        // SAFETY: valid fd and C string.
        match check(unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) }) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(io(&self.target, "unlink")(e)),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), InstallError> {
        let (f, t) = (
            cstr(from).map_err(io(&self.target, "rename"))?,
            cstr(to).map_err(io(&self.target, "rename"))?,
        );
        let d = self.dir.as_raw_fd();
        // SAFETY: valid fds and C strings.
        check(unsafe { libc::renameat(d, f.as_ptr(), d, t.as_ptr()) })
            .map(|_| ())
            .map_err(io(&self.target, "rename"))
    }

    /// Writes `data` beside the target (`O_EXCL`), with owner and mode, and fsyncs it.
    pub fn stage(&self, data: &[u8], mode: u32, uid: u32, gid: u32) -> Result<(), InstallError> {
        let tmp = format!("{}{NEW_SUFFIX}", self.name);
        self.unlink(&tmp)?;
        let mut f = self
            .open_file(&tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o600)
            .map_err(io(&self.target, "create"))?;
        f.write_all(data).map_err(io(&self.target, "write"))?;
        // SAFETY: valid fd.
        if unsafe { libc::geteuid() } == 0 {
            check(unsafe { libc::fchown(f.as_raw_fd(), uid, gid) })
                .map_err(io(&self.target, "chown"))?;
        }
        // SAFETY: valid fd.
        check(unsafe { libc::fchmod(f.as_raw_fd(), mode as libc::mode_t) })
            .map_err(io(&self.target, "chmod"))?;
        f.sync_all().map_err(io(&self.target, "fsync"))?;
        self.sync_dir()
    }

    /// Keeps the current version as `<target>.ferry-prev` (a hard link).
    pub fn keep_previous(&self) -> Result<(), InstallError> {
        let prev = format!("{}{PREV_SUFFIX}", self.name);
        self.unlink(&prev)?;
        let (f, t) = (
            cstr(&self.name).map_err(io(&self.target, "link"))?,
            cstr(&prev).map_err(io(&self.target, "link"))?,
        );
        let d = self.dir.as_raw_fd();
        // SAFETY: valid fds and C strings; flags 0 = do not follow a symlink.
        check(unsafe { libc::linkat(d, f.as_ptr(), d, t.as_ptr(), 0) })
            .map_err(io(&self.target, "link previous"))?;
        self.sync_dir()
    }

    /// Renames the staged content over the target (atomic) and fsyncs the directory.
    pub fn commit(&self) -> Result<(), InstallError> {
        self.rename(&format!("{}{NEW_SUFFIX}", self.name), &self.name)?;
        self.sync_dir()
    }

    /// Brings the target back to `previous` (a digest; `None`: the target did not exist),
    /// from `<target>.ferry-prev` when needed. Idempotent: a restore interrupted at any point
    /// can run again.
    pub fn restore(&self, previous: Option<&str>, new: &str) -> Result<(), InstallError> {
        self.unlink(&format!("{}{NEW_SUFFIX}", self.name))?;
        let now = self.current("")?;
        match previous {
            Some(old) => {
                if now
                    == (Current::Regular {
                        sha256: old.to_string(),
                    })
                {
                    return Ok(());
                }
                if self.current(PREV_SUFFIX)?
                    != (Current::Regular {
                        sha256: old.to_string(),
                    })
                {
                    return Err(InstallError::PreviousMissing {
                        path: self.target.clone(),
                    });
                }
                self.rename(&format!("{}{PREV_SUFFIX}", self.name), &self.name)?;
            }
            None => {
                if now
                    == (Current::Regular {
                        sha256: new.to_string(),
                    })
                {
                    self.unlink(&self.name)?;
                }
            }
        }
        self.sync_dir()
    }
}

fn symlink_or(e: std::io::Error, target: &str) -> InstallError {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => InstallError::SymlinkInPath {
            path: target.to_string(),
        },
        _ => io(target, "open directory")(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(b: &[u8]) -> String {
        ferry_bundle::digest::sha256_hex(b)
    }

    #[test]
    fn installs_keeps_previous_and_restores_idempotently() {
        let root = tempfile::tempdir().unwrap();
        let p = Parent::open(root.path(), "/etc/app/conf", true).unwrap();
        assert_eq!(p.current("").unwrap(), Current::Missing);
        p.stage(b"one", 0o640, 0, 0).unwrap();
        p.commit().unwrap();
        let at = root.path().join("etc/app/conf");
        assert_eq!(std::fs::read(&at).unwrap(), b"one");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&at).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        p.stage(b"two", 0o640, 0, 0).unwrap();
        p.keep_previous().unwrap();
        p.commit().unwrap();
        assert_eq!(std::fs::read(&at).unwrap(), b"two");
        assert_eq!(
            std::fs::read(root.path().join("etc/app/conf.ferry-prev")).unwrap(),
            b"one"
        );
        // Restore twice (a kill during a rollback runs it again).
        p.restore(Some(&digest(b"one")), &digest(b"two")).unwrap();
        p.restore(Some(&digest(b"one")), &digest(b"two")).unwrap();
        assert_eq!(std::fs::read(&at).unwrap(), b"one");
        // A file that did not exist before is removed; an unrelated file is left alone.
        let q = Parent::open(root.path(), "/etc/app/new", true).unwrap();
        q.stage(b"n", 0o600, 0, 0).unwrap();
        q.commit().unwrap();
        q.restore(None, &digest(b"n")).unwrap();
        assert!(!root.path().join("etc/app/new").exists());
        std::fs::write(root.path().join("etc/app/new"), b"someone else's").unwrap();
        q.restore(None, &digest(b"n")).unwrap();
        assert!(root.path().join("etc/app/new").exists());
        // A stale previous version is never put back over the right one.
        std::fs::write(root.path().join("etc/app/conf.ferry-prev"), b"stale").unwrap();
        std::fs::write(&at, b"three").unwrap();
        assert!(matches!(
            p.restore(Some(&digest(b"one")), &digest(b"three")),
            Err(InstallError::PreviousMissing { .. })
        ));
        assert_eq!(std::fs::read(&at).unwrap(), b"three");
    }

    #[test]
    fn a_parent_swapped_for_a_symlink_after_the_check_receives_nothing() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/k3s")).unwrap();
        let p = Parent::open(root.path(), "/etc/k3s/config.yaml", true).unwrap();
        // Between the check and the install, the directory is moved away and replaced by a
        // symlink to a directory outside the allow-list.
        std::fs::rename(
            root.path().join("etc/k3s"),
            root.path().join("etc/k3s.moved"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("etc/k3s")).unwrap();
        p.stage(b"x", 0o600, 0, 0).unwrap();
        p.commit().unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert_eq!(
            std::fs::read(root.path().join("etc/k3s.moved/config.yaml")).unwrap(),
            b"x"
        );
        // A new open sees the symlink and refuses.
        assert!(matches!(
            Parent::open(root.path(), "/etc/k3s/config.yaml", true),
            Err(InstallError::SymlinkInPath { .. })
        ));
        // The target swapped for a symlink: the rename replaces the link, never its target.
        let q = Parent::open(root.path(), "/etc/k3s.moved/config.yaml", false).unwrap();
        std::fs::remove_file(root.path().join("etc/k3s.moved/config.yaml")).unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, root.path().join("etc/k3s.moved/config.yaml")).unwrap();
        assert_eq!(q.current("").unwrap(), Current::Symlink);
        q.stage(b"y", 0o600, 0, 0).unwrap();
        q.commit().unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }
}
