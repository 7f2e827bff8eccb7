//! `ferry-bundle build` checks content the way a device reads it, so a publisher learns first.

use std::path::Path;
use std::process::{Command, Output};

fn build(src: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry-bundle"))
        .arg("build")
        .arg(src)
        .args(["--name", "demo", "--revision", "1", "--out"])
        .arg(out)
        .arg("--force")
        .args(extra)
        .output()
        .unwrap()
}

fn corpus(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/corpus/yaml")
            .join(name),
    )
    .unwrap()
}

#[test]
fn k3s_style_manifests_build_untouched() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    for f in [
        "k3s-dns.yaml",
        "k3s-storage.yaml",
        "k3s-metrics.yaml",
        "merge-keys.yaml",
    ] {
        std::fs::write(src.path().join(f), corpus(f)).unwrap();
    }
    let o = build(src.path(), out.path(), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The files are shipped as written: the check reads, it does not rewrite.
    assert_eq!(
        std::fs::read_to_string(out.path().join("k3s-storage.yaml")).unwrap(),
        corpus("k3s-storage.yaml")
    );
}

#[test]
fn refusals_a_device_would_make_are_made_at_build() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let cm = |name: &str, extra: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: \"{extra}\"\n"
        )
    };
    let cases: [(&str, String, &[&str], &str); 5] = [
        (
            "name.yaml",
            cm("Bad_Name", "x"),
            &[],
            "content check: name.yaml#0: invalid name \"Bad_Name\" for ConfigMap",
        ),
        (
            "dup.yaml",
            format!("{}---\n{}", cm("a", "1"), cm("a", "2")),
            &[],
            "dup.yaml#1: ConfigMap a is also defined in dup.yaml#0",
        ),
        (
            "var.yaml",
            cm("a", "${SITE}"),
            &["--strict-substitution"],
            "var.yaml#0: undefined variable ${SITE}",
        ),
        (
            "yaml.yaml",
            "a: [1\n".into(),
            &[],
            "yaml.yaml#0: invalid YAML",
        ),
        (
            "bomb.yaml",
            format!(
                "a: &a [{}]\nb: [{}]\n",
                vec!["x"; 1000].join(","),
                vec!["*a"; 100].join(",")
            ),
            &[],
            "bomb.yaml#0: over the parse budget",
        ),
    ];
    for (file, text, flags, want) in cases {
        std::fs::write(src.path().join(file), &text).unwrap();
        let o = build(src.path(), out.path(), flags);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{file}: {err}");
        std::fs::remove_file(src.path().join(file)).unwrap();
    }
    // Declared variables satisfy strict mode.
    std::fs::write(src.path().join("var.yaml"), cm("a-${SITE}", "${SITE}")).unwrap();
    let o = build(
        src.path(),
        out.path(),
        &["--strict-substitution", "--var", "SITE=lab"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
