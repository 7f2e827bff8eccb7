//! `ferry-bundle push` against Debian's docker-registry with htpasswd auth: the artifact it
//! writes is a ferry artifact whose file layers are the files' digests, and a second push of
//! the same bundle uploads nothing.

use ferry_bundle::oci::{self, Artifact};
use ferry_bundle::registry::{Connection, Registry};
use ferry_tests::registry::TestRegistry;
use std::process::Command;

fn ferry_bundle(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferry-bundle"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn push_writes_a_ferry_artifact_and_skips_existing_blobs() {
    let reg = TestRegistry::start(Some(("pub", "password"))).unwrap();
    let t = tempfile::tempdir().unwrap();
    let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
    assert!(ferry_bundle(&["keygen", "--out", &p(&t.path().join("k"))])
        .status
        .success());
    let out = t.path().join("b");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../k3s-examples/app");
    assert!(ferry_bundle(&[
        "build",
        src,
        "--name",
        "app",
        "--revision",
        "3",
        "--out",
        &p(&out),
        "--key",
        &p(&t.path().join("k.key"))
    ])
    .status
    .success());
    std::fs::write(t.path().join("basic"), "pub:password\n").unwrap();
    let target = format!("{}:v3", reg.url("ferry/app"));
    let args = [
        "push",
        &p(&out),
        &target,
        "--ca-file",
        &p(&reg.ca_file()),
        "--basic-auth-file",
        &p(&t.path().join("basic")),
    ];
    let o = ferry_bundle(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("6 new blobs"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = ferry_bundle(&args);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 new blobs"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Without credentials the registry refuses, and the error says so.
    let o = ferry_bundle(&["push", &p(&out), &target, "--ca-file", &p(&reg.ca_file())]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("HTTP 401"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let conn = Connection {
        ca_pem: Some(std::fs::read(reg.ca_file()).unwrap()),
        credentials: Some("pub:password".into()),
        ..Connection::default()
    };
    let r = Registry::new(oci::Reference::parse(&target).unwrap(), &conn).unwrap();
    let (doc, _) = r.manifest("v3").unwrap();
    let Artifact::Ferry { files, .. } = oci::parse_artifact(&doc).unwrap() else {
        panic!("ferry artifact")
    };
    let m =
        ferry_bundle::Manifest::parse(&std::fs::read(out.join("bundle.yaml")).unwrap()).unwrap();
    let digests: Vec<String> = files.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(
        digests,
        m.files
            .iter()
            .map(|f| format!("sha256:{}", f.sha256))
            .collect::<Vec<_>>()
    );
}
