//! The Git source's connections (part of [`super`]): the local repository opened with gix's
//! allocation limit, the transports (HTTPS through [`crate::source::git_http`], `git://` through
//! ferry's own bounded connection, local paths through gix), the ref advertisement and the
//! shallow fetch, each answer charged to a [`Budget`].

use super::GitSource;
use crate::source::git_bounds::{Budget, Phase};
use crate::source::git_http::UreqHttp;
use crate::source::{Source, SourceError};
use gix::remote::Direction;
use std::num::NonZeroU32;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

impl GitSource {
    /// The local repository, opened with gix's allocation limit (`alloc_limit` bytes per
    /// object inflated, in a received pack or read from the store).
    pub(super) fn repo(&self, alloc_limit: u64) -> Result<gix::Repository, SourceError> {
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
    pub(super) fn daemon(
        &self,
        url: &gix::Url,
        budget: &std::sync::Arc<Budget>,
    ) -> Result<crate::source::git_bounds::DaemonConnection, SourceError> {
        crate::source::git_bounds::connect_daemon(
            url,
            self.bounds
                .connect_timeout
                .unwrap_or(Duration::from_secs(10)),
            self.bounds.read_timeout.unwrap_or(Duration::from_secs(30)),
            budget.clone(),
        )
        .map_err(|e| self.err("connect", e))
    }

    pub(super) fn gix_url(&self) -> Result<gix::Url, SourceError> {
        gix::url::parse(gix::bstr::BStr::new(self.url.as_bytes())).map_err(|e| self.err("url", e))
    }

    /// Connects with `spec` and returns the commit the remote has for `remote_name`; fetches it
    /// (depth 1) unless it equals `cursor`. Returns None when unchanged.
    pub(super) fn fetch(
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

    pub(super) fn run<T>(
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
    pub(super) fn remote_tags(
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

    pub(super) fn http_transport(
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
}
