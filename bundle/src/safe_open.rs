//! Opening files where someone else can place things (a drop directory, a USB stick, a
//! quarantine, a cache): never through a symlink and never a FIFO, device or socket.
//!
//! Files are opened with `O_NOFOLLOW | O_NONBLOCK` (so neither a symlink nor a FIFO without a
//! writer can redirect or block the open) and then checked with `fstat` to be regular files.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` for reading if it is a regular file (not a symlink, FIFO, device or socket).
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a symbolic link (not followed)",
            ),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a regular file (directory, FIFO, device or socket)",
        ));
    }
    Ok(file)
}

/// Opens the directory `path` itself: a symlink in its last component is refused, not
/// followed (`O_DIRECTORY|O_NOFOLLOW`).
pub fn open_dir(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Whether `path` is a regular file itself (a symlink to one is not).
pub fn is_regular(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// Whether `path` is a directory itself (a symlink to one is not).
pub fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir())
}

/// Reads at most `max + 1` bytes of the regular file at `path`; `Ok(None)` when it is larger
/// than `max`.
pub fn read_capped(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let f = open_regular(path)?;
    let mut buf = Vec::new();
    f.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}

/// Creates `path` for writing, failing if anything (a file, a symlink, a FIFO) is already there.
pub fn create_new(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o600)
        .open(path)
}

/// 64 unpredictable bits as 16 hex digits (the standard library's randomly keyed hasher), for
/// names of fresh directories in places others can write: with `mkdir`, which fails on anything
/// already there, nobody can plant a link at a name they cannot guess.
pub fn unpredictable_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_symlinks_fifos_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::write(&real, "x").unwrap();
        assert!(open_regular(&real).is_ok());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = open_regular(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(open_regular(dir.path()).is_err());
        assert!(open_dir(dir.path()).is_ok());
        std::os::unix::fs::symlink(dir.path(), dir.path().join("dirlink")).unwrap();
        assert!(open_dir(&dir.path().join("dirlink")).is_err());
        assert!(open_dir(&real).is_err());
        assert!(create_new(&link).is_err());
        assert_eq!(read_capped(&real, 0).unwrap(), None);
        assert_eq!(read_capped(&real, 1).unwrap().unwrap(), b"x");
    }
}
