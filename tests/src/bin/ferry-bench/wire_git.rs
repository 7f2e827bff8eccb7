//! The idle wire cost of the Git source, through a counting TCP proxy: over HTTPS (a kept
//! connection, one `ls-refs` POST per no-change poll) and over git:// (`git daemon`: one
//! TCP connection per poll, gix's protocol-v2 handshake).

use super::wire::wire_rows;
use super::{sim, Bench};
use anyhow::Result;
use ferry_tests::git_server::{GitDaemon, GitHttp, GitRepo};
use ferry_tests::tcp_count::CountingProxy;
use std::path::Path;

/// Rows `idle wire cost, Git over HTTPS` and `idle wire cost, Git over git://`.
pub fn wire_git(b: &mut Bench, bundle_dir: &Path) -> Result<()> {
    let repo = GitRepo::new()?;
    repo.commit_dir("bench", bundle_dir, "bench")?;
    let s = sim()?;

    let git = GitHttp::start(repo.root.path(), None)?;
    let url = git.url("fleet.git");
    let proxy = CountingProxy::for_url(&url)?;
    let cfg = b.config(
        "wire-git",
        &s,
        &format!(
            "{{type: git, url: \"{}\", branch: main, path: bench, caFile: {}}}",
            proxy.url_through(&url),
            git.ca_file().display()
        ),
    )?;
    // One request per no-change poll: the probe.
    wire_rows(
        b,
        "Git over HTTPS",
        &cfg,
        &proxy,
        &|| git.requests().len(),
        1,
    )?;

    let daemon = GitDaemon::start(repo.root.path())?;
    let url = daemon.url("fleet.git");
    let proxy = CountingProxy::for_url(&url)?;
    let cfg = b.config(
        "wire-git-daemon",
        &s,
        &format!(
            "{{type: git, url: \"{}\", branch: main, path: bench}}",
            proxy.url_through(&url)
        ),
    )?;
    // git daemon serves one request per connection: a poll is a connection.
    let connections = || proxy.count().connections as usize;
    wire_rows(b, "Git over git://", &cfg, &proxy, &connections, 1)
}
