//! Issue 20, the Git source attacked, end to end: the real `ferry-agent sync --once` under
//! `RLIMIT_DATA` = the unit's `MemoryMax=128M`, revision 1 applied first from the same source.
//! A huge `bundle.yaml` blob (real `git daemon`), 3 million refs in a protocol-v0 advertisement
//! and in a protocol-v2 `ls-refs` answer (a hostile `git://` server in front of the real one,
//! and over HTTPS in front of the real `git http-backend`), a pack over the configured
//! `maxPackBytes`, and an HTTPS repository redirected to `http://`.

mod common;
mod source_attacks;

use common::*;
use ferry_tests::git_server::{GitDaemon, GitRepo};
use source_attacks::git::{git_cgi, write_refs, GitAnswer, HostileGitDaemon};
use source_attacks::{Body, Device, HostileHttp, Reply};

/// Commits revision `revision` of the bundle to `bundles/app`.
fn commit(repo: &GitRepo, env: &Env, revision: u64) {
    repo.commit_dir(
        "bundles/app",
        &env.stage(revision, &source_attacks::files(revision)),
        &format!("r{revision}"),
    )
    .unwrap();
}

/// Commits revision 2 with `edit` applied to its staged directory.
fn commit_edited(repo: &GitRepo, env: &Env, edit: impl FnOnce(&std::path::Path)) {
    let dir = env.stage(2, &source_attacks::files(2));
    edit(&dir);
    repo.commit_dir("bundles/app", &dir, "r2").unwrap();
}

fn git_device(url: &str, extra: &str) -> Device {
    Device::new(&format!(
        "{{type: git, url: \"{url}\", branch: main, path: bundles/app{extra}}}"
    ))
}

#[test]
fn a_huge_bundle_yaml_blob_is_refused_by_its_size_before_it_is_read() {
    let repo = GitRepo::new().unwrap();
    let daemon = GitDaemon::start(repo.root.path()).unwrap();
    let device = git_device(&daemon.url("fleet.git"), "");
    commit(&repo, &device.env, 1);
    device.applied(1);
    // 512 MiB of zeros (half a megabyte in the pack): never inflated whole.
    commit_edited(&repo, &device.env, |dir| {
        let f = std::fs::File::create(dir.join("bundle.yaml")).unwrap();
        f.set_len(512 << 20).unwrap();
    });
    // Refused by gix's allocation limit (limits.maxFileBytes), not by a failed allocation.
    let out = device.attack(
        "512 MiB bundle.yaml",
        "Entry too large to fit in memory",
        300,
    );
    assert!(!out.contains("memory allocator"), "{out}");
    // 2 MiB: over limits.maxManifestBytes (1 MiB), refused from the object header.
    commit_edited(&repo, &device.env, |dir| {
        std::fs::write(dir.join("bundle.yaml"), vec![b'#'; 2 << 20]).unwrap();
    });
    device.attack("2 MiB bundle.yaml", "bundle.yaml is 2097152 bytes", 120);
}

#[test]
fn three_million_refs_in_a_v0_advertisement_are_refused_within_the_memory_limit() {
    let repo = GitRepo::new().unwrap();
    let daemon = GitDaemon::start(repo.root.path()).unwrap();
    let hostile = HostileGitDaemon::start(daemon.port);
    let device = git_device(&hostile.url(), "");
    commit(&repo, &device.env, 1);
    device.applied(1);
    hostile.set(Some(GitAnswer::V0Refs(3_000_000)));
    device.attack("3M refs, v0", "ref advertisement", 120);
}

#[test]
fn three_million_refs_in_a_v2_ls_refs_answer_are_refused_within_the_memory_limit() {
    let repo = GitRepo::new().unwrap();
    let daemon = GitDaemon::start(repo.root.path()).unwrap();
    let hostile = HostileGitDaemon::start(daemon.port);
    let device = git_device(&hostile.url(), "");
    commit(&repo, &device.env, 1);
    device.applied(1);
    hostile.set(Some(GitAnswer::V2LsRefs(3_000_000)));
    device.attack("3M refs, v2 ls-refs", "ref advertisement", 120);
}

#[test]
fn three_million_refs_in_gix_ls_refs_over_https_are_refused_within_the_memory_limit() {
    let repo = GitRepo::new().unwrap();
    let https = HostileHttp::start(true);
    let root = repo.root.path().to_path_buf();
    https.set(move |req| git_cgi(&root, req));
    let device = git_device(
        &format!("{}/fleet.git", https.base()),
        &format!(", caFile: {}", https.ca_file().display()),
    );
    commit(&repo, &device.env, 1);
    device.applied(1);
    // The one-request probe (no User-Agent) is answered as by a server without protocol v2
    // over stateless POSTs, so gix's full flow runs: its ls-refs POST gets 3 million refs.
    let root = repo.root.path().to_path_buf();
    https.set(move |req| {
        if req.method == "POST" && req.header("User-Agent").is_none() {
            return Reply::new(404, "text/plain", Vec::new());
        }
        if req.method == "POST" && req.body.windows(15).any(|w| w == b"command=ls-refs") {
            let mut r = Reply::new(200, "application/x-git-upload-pack-result", Vec::new());
            r.body = Body::Stream(Box::new(|w| write_refs(w, 3_000_000, "")));
            return r;
        }
        git_cgi(&root, req)
    });
    commit(&repo, &device.env, 2);
    device.attack("3M refs, gix ls-refs over HTTPS", "ref advertisement", 120);
}

#[test]
fn a_trickling_git_daemon_is_cut_at_the_configured_timeout() {
    let repo = GitRepo::new().unwrap();
    let daemon = GitDaemon::start(repo.root.path()).unwrap();
    let hostile = HostileGitDaemon::start(daemon.port);
    let device = git_device(&hostile.url(), ", timeout: 2s");
    commit(&repo, &device.env, 1);
    device.applied(1);
    // 130 bytes at 5 a second: 26 s, past the outer kill without the deadline.
    hostile.set(Some(GitAnswer::Trickle));
    device.attack("1 byte per 200 ms over git://", "timed out", 20);
}

#[test]
fn a_pack_over_max_pack_bytes_is_cut_while_it_is_received() {
    let repo = GitRepo::new().unwrap();
    let daemon = GitDaemon::start(repo.root.path()).unwrap();
    let device = git_device(&daemon.url("fleet.git"), ", maxPackBytes: 1048576");
    commit(&repo, &device.env, 1);
    device.applied(1);
    let before = device.state_bytes();
    // 3 MiB that do not compress, beside the bundle.
    commit_edited(&repo, &device.env, |dir| {
        let mut noise = Vec::with_capacity(3 << 20);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while noise.len() < 3 << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(dir.join("noise.bin"), noise).unwrap();
    });
    device.attack("3 MiB pack", "pack larger than 1048576 bytes", 120);
    let grown = device.state_bytes().saturating_sub(before);
    assert!(grown < 2 << 20, "the state directory grew by {grown} bytes");
}

#[test]
fn an_https_repository_redirected_to_http_is_not_followed() {
    let repo = GitRepo::new().unwrap();
    let https = HostileHttp::start(true);
    let plain = HostileHttp::start(false);
    let root = repo.root.path().to_path_buf();
    https.set(move |req| git_cgi(&root, req));
    let root = repo.root.path().to_path_buf();
    plain.set(move |req| git_cgi(&root, req));
    let device = git_device(
        &format!("{}/fleet.git", https.base()),
        &format!(", caFile: {}", https.ca_file().display()),
    );
    commit(&repo, &device.env, 1);
    device.applied(1);
    commit(&repo, &device.env, 2);
    // The one-request probe (no User-Agent) sees the change; gix's requests are redirected.
    let (to, root) = (plain.base(), repo.root.path().to_path_buf());
    https.set(move |req| {
        if req.method == "POST" && req.header("User-Agent").is_none() {
            return git_cgi(&root, req);
        }
        Reply::new(307, "text/plain", Vec::new()).header("Location", &format!("{to}{}", req.target))
    });
    device.attack("307 to http://", "http://", 120);
    assert!(
        plain.requests().is_empty(),
        "the redirect to http:// was followed: {:?}",
        plain.requests()
    );
}
