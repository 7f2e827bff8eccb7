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

use super::git_bounds::{Budget, Phase};
use super::git_http::{ProbeAnswer, UreqHttp};
use super::git_probe::Peel;
use super::git_tree::{read_blob, TreeFiles};
use super::{Found, Poll, Source, SourceError};
use ferry_bundle::verify::VerifyPolicy;
use gix::remote::Direction;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

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

    /// The local repository, opened with gix's allocation limit (`alloc_limit` bytes per
    /// object inflated, in a received pack or read from the store).
    fn repo(&self, alloc_limit: u64) -> Result<gix::Repository, SourceError> {
        if !self.repo_dir.join("HEAD").exists() {
            std::fs::create_dir_all(&self.repo_dir)
                .map_err(|e| self.err("creating the local repository", e))?;
            gix::init_bare(&self.repo_dir)
                .map_err(|e| self.err("creating the local repository", e))?;
        }
        let options = gix::open::Options::default()
            .config_overrides([format!("gitoxide.objects.allocLimit={alloc_limit}")]);
        gix::open_opts(&self.repo_dir, options)
            .map_err(|e| self.err("opening the local repository", e))
    }

    /// A `git://` connection with the source's timeouts, its answers charged to `budget`.
    fn daemon(
        &self,
        url: &gix::Url,
        budget: &std::sync::Arc<Budget>,
    ) -> Result<super::git_bounds::DaemonConnection, SourceError> {
        super::git_bounds::connect_daemon(
            url,
            self.bounds
                .connect_timeout
                .unwrap_or(Duration::from_secs(10)),
            self.bounds.read_timeout.unwrap_or(Duration::from_secs(30)),
            budget.clone(),
        )
        .map_err(|e| self.err("connect", e))
    }

    fn gix_url(&self) -> Result<gix::Url, SourceError> {
        gix::url::parse(gix::bstr::BStr::new(self.url.as_bytes())).map_err(|e| self.err("url", e))
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

    /// Connects with `spec` and returns the commit the remote has for `remote_name`; fetches it
    /// (depth 1) unless it equals `cursor`. Returns None when unchanged.
    fn fetch(
        &self,
        repo: &gix::Repository,
        spec: &str,
        remote_name: &str,
        cursor: Option<&str>,
        max_pack: u64,
    ) -> Result<Option<gix::ObjectId>, SourceError> {
        let remote = repo
            .remote_at(self.url.as_str())
            .map_err(|e| self.err("remote", e))?
            .with_refspecs([spec], Direction::Fetch)
            .map_err(|e| self.err("refspec", e))?;
        if self.url.starts_with("http") {
            let transport = self.http_transport(self.gix_url()?, max_pack)?;
            return self.run(
                remote.to_connection_with_transport(transport),
                remote_name,
                cursor,
                None,
            );
        }
        if self.url.starts_with("git://") {
            let budget = Budget::new(max_pack, Some(self.bounds.timeout));
            let conn = self.daemon(&self.gix_url()?, &budget)?;
            return self.run(
                remote.to_connection_with_transport(conn),
                remote_name,
                cursor,
                Some(&budget),
            );
        }
        let conn = remote
            .connect(Direction::Fetch)
            .map_err(|e| self.err("connect", e))?;
        self.run(conn, remote_name, cursor, None)
    }

    fn run<T>(
        &self,
        conn: gix::remote::Connection<'_, '_, '_, T>,
        remote_name: &str,
        cursor: Option<&str>,
        budget: Option<&Budget>,
    ) -> Result<Option<gix::ObjectId>, SourceError>
    where
        T: gix_transport::client::blocking_io::Transport,
    {
        let prepare = conn
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.err("ref advertisement", e))?;
        let id = match gix::ObjectId::from_hex(remote_name.as_bytes()) {
            Ok(pinned) => pinned,
            Err(_) => prepare
                .ref_map()
                .remote_refs
                .iter()
                .find_map(|r| {
                    let (name, target, peeled) = r.unpack();
                    (name == remote_name)
                        .then(|| peeled.or(target).map(|o| o.to_owned()))
                        .flatten()
                })
                .ok_or_else(|| SourceError::NoBundle {
                    source_name: format!("{} ({remote_name} not found)", self.describe()),
                    refused: Vec::new(),
                })?,
        };
        if cursor == Some(self.cursor_for(&id).as_str()) {
            return Ok(None);
        }
        if let Some(b) = budget {
            b.enter(Phase::Pack);
        }
        prepare
            .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN))
            .receive(gix::progress::Discard, &AtomicBool::new(false))
            .map_err(|e| self.err("fetch", e))?;
        Ok(Some(id))
    }

    /// Tag refs the remote advertises (one ref advertisement).
    fn remote_tags(
        &self,
        repo: &gix::Repository,
        max_pack: u64,
    ) -> Result<Vec<String>, SourceError> {
        let remote = repo
            .remote_at(self.url.as_str())
            .map_err(|e| self.err("remote", e))?
            .with_refspecs(["+refs/tags/*:refs/ferry/tags/*"], Direction::Fetch)
            .map_err(|e| self.err("refspec", e))?;
        let names = |refs: &gix::protocol::fetch::RefMap| -> Vec<String> {
            refs.remote_refs
                .iter()
                .map(|r| r.unpack().0.to_string())
                .collect()
        };
        if self.url.starts_with("http") {
            let p = remote
                .to_connection_with_transport(self.http_transport(self.gix_url()?, max_pack)?)
                .prepare_fetch(gix::progress::Discard, Default::default())
                .map_err(|e| self.err("ref advertisement", e))?;
            return Ok(names(p.ref_map()));
        }
        if self.url.starts_with("git://") {
            let budget = Budget::new(max_pack, Some(self.bounds.timeout));
            let p = remote
                .to_connection_with_transport(self.daemon(&self.gix_url()?, &budget)?)
                .prepare_fetch(gix::progress::Discard, Default::default())
                .map_err(|e| self.err("ref advertisement", e))?;
            return Ok(names(p.ref_map()));
        }
        let p = remote
            .connect(Direction::Fetch)
            .map_err(|e| self.err("connect", e))?
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.err("ref advertisement", e))?;
        Ok(names(p.ref_map()))
    }

    fn http_transport(
        &self,
        url: gix::Url,
        max_pack: u64,
    ) -> Result<gix_transport::client::blocking_io::http::Transport<UreqHttp>, SourceError> {
        let (agent, auth) = self.http.clone().map_err(|reason| SourceError::File {
            origin: self.url.clone(),
            reason,
        })?;
        Ok(
            gix_transport::client::blocking_io::http::Transport::new_http(
                UreqHttp::new(agent, auth, max_pack),
                url,
                gix_transport::Protocol::V2,
                false,
            ),
        )
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
