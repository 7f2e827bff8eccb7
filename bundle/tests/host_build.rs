//! `ferry-bundle build --host`: the k3s example's host section is signed into the manifest, its
//! files are listed with size and sha256, and a bad section is refused with its reason.

use std::process::Command;

fn ferry_bundle(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferry-bundle"))
        .args(args)
        .env("FERRY_KEY_PASSWORD", "")
        .output()
        .unwrap()
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../k3s-examples/host");

#[test]
fn build_signs_the_host_section_and_lists_host_files() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("host")).unwrap();
    for f in ["registries.yaml", "config.yaml"] {
        std::fs::copy(
            format!("{EXAMPLE}/bundle/host/{f}"),
            src.join("host").join(f),
        )
        .unwrap();
    }
    // Stand-ins for the k3s release binaries (the example does not ship them).
    std::fs::write(src.join("host/k3s-amd64"), b"#!/bin/sh\necho amd64\n").unwrap();
    std::fs::write(src.join("host/k3s-arm64"), b"#!/bin/sh\necho arm64\n").unwrap();
    let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let out = t.path().join("out");
    let o = ferry_bundle(&[
        "build",
        &p(&src),
        "--name",
        "edge-host",
        "--revision",
        "1",
        "--out",
        &p(&out),
        "--host",
        &format!("{EXAMPLE}/host.yaml"),
    ]);
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    let sha = ferry_bundle::digest::sha256_hex(b"#!/bin/sh\necho amd64\n");
    assert!(
        text.contains(&format!(
            "host file host/k3s-amd64 -> /usr/local/bin/k3s (X86_64, 21 bytes, sha256 {sha})"
        )),
        "{text}"
    );
    let manifest = std::fs::read(out.join("bundle.yaml")).unwrap();
    let m = ferry_bundle::Manifest::parse(&manifest).unwrap();
    let host = m.host.clone().unwrap();
    assert_eq!(host.files.len(), 4);
    assert_eq!(host.units[0].name, "k3s.service");
    assert_eq!(m.file("host/k3s-amd64").unwrap().sha256, sha);

    // A host section naming a file the bundle lacks, or a relative target, is refused.
    let bad = t.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "files:\n- {source: host/missing, target: /usr/local/bin/k3s, mode: '0755', arch: any}\n",
    )
    .unwrap();
    let o = ferry_bundle(&[
        "build",
        &p(&src),
        "--name",
        "edge-host",
        "--revision",
        "2",
        "--out",
        &p(&t.path().join("o2")),
        "--host",
        &p(&bad),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("which the manifest does not list"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(
        &bad,
        "files:\n- {source: host/config.yaml, target: etc/k3s.yaml, mode: '0600', arch: any}\n",
    )
    .unwrap();
    let o = ferry_bundle(&[
        "build",
        &p(&src),
        "--name",
        "edge-host",
        "--revision",
        "3",
        "--out",
        &p(&t.path().join("o3")),
        "--host",
        &p(&bad),
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not an absolute path"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
