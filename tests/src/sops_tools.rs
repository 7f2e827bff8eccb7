//! The real SOPS tools for interop tests: `age-keygen` (Debian package `age`) makes keys, the
//! real `sops` CLI (built by tests/run from github.com/getsops/sops/v3 with Go, cached in
//! `~/.cache/ferry-tools/`, or `$FERRY_SOPS`, or `sops` on PATH) encrypts files for them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The sops version tests/run builds.
pub const SOPS_VERSION: &str = "v3.10.2";

/// The sops binary; panics with what to do when there is none.
pub fn sops_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRY_SOPS") {
        return p.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    let cached = Path::new(&home)
        .join(".cache/ferry-tools")
        .join(format!("sops-{SOPS_VERSION}"))
        .join("sops");
    if cached.exists() {
        return cached;
    }
    if let Ok(out) = Command::new("sh").args(["-c", "command -v sops"]).output() {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !p.is_empty() {
            return p.into();
        }
    }
    panic!(
        "no sops binary: run tests/run (it builds sops {SOPS_VERSION} with Go) or set FERRY_SOPS"
    );
}

/// A fresh age identity from the real age-keygen: (identity file text, `age1...` recipient).
pub fn age_keygen() -> (String, String) {
    let out = Command::new("age-keygen")
        .output()
        .expect("age-keygen (Debian package age) is needed");
    assert!(out.status.success(), "age-keygen failed");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen prints the public key")
        .to_string();
    (text, recipient)
}

/// Encrypts `plain` (a file named `name`, whose extension picks sops's format) with the real
/// sops for `recipients`, with extra sops flags (e.g. `--encrypted-regex`). Runs in `dir`.
pub fn sops_encrypt(
    dir: &Path,
    name: &str,
    plain: impl AsRef<[u8]>,
    recipients: &[&str],
    flags: &[&str],
) -> String {
    let path = dir.join(name);
    std::fs::write(&path, plain.as_ref()).expect("write plaintext");
    let mut cmd = Command::new(sops_bin());
    cmd.env_remove("SOPS_AGE_KEY_FILE")
        .args(["--encrypt", "--age", &recipients.join(",")])
        .args(flags);
    run_on_file(cmd, dir, &path, "--encrypt")
}

/// Decrypts with the real sops and the identity file `key_file` (to compare with ferry).
pub fn sops_decrypt(dir: &Path, name: &str, encrypted: &str, key_file: &Path) -> String {
    let path = dir.join(name);
    std::fs::write(&path, encrypted).expect("write");
    let mut cmd = Command::new(sops_bin());
    cmd.env("SOPS_AGE_KEY_FILE", key_file).arg("--decrypt");
    run_on_file(cmd, dir, &path, "--decrypt")
}

/// Runs `cmd` (the sops CLI with its flags) on the file at `path` in `dir`, removes the file and
/// returns what sops printed.
fn run_on_file(mut cmd: Command, dir: &Path, path: &Path, what: &str) -> String {
    let out = cmd
        .current_dir(dir)
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .arg(path)
        .output()
        .expect("run sops");
    std::fs::remove_file(path).ok();
    assert!(
        out.status.success(),
        "sops {what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
