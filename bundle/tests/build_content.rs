//! `ferry-bundle build` never drops a content file silently: a nested `bundle.yaml` (how
//! external-secrets ships its CRDs) is content, a top-level one is refused by name (it would
//! collide with the bundle manifest), hidden entries are named, and a bundle without objects
//! needs `--allow-empty` (a device applying it would delete everything).

use ferry_bundle::manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn build(src: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry-bundle"))
        .arg("build")
        .arg(src)
        .args(["--name", "eso", "--revision", "1", "--out"])
        .arg(out)
        .arg("--force")
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/apps/external-secrets")
}

fn crds() -> String {
    std::fs::read_to_string(corpus().join("deploy/crds/bundle.yaml")).unwrap()
}

fn manifest(out: &Path) -> Manifest {
    Manifest::parse(&std::fs::read(out.join("bundle.yaml")).unwrap()).unwrap()
}

#[test]
fn a_nested_bundle_yaml_is_content() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("deploy/crds")).unwrap();
    std::fs::write(src.path().join("deploy/crds/bundle.yaml"), crds()).unwrap();
    let o = build(src.path(), out.path(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let m = manifest(out.path());
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["deploy/crds/bundle.yaml"]);
    assert_eq!(
        std::fs::read_to_string(out.path().join("deploy/crds/bundle.yaml")).unwrap(),
        crds()
    );
    assert!(text(&o).contains("25 objects"), "{}", text(&o));
}

#[test]
fn a_top_level_bundle_yaml_in_the_source_is_refused_by_name() {
    // `ferry-bundle build deploy/crds`: the CRD file sits where the manifest goes.
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("bundle.yaml"), crds()).unwrap();
    let o = build(src.path(), out.path(), &[]);
    assert!(!o.status.success(), "built: {}", text(&o));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = text(&o);
    assert!(
        err.contains(&format!("{}", src.path().join("bundle.yaml").display()))
            && err.contains("reserved for the bundle manifest"),
        "{err}"
    );
    assert!(!out.path().join("bundle.yaml").exists());
    // The signature's name too.
    std::fs::remove_file(src.path().join("bundle.yaml")).unwrap();
    std::fs::write(src.path().join("a.yaml"), "kind: ConfigMap\n").unwrap();
    std::fs::write(src.path().join("bundle.yaml.minisig"), "x").unwrap();
    let o = build(src.path(), out.path(), &[]);
    assert!(text(&o).contains("bundle.yaml.minisig"), "{}", text(&o));
    assert!(!o.status.success());
}

#[test]
fn a_bundle_without_objects_needs_allow_empty() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("README.md"), "nothing to apply\n").unwrap();
    std::fs::create_dir_all(src.path().join(".git")).unwrap();
    std::fs::write(src.path().join(".git/HEAD"), "ref: x\n").unwrap();
    std::fs::write(src.path().join(".hidden.yaml"), "kind: ConfigMap\n").unwrap();
    let o = build(src.path(), out.path(), &[]);
    assert!(!o.status.success(), "built: {}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("holds no objects") && err.contains("--allow-empty"),
        "{err}"
    );
    // Hidden entries are left out, by name.
    assert!(
        err.contains(".git") && err.contains(".hidden.yaml"),
        "hidden entries named: {err}"
    );
    assert!(!out.path().join("bundle.yaml").exists());
    // Confirmed: built, and the manifest confirms the deletion to devices.
    let o = build(src.path(), out.path(), &["--allow-empty"]);
    assert!(o.status.success(), "{}", text(&o));
    let m = manifest(out.path());
    assert_eq!(m.files.len(), 1);
    assert!(m.allow_mass_prune);
    assert!(
        std::fs::read_to_string(out.path().join("bundle.yaml"))
            .unwrap()
            .contains("allowMassPrune: true"),
        "signed field"
    );
    // Nothing at all is refused the same way.
    let none = tempfile::tempdir().unwrap();
    let o = build(none.path(), out.path(), &[]);
    assert!(text(&o).contains("holds no objects"), "{}", text(&o));
}

#[test]
fn allow_mass_prune_is_a_signed_manifest_field() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    )
    .unwrap();
    let o = build(src.path(), out.path(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!manifest(out.path()).allow_mass_prune);
    assert!(!std::fs::read_to_string(out.path().join("bundle.yaml"))
        .unwrap()
        .contains("allowMassPrune"));
    let o = build(src.path(), out.path(), &["--allow-mass-prune"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(manifest(out.path()).allow_mass_prune);
}
