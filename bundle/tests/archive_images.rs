//! `.bundle` archives carry image blobs as `blobs/sha256/<hex>` members: written streaming by
//! `archive::write`, extracted only when the verified listing names the digest, at its size.

use ferry_bundle::archive::{self, ArchiveError, Listing};
use ferry_bundle::digest::sha256_hex;
use ferry_bundle::images::{ImageBlob, ImageEntry};
use ferry_bundle::manifest::{FileEntry, Manifest, Timestamp};
use ferry_bundle::Limits;
use std::path::Path;
use std::time::Duration;

/// A plain bundle dir with one file and one image blob; returns (manifest, archive bytes).
fn bundle_with_image(dir: &Path, layer: &[u8]) -> (Manifest, Vec<u8>) {
    let content = b"kind: Namespace\n";
    std::fs::write(dir.join("ns.yaml"), content).unwrap();
    let hex = sha256_hex(layer);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&hex), layer).unwrap();
    let files = vec![FileEntry {
        path: "ns.yaml".into(),
        size: content.len() as u64,
        sha256: sha256_hex(content),
    }];
    let mut m = Manifest::new("app", 1, Timestamp::now(), Duration::from_secs(3600), files);
    m.images = vec![ImageEntry {
        name: "registry.example/demo/app:1".into(),
        digest: format!("sha256:{hex}"),
        platforms: vec![],
        blobs: vec![ImageBlob {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            size: layer.len() as u64,
            sha256: hex,
        }],
    }];
    let yaml = m.to_yaml();
    let mut out = Vec::new();
    archive::write(dir, &m, yaml.as_bytes(), "sig", &mut out).unwrap();
    (m, out)
}

#[test]
fn image_blobs_travel_as_listed_members_and_nothing_else_passes() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // Larger than the content-file limit: image blobs are bounded by the image limits.
    let limits = Limits {
        max_file_bytes: 1024,
        ..Limits::default()
    };
    let layer: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (m, bytes) = bundle_with_image(&src, &layer);
    let hex = sha256_hex(&layer);

    let dest = root.path().join("ok");
    let ex =
        archive::extract_verified(&bytes[..], &dest, &limits, |_| Some(Listing::of(&m))).unwrap();
    assert!(ex.files.contains(&format!("blobs/sha256/{hex}")), "{ex:?}");
    assert_eq!(
        std::fs::read(dest.join("blobs/sha256").join(&hex)).unwrap(),
        layer
    );

    // A listing without the image (an older or different manifest): the member is unlisted.
    let d1 = root.path().join("d1");
    let r = archive::extract_verified(&bytes[..], &d1, &Limits::default(), |_| {
        Some(m.files.clone())
    });
    assert!(
        matches!(r, Err(ArchiveError::Unlisted { ref path }) if path.ends_with(&hex)),
        "{r:?}"
    );
    // A listing with another size for the digest: refused before it is written whole.
    let mut other = Listing::of(&m);
    other.image_blobs.insert(hex.clone(), 10);
    let r = archive::extract_verified(&bytes[..], &root.path().join("d2"), &limits, |_| {
        Some(other)
    });
    assert!(
        matches!(r, Err(ArchiveError::SizeMismatch { listed: 10, .. })),
        "{r:?}"
    );
}
