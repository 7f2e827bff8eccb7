//! Attacks through the USB drop and its quarantine, end to end with the real binary: each is
//! refused in bounded time with a bounded, escaped error; nothing outside the agent's own
//! directories is written; the last good revision stays applied; `state.db` stays intact.

mod common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A device with revision 1 applied from a drop with a quarantine at `quarantine`.
fn applied_with_quarantine(quarantine: &Path) -> Env {
    let env = Env::new();
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
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    env.sim.clear_log();
    env
}

fn state_db(env: &Env) -> PathBuf {
    env.dir.path().join("state/state.db")
}

/// `PRAGMA integrity_check` of the agent's database.
fn integrity(env: &Env) -> String {
    let c = rusqlite::Connection::open(state_db(env)).unwrap();
    c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

fn assert_last_good_kept(env: &Env) {
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
    assert_eq!(integrity(env), "ok");
}

/// Runs `sync --once`, failing the test if it has not finished within `limit` (a FIFO that
/// blocks an open would hang it forever).
fn sync_within(env: &Env, limit: Duration) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .args(["sync", "--once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            let o = child.wait_with_output().unwrap();
            return (
                o.status.code().unwrap_or(-1),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            );
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("sync did not finish within {limit:?}: it hangs");
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn a_planted_symlink_in_the_quarantine_cannot_overwrite_state_db() {
    let d = tempfile::tempdir().unwrap();
    let quarantine = d.path().join("quarantine");
    let env = applied_with_quarantine(&quarantine);
    let victim = d.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    // The old names were `<unix time>-<name>` and `.reason`: plant links for the next minutes.
    let now = ferry_agent::store::now();
    std::fs::create_dir_all(&quarantine).unwrap();
    for t in now - 5..now + 300 {
        std::os::unix::fs::symlink(
            state_db(&env),
            quarantine.join(format!("{t}-junk.bundle.reason")),
        )
        .unwrap();
        std::os::unix::fs::symlink(&victim, quarantine.join(format!("{t}-junk.bundle"))).unwrap();
    }
    std::fs::write(env.drop_dir().join("junk.bundle"), b"not an archive").unwrap();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_last_good_kept(&env);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!env.drop_dir().join("junk.bundle").exists(), "quarantined");
    let status = env.agent(&["status"]);
    assert!(status.status.success(), "{status:?}");
}

#[test]
fn a_fifo_in_the_drop_does_not_hang_the_directory_source() {
    let env = applied_with_quarantine(&tempfile::tempdir().unwrap().path().join("q"));
    let dir = env.publish(2, &[("a.yaml", cm("a", "default", "2"))]);
    std::fs::remove_file(dir.join("bundle.yaml.minisig")).unwrap();
    mkfifo(&dir.join("bundle.yaml.minisig"));
    mkfifo(&env.drop_dir().join("x.bundle"));
    let (code, out) = sync_within(&env, Duration::from_secs(60));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not a regular file"), "{out}");
    assert_last_good_kept(&env);
}

#[test]
fn names_with_newlines_and_escape_do_not_forge_log_lines_or_reach_the_terminal() {
    let env = applied_with_quarantine(&tempfile::tempdir().unwrap().path().join("q"));
    let name = "evil\nERROR forged line \u{1b}[2J.bundle";
    std::fs::write(env.drop_dir().join(name), b"junk").unwrap();
    let (_, out) = env.sync();
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(
        !out.lines().any(|l| l.starts_with("ERROR forged")),
        "{out:?}"
    );
    for cmd in [&["status"][..], &["events"], &["history"]] {
        let o = env.agent(cmd);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{cmd:?}: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("ERROR forged")),
            "{text:?}"
        );
    }
    assert_last_good_kept(&env);
}

#[test]
fn the_quarantine_works_across_filesystems() {
    let shm = Path::new("/dev/shm");
    let other = tempfile::tempdir_in(shm).unwrap();
    use std::os::unix::fs::MetadataExt;
    let env = applied_with_quarantine(&other.path().join("q"));
    assert_ne!(
        std::fs::metadata(shm).unwrap().dev(),
        std::fs::metadata(env.drop_dir()).unwrap().dev(),
        "/dev/shm must be another filesystem for this test"
    );
    std::fs::write(env.drop_dir().join("junk.bundle"), b"not an archive").unwrap();
    let bad = env.publish(2, &[("a.yaml", cm("a", "default", "2"))]);
    std::fs::write(bad.join("a.yaml"), cm("a", "default", "evil")).unwrap();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(!env.drop_dir().join("junk.bundle").exists(), "{out}");
    assert!(!bad.exists(), "{out}");
    let slots: Vec<_> = std::fs::read_dir(other.path().join("q"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(slots.len(), 2);
    assert!(slots
        .iter()
        .any(|s| s.join("app-2/a.yaml").is_file() && s.join("reason").is_file()));
    assert_last_good_kept(&env);
}

#[test]
fn an_unsigned_alias_bomb_archive_is_refused_by_its_signature_and_quarantined() {
    let d = tempfile::tempdir().unwrap();
    let env = applied_with_quarantine(&d.path().join("q"));
    // 2.6 KB of YAML that expands to billions of nodes if anything parses it.
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..12 {
        bomb.push_str(&format!(
            "{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n",
            n = (b'a' + i) as char,
            p = (b'a' + i - 1) as char
        ));
    }
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_ustar();
    h.set_size(bomb.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, "bundle.yaml", bomb.as_bytes())
        .unwrap();
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    std::fs::File::create(env.drop_dir().join("bomb.bundle"))
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("signature is missing"), "{out}");
    assert!(!env.drop_dir().join("bomb.bundle").exists(), "quarantined");
    assert_last_good_kept(&env);
}
