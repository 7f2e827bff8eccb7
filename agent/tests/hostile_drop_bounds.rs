//! The issue-13 attacks through the drop, end to end and under the shipped unit's memory limit:
//! the real `ferry-agent sync --once` runs with `RLIMIT_DATA` = `MemoryMax=128M` (so an
//! unbounded parse or unpack aborts it instead of passing) and a deadline that only catches a
//! hang. After every attack: the error is named and bounded (output, `state.db`, the status
//! ConfigMap), the last good revision is still applied, `state.db` passes `integrity_check`,
//! and nothing outside the agent's own directories (state, quarantine, the drop) changed.

mod common;

use common::*;
use ferry_bundle::{keys, sign, SigningKey};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The unit's `MemoryMax=128M`.
const MEMORY_MAX: u64 = 128 << 20;

/// A device with revision 1 applied, a quarantine beside the drop and a scratch `TMPDIR`.
struct Device {
    env: Env,
    quarantine: PathBuf,
    tmp: PathBuf,
}

impl Device {
    fn new() -> Self {
        let env = Env::new();
        let quarantine = env.dir.path().join("quarantine");
        env.write_config_source(
            "",
            &format!(
                "{{type: directory, path: {}, quarantine: {}}}",
                env.drop_dir().display(),
                quarantine.display()
            ),
            "timeout: 5s",
            "",
        );
        let tmp = env.dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let device = Device {
            env,
            quarantine,
            tmp,
        };
        device
            .env
            .publish(1, &[("a.yaml", cm("a", "default", "1"))]);
        let (code, out) = device.sync();
        assert_eq!(code, 0, "{out}");
        std::fs::remove_dir_all(device.env.drop_dir().join("app-1")).unwrap();
        device
    }

    /// `sync --once` under the memory limit; a hang is killed after 5 minutes (exit 137).
    fn sync(&self) -> (i32, String) {
        let o = Command::new("timeout")
            .args(["--signal=KILL", "300", "prlimit"])
            .arg(format!("--data={MEMORY_MAX}"))
            .arg(env!("CARGO_BIN_EXE_ferry-agent"))
            .arg("--config")
            .arg(&self.env.config)
            .args(["sync", "--once"])
            .env("TMPDIR", &self.tmp)
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

    fn state(&self) -> PathBuf {
        self.env.dir.path().join("state")
    }

    /// Every path under the test root outside the agent's own directories, with its size and
    /// modification time.
    fn outside(&self) -> BTreeMap<PathBuf, (u64, i64)> {
        let own = [self.state(), self.quarantine.clone(), self.env.drop_dir()];
        let mut out = BTreeMap::new();
        let mut stack = vec![self.env.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if own.contains(&p) {
                    continue;
                }
                use std::os::unix::fs::MetadataExt;
                let m = std::fs::symlink_metadata(&p).unwrap();
                out.insert(
                    p.clone(),
                    (m.len(), m.mtime_nsec() + m.mtime() * 1_000_000_000),
                );
                if m.is_dir() {
                    stack.push(p);
                }
            }
        }
        out
    }

    /// Bytes of `state.db` and its WAL.
    fn state_bytes(&self) -> u64 {
        ["state.db", "state.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.state().join(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    fn integrity(&self) -> String {
        let c = rusqlite::Connection::open(self.state().join("state.db")).unwrap();
        c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap()
    }

    /// Every text value in every table of `state.db`.
    fn stored_texts(&self) -> Vec<String> {
        let c = rusqlite::Connection::open(self.state().join("state.db")).unwrap();
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let mut out = Vec::new();
        for t in tables {
            let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = st.column_count();
            let mut rows = st.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..n {
                    if let Ok(rusqlite::types::ValueRef::Text(b)) = row.get_ref(i) {
                        out.push(String::from_utf8_lossy(b).into_owned());
                    }
                }
            }
        }
        out
    }

    fn status_configmap_bytes(&self) -> usize {
        let cm = self.env.obj("", "ConfigMap", "kube-system", "ferry-status");
        let cm = cm.or_else(|| self.env.obj("", "ConfigMap", "default", "ferry-status"));
        cm.map(|c| c.to_string().len()).unwrap_or(0)
    }

    /// Drops `candidate` (written by `place`), syncs, and checks the whole "done when": the
    /// sync finished (no abort, no hang) with `expect` in its output, the candidate was
    /// quarantined (when `quarantined`), and every bound held.
    fn attack(&self, what: &str, expect: &str, quarantined: bool, place: impl FnOnce(&Path)) {
        let before = self.outside();
        let state_before = self.state_bytes();
        place(&self.env.drop_dir());
        let (code, out) = self.sync();
        assert!(
            code == 0 || code == 1,
            "{what}: the agent did not finish (exit {code}): {}",
            ferry_bundle::text::bounded(&out, 4096)
        );
        assert!(
            out.contains(expect),
            "{what}: expected {expect:?} in: {}",
            ferry_bundle::text::bounded(&out, 4096)
        );
        assert!(
            out.len() < 64 * 1024,
            "{what}: {} bytes of output",
            out.len()
        );
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{what}: raw control characters in the output"
        );
        if quarantined {
            let left: Vec<_> = std::fs::read_dir(self.env.drop_dir())
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert!(left.is_empty(), "{what}: not quarantined: {left:?}");
        }
        assert_eq!(
            self.env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
            "1",
            "{what}: the last good revision must stay applied"
        );
        assert_eq!(self.integrity(), "ok", "{what}");
        let grown = self.state_bytes().saturating_sub(state_before);
        assert!(grown < 1 << 20, "{what}: state.db grew by {grown} bytes");
        let status = self.status_configmap_bytes();
        assert!(
            status < 64 * 1024,
            "{what}: status ConfigMap of {status} bytes"
        );
        assert_eq!(self.outside(), before, "{what}: written outside");
        let left: Vec<_> = std::fs::read_dir(&self.tmp).unwrap().collect();
        assert!(left.is_empty(), "{what}: left in TMPDIR: {left:?}");
        // Leave the drop empty for the next attack.
        for e in std::fs::read_dir(self.env.drop_dir()).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
}

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

#[test]
fn a_bundle_named_with_control_characters_is_applied_and_shown_escaped() {
    let d = Device::new();
    let good = d.env.publish(2, &[("a.yaml", cm("a", "default", "2"))]);
    let evil = d
        .env
        .drop_dir()
        .join("app\nERROR forged line \u{1b}[2J\u{9b}31m");
    std::fs::rename(&good, &evil).unwrap();
    // A refused neighbour with a hostile name too, so its refusal is shown.
    std::fs::write(
        d.env
            .drop_dir()
            .join("x\r\nERROR forged \u{1b}]0;title\u{7}.bundle"),
        b"junk",
    )
    .unwrap();
    let (code, out) = d.sync();
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        d.env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "2"
    );
    let mut shown = out.clone();
    for cmd in [&["status"][..], &["events"], &["history"]] {
        let o = d.env.agent(cmd);
        assert!(o.status.success(), "{cmd:?}: {o:?}");
        shown.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    assert!(
        !shown.chars().any(|c| c.is_control() && c != '\n'),
        "{shown:?}"
    );
    assert!(
        !shown.lines().any(|l| l.starts_with("ERROR forged")),
        "{shown}"
    );
    // The refused name is there, escaped, not dropped.
    assert!(
        shown.contains("x\\r\\nERROR forged \\u{1b}]0;title\\u{7}.bundle"),
        "{shown}"
    );
    // What reached SQLite (the applied bundle's origin included) is escaped too.
    let stored = d.stored_texts();
    assert!(
        stored.iter().any(|t| t.contains("app\\nERROR forged line")),
        "{stored:?}"
    );
    // (Signatures are stored as signed, with their own newlines: only names are checked.)
    for t in stored.iter().filter(|t| t.contains("forged")) {
        assert!(!t.chars().any(|c| c.is_control()), "stored raw: {t:?}");
    }
    assert_eq!(d.integrity(), "ok");
}

#[test]
fn a_quarantine_replaced_by_a_symlink_is_not_followed() {
    let d = Device::new();
    // The quarantine (on a stick others can write) now points into the agent's state.
    std::fs::remove_dir_all(&d.quarantine).ok();
    std::os::unix::fs::symlink(d.state(), &d.quarantine).unwrap();
    let listing = |p: &Path| -> Vec<_> {
        let mut v: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let before = listing(&d.state());
    std::fs::write(d.env.drop_dir().join("junk.bundle"), b"not an archive").unwrap();
    let (code, out) = d.sync();
    assert!(code == 0 || code == 1, "{out}");
    assert!(out.contains("cannot quarantine"), "{out}");
    assert!(
        d.env.drop_dir().join("junk.bundle").exists(),
        "moved through the link"
    );
    let after: Vec<_> = listing(&d.state())
        .into_iter()
        .filter(|n| !n.to_string_lossy().starts_with("state.db"))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|n| !n.to_string_lossy().starts_with("state.db"))
        .collect();
    assert_eq!(after, before, "{out}");
    assert_eq!(d.integrity(), "ok");
    assert_eq!(
        d.env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
}
