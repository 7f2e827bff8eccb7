//! Hostile bundles on local disk (a drop directory, a USB stick): nothing is parsed or
//! unpacked before the signature is checked, no symlink is followed and no FIFO is waited on.

use ferry_bundle::local::{self, LocalError};
use ferry_bundle::manifest::{FileEntry, Manifest, Timestamp};
use ferry_bundle::verify::{SignaturePolicy, VerifyError};
use ferry_bundle::{
    archive, digest, keys, sign, Device, Limits, SigningKey, TrustedKeys, VerifyPolicy,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Fixture {
    dir: tempfile::TempDir,
    key: SigningKey,
    other: SigningKey,
    trusted: TrustedKeys,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (pub_a, key_a) = keys::generate(&dir.path().join("a"), None, false).unwrap();
    let (_, key_b) = keys::generate(&dir.path().join("b"), None, false).unwrap();
    Fixture {
        trusted: TrustedKeys::load(&pub_a).unwrap(),
        key: SigningKey::load(&key_a, None).unwrap(),
        other: SigningKey::load(&key_b, None).unwrap(),
        dir,
    }
}

fn policy(f: &Fixture) -> VerifyPolicy {
    VerifyPolicy {
        signatures: SignaturePolicy::Required(f.trusted.clone()),
        name: "app".into(),
        now: Timestamp::now(),
        highest_applied: None,
        device: Device {
            id: "edge-1".into(),
            labels: Default::default(),
        },
        limits: Limits::default(),
        images: ferry_bundle::images::ImagePolicy::Any,
    }
}

/// A plain bundle directory `name` with one 1 MiB file, signed by `key`.
fn plain(f: &Fixture, name: &str, key: &SigningKey) -> PathBuf {
    let out = f.dir.path().join(name);
    std::fs::create_dir_all(&out).unwrap();
    let data = vec![b'#'; 1 << 20];
    std::fs::write(out.join("a.yaml"), &data).unwrap();
    let files = vec![FileEntry {
        path: "a.yaml".into(),
        size: data.len() as u64,
        sha256: digest::sha256_hex(&data),
    }];
    let m = Manifest::new("app", 2, Timestamp::now(), Duration::from_secs(3600), files);
    let yaml = m.to_yaml();
    std::fs::write(out.join("bundle.yaml"), &yaml).unwrap();
    let sig = sign::sign(yaml.as_bytes(), &sign::trusted_comment(&m), key).unwrap();
    std::fs::write(out.join("bundle.yaml.minisig"), sig).unwrap();
    out
}

fn to_archive(dir: &Path) -> PathBuf {
    let bytes = std::fs::read(dir.join("bundle.yaml")).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    let sig = std::fs::read_to_string(dir.join("bundle.yaml.minisig")).unwrap();
    let out = dir.with_extension("bundle");
    archive::write(dir, &m, &bytes, &sig, std::fs::File::create(&out).unwrap()).unwrap();
    out
}

fn is_empty_or_missing(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn an_archive_signed_by_another_key_is_not_unpacked() {
    let f = fixture();
    let bundle = to_archive(&plain(&f, "evil", &f.other));
    let scratch = f.dir.path().join("scratch");
    let opened = local::open(&bundle, &Limits::default(), &scratch).unwrap();
    assert!(
        is_empty_or_missing(&scratch),
        "unpacked before the signature check"
    );
    let e = local::verify(&opened, &policy(&f)).unwrap_err();
    assert!(
        matches!(e.verify_error(), Some(VerifyError::Signature(_))),
        "{e}"
    );
    assert!(
        is_empty_or_missing(&scratch),
        "unpacked after a bad signature"
    );
}

#[test]
fn a_good_archive_is_unpacked_after_verification() {
    let f = fixture();
    let bundle = to_archive(&plain(&f, "good", &f.key));
    let scratch = f.dir.path().join("scratch");
    let opened = local::open(&bundle, &Limits::default(), &scratch).unwrap();
    local::verify(&opened, &policy(&f)).unwrap();
    assert_eq!(
        std::fs::metadata(scratch.join("a.yaml")).unwrap().len(),
        1 << 20
    );
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_fifo_named_like_the_signature_does_not_hang() {
    let f = fixture();
    let dir = plain(&f, "fifo", &f.key);
    std::fs::remove_file(dir.join("bundle.yaml.minisig")).unwrap();
    mkfifo(&dir.join("bundle.yaml.minisig"));
    let e = local::open(&dir, &Limits::default(), &f.dir.path().join("s")).unwrap_err();
    assert!(matches!(e, LocalError::Layout { .. }), "{e}");
    assert!(e.to_string().contains("not a regular file"), "{e}");
    // A FIFO as a content file or as the archive itself: refused, not waited on.
    let dir = plain(&f, "fifo2", &f.key);
    std::fs::remove_file(dir.join("a.yaml")).unwrap();
    mkfifo(&dir.join("a.yaml"));
    let opened = local::open(&dir, &Limits::default(), &f.dir.path().join("s")).unwrap();
    let e = local::verify(&opened, &policy(&f)).unwrap_err();
    assert!(
        matches!(e.verify_error(), Some(VerifyError::MissingFile { .. })),
        "{e}"
    );
    let fifo = f.dir.path().join("x.bundle");
    mkfifo(&fifo);
    let e = local::open(&fifo, &Limits::default(), &f.dir.path().join("s")).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
}

#[test]
fn a_symlinked_manifest_is_not_followed() {
    let f = fixture();
    let good = plain(&f, "good", &f.key);
    let dir = f.dir.path().join("linked");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(good.join("bundle.yaml"), dir.join("bundle.yaml")).unwrap();
    let e = local::open(&dir, &Limits::default(), &f.dir.path().join("s")).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
}

/// Runs `ferry-bundle verify` on `bundle`, killed after 5 minutes if it hangs (exit 137).
fn verify_cli(f: &Fixture, bundle: &Path) -> (i32, String) {
    let o = std::process::Command::new("timeout")
        .args(["--signal=KILL", "300"])
        .arg(env!("CARGO_BIN_EXE_ferry-bundle"))
        .arg("verify")
        .arg(bundle)
        .arg("--pub")
        .arg(f.dir.path().join("a.pub"))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn ferry_bundle_verify_does_not_wait_on_a_fifo() {
    let f = fixture();
    let good = plain(&f, "good", &f.key);
    let (code, out) = verify_cli(&f, &good);
    assert_eq!(code, 0, "{out}");
    let dir = plain(&f, "fifo", &f.key);
    std::fs::remove_file(dir.join("bundle.yaml.minisig")).unwrap();
    mkfifo(&dir.join("bundle.yaml.minisig"));
    let (code, out) = verify_cli(&f, &dir);
    assert_ne!(code, 137, "ferry-bundle verify hangs on a FIFO signature");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("bundle.yaml.minisig"), "{out}");
    assert!(out.contains("not a regular file"), "{out}");
    let fifo = f.dir.path().join("x.bundle");
    mkfifo(&fifo);
    let (code, out) = verify_cli(&f, &fifo);
    assert_ne!(code, 137, "ferry-bundle verify hangs on a FIFO archive");
    assert!(out.contains("not a regular file"), "{out}");
}

#[test]
fn ferry_bundle_verify_refuses_a_strangers_alias_bomb_manifest_within_128m() {
    // A 24 KB nested alias bomb as `bundle.yaml`, signed by a key the verifier does not trust:
    // refused by its signature, under the agent unit's MemoryMax (RLIMIT_DATA = 128M).
    let f = fixture();
    let dir = f.dir.path().join("bomb");
    std::fs::create_dir_all(&dir).unwrap();
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1u8..20 {
        let (n, p) = ((b'a' + i) as char, (b'a' + i - 1) as char);
        bomb.push_str(&format!(
            "{n}: &{n} [{}]\n",
            vec![format!("*{p}"); 10].join(",")
        ));
    }
    while bomb.len() < 24 * 1024 {
        bomb.push_str("# padding\n");
    }
    std::fs::write(dir.join("bundle.yaml"), &bomb).unwrap();
    let sig = sign::sign(
        bomb.as_bytes(),
        "ferry-bundle name=app revision=1",
        &f.other,
    )
    .unwrap();
    std::fs::write(dir.join("bundle.yaml.minisig"), sig).unwrap();
    let o = std::process::Command::new("timeout")
        .args(["--signal=KILL", "300", "prlimit"])
        .arg(format!("--data={}", 128u64 << 20))
        .arg(env!("CARGO_BIN_EXE_ferry-bundle"))
        .arg("verify")
        .arg(&dir)
        .arg("--pub")
        .arg(f.dir.path().join("a.pub"))
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("not trusted"), "{out}");
    assert!(out.len() < 4096, "{out}");
}
