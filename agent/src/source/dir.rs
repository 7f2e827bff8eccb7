//! The local directory source: a directory holding `.bundle` archives and/or bundle
//! directories (plain or exploded), or being one itself. The newest valid revision wins;
//! candidates that fail verification (manifest or any file) are reported, not applied.

use super::quarantine;
use super::{AfterRefusal, FileFetcher, Found, Poll, Source, SourceError};
use ferry_bundle::digest::sha256_hex;
use ferry_bundle::local::{self, Opened};
use ferry_bundle::manifest::FileEntry;
use ferry_bundle::verify::{self, VerifyPolicy};
use ferry_bundle::{safe_open, text};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct DirSource {
    dir: PathBuf,
    scratch: PathBuf,
    quarantine: Option<PathBuf>,
    /// Candidates refused before, by path, with the stamp they had and why: a refused file
    /// that has not changed is not opened again (a bad file costs one look, not one per pass).
    refused: BTreeMap<PathBuf, (String, String)>,
    /// The candidate the last poll offered, for [`Source::refused`].
    offered: Option<Offered>,
}

/// The candidate a poll offered.
struct Offered {
    path: PathBuf,
    /// Another candidate of that poll verified as newer than the applied revision: after a
    /// refusal of this one, the next poll must look again.
    others_newer: bool,
}

impl DirSource {
    pub fn new(dir: PathBuf, scratch: PathBuf, quarantine: Option<PathBuf>) -> Self {
        DirSource {
            dir,
            scratch,
            quarantine,
            refused: BTreeMap::new(),
            offered: None,
        }
    }

    /// Moves a refused candidate into the quarantine (see [`super::quarantine`]).
    fn quarantine(&self, candidate: &Path, reason: &str) -> Option<PathBuf> {
        let q = self.quarantine.as_ref()?;
        match quarantine::quarantine(q, &self.dir, candidate, reason) {
            Ok(to) => Some(to),
            Err(e) => {
                tracing::warn!("cannot quarantine {}: {}", shown_path(candidate), e);
                None
            }
        }
    }

    fn candidates(&self) -> Result<Vec<PathBuf>, SourceError> {
        let unreachable = |reason: String| SourceError::Unreachable {
            source_name: self.describe(),
            reason,
        };
        // The configured directory itself may be a symlink (the operator chose it); nothing
        // inside it is followed.
        if !self.dir.is_dir() {
            return Err(unreachable(
                "directory does not exist (not mounted?)".into(),
            ));
        }
        if safe_open::is_regular(&self.dir.join(ferry_bundle::MANIFEST_FILE)) {
            return Ok(vec![self.dir.clone()]);
        }
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(|e| unreachable(e.to_string()))? {
            let Ok(e) = e else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            // Never follow a symlink out of the drop; FIFOs, devices and sockets are no bundles.
            let Ok(ft) = e.file_type() else { continue };
            let p = e.path();
            if (ft.is_file() && name.ends_with(".bundle"))
                || (ft.is_dir() && safe_open::is_regular(&p.join(ferry_bundle::MANIFEST_FILE)))
            {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    }

    /// What identifies one version of a candidate: inode, size and mtime of the archive or the
    /// manifest, without following symlinks.
    fn stamp(p: &Path) -> String {
        let target = if safe_open::is_real_dir(p) {
            p.join(ferry_bundle::MANIFEST_FILE)
        } else {
            p.to_path_buf()
        };
        let meta = fs::symlink_metadata(&target).ok();
        let mtime = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!(
            "{}|{}|{}",
            meta.as_ref().map(|m| m.ino()).unwrap_or(0),
            meta.as_ref().map(|m| m.len()).unwrap_or(0),
            mtime
        )
    }

    /// A cheap fingerprint of the candidates (names, stamps, manifest and signature bytes).
    fn fingerprint(paths: &[PathBuf]) -> String {
        let mut s = String::new();
        for p in paths {
            s.push_str(&format!("{}|{}\n", p.display(), Self::stamp(p)));
            if safe_open::is_real_dir(p) {
                for f in [ferry_bundle::MANIFEST_FILE, ferry_bundle::SIGNATURE_FILE] {
                    if let Ok(Some(bytes)) = safe_open::read_capped(&p.join(f), 4 << 20) {
                        s.push_str(&sha256_hex(&bytes));
                    }
                }
            }
        }
        sha256_hex(s.as_bytes())
    }
}

/// A path as shown in messages: escaped and bounded.
fn shown_path(p: &Path) -> String {
    text::shown(&p.display().to_string())
}

struct OpenedFiles {
    opened: Opened,
    _scratch: Option<ScratchDir>,
}

/// A scratch directory removed when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl FileFetcher for OpenedFiles {
    fn fetch(&mut self, entry: &FileEntry) -> Result<Vec<u8>, SourceError> {
        let path = self.opened.file_path(entry);
        let origin = format!("{}: {}", shown_path(&self.opened.origin), entry.path);
        let f = safe_open::open_regular(&path).map_err(|e| SourceError::File {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        verify::read_verified(entry, f).map_err(|e| SourceError::File {
            origin,
            reason: e.to_string(),
        })
    }

    fn open_image_blob(
        &mut self,
        sha256: &ferry_bundle::digest::Sha256,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        let path = self.opened.image_blob_path(sha256.as_str());
        match safe_open::open_regular(&path) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) => Err(SourceError::File {
                origin: shown_path(&path),
                reason: e.to_string(),
            }),
        }
    }
}

impl DirSource {
    /// Records a refusal, quarantining the candidate when configured; returns the message
    /// (bounded and escaped: it holds a file name and text from the candidate).
    fn refuse(&mut self, candidate: &Path, reason: &str) -> String {
        let reason = text::bounded(reason, 2048);
        match self.set_aside(candidate, &reason) {
            Some(to) => format!("{reason} (quarantined to {})", shown_path(&to)),
            None => reason,
        }
    }

    /// Moves a refused candidate into the quarantine (returns where), or, without one (or
    /// when it cannot be moved), remembers it by stamp so it is not opened again unchanged.
    fn set_aside(&mut self, candidate: &Path, reason: &str) -> Option<PathBuf> {
        let to = self.quarantine(candidate, reason);
        if to.is_none() {
            self.refused.insert(
                candidate.to_path_buf(),
                (Self::stamp(candidate), reason.to_string()),
            );
        }
        to
    }
}

impl Source for DirSource {
    fn describe(&self) -> String {
        format!("directory {}", self.dir.display())
    }

    /// Sets the offered candidate aside like a candidate refused in the poll. The drop is not
    /// read again until it changes: the cursor is the drop as it is now (after the move to
    /// the quarantine), unless another candidate of the poll was newer than the applied
    /// revision and waits for a look.
    fn refused(&mut self, cursor: &str, reason: &str) -> AfterRefusal {
        let Some(offered) = self.offered.take() else {
            return AfterRefusal::default();
        };
        let reason = text::bounded(reason, 2048);
        let moved = self.set_aside(&offered.path, &reason);
        let cursor = match (&moved, offered.others_newer) {
            (_, true) => None,
            (Some(_), false) => self.candidates().ok().map(|p| Self::fingerprint(&p)),
            (None, false) => Some(cursor.to_string()),
        };
        AfterRefusal {
            note: moved.map(|to| format!("quarantined to {}", shown_path(&to))),
            cursor,
        }
    }

    fn poll(&mut self, cursor: Option<&str>, policy: &VerifyPolicy) -> Result<Poll, SourceError> {
        self.offered = None;
        let paths = self.candidates()?;
        let fp = Self::fingerprint(&paths);
        if cursor == Some(fp.as_str()) {
            return Ok(Poll::Unchanged);
        }
        let mut best: Option<(u64, &PathBuf, OpenedFiles)> = None;
        let mut newer = 0;
        let mut refused = Vec::new();
        self.refused.retain(|p, _| paths.contains(p));
        for (i, p) in paths.iter().enumerate() {
            if let Some((stamp, reason)) = self.refused.get(p) {
                if *stamp == Self::stamp(p) {
                    refused.push(format!("{reason} (refused before, unchanged)"));
                    continue;
                }
            }
            let scratch = ScratchDir(self.scratch.join(format!("dir-{}-{i}", std::process::id())));
            let _ = fs::remove_dir_all(&scratch.0);
            let opened = match local::open(p, &policy.limits, &scratch.0) {
                Ok(o) => o,
                Err(e) => {
                    refused.push(self.refuse(p, &e.to_string()));
                    continue;
                }
            };
            match local::verify(&opened, policy) {
                Ok(v) => {
                    let rev = v.manifest().manifest.revision;
                    if matches!(v, verify::Verdict::New(_)) {
                        newer += 1;
                    }
                    if best.as_ref().is_none_or(|(r, _, _)| rev > *r) {
                        let keep = (opened.encoding == local::Encoding::Archive).then_some(scratch);
                        best = Some((
                            rev,
                            p,
                            OpenedFiles {
                                opened,
                                _scratch: keep,
                            },
                        ));
                    }
                }
                // An older revision left in the directory is history, not an attack: skip it.
                Err(e)
                    if matches!(e.verify_error(), Some(verify::VerifyError::Rollback { .. })) =>
                {
                    tracing::debug!("{e}");
                }
                Err(e) => {
                    drop(opened);
                    refused.push(self.refuse(p, &e.to_string()));
                }
            }
        }
        let Some((_, path, files)) = best else {
            return Err(SourceError::NoBundle {
                source_name: self.describe(),
                refused,
            });
        };
        self.offered = Some(Offered {
            path: path.clone(),
            others_newer: newer > 1,
        });
        Ok(Poll::Found(Found {
            manifest: files.opened.signed.manifest.clone(),
            signature: files.opened.signed.signature.clone(),
            cursor: fp,
            origin: files.opened.origin.display().to_string(),
            files: Box::new(files),
            refused,
        }))
    }
}
