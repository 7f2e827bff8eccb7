//! Hostile `.bundle` archives: each refused with its named error, nothing written outside the
//! destination directory. Extraction goes through `extract_verified`; here the "verification"
//! allows every regular file the archive names (at its size), so the archive-level checks are
//! what is tested.

use ferry_bundle::archive::{self, ArchiveError};
use ferry_bundle::manifest::FileEntry;
use ferry_bundle::paths::PathError;
use ferry_bundle::Limits;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::Path;
use tar::{EntryType, Header};

enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Typed(&'a str, EntryType, &'a str),
}

/// Builds a gzip tar with raw header control (the tar crate's safe builders refuse `..`).
fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut tar = Vec::new();
    for e in entries {
        let mut h = Header::new_gnu();
        let (name, ty, data, link): (&str, EntryType, &[u8], &str) = match e {
            Entry::File(n, d) => (n, EntryType::Regular, d, ""),
            Entry::Typed(n, t, l) => (n, *t, b"", l),
        };
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    gz(&tar)
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// The head every archive must begin with.
const HEAD: [Entry<'static>; 2] = [
    Entry::File("bundle.yaml", b"m"),
    Entry::File("bundle.yaml.minisig", b"s"),
];

/// An archive of the head followed by `rest`.
fn headed(rest: &[Entry]) -> Vec<u8> {
    let mut all: Vec<Entry> = HEAD
        .iter()
        .map(|e| match e {
            Entry::File(n, d) => Entry::File(n, d),
            Entry::Typed(n, t, l) => Entry::Typed(n, *t, l),
        })
        .collect();
    for e in rest {
        all.push(match e {
            Entry::File(n, d) => Entry::File(n, d),
            Entry::Typed(n, t, l) => Entry::Typed(n, *t, l),
        });
    }
    archive(&all)
}

/// Extracts allowing any path at any size (the archive's own checks are under test).
fn extract(
    bytes: &[u8],
    limits: &Limits,
) -> (tempfile::TempDir, Result<archive::Extracted, ArchiveError>) {
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("dest");
    let listing = listing_of(bytes);
    let r = archive::extract_verified(bytes, &dest, limits, |_| Some(listing));
    (root, r)
}

/// Every regular member of a (well-formed) archive as a listing, for the permissive check.
fn listing_of(bytes: &[u8]) -> Vec<FileEntry> {
    let mut out = Vec::new();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let Ok(entries) = a.entries() else { return out };
    for e in entries {
        let Ok(e) = e else { break };
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let size = e.header().size().unwrap_or(0);
        out.push(FileEntry {
            path,
            size,
            sha256: String::new(),
        });
    }
    out
}

/// Everything under `root` other than the destination directory itself.
fn outside(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "dest")
        .collect()
}

#[test]
fn good_archive_extracts() {
    let bytes = archive(&[
        Entry::File("bundle.yaml", b"m"),
        Entry::File("bundle.yaml.minisig", b"s"),
        Entry::File("a/b.yaml", b"x"),
    ]);
    let (root, r) = extract(&bytes, &Limits::default());
    let ex = r.unwrap();
    assert_eq!(ex.manifest, b"m");
    assert_eq!(ex.signature.as_deref(), Some("s"));
    assert!(ex.files.contains("a/b.yaml"));
    assert_eq!(
        std::fs::read(root.path().join("dest/a/b.yaml")).unwrap(),
        b"x"
    );
}

#[test]
fn path_traversal_is_refused() {
    let bytes = headed(&[Entry::File("../../escape.yaml", b"x")]);
    let (root, r) = extract(&bytes, &Limits::default());
    assert!(
        matches!(r, Err(ArchiveError::Path(PathError::ParentComponent(_)))),
        "{r:?}"
    );
    assert!(outside(root.path()).is_empty());
}

#[test]
fn absolute_path_is_refused() {
    let bytes = headed(&[Entry::File("/tmp/ferry-escape.yaml", b"x")]);
    let (_root, r) = extract(&bytes, &Limits::default());
    assert!(
        matches!(r, Err(ArchiveError::Path(PathError::Absolute(_)))),
        "{r:?}"
    );
    assert!(!Path::new("/tmp/ferry-escape.yaml").exists());
}

#[test]
fn symlink_and_hardlink_are_refused() {
    for ty in [EntryType::Symlink, EntryType::Link] {
        let bytes = headed(&[
            Entry::Typed("evil", ty, "/etc/passwd"),
            Entry::File("evil", b"overwrite"),
        ]);
        let (root, r) = extract(&bytes, &Limits::default());
        assert!(
            matches!(r, Err(ArchiveError::Link { ref path }) if path == "evil"),
            "{r:?}"
        );
        assert!(!root.path().join("dest/evil").exists());
    }
}

#[test]
fn device_files_are_refused() {
    for ty in [EntryType::Char, EntryType::Block, EntryType::Fifo] {
        let bytes = headed(&[Entry::Typed("dev", ty, "")]);
        let (_root, r) = extract(&bytes, &Limits::default());
        assert!(matches!(r, Err(ArchiveError::Special { .. })), "{r:?}");
    }
}

#[test]
fn oversized_file_total_and_count_are_refused() {
    let big = vec![b'a'; 4096];
    let limits = Limits {
        max_file_bytes: 1024,
        ..Limits::default()
    };
    let (_r, r) = extract(&headed(&[Entry::File("big", &big)]), &limits);
    assert!(
        matches!(
            r,
            Err(ArchiveError::FileTooLarge {
                size: 4096,
                max: 1024,
                ..
            })
        ),
        "{r:?}"
    );

    let limits = Limits {
        max_total_bytes: 5000,
        ..Limits::default()
    };
    let (_r, r) = extract(
        &headed(&[Entry::File("a", &big), Entry::File("b", &big)]),
        &limits,
    );
    assert!(
        matches!(r, Err(ArchiveError::TooLarge { max: 5000 })),
        "{r:?}"
    );

    let limits = Limits {
        max_files: 2,
        ..Limits::default()
    };
    let (_r, r) = extract(
        &headed(&[
            Entry::File("a", b"1"),
            Entry::File("b", b"2"),
            Entry::File("c", b"3"),
        ]),
        &limits,
    );
    assert!(
        matches!(r, Err(ArchiveError::TooManyFiles { max: 2 })),
        "{r:?}"
    );
}

#[test]
fn tar_bomb_is_cut_off_by_the_stream_cap() {
    // 64 MiB of zeros compresses to ~64 KiB; the limits allow far less decompressed data.
    let limits = Limits {
        max_total_bytes: 1 << 20,
        max_files: 8,
        ..Limits::default()
    };
    let zeros = vec![0u8; 64 << 20];
    let (root, r) = extract(&gz(&zeros), &limits);
    assert!(r.is_err());
    assert!(!root.path().join("dest").exists());
}

#[test]
fn truncated_archive_is_refused() {
    let bytes = archive(&[
        Entry::File("bundle.yaml", b"m"),
        Entry::File("a.yaml", &vec![b'x'; 100_000]),
    ]);
    let (_r, r) = extract(&bytes[..bytes.len() / 2], &Limits::default());
    assert!(matches!(r, Err(ArchiveError::Corrupt(_))), "{r:?}");
}

#[test]
fn duplicate_entries_and_missing_manifest_are_refused() {
    let (_r, r) = extract(
        &headed(&[Entry::File("a", b"1"), Entry::File("a", b"2")]),
        &Limits::default(),
    );
    assert!(matches!(r, Err(ArchiveError::Duplicate { .. })), "{r:?}");
    let (_r, r) = extract(&archive(&[]), &Limits::default());
    assert!(
        matches!(r, Err(ArchiveError::Missing("bundle.yaml"))),
        "{r:?}"
    );
}

#[test]
fn not_gzip_is_corrupt() {
    let (_r, r) = extract(b"this is not an archive", &Limits::default());
    assert!(matches!(r, Err(ArchiveError::Corrupt(_))), "{r:?}");
}

#[test]
fn content_before_the_head_is_refused_before_anything_is_written() {
    let bytes = archive(&[
        Entry::File("a.yaml", &[b'x'; 4096]),
        Entry::File("bundle.yaml", b"m"),
        Entry::File("bundle.yaml.minisig", b"s"),
    ]);
    let (root, r) = extract(&bytes, &Limits::default());
    assert!(
        matches!(r, Err(ArchiveError::HeadFirst { ref found }) if found == "a.yaml"),
        "{r:?}"
    );
    assert!(!root.path().join("dest").exists());
}

#[test]
fn a_refused_head_unpacks_nothing() {
    let bytes = headed(&[Entry::File("a.yaml", b"x")]);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("dest");
    let mut seen = None;
    let ex = archive::extract_verified(&bytes[..], &dest, &Limits::default(), |head| {
        seen = Some(head.clone());
        None::<Vec<FileEntry>>
    })
    .unwrap();
    assert_eq!(seen.unwrap().manifest, b"m");
    assert!(ex.files.is_empty());
    assert!(!dest.exists());
}

#[test]
fn members_the_verified_manifest_does_not_list_are_refused() {
    let bytes = headed(&[Entry::File("a.yaml", b"x"), Entry::File("b.yaml", b"y")]);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("dest");
    let listed = vec![FileEntry {
        path: "a.yaml".into(),
        size: 1,
        sha256: String::new(),
    }];
    let r = archive::extract_verified(&bytes[..], &dest, &Limits::default(), |_| Some(listed));
    assert!(
        matches!(r, Err(ArchiveError::Unlisted { ref path }) if path == "b.yaml"),
        "{r:?}"
    );
    assert!(!dest.join("b.yaml").exists());
    let listed = vec![FileEntry {
        path: "a.yaml".into(),
        size: 5,
        sha256: String::new(),
    }];
    let r = archive::extract_verified(
        &bytes[..],
        &root.path().join("d2"),
        &Limits::default(),
        |_| Some(listed),
    );
    assert!(
        matches!(
            r,
            Err(ArchiveError::SizeMismatch {
                listed: 5,
                size: 1,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn a_60_mib_member_name_gives_a_short_error_and_little_memory() {
    // A GNU long-name member of 60 MiB before the manifest: the head budget (manifest +
    // signature limits) cuts it off, and no error carries more than a bounded piece of it.
    let mut tar = Vec::new();
    let name = vec![b'n'; 60 << 20];
    let mut h = Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(EntryType::GNULongName);
    h.set_size(name.len() as u64);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(&name);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    let mut f = Header::new_gnu();
    f.as_gnu_mut().unwrap().name[..1].copy_from_slice(b"n");
    f.set_entry_type(EntryType::Regular);
    f.set_size(0);
    f.set_cksum();
    tar.extend_from_slice(f.as_bytes());
    tar.extend_from_slice(&[0u8; 1024]);
    let bytes = gz(&tar);
    for limits in [
        Limits::default(),
        Limits {
            max_manifest_bytes: 1 << 30,
            ..Limits::default()
        },
    ] {
        let (root, r) = extract(&bytes, &limits);
        let e = r.unwrap_err();
        assert!(
            e.to_string().len() < 2048,
            "error of {} bytes",
            e.to_string().len()
        );
        assert!(!root.path().join("dest").exists());
    }
}
