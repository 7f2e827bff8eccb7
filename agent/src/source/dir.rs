//! The local directory source: a directory holding `.bundle` archives and/or bundle
//! directories (plain or exploded), or being one itself. The newest valid revision wins;
//! candidates that fail verification (manifest or any file) are reported, not applied.

use super::{FileFetcher, Found, Poll, Source, SourceError};
use ferry_bundle::digest::sha256_hex;
use ferry_bundle::local::{self, Opened};
use ferry_bundle::manifest::FileEntry;
use ferry_bundle::verify::{self, VerifyPolicy};
use std::fs;
use std::path::PathBuf;

pub struct DirSource {
    dir: PathBuf,
    scratch: PathBuf,
    quarantine: Option<PathBuf>,
}

impl DirSource {
    pub fn new(dir: PathBuf, scratch: PathBuf, quarantine: Option<PathBuf>) -> Self {
        DirSource {
            dir,
            scratch,
            quarantine,
        }
    }

    /// Moves a refused candidate into the quarantine directory with a `.reason` file.
    fn quarantine(&self, candidate: &std::path::Path, reason: &str) -> Option<PathBuf> {
        let q = self.quarantine.as_ref()?;
        let name = candidate.file_name()?.to_string_lossy().into_owned();
        if fs::create_dir_all(q).is_err() {
            return None;
        }
        let stamp = crate::store::now();
        let target = q.join(format!("{stamp}-{name}"));
        if let Err(e) = fs::rename(candidate, &target) {
            tracing::warn!("cannot quarantine {}: {e}", candidate.display());
            return None;
        }
        let _ = fs::write(
            q.join(format!("{stamp}-{name}.reason")),
            format!("{reason}\n"),
        );
        Some(target)
    }

    fn candidates(&self) -> Result<Vec<PathBuf>, SourceError> {
        let unreachable = |reason: String| SourceError::Unreachable {
            source_name: self.describe(),
            reason,
        };
        if !self.dir.is_dir() {
            return Err(unreachable(
                "directory does not exist (not mounted?)".into(),
            ));
        }
        if self.dir.join(ferry_bundle::MANIFEST_FILE).is_file() {
            return Ok(vec![self.dir.clone()]);
        }
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(|e| unreachable(e.to_string()))? {
            let Ok(e) = e else { continue };
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if (p.is_file() && name.ends_with(".bundle"))
                || p.join(ferry_bundle::MANIFEST_FILE).is_file()
            {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    }

    /// A cheap fingerprint of the candidates (names, sizes, mtimes, manifest bytes).
    fn fingerprint(paths: &[PathBuf]) -> String {
        let mut s = String::new();
        for p in paths {
            let target = if p.is_dir() {
                p.join(ferry_bundle::MANIFEST_FILE)
            } else {
                p.clone()
            };
            let meta = fs::metadata(&target).ok();
            let mtime = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            s.push_str(&format!(
                "{}|{}|{}\n",
                p.display(),
                meta.map(|m| m.len()).unwrap_or(0),
                mtime
            ));
            if p.is_dir() {
                s.push_str(&sha256_hex(&fs::read(target).unwrap_or_default()));
                if let Ok(sig) = fs::read(p.join(ferry_bundle::SIGNATURE_FILE)) {
                    s.push_str(&sha256_hex(&sig));
                }
            }
        }
        sha256_hex(s.as_bytes())
    }
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
        let origin = format!("{}: {}", self.opened.origin.display(), entry.path);
        let f = fs::File::open(&path).map_err(|e| SourceError::File {
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
        sha256: &str,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        let path = self.opened.image_blob_path(sha256);
        match crate::images::fetch::open_regular(&path) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) => Err(SourceError::File {
                origin: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

impl DirSource {
    /// Records a refusal, quarantining the candidate when configured; returns the message.
    fn refuse(&self, candidate: &std::path::Path, reason: &str) -> String {
        match self.quarantine(candidate, reason) {
            Some(to) => format!("{reason} (quarantined to {})", to.display()),
            None => reason.to_string(),
        }
    }
}

impl Source for DirSource {
    fn describe(&self) -> String {
        format!("directory {}", self.dir.display())
    }

    fn poll(&mut self, cursor: Option<&str>, policy: &VerifyPolicy) -> Result<Poll, SourceError> {
        let paths = self.candidates()?;
        let fp = Self::fingerprint(&paths);
        if cursor == Some(fp.as_str()) {
            return Ok(Poll::Unchanged);
        }
        let mut best: Option<(u64, OpenedFiles)> = None;
        let mut refused = Vec::new();
        for (i, p) in paths.iter().enumerate() {
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
                    if best.as_ref().is_none_or(|(r, _)| rev > *r) {
                        let keep = (opened.encoding == local::Encoding::Archive).then_some(scratch);
                        best = Some((
                            rev,
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
        let Some((_, files)) = best else {
            return Err(SourceError::NoBundle {
                source_name: self.describe(),
                refused,
            });
        };
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
