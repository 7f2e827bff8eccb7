//! Checks of a shipped systemd unit with the real `systemd-analyze` (package systemd): the unit
//! verifies without a word on stderr and its offline security exposure stays under a bound.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes `unit` into `dir` as `name`, with the installed binary path `installed` replaced by
/// the test's own build `binary` (systemd-analyze checks that ExecStart exists).
pub fn with_binary(dir: &Path, name: &str, unit: &str, installed: &str, binary: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, unit.replace(installed, binary)).expect("writing the unit");
    p
}

/// `systemd-analyze verify` is clean and `systemd-analyze security --offline=true` rates the
/// unit at most `max_exposure`.
pub fn assert_verifies_and_is_hardened(unit: &Path, max_exposure: f64) {
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
        .expect("systemd-analyze (package systemd)");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(unit)
        .output()
        .expect("systemd-analyze security");
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .expect("exposure line");
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        score <= max_exposure,
        "exposure {score} > {max_exposure}: {line}"
    );
}
