//! Interop with Debian's `minisign` CLI, both ways, through the `ferry-bundle` binary.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn ferry_bundle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry-bundle"))
        .args(args)
        .output()
        .unwrap()
}

fn minisign(args: &[&str]) -> Output {
    Command::new("minisign")
        .args(args)
        .output()
        .expect("the `minisign` CLI must be installed (tests/run installs it)")
}

fn content(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .unwrap();
}

#[test]
fn ferry_signature_verifies_with_minisign_cli_and_tamper_fails_both() {
    let t = tempfile::tempdir().unwrap();
    let stem = t.path().join("k");
    let p = |p: &Path| p.to_str().unwrap().to_string();
    assert!(ferry_bundle(&["keygen", "--out", &p(&stem)])
        .status
        .success());
    content(&t.path().join("src"));
    let out = t.path().join("b");
    let o = ferry_bundle(&[
        "build",
        &p(&t.path().join("src")),
        "--name",
        "x",
        "--revision",
        "1",
        "--out",
        &p(&out),
        "--key",
        &p(&stem.with_extension("key")),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = p(&out.join("bundle.yaml"));
    let v = minisign(&["-V", "-p", &p(&stem.with_extension("pub")), "-m", &manifest]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert!(String::from_utf8_lossy(&v.stdout)
        .contains("Trusted comment: ferry-bundle name=x revision=1"));

    let mut text = fs::read_to_string(&manifest).unwrap();
    text = text.replace("revision: 1", "revision: 2");
    fs::write(&manifest, text).unwrap();
    assert!(
        !minisign(&["-V", "-p", &p(&stem.with_extension("pub")), "-m", &manifest])
            .status
            .success()
    );
    let o = ferry_bundle(&["verify", &p(&out), "--pub", &p(&stem.with_extension("pub"))]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not match the manifest"));
}

#[test]
fn minisign_cli_signature_verifies_in_ferry_and_tampered_file_fails() {
    let t = tempfile::tempdir().unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let (pk, sk) = (t.path().join("cli.pub"), t.path().join("cli.key"));
    let g = minisign(&["-G", "-W", "-p", &p(&pk), "-s", &p(&sk)]);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    content(&t.path().join("src"));
    let out = t.path().join("b");
    assert!(ferry_bundle(&[
        "build",
        &p(&t.path().join("src")),
        "--name",
        "x",
        "--revision",
        "4",
        "--out",
        &p(&out)
    ])
    .status
    .success());
    let manifest = out.join("bundle.yaml");
    let s = minisign(&[
        "-S",
        "-s",
        &p(&sk),
        "-m",
        &p(&manifest),
        "-t",
        "ferry-bundle name=x revision=4",
    ]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let o = ferry_bundle(&["verify", &p(&out), "--pub", &p(&pk)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A CLI key also signs through ferry-bundle (key file format compatibility).
    let o = ferry_bundle(&["sign", &p(&out), "--key", &p(&sk)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(minisign(&["-V", "-p", &p(&pk), "-m", &p(&manifest)])
        .status
        .success());

    fs::write(out.join("cm.yaml"), "tampered").unwrap();
    let o = ferry_bundle(&["verify", &p(&out), "--pub", &p(&pk)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("file cm.yaml has 8 bytes, manifest says"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
