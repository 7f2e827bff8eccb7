//! Every verification failure, in the order the design fixes, asserted by its exact variant.

use ferry_bundle::keys;
use ferry_bundle::manifest::{FileEntry, Manifest, Timestamp};
use ferry_bundle::sign::{self, SignatureError};
use ferry_bundle::verify::{self, SignaturePolicy, VerifyError};
use ferry_bundle::{digest, Device, Limits, SigningKey, TrustedKeys, Verdict, VerifyPolicy};
use std::time::Duration;

struct Fixture {
    _dir: tempfile::TempDir,
    key: SigningKey,
    other_key: SigningKey,
    trusted: TrustedKeys,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (pub_a, key_a) = keys::generate(&dir.path().join("a"), None, false).unwrap();
    let (_, key_b) = keys::generate(&dir.path().join("b"), None, false).unwrap();
    let trusted = TrustedKeys::load(&pub_a).unwrap();
    Fixture {
        key: SigningKey::load(&key_a, None).unwrap(),
        other_key: SigningKey::load(&key_b, None).unwrap(),
        trusted,
        _dir: dir,
    }
}

const NOW: Timestamp = Timestamp(1_800_000_000);

fn manifest(revision: u64) -> Manifest {
    let files = vec![FileEntry {
        path: "app/a.yaml".into(),
        size: 3,
        sha256: digest::sha256_hex(b"abc"),
    }];
    Manifest::new(
        "app",
        revision,
        Timestamp(NOW.0 - 60),
        Duration::from_secs(3600),
        files,
    )
}

fn signed(m: &Manifest, key: &SigningKey) -> (Vec<u8>, String) {
    let bytes = m.to_yaml().into_bytes();
    let sig = sign::sign(&bytes, &sign::trusted_comment(m), key).unwrap();
    (bytes, sig)
}

fn policy(f: &Fixture) -> VerifyPolicy {
    VerifyPolicy {
        signatures: SignaturePolicy::Required(f.trusted.clone()),
        name: "app".into(),
        now: NOW,
        highest_applied: Some(5),
        device: Device {
            id: "edge-1".into(),
            labels: [("site".to_string(), "berlin".to_string())].into(),
        },
        limits: Limits::default(),
        images: ferry_bundle::images::ImagePolicy::Any,
    }
}

fn check(bytes: &[u8], sig: &str, p: &VerifyPolicy) -> Result<Verdict, VerifyError> {
    verify::verify_manifest(bytes, Some(sig), p)
}

#[test]
fn good_bundle_is_new_and_same_revision_is_up_to_date() {
    let f = fixture();
    let (bytes, sig) = signed(&manifest(6), &f.key);
    match check(&bytes, &sig, &policy(&f)).unwrap() {
        Verdict::New(v) => {
            assert_eq!(v.manifest.revision, 6);
            assert_eq!(v.key_id.as_deref(), Some(f.key.key_id().as_str()));
            assert_eq!(v.digest, digest::sha256_hex(&bytes));
        }
        other => panic!("expected New, got {other:?}"),
    }
    let (bytes, sig) = signed(&manifest(5), &f.key);
    assert!(matches!(
        check(&bytes, &sig, &policy(&f)).unwrap(),
        Verdict::UpToDate(_)
    ));
}

#[test]
fn missing_signature() {
    let f = fixture();
    let (bytes, _) = signed(&manifest(6), &f.key);
    let err = verify::verify_manifest(&bytes, None, &policy(&f)).unwrap_err();
    assert!(
        matches!(err, VerifyError::Signature(SignatureError::Missing)),
        "{err}"
    );
}

#[test]
fn malformed_signature() {
    let f = fixture();
    let (bytes, _) = signed(&manifest(6), &f.key);
    let err = check(&bytes, "untrusted comment: x\nnot base64!\n", &policy(&f)).unwrap_err();
    assert!(
        matches!(err, VerifyError::Signature(SignatureError::Malformed(_))),
        "{err}"
    );
}

#[test]
fn untrusted_key() {
    let f = fixture();
    let (bytes, sig) = signed(&manifest(6), &f.other_key);
    let err = check(&bytes, &sig, &policy(&f)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "bad signature: signed by key {}, which is not trusted",
            f.other_key.key_id()
        )
    );
}

#[test]
fn tampered_manifest_fails_signature_before_parse() {
    let f = fixture();
    let (mut bytes, sig) = signed(&manifest(6), &f.key);
    let text = String::from_utf8(bytes.clone())
        .unwrap()
        .replace("revision: 6", "revision: 9");
    bytes = text.into_bytes();
    let err = check(&bytes, &sig, &policy(&f)).unwrap_err();
    assert!(
        matches!(err, VerifyError::Signature(SignatureError::Invalid { .. })),
        "{err}"
    );
}

#[test]
fn signed_garbage_does_not_parse() {
    let f = fixture();
    let bytes = b"name: [unclosed".to_vec();
    let sig = sign::sign(&bytes, "x", &f.key).unwrap();
    let err = check(&bytes, &sig, &policy(&f)).unwrap_err();
    assert!(matches!(err, VerifyError::Manifest(_)), "{err}");
}

#[test]
fn trusted_comment_must_match() {
    let f = fixture();
    let m = manifest(6);
    let bytes = m.to_yaml().into_bytes();
    let sig = sign::sign(&bytes, "ferry-bundle name=app revision=99", &f.key).unwrap();
    let err = check(&bytes, &sig, &policy(&f)).unwrap_err();
    assert!(matches!(err, VerifyError::CommentMismatch { .. }), "{err}");
}

#[test]
fn wrong_name() {
    let f = fixture();
    let mut m = manifest(6);
    m.name = "other".into();
    let (bytes, sig) = signed(&m, &f.key);
    let err = check(&bytes, &sig, &policy(&f)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundle is named \"other\", this sync expects \"app\""
    );
}

#[test]
fn expired() {
    let f = fixture();
    let mut m = manifest(6);
    m.expires = Timestamp(NOW.0 - 1);
    let (bytes, sig) = signed(&m, &f.key);
    let err = check(&bytes, &sig, &policy(&f)).unwrap_err();
    assert!(
        matches!(err, VerifyError::Expired { revision: 6, .. }),
        "{err}"
    );
}

#[test]
fn rollback_is_refused() {
    let f = fixture();
    let (bytes, sig) = signed(&manifest(4), &f.key);
    let err = check(&bytes, &sig, &policy(&f)).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Rollback {
                revision: 4,
                highest: 5,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn target_mismatch() {
    let f = fixture();
    let mut m = manifest(6);
    m.targets.devices = vec!["edge-2".into()];
    let (bytes, sig) = signed(&m, &f.key);
    let err = check(&bytes, &sig, &policy(&f)).unwrap_err();
    assert!(
        matches!(err, VerifyError::NotTargeted { ref device, .. } if device == "edge-1"),
        "{err}"
    );
    m.targets.selectors = vec![[("site".to_string(), "berlin".to_string())].into()];
    let (bytes, sig) = signed(&m, &f.key);
    assert!(check(&bytes, &sig, &policy(&f)).is_ok());
}

#[test]
fn limits_count_total_per_file_and_path_shapes() {
    let f = fixture();
    let mut p = policy(&f);
    p.limits.max_files = 0;
    let (bytes, sig) = signed(&manifest(6), &f.key);
    assert!(matches!(
        check(&bytes, &sig, &p).unwrap_err(),
        VerifyError::TooManyFiles { count: 1, max: 0 }
    ));
    let mut p = policy(&f);
    p.limits.max_file_bytes = 2;
    assert!(matches!(
        check(&bytes, &sig, &p).unwrap_err(),
        VerifyError::FileTooLarge { .. }
    ));
    let mut p = policy(&f);
    p.limits.max_total_bytes = 2;
    assert!(matches!(
        check(&bytes, &sig, &p).unwrap_err(),
        VerifyError::TooLarge { total: 3, max: 2 }
    ));
    let mut p = policy(&f);
    p.limits.max_manifest_bytes = 10;
    assert!(matches!(
        check(&bytes, &sig, &p).unwrap_err(),
        VerifyError::ManifestTooLarge { .. }
    ));
    for bad in ["../etc/passwd", "/etc/passwd", "a/./b"] {
        let mut m = manifest(6);
        m.files[0].path = bad.into();
        let (bytes, sig) = signed(&m, &f.key);
        let err = check(&bytes, &sig, &policy(&f)).unwrap_err();
        assert!(matches!(err, VerifyError::Path(_)), "{bad}: {err}");
    }
}

#[test]
fn file_size_and_digest() {
    let entry = &manifest(6).files[0];
    assert!(verify::verify_file(entry, b"abc").is_ok());
    assert!(matches!(
        verify::verify_file(entry, b"abcd").unwrap_err(),
        VerifyError::SizeMismatch {
            expected: 3,
            actual: 4,
            ..
        }
    ));
    assert!(matches!(
        verify::verify_file(entry, b"abd").unwrap_err(),
        VerifyError::DigestMismatch { .. }
    ));
    // An endless reader is cut off after size + 1 bytes.
    let err = verify::read_verified(entry, std::io::repeat(b'a')).unwrap_err();
    assert!(
        matches!(err, VerifyError::SizeMismatch { actual: 4, .. }),
        "{err}"
    );
}

#[test]
fn key_rotation_accepts_either_trusted_key() {
    let f = fixture();
    let mut both = f.trusted.clone();
    let dir = tempfile::tempdir().unwrap();
    let (pub_c, key_c) = keys::generate(&dir.path().join("c"), None, false).unwrap();
    both.add_file(&pub_c).unwrap();
    let mut p = policy(&f);
    p.signatures = SignaturePolicy::Required(both);
    let new_key = SigningKey::load(&key_c, None).unwrap();
    for key in [&f.key, &new_key] {
        let (bytes, sig) = signed(&manifest(6), key);
        assert!(check(&bytes, &sig, &p).is_ok());
    }
}

#[test]
fn encrypted_secret_key_needs_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = keys::generate(&dir.path().join("enc"), Some("s3cret".into()), false).unwrap();
    assert!(SigningKey::load(&key, None).is_err());
    assert!(SigningKey::load(&key, Some("wrong".into())).is_err());
    assert!(SigningKey::load(&key, Some("s3cret".into())).is_ok());
}

#[test]
fn explicit_skip_accepts_unsigned() {
    let f = fixture();
    let mut p = policy(&f);
    p.signatures = SignaturePolicy::Skip;
    let bytes = manifest(6).to_yaml().into_bytes();
    assert!(matches!(
        verify::verify_manifest(&bytes, None, &p).unwrap(),
        Verdict::New(_)
    ));
}

#[test]
fn signed_name_comes_from_a_checked_trusted_comment_only() {
    let f = fixture();
    let (bytes, sig) = signed(&manifest(6), &f.key);
    assert_eq!(sign::signed_name(&bytes, &sig, &f.trusted).unwrap(), "app");
    // Not trusted: no name, whatever the comment says (the manifest is never parsed).
    let (bytes, sig) = signed(&manifest(6), &f.other_key);
    assert!(matches!(
        sign::signed_name(&bytes, &sig, &f.trusted),
        Err(SignatureError::UnknownKey { .. })
    ));
    // Signed by a trusted key, but not a comment ferry writes: bounded and escaped.
    let bytes = b"name: app".to_vec();
    let comment = format!("other\x1b[31m{}", "x".repeat(5000));
    let sig = sign::sign(&bytes, &comment, &f.key).unwrap();
    let err = sign::signed_name(&bytes, &sig, &f.trusted)
        .unwrap_err()
        .to_string();
    assert!(err.contains("trusted comment is not ferry's"), "{err}");
    assert!(err.len() < 1200 && !err.contains('\x1b'), "{err}");
}
