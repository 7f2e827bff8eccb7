//! The issue-13 attacks through the drop, end to end and under the shipped unit's memory limit:
//! the real `ferry-agent sync --once` runs with `RLIMIT_DATA` = `MemoryMax=128M` (so an
//! unbounded parse or unpack aborts it instead of passing) and a deadline that only catches a
//! hang. After every attack: the error is named and bounded (output, `state.db`, the status
//! ConfigMap), the last good revision is still applied, `state.db` passes `integrity_check`,
//! and nothing outside the agent's own directories (state, quarantine, the drop) changed.

mod common;
mod drop_support;

use common::*;
use drop_support::Device;
use ferry_bundle::{keys, sign, SigningKey};
use std::io::Write;
use std::path::Path;

/// A gzip-compressed tar of raw 512-byte-block `members`.
fn gz(tar: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

/// Appends a regular member to raw tar bytes.
fn member(tar: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

/// Appends a GNU long-name record of `len` bytes (the next member's name).
fn long_name(tar: &mut Vec<u8>, len: usize) {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(len as u64);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.resize(tar.len() + len, b'n');
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

fn finish(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend_from_slice(&[0u8; 1024]);
    gz(&tar)
}

/// A nested alias bomb of `levels` levels of ten references each.
fn alias_bomb(levels: u8) -> String {
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..levels {
        bomb.push_str(&format!(
            "{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n",
            n = (b'a' + i) as char,
            p = (b'a' + i - 1) as char
        ));
    }
    bomb
}

fn other_key(dir: &Path) -> SigningKey {
    let (_, key) = keys::generate(&dir.join("stranger"), None, false).unwrap();
    SigningKey::load(&key, None).unwrap()
}
#[test]
fn unsigned_archive_heads_are_refused_by_their_signature_within_the_memory_limit() {
    let d = Device::new();
    // A 24 KB alias bomb (it aborted the agent on every pass and was never quarantined).
    let mut big = alias_bomb(20);
    while big.len() < 24 * 1024 {
        big.push_str("# padding to the size of the bomb that aborted every pass\n");
    }
    d.attack("24 KB alias bomb", "signature is missing", true, |drop| {
        let mut tar = Vec::new();
        member(&mut tar, "bundle.yaml", big.as_bytes());
        std::fs::write(drop.join("bomb.bundle"), finish(tar)).unwrap();
    });
    // 100k-deep flow nesting, signed by a key the device does not trust.
    let stranger = other_key(d.env.dir.path());
    let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let sig = sign::sign(
        deep.as_bytes(),
        "ferry-bundle name=app revision=9",
        &stranger,
    )
    .unwrap();
    d.attack("100k-deep manifest", "not trusted", true, |drop| {
        let mut tar = Vec::new();
        member(&mut tar, "bundle.yaml", deep.as_bytes());
        member(&mut tar, "bundle.yaml.minisig", sig.as_bytes());
        std::fs::write(drop.join("deep.bundle"), finish(tar)).unwrap();
    });
    // A 60 MiB member name before the head (63 MB log lines, +126 MB state.db per poll, a
    // 63 MB status ConfigMap before the fix).
    d.attack("60 MiB member name", "archive", true, |drop| {
        let mut tar = Vec::new();
        long_name(&mut tar, 60 << 20);
        member(&mut tar, "n", b"x");
        std::fs::write(drop.join("name.bundle"), finish(tar)).unwrap();
    });
    // 64 MiB of content behind a head signed by a stranger: never unpacked.
    let plain = d.env.stage(2, &[("a.yaml", cm("a", "default", "2"))]);
    let manifest = std::fs::read(plain.join("bundle.yaml")).unwrap();
    let sig = sign::sign(&manifest, "ferry-bundle name=app revision=2", &stranger).unwrap();
    d.attack("64 MiB behind a bad head", "not trusted", true, |drop| {
        let mut tar = Vec::new();
        member(&mut tar, "bundle.yaml", &manifest);
        member(&mut tar, "bundle.yaml.minisig", sig.as_bytes());
        member(&mut tar, "a.yaml", &vec![b'#'; 64 << 20]);
        std::fs::write(drop.join("big.bundle"), finish(tar)).unwrap();
    });
}

#[test]
fn signed_parser_bombs_are_refused_within_the_memory_limit() {
    let d = Device::new();
    let mut flat = String::from("big: &big [");
    flat.push_str(&vec!["xxxxxxxxxxxxxxxx"; 10_000].join(","));
    flat.push_str("]\nrefs: [");
    flat.push_str(&vec!["*big"; 10_000].join(","));
    flat.push_str("]\n");
    let cases = [
        ("flat alias bomb", "bomb.yaml", flat),
        (
            "100k-deep flow YAML",
            "bomb.yaml",
            format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
        ),
        (
            "100k-deep JSON",
            "bomb.json",
            format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)),
        ),
    ];
    for (i, (what, file, text)) in cases.into_iter().enumerate() {
        let revision = 2 + i as u64;
        // Signed content is not quarantined (it verified); it is refused on every pass.
        d.attack(what, "over the parse budget", false, |_| {
            d.env.publish(
                revision,
                &[("a.yaml", cm("a", "default", "2")), (file, text.clone())],
            );
        });
    }
}

#[test]
fn a_signed_archive_with_a_60_mib_member_name_after_its_head_is_refused_bounded() {
    let d = Device::new();
    let plain = d.env.stage(2, &[("a.yaml", cm("a", "default", "2"))]);
    let manifest = std::fs::read(plain.join("bundle.yaml")).unwrap();
    let sig = std::fs::read(plain.join("bundle.yaml.minisig")).unwrap();
    let content = std::fs::read(plain.join("a.yaml")).unwrap();
    d.attack("60 MiB name after the head", "bad path", true, |drop| {
        let mut tar = Vec::new();
        member(&mut tar, "bundle.yaml", &manifest);
        member(&mut tar, "bundle.yaml.minisig", &sig);
        long_name(&mut tar, 60 << 20);
        member(&mut tar, "n", b"x");
        member(&mut tar, "a.yaml", &content);
        std::fs::write(drop.join("app-2.bundle"), finish(tar)).unwrap();
    });
}
