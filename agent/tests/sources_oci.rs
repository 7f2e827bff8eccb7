//! The OCI source against Debian's docker-registry over TLS: tag, digest and semver
//! selection, one-request no-change polls, delta layer downloads, htpasswd auth from a file or
//! a docker config.json, and artifacts in the `flux push artifact` layout.

mod common;

use common::*;
use ferry_bundle::registry::{push_bundle, Connection, PushFormat, Registry};
use ferry_tests::registry::TestRegistry;
use std::path::Path;

fn push(
    reg: &TestRegistry,
    plain: &Path,
    tag: &str,
    format: PushFormat,
    creds: Option<&str>,
) -> usize {
    let bytes = std::fs::read(plain.join("bundle.yaml")).unwrap();
    let m = ferry_bundle::Manifest::parse(&bytes).unwrap();
    let sig = std::fs::read_to_string(plain.join("bundle.yaml.minisig")).unwrap();
    let conn = Connection {
        ca_pem: Some(std::fs::read(reg.ca_file()).unwrap()),
        credentials: creds.map(str::to_string),
        ..Connection::default()
    };
    let r = Registry::new(
        ferry_bundle::oci::Reference::parse(&reg.url("ferry/app")).unwrap(),
        &conn,
    )
    .unwrap();
    push_bundle(&r, plain, &m, &bytes, &sig, tag, format)
        .unwrap()
        .1
}

fn oci_source(reg: &TestRegistry, selector: &str, extra: &str) -> String {
    format!(
        "{{type: oci, url: \"{}\", {selector}, caFile: {}{extra}}}",
        reg.url("ferry/app"),
        reg.ca_file().display()
    )
}

fn files(rev: u64) -> Vec<(&'static str, String)> {
    vec![
        ("a.yaml", cm("a", "default", &rev.to_string())),
        ("b.yaml", cm("b", "default", "same")),
    ]
}

#[test]
fn pull_by_tag_then_no_change_is_one_head_and_delta_fetches_one_layer() {
    let env = Env::new();
    let reg = TestRegistry::start(None).unwrap();
    push(
        &reg,
        &env.stage(1, &files(1)),
        "stable",
        PushFormat::Ferry,
        None,
    );
    env.write_config_source("", &oci_source(&reg, "tag: stable", ""), "timeout: 5s", "");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied: 2 created"), "{out}");
    reg.clear_requests();
    env.sim.clear_log();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let reqs = reg.requests();
    assert_eq!(
        reqs,
        vec![(
            "HEAD".to_string(),
            "/v2/ferry/app/manifests/stable".to_string()
        )],
        "{reqs:?}"
    );
    assert!(env.sim.writes().is_empty());
    // Revision 2 changes one file: the agent downloads manifest, signature and one file layer.
    push(
        &reg,
        &env.stage(2, &files(2)),
        "stable",
        PushFormat::Ferry,
        None,
    );
    reg.clear_requests();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let blob_gets = reg
        .requests()
        .iter()
        .filter(|(m, u)| m == "GET" && u.contains("/blobs/"))
        .count();
    assert_eq!(
        blob_gets,
        3,
        "manifest + signature + the changed file: {:?}",
        reg.requests()
    );
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "2"
    );
}

#[test]
fn semver_range_and_digest_pin() {
    let env = Env::new();
    let reg = TestRegistry::start(None).unwrap();
    push(
        &reg,
        &env.stage(1, &files(1)),
        "1.0.0",
        PushFormat::Ferry,
        None,
    );
    push(
        &reg,
        &env.stage(2, &files(2)),
        "1.1.0",
        PushFormat::Ferry,
        None,
    );
    push(
        &reg,
        &env.stage(3, &files(3)),
        "2.0.0",
        PushFormat::Ferry,
        None,
    );
    env.write_config_source(
        "",
        &oci_source(&reg, "semver: \">=1.0.0, <2.0.0\"", ""),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 2 applied"), "{out}");
    let hist: serde_json::Value =
        serde_json::from_slice(&env.agent(&["history", "--output", "json"]).stdout).unwrap();
    assert!(
        hist[0]["source_ref"]
            .as_str()
            .unwrap()
            .contains(":1.1.0@sha256:"),
        "{hist}"
    );
    // Pin the digest of 2.0.0.
    let conn = Connection {
        ca_pem: Some(std::fs::read(reg.ca_file()).unwrap()),
        ..Connection::default()
    };
    let r = Registry::new(
        ferry_bundle::oci::Reference::parse(&reg.url("ferry/app")).unwrap(),
        &conn,
    )
    .unwrap();
    let digest = r.manifest_digest("2.0.0").unwrap().unwrap();
    env.write_config_source(
        "",
        &oci_source(&reg, &format!("digest: \"{digest}\""), ""),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 3 applied"), "{out}");
}

#[test]
fn htpasswd_auth_from_a_file_or_docker_config() {
    let env = Env::new();
    let reg = TestRegistry::start(Some(("edge", "password"))).unwrap();
    push(
        &reg,
        &env.stage(1, &files(1)),
        "stable",
        PushFormat::Ferry,
        Some("edge:password"),
    );
    env.write_config_source("", &oci_source(&reg, "tag: stable", ""), "timeout: 5s", "");
    let (code, out) = env.sync();
    assert_eq!(code, 1);
    assert!(out.contains("HTTP 401"), "{out}");
    let basic = env.dir.path().join("registry-basic");
    std::fs::write(&basic, "edge:password\n").unwrap();
    env.write_config_source(
        "",
        &oci_source(
            &reg,
            "tag: stable",
            &format!(", basicAuthFile: {}", basic.display()),
        ),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("password"));
    push(
        &reg,
        &env.stage(2, &files(2)),
        "stable",
        PushFormat::Ferry,
        Some("edge:password"),
    );
    let docker = env.dir.path().join("config.json");
    std::fs::write(
        &docker,
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"ZWRnZTpwYXNzd29yZA==\"}}}}}}",
            reg.host
        ),
    )
    .unwrap();
    env.write_config_source(
        "",
        &oci_source(
            &reg,
            "tag: stable",
            &format!(", dockerConfig: {}", docker.display()),
        ),
        "timeout: 5s",
        "",
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 2 applied"), "{out}");
}

#[test]
fn flux_artifact_layout_is_read() {
    let env = Env::new();
    let reg = TestRegistry::start(None).unwrap();
    push(
        &reg,
        &env.stage(1, &Env::example(APP)),
        "latest",
        PushFormat::Flux,
        None,
    );
    env.write_config_source("", &oci_source(&reg, "tag: latest", ""), "timeout: 5s", "");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revision 1 applied: 4 created"), "{out}");
}

#[test]
fn a_missing_tag_and_a_stopped_registry_are_clear_errors() {
    let env = Env::new();
    let mut reg = TestRegistry::start(None).unwrap();
    push(
        &reg,
        &env.stage(1, &files(1)),
        "stable",
        PushFormat::Ferry,
        None,
    );
    env.write_config_source("", &oci_source(&reg, "tag: nope", ""), "timeout: 5s", "");
    let (code, out) = env.sync();
    assert_eq!(code, 1);
    assert!(out.contains("nope not found"), "{out}");
    env.write_config_source("", &oci_source(&reg, "tag: stable", ""), "timeout: 5s", "");
    assert_eq!(env.sync().0, 0);
    reg.stop();
    let (code, out) = env.sync();
    assert_eq!(code, 1);
    assert!(out.contains("is unreachable"), "{out}");
    assert!(
        env.obj("", "ConfigMap", "default", "a").is_some(),
        "last good stays"
    );
}
