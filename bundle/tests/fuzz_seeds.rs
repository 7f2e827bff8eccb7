//! Replays the fuzz seeds (and any crash saved there as a regression) through the same entry
//! points the cargo-fuzz targets use, so `cargo test` catches a regression without a fuzzer.

use std::path::Path;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    out.push(Vec::new());
    out
}

#[test]
fn manifest_seeds() {
    for data in seeds("manifest") {
        if let Ok(m) = ferry_bundle::Manifest::parse(&data) {
            let _ = ferry_bundle::verify::check_file_list(&m, &ferry_bundle::Limits::default());
            ferry_bundle::Manifest::parse(m.to_yaml().as_bytes()).expect("re-parses");
        }
    }
}

#[test]
fn signature_seeds() {
    let mut keys = ferry_bundle::TrustedKeys::new();
    keys.add_text(
        "demo",
        include_str!("../../k3s-examples/keys/demo-DO-NOT-USE.pub"),
    )
    .unwrap();
    for data in seeds("signature") {
        let _ = ferry_bundle::sign::check(
            b"apiVersion: ferry.dev/v1\n",
            &String::from_utf8_lossy(&data),
            &keys,
        );
    }
}

#[test]
fn archive_seeds() {
    for data in seeds("archive") {
        let dir = tempfile::tempdir().unwrap();
        let limits = ferry_bundle::Limits {
            max_total_bytes: 1 << 20,
            max_files: 64,
            ..ferry_bundle::Limits::default()
        };
        let _ = ferry_bundle::archive::extract_verified(
            data.as_slice(),
            &dir.path().join("x"),
            &limits,
            |head| {
                ferry_bundle::Manifest::parse(&head.manifest)
                    .ok()
                    .map(|m| m.files)
            },
        );
        for e in std::fs::read_dir(dir.path()).unwrap() {
            assert_eq!(
                e.unwrap().file_name(),
                "x",
                "nothing outside the destination"
            );
        }
    }
}
