//! The Git source (gix, lean features): a signed bundle in a directory of a repository, at a
//! branch, a tag, the highest tag matching a semver range, or a pinned commit. Transports:
//! HTTPS through [`super::git_http`] on ureq, `git://`, and local paths. A change is a
//! shallow (depth 1) fetch. The commit id is the source revision recorded in history.
//!
//! A no-change poll over HTTPS is one request: a stateless protocol-v2 `ls-refs` POST
//! ([`super::git_http::probe`]) for the branch, the tag or all tags (semver), annotated tags
//! peeled. A server that does not understand it gets gix's full flow (GET `info/refs`, then
//! POST `ls-refs`) from then on for this source. Over `git://` and local paths a no-change
//! poll is gix's ref advertisement; a pinned commit equal to the cursor costs no network.

use super::git_http::ProbeAnswer;
use super::git_probe::Peel;
use super::git_tree::{read_blob, TreeFiles};
use super::{Found, Poll, Source, SourceError};
use ferry_bundle::verify::VerifyPolicy;
use std::path::PathBuf;
use std::time::Duration;

#[path = "git_fetch.rs"]
mod fetch;

/// Which commit to take.
#[derive(Debug, Clone)]
pub enum GitRef {
    Branch(String),
    Tag(String),
    Semver(String),
    Commit(String),
}

/// What a Git source may receive, and for how long (from its config).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Deadline of each HTTPS request, or of a whole `git://` connection.
    pub timeout: Duration,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    /// None: [`super::git_bounds::default_max_pack`] of the sync's limits.
    pub max_pack_bytes: Option<u64>,
}

pub struct GitSource {
    url: String,
    reference: GitRef,
    /// Directory of the bundle inside the repository ("" for the root).
    path: String,
    repo_dir: PathBuf,
    /// The HTTPS client (or why it could not be built: a bad CA or auth file).
    http: Result<(ureq::Agent, Option<String>), String>,
    /// Whether the server answers the one-request probe; learned once per source.
    probe: ProbeSupport,
    bounds: Bounds,
}

/// Whether the HTTPS server answers a stateless protocol-v2 `ls-refs` POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeSupport {
    /// Not known to fail (the probe is tried).
    Assumed,
    /// The server answered something else once: gix's full flow from then on.
    Unsupported,
}

impl GitSource {
    pub fn new(
        url: String,
        reference: GitRef,
        path: String,
        repo_dir: PathBuf,
        http: Result<(ureq::Agent, Option<String>), String>,
        bounds: Bounds,
    ) -> Self {
        GitSource {
            url,
            reference,
            path: path.trim_matches('/').to_string(),
            repo_dir,
            http,
            probe: ProbeSupport::Assumed,
            bounds,
        }
    }

    /// What the remote has for the reference, from one `ls-refs` probe: the reference to
    /// fetch (a tag for a semver range) and its commit. None when the probe does not apply
    /// (not HTTP, a pinned commit) or the server does not understand it (remembered).
    fn probed(&mut self) -> Result<Option<(GitRef, gix::ObjectId)>, SourceError> {
        if !self.url.starts_with("http") || self.probe == ProbeSupport::Unsupported {
            return Ok(None);
        }
        let (prefix, peel) = match &self.reference {
            GitRef::Branch(b) => (format!("refs/heads/{b}"), Peel::No),
            GitRef::Tag(t) => (format!("refs/tags/{t}"), Peel::Yes),
            GitRef::Semver(_) => ("refs/tags/".to_string(), Peel::Yes),
            GitRef::Commit(_) => return Ok(None),
        };
        let (agent, auth) = self.http.clone().map_err(|reason| SourceError::File {
            origin: self.url.clone(),
            reason,
        })?;
        let refs = match super::git_http::probe(&agent, auth.as_deref(), &self.url, &prefix, peel)
            .map_err(|e| self.err("ls-refs", e))?
        {
            ProbeAnswer::Refs(refs) => refs,
            ProbeAnswer::NotUnderstood(why) => {
                tracing::info!(
                    "{}: no stateless protocol-v2 ls-refs ({why}); using the full Git handshake",
                    self.describe()
                );
                self.probe = ProbeSupport::Unsupported;
                return Ok(None);
            }
        };
        let target = match &self.reference {
            GitRef::Semver(range) => {
                GitRef::Tag(self.select_tag(refs.iter().map(|r| r.name.as_str()), range)?)
            }
            other => other.clone(),
        };
        let (_, name) = Self::refspec(&target);
        let found = refs
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| SourceError::NoBundle {
                source_name: format!("{} ({name} not found)", self.describe()),
                refused: Vec::new(),
            })?;
        let commit = gix::ObjectId::from_hex(found.commit().as_str().as_bytes())
            .map_err(|e| self.err("ls-refs", e))?;
        Ok(Some((target, commit)))
    }

    /// The highest tag matching `range` among ref names.
    fn select_tag<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
        range: &str,
    ) -> Result<String, SourceError> {
        let tags: Vec<String> = names
            .filter_map(|n| n.strip_prefix("refs/tags/").map(str::to_string))
            .collect();
        ferry_bundle::oci::select_tag(&tags, range).map_err(|e| SourceError::File {
            origin: self.url.clone(),
            reason: e.to_string(),
        })
    }

    fn err(&self, what: &str, e: impl std::error::Error + 'static) -> SourceError {
        let reason = format!("{what}: {}", ferry_bundle::error_chain(&e));
        let transient = [
            "connect",
            "Connection",
            "refused",
            "timed out",
            "unreachable",
            "HTTP 5",
            "resolve",
            "reset",
        ]
        .iter()
        .any(|k| reason.contains(k));
        if transient {
            SourceError::Unreachable {
                source_name: self.describe(),
                reason,
            }
        } else {
            SourceError::File {
                origin: self.url.clone(),
                reason,
            }
        }
    }

    /// The refspec that fetches `target` into a local ref, and that local ref.
    fn refspec(target: &GitRef) -> (String, String) {
        match target {
            GitRef::Branch(b) => (
                format!("+refs/heads/{b}:refs/ferry/target"),
                format!("refs/heads/{b}"),
            ),
            GitRef::Tag(t) | GitRef::Semver(t) => (
                format!("+refs/tags/{t}:refs/ferry/target"),
                format!("refs/tags/{t}"),
            ),
            GitRef::Commit(c) => (format!("{c}:refs/ferry/target"), c.clone()),
        }
    }

    /// The cursor of a commit: the commit and the bundle's path (a new path is a change).
    fn cursor_for(&self, commit: &gix::ObjectId) -> String {
        format!("{} {}", commit.to_hex(), self.path)
    }

    fn in_repo(&self, file: &str) -> String {
        if self.path.is_empty() {
            file.to_string()
        } else {
            format!("{}/{file}", self.path)
        }
    }
}

impl Source for GitSource {
    fn describe(&self) -> String {
        format!("git {}", self.url)
    }

    fn poll(&mut self, cursor: Option<&str>, policy: &VerifyPolicy) -> Result<Poll, SourceError> {
        if let GitRef::Commit(pinned) = &self.reference {
            let same = gix::ObjectId::from_hex(pinned.as_bytes())
                .is_ok_and(|id| cursor == Some(self.cursor_for(&id).as_str()));
            if same {
                return Ok(Poll::Unchanged);
            }
        }
        let probed = self.probed()?;
        if let Some((_, commit)) = &probed {
            if cursor == Some(self.cursor_for(commit).as_str()) {
                return Ok(Poll::Unchanged);
            }
        }
        let repo = self.repo(super::git_bounds::alloc_limit(&policy.limits))?;
        let max_pack = self
            .bounds
            .max_pack_bytes
            .unwrap_or_else(|| super::git_bounds::default_max_pack(&policy.limits));
        let target = match (probed, &self.reference) {
            (Some((target, _)), _) => target,
            (None, GitRef::Semver(range)) => {
                let names = self.remote_tags(&repo, max_pack)?;
                GitRef::Tag(self.select_tag(names.iter().map(String::as_str), range)?)
            }
            (None, other) => other.clone(),
        };
        let (spec, remote_name) = Self::refspec(&target);
        let Some(commit) = self.fetch(&repo, &spec, &remote_name, cursor, max_pack)? else {
            return Ok(Poll::Unchanged);
        };
        let origin = format!("{}@{} ({})", self.url, commit.to_hex(), remote_name);
        let missing = |f: &str| SourceError::NoBundle {
            source_name: format!(
                "{} ({} missing at {})",
                self.describe(),
                self.in_repo(f),
                commit.to_hex()
            ),
            refused: Vec::new(),
        };
        let limits = &policy.limits;
        let read = |file: &str, max: u64| {
            read_blob(&repo, commit, &self.in_repo(file), max).map_err(|reason| SourceError::File {
                origin: origin.clone(),
                reason,
            })
        };
        let manifest = read(ferry_bundle::MANIFEST_FILE, limits.max_manifest_bytes)?
            .ok_or_else(|| missing(ferry_bundle::MANIFEST_FILE))?;
        let signature = read(ferry_bundle::SIGNATURE_FILE, limits.max_signature_bytes)?
            .map(|s| String::from_utf8_lossy(&s).into_owned());
        Ok(Poll::Found(Found {
            manifest,
            signature,
            cursor: self.cursor_for(&commit),
            origin: origin.clone(),
            files: Box::new(TreeFiles {
                repo_dir: self.repo_dir.clone(),
                commit,
                prefix: self.path.clone(),
                origin,
            }),
            refused: Vec::new(),
        }))
    }
}
