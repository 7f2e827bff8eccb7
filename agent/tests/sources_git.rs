//! The Git source against real servers: `git daemon` (git://), a local path, and
//! `git http-backend` behind lighttpd over HTTPS with basic auth; branch, tag, semver range and
//! pinned commit; a no-change poll over HTTPS is one `ls-refs` POST (see sources_git_probe.rs).

mod common;

use common::*;
use ferry_tests::git_server::{GitDaemon, GitHttp, GitRepo};

fn git_source(url: &str, selector: &str, extra: &str) -> String {
    format!("{{type: git, url: \"{url}\", {selector}, path: bundles/app{extra}}}")
}

#[test]
fn git_daemon_branch_updates_and_no_change() {
    let env = Env::new();
    let repo = GitRepo::new().unwrap();
    let c1 = repo
        .commit_dir(
            "bundles/app",
            &env.stage(1, &[("a.yaml", cm("a", "default", "1"))]),
            "r1",
        )
        .unwrap();
    let daemon = GitDaemon::start(repo.root.path()).unwrap();
    env.write_config_source(
        "",
        &git_source(&daemon.url("fleet.git"), "branch: main", ""),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied: 1 created"), "{out}");
    let hist: serde_json::Value =
        serde_json::from_slice(&env.agent(&["history", "--output", "json"]).stdout).unwrap();
    assert!(
        hist[0]["source_ref"].as_str().unwrap().contains(&c1),
        "the commit id is recorded: {hist}"
    );
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("up to date"), "{out}");
    assert!(env.sim.writes().is_empty());
    repo.commit_dir(
        "bundles/app",
        &env.stage(2, &[("a.yaml", cm("a", "default", "2"))]),
        "r2",
    )
    .unwrap();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 2 applied"), "{out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "2"
    );
}

#[test]
fn local_path_tags_semver_and_pinned_commit() {
    let env = Env::new();
    let repo = GitRepo::new().unwrap();
    let c1 = repo
        .commit_dir(
            "bundles/app",
            &env.stage(1, &[("a.yaml", cm("a", "default", "1"))]),
            "r1",
        )
        .unwrap();
    repo.tag("v1.0.0").unwrap();
    repo.commit_dir(
        "bundles/app",
        &env.stage(2, &[("a.yaml", cm("a", "default", "2"))]),
        "r2",
    )
    .unwrap();
    repo.tag("v1.1.0").unwrap();
    repo.commit_dir(
        "bundles/app",
        &env.stage(3, &[("a.yaml", cm("a", "default", "3"))]),
        "r3",
    )
    .unwrap();
    repo.tag("v2.0.0").unwrap();
    let url = repo.bare().display().to_string();
    env.write_config_source("", &git_source(&url, "tag: v1.0.0", ""), "timeout: 5s", "");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied"), "{out}");
    env.write_config_source(
        "",
        &git_source(&url, "semver: \">=1.0.0, <2.0.0\"", ""),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 2 applied"), "{out}");
    // A pinned commit below the highest revision is a rollback: refused, revision 2 stays.
    env.write_config_source(
        "",
        &git_source(&url, &format!("commit: \"{c1}\""), ""),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rollback refused"), "{out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "2"
    );
    env.write_config_source("", &git_source(&url, "branch: main", ""), "timeout: 5s", "");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 3 applied"), "{out}");
}

#[test]
fn https_with_basic_auth_and_one_request_polls() {
    let env = Env::new();
    let repo = GitRepo::new().unwrap();
    repo.commit_dir("bundles/app", &env.stage(1, &Env::example(APP)), "r1")
        .unwrap();
    let http = GitHttp::start(repo.root.path(), Some(("edge", "s3cret"))).unwrap();
    let ca = format!(", caFile: {}", http.ca_file().display());
    env.write_config_source(
        "",
        &git_source(&http.url("fleet.git"), "branch: main", &ca),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("HTTP 401"), "{out}");
    std::fs::write(env.dir.path().join("git-basic"), "edge:s3cret\n").unwrap();
    let auth = format!(
        "{ca}, basicAuthFile: {}",
        env.dir.path().join("git-basic").display()
    );
    env.write_config_source(
        "",
        &git_source(&http.url("fleet.git"), "branch: main", &auth),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied: 4 created"), "{out}");
    assert!(!out.contains("s3cret"));
    http.clear_requests();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        http.requests(),
        vec!["POST /fleet.git/git-upload-pack?"],
        "one ls-refs POST, no info/refs GET, no fetch"
    );
    // A new commit: the ls-refs probe, then gix's flow (GET info/refs, ls-refs, fetch).
    repo.commit_dir(
        "bundles/app",
        &env.stage(2, &[("a.yaml", cm("a", "default", "2"))]),
        "r2",
    )
    .unwrap();
    http.clear_requests();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let reqs = http.requests();
    let count = |m: &str| reqs.iter().filter(|r| r.starts_with(m)).count();
    assert_eq!((count("GET"), count("POST")), (1, 3), "{reqs:?}");
}

#[test]
fn https_without_auth_and_a_missing_path() {
    let env = Env::new();
    let repo = GitRepo::new().unwrap();
    repo.commit_dir(
        "bundles/app",
        &env.stage(1, &[("a.yaml", cm("a", "default", "1"))]),
        "r1",
    )
    .unwrap();
    let http = GitHttp::start(repo.root.path(), None).unwrap();
    let ca = format!(", caFile: {}", http.ca_file().display());
    env.write_config_source(
        "",
        &git_source(&http.url("fleet.git"), "branch: main", &ca),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    // Without the CA the server's certificate is not trusted: TLS is always verified.
    env.write_config_source(
        "",
        &git_source(&http.url("fleet.git"), "branch: main", ""),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("UnknownIssuer"), "{out}");
    // A path with no bundle in it names the file it looked for (same commit, other path).
    let wrong = format!(
        "{{type: git, url: \"{}\", branch: main, path: nowhere{ca}}}",
        http.url("fleet.git")
    );
    env.write_config_source("", &wrong, "timeout: 5s", "");
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nowhere/bundle.yaml missing"), "{out}");
}
