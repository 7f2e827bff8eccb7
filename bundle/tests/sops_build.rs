//! `ferry-bundle build` with SOPS files written by the real `sops`: they travel as they are
//! (encrypted), the signed manifest lists them with their recipients, `inspect` shows them, and
//! plaintext Secrets are warned about, or refused with `--require-encrypted-secrets`.

use ferry_bundle::manifest::Manifest;
use ferry_tests::sops_tools::{age_keygen, sops_encrypt};
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], paths: &[&Path]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferry-bundle"));
    c.args(args);
    for p in paths {
        c.arg(p);
    }
    c.output().unwrap()
}

fn build(src: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferry-bundle"));
    c.arg("build")
        .arg(src)
        .args(["--name", "demo", "--revision", "1", "--force", "--out"])
        .arg(out)
        .args(extra);
    c.output().unwrap()
}

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: MARKER-build-plain\n";

#[test]
fn sops_files_travel_encrypted_and_plaintext_secrets_are_flagged() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (_, device) = age_keygen();
    // The default rule: every value is encrypted, even apiVersion, kind and the name.
    let enc = sops_encrypt(src.path(), "secret.yaml", SECRET, &[&device], &[]);
    std::fs::write(src.path().join("secret.yaml"), &enc).unwrap();
    let o = build(src.path(), out.path(), &["--require-encrypted-secrets"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out.path().join("secret.yaml")).unwrap(),
        enc,
        "shipped as sops wrote it"
    );
    let m = Manifest::parse(&std::fs::read(out.path().join("bundle.yaml")).unwrap()).unwrap();
    assert_eq!(m.sops.len(), 1);
    assert_eq!(m.sops[0].path, "secret.yaml");
    assert_eq!(m.sops[0].recipients, std::slice::from_ref(&device));
    let o = run(&["inspect"], &[out.path()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("encrypted: 1 SOPS file") && text.contains(&device),
        "{text}"
    );

    // A plaintext Secret beside it: a warning, or a refusal when asked.
    std::fs::write(src.path().join("plain.yaml"), SECRET.replace("db", "plain")).unwrap();
    let o = build(src.path(), out.path(), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: plaintext Secret objects") && err.contains("plain.yaml#0"),
        "{err}"
    );
    let o = build(src.path(), out.path(), &["--require-encrypted-secrets"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("--require-encrypted-secrets") && err.contains("plain.yaml#0"),
        "{err}"
    );
    assert!(!err.contains("MARKER"), "{err}");
}
