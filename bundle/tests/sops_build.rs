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

/// A kustomization whose secretGenerator reads a SOPS env file and a binary SOPS file, and a
/// Pod that refers to the generated Secret by its generator name.
fn kustomization(dir: &Path, recipient: &str, extra: &str) {
    let env = "DB_USER=admin\nDB_PASSWORD=MARKER-gen-env\n";
    let enc = sops_encrypt(dir, "app.env", env, &[recipient], &[]);
    std::fs::write(dir.join("app.env"), enc).unwrap();
    let bin = sops_encrypt(dir, "tls.key", "MARKER-gen-file\n", &[recipient], &[]);
    std::fs::write(dir.join("tls.key"), bin).unwrap();
    std::fs::write(
        dir.join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    envFrom: [{secretRef: {name: creds}}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("namespace: apps\nresources: [pod.yaml]\nsecretGenerator:\n- name: creds\n  envs: [app.env]\n  files: [tls.key]\n{extra}"),
    )
    .unwrap();
}

#[test]
fn a_secret_generator_with_sops_sources_is_recorded_for_the_device() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (_, device) = age_keygen();
    kustomization(src.path(), &device, "");
    let o = build(src.path(), out.path(), &["--require-encrypted-secrets"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = Manifest::parse(&std::fs::read(out.path().join("bundle.yaml")).unwrap()).unwrap();
    assert_eq!(m.generated_secrets.len(), 1, "{m:?}");
    let g = &m.generated_secrets[0];
    assert!(
        g.name.starts_with("creds-"),
        "Kustomize's hash suffix: {}",
        g.name
    );
    assert_eq!(g.namespace, "apps");
    assert_eq!(g.envs, vec!["secret-sources/app.env".to_string()]);
    assert_eq!(g.files.len(), 1);
    assert_eq!(
        (g.files[0].key.as_str(), g.files[0].path.as_str()),
        ("tls.key", "secret-sources/tls.key")
    );
    let rendered = std::fs::read_to_string(out.path().join("rendered.yaml")).unwrap();
    assert!(
        rendered.contains(&format!("name: {}", g.name)),
        "the Pod refers to the hashed name:\n{rendered}"
    );
    for f in [
        "rendered.yaml",
        "secret-sources/app.env",
        "secret-sources/tls.key",
        "bundle.yaml",
    ] {
        let text = std::fs::read_to_string(out.path().join(f)).unwrap();
        assert!(!text.contains("MARKER-gen"), "{f} holds plaintext");
    }
    let paths: Vec<&str> = m.sops.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["secret-sources/app.env", "secret-sources/tls.key"]);
    let o = run(&["inspect"], &[out.path()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("generated Secret apps/{}", g.name)) && text.contains(&device),
        "{text}"
    );
    assert_eq!(
        std::fs::read(out.path().join("secret-sources/app.env")).unwrap(),
        std::fs::read(src.path().join("app.env")).unwrap(),
        "the source travels as sops wrote it"
    );

    // A literal beside the SOPS sources travels readable: a plaintext Secret, refused on request.
    kustomization(src.path(), &device, "  literals: [PLAIN=x]\n");
    let o = build(src.path(), out.path(), &["--require-encrypted-secrets"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("plaintext Secret objects refused"),
        "{err}"
    );

    // A SOPS YAML file as a `files:` source cannot be completed on the device: refused by name.
    let yaml = sops_encrypt(src.path(), "conf.yaml", "a: MARKER\n", &[&device], &[]);
    std::fs::write(src.path().join("conf.yaml"), yaml).unwrap();
    kustomization(src.path(), &device, "- name: conf\n  files: [conf.yaml]\n");
    let o = build(src.path(), out.path(), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("conf.yaml as a `files:` source is not supported"),
        "{err}"
    );
}
