//! The issue-13 naming and quarantine attacks through the drop, end to end under the unit's
//! memory limit (see `drop_support`): hostile names are shown escaped everywhere, and a
//! quarantine that is, or passes through, a planted symlink is not followed.

mod common;
mod drop_support;

use common::*;
use drop_support::Device;
use std::path::Path;
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

#[test]
fn a_quarantine_path_through_a_planted_symlink_writes_nothing_outside() {
    // The quarantine is nested on the stick (`stick/ferry/q`, the drop beside it); whoever
    // writes the stick replaced `ferry` by a link to a directory outside.
    let d = Device::new();
    let stick = d.env.dir.path().join("stick");
    let outside = d.env.dir.path().join("outside");
    std::fs::create_dir_all(&stick).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, stick.join("ferry")).unwrap();
    let quarantine = stick.join("ferry/q");
    d.env.write_config_source(
        "",
        &format!(
            "{{type: directory, path: {}, quarantine: {}}}",
            d.env.drop_dir().display(),
            quarantine.display()
        ),
        "timeout: 5s",
        "",
    );
    d.attack(
        "quarantine through a link",
        "cannot quarantine",
        false,
        |drop| {
            std::fs::write(drop.join("junk.bundle"), b"not an archive").unwrap();
        },
    );
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "written through the link"
    );
}
