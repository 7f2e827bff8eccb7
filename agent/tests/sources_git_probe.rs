//! The Git source's one-request no-change poll over HTTPS, against `git http-backend`
//! behind lighttpd (its request log counts what reached git): one stateless protocol-v2
//! `ls-refs` POST and no GET per no-change poll, for a branch, an annotated tag and a semver
//! range; a change is still found and fetched; a server that only speaks v0 gets gix's full
//! flow, and the probe is not retried; a hostile server's endless or `ERR` reply is refused
//! with a bounded, named error.

mod common;

use common::*;
use ferry_agent::config::SourceConfig;
use ferry_agent::source::{self, Poll, Source};
use ferry_tests::git_server::{GitHttp, GitRepo, Protocols};
use std::io::{BufRead, BufReader, Write};

/// A Git source built from its config, as `ferry-agent run` keeps it between polls.
struct Polled {
    source: Box<dyn Source>,
    _scratch: tempfile::TempDir,
}

impl Polled {
    fn new(url: &str, selector: &str, ca: &str) -> Self {
        let yaml = format!(
            "---\n{{type: git, url: \"{url}\", {selector}, path: bundles/app, caFile: {ca}}}"
        );
        let cfg: SourceConfig = ferry_bundle::yaml::from_str_bounded(
            "source",
            &yaml,
            &ferry_bundle::yaml::Budget::small(),
        )
        .unwrap();
        let scratch = tempfile::tempdir().unwrap();
        Polled {
            source: source::from_config(&cfg, scratch.path(), scratch.path()),
            _scratch: scratch,
        }
    }

    /// The error of a poll that must fail.
    fn poll_err(&mut self) -> String {
        match self.source.poll(None, &unsigned_policy()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("the poll must fail"),
        }
    }

    /// Polls with `cursor`; the new cursor when something was found.
    fn poll(&mut self, cursor: Option<&str>) -> Option<String> {
        match self.source.poll(cursor, &unsigned_policy()).unwrap() {
            Poll::Found(f) => Some(f.cursor),
            Poll::Unchanged => None,
        }
    }
}

/// The requests git saw since the last call, as (GETs, POSTs).
fn seen(http: &GitHttp) -> (usize, usize) {
    let reqs = http.requests();
    http.clear_requests();
    let count = |m: &str| reqs.iter().filter(|r| r.starts_with(m)).count();
    (count("GET "), count("POST "))
}

fn commit(repo: &GitRepo, env: &Env, revision: u64) -> String {
    let value = revision.to_string();
    repo.commit_dir(
        "bundles/app",
        &env.stage(revision, &[("a.yaml", cm("a", "default", &value))]),
        &format!("r{revision}"),
    )
    .unwrap()
}

#[test]
fn branch_no_change_is_one_post_and_a_change_is_fetched() {
    let env = Env::new();
    let repo = GitRepo::new().unwrap();
    let c1 = commit(&repo, &env, 1);
    let http = GitHttp::start(repo.root.path(), None).unwrap();
    let ca = http.ca_file().display().to_string();
    let mut src = Polled::new(&http.url("fleet.git"), "branch: main", &ca);
    let cursor = src.poll(None).expect("the first poll finds the bundle");
    assert!(cursor.starts_with(&c1), "{cursor}");
    http.clear_requests();
    for _ in 0..3 {
        assert_eq!(src.poll(Some(&cursor)), None);
    }
    assert_eq!(
        http.requests(),
        vec!["POST /fleet.git/git-upload-pack?"; 3],
        "one ls-refs POST per no-change poll, no info/refs GET"
    );
    http.clear_requests();
    let c2 = commit(&repo, &env, 2);
    let cursor = src.poll(Some(&cursor)).expect("a new commit is found");
    assert!(cursor.starts_with(&c2), "{cursor}");
    // The probe, then gix's flow: GET info/refs, POST ls-refs, POST fetch.
    assert_eq!(seen(&http), (1, 3));
    assert_eq!(src.poll(Some(&cursor)), None);
    assert_eq!(seen(&http), (0, 1));
}

#[test]
fn annotated_tag_and_semver_range_are_one_post() {
    let env = Env::new();
    let repo = GitRepo::new().unwrap();
    let c1 = commit(&repo, &env, 1);
    repo.tag("v1.0.0").unwrap();
    let c2 = commit(&repo, &env, 2);
    repo.tag("v1.1.0").unwrap();
    commit(&repo, &env, 3);
    repo.tag("v2.0.0").unwrap();
    let http = GitHttp::start(repo.root.path(), None).unwrap();
    let ca = http.ca_file().display().to_string();
    let url = http.url("fleet.git");

    // An annotated tag: the cursor is the commit it points at (peeled), not the tag object.
    let mut tag = Polled::new(&url, "tag: v1.0.0", &ca);
    let cursor = tag.poll(None).unwrap();
    assert!(cursor.starts_with(&c1), "{cursor}");
    http.clear_requests();
    assert_eq!(tag.poll(Some(&cursor)), None);
    assert_eq!(seen(&http), (0, 1));

    // A range: all tags in the one ls-refs, the highest match (v1.1.0) compared.
    let mut range = Polled::new(&url, "semver: \">=1.0.0, <2.0.0\"", &ca);
    let cursor = range.poll(None).unwrap();
    assert!(cursor.starts_with(&c2), "{cursor}");
    http.clear_requests();
    assert_eq!(range.poll(Some(&cursor)), None);
    assert_eq!(seen(&http), (0, 1));
    let c4 = commit(&repo, &env, 4);
    repo.tag("v1.2.0").unwrap();
    let cursor = range.poll(Some(&cursor)).expect("a higher matching tag");
    assert!(cursor.starts_with(&c4), "{cursor}");

    // A pinned commit equal to the cursor: no request at all.
    let mut pinned = Polled::new(&url, &format!("commit: \"{c1}\""), &ca);
    let cursor = pinned.poll(None).unwrap();
    http.clear_requests();
    assert_eq!(pinned.poll(Some(&cursor)), None);
    assert_eq!(seen(&http), (0, 0));
}

#[test]
fn a_v0_server_gets_the_full_flow_and_the_probe_is_not_retried() {
    let env = Env::new();
    let repo = GitRepo::new().unwrap();
    let c1 = commit(&repo, &env, 1);
    let http = GitHttp::start_with(repo.root.path(), None, Protocols::V0Only).unwrap();
    let ca = http.ca_file().display().to_string();
    let mut src = Polled::new(&http.url("fleet.git"), "branch: main", &ca);
    let cursor = src.poll(None).expect("found through the fallback");
    assert!(cursor.starts_with(&c1), "{cursor}");
    // The refused probe (v0 upload-pack answers `command=ls-refs` with an empty body), then
    // v0: GET info/refs (the advertisement), POST fetch.
    assert_eq!(seen(&http), (1, 2));
    for _ in 0..3 {
        assert_eq!(src.poll(Some(&cursor)), None);
    }
    assert_eq!(
        seen(&http),
        (3, 0),
        "each poll is the v0 advertisement only: the probe is remembered as unsupported"
    );
    let c2 = commit(&repo, &env, 2);
    let cursor = src.poll(Some(&cursor)).expect("a change is still found");
    assert!(cursor.starts_with(&c2), "{cursor}");
}

/// A plain-HTTP server answering every request with `head` then `body` (until the client
/// hangs up when `endless`); returns its URL.
fn hostile_server(head: &'static str, body: Vec<u8>, endless: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/fleet.git", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = conn.write_all(head.as_bytes());
            while conn.write_all(&body).is_ok() && endless {}
        }
    });
    url
}

#[test]
fn hostile_replies_are_refused_bounded() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-result\r\n\r\n";
    let line = b"0032b39ce0026ba8ea7ba21b4d143d6616b17ad7390d refs/x\n".to_vec();
    // Plain HTTP: the CA (any valid one) is not used.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ferry_tests::kube_sim::Pki::generate().unwrap().ca_pem).unwrap();
    let ca = ca.display().to_string();
    let mut src = Polled::new(&hostile_server(head, line, true), "branch: main", &ca);
    let err = src.poll_err();
    assert!(err.contains("more than 1048576 bytes"), "{err}");

    let mut text = b"ERR \x1b]0;owned\x07\nforged: ".to_vec();
    text.extend(std::iter::repeat_n(b'x', 60_000));
    let mut body = format!("{:04x}", text.len() + 4).into_bytes();
    body.extend_from_slice(&text);
    body.extend_from_slice(b"0000");
    let mut src = Polled::new(&hostile_server(head, body, false), "branch: main", &ca);
    let err = src.poll_err();
    assert!(err.contains("the server said: \\u{1b}]0;owned"), "{err}");
    assert!(err.len() < 1000 && !err.contains('\x1b') && !err.contains('\n'));
}
