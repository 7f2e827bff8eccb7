//! Hostile host sections are refused with named errors, and nothing is written.

use crate::harness::*;

fn refused(h: &Host, rev: u64, files: Vec<(&str, Vec<u8>, HostFile)>, want: &str) {
    h.publish(rev, files, vec![]);
    let (code, out) = h.env.sync();
    assert_eq!(code, 1, "{want}: {out}");
    assert!(out.contains(want), "{want}: {out}");
}

#[test]
fn hostile_host_sections_are_refused_with_named_errors() {
    let h = Host::new();
    let data = b"payload\n".to_vec();
    // Outside the allow-list.
    refused(
        &h,
        1,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/shadow", 0o600, None),
        )],
        "/etc/shadow is not on this device's allow-list",
    );
    assert!(h.read("/etc/shadow").is_none());
    // A `..` target never gets past the manifest check.
    refused(
        &h,
        2,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/rancher/k3s/../../shadow", 0o600, None),
        )],
        "has a '..' component",
    );
    // A parent directory swapped for a symlink (to a directory outside the allow-list).
    let outside = h.env.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(h.path("/etc/rancher")).unwrap();
    std::os::unix::fs::symlink(&outside, h.path("/etc/rancher/k3s")).unwrap();
    refused(
        &h,
        3,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/rancher/k3s/config.yaml", 0o600, None),
        )],
        "a parent directory is a symlink",
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written through the link"
    );
    std::fs::remove_file(h.path("/etc/rancher/k3s")).unwrap();
    std::fs::create_dir(h.path("/etc/rancher/k3s")).unwrap();
    // The target itself a symlink.
    std::os::unix::fs::symlink("/etc/passwd", h.path("/etc/rancher/k3s/config.yaml")).unwrap();
    refused(
        &h,
        4,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/rancher/k3s/config.yaml", 0o600, None),
        )],
        "is a symlink; ferry never writes through one",
    );
    std::fs::remove_file(h.path("/etc/rancher/k3s/config.yaml")).unwrap();
    // A special file (fifo) as the target.
    let fifo = h.path("/etc/rancher/k3s/registries.yaml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    refused(
        &h,
        5,
        vec![(
            "host/x",
            data.clone(),
            file("host/x", "/etc/rancher/k3s/registries.yaml", 0o600, None),
        )],
        "is a directory or special file",
    );
    // An ELF binary for another architecture.
    let mut elf = std::fs::read(AGENT).unwrap()[..64].to_vec();
    let other: u16 = if std::env::consts::ARCH == "aarch64" {
        62
    } else {
        183
    };
    elf[18..20].copy_from_slice(&other.to_le_bytes());
    refused(
        &h,
        6,
        vec![(
            "host/k3s",
            elf,
            file("host/k3s", "/usr/local/bin/k3s", 0o755, None),
        )],
        "ELF header",
    );
    // Declared for another architecture only: nothing for this device, nothing installed.
    let mut arm = file("host/k3s", "/usr/local/bin/k3s", 0o755, None);
    arm.arch = if std::env::consts::ARCH == "aarch64" {
        Arch::X86_64
    } else {
        Arch::Aarch64
    };
    h.publish(7, vec![("host/k3s", data.clone(), arm)], vec![]);
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(h.read("/usr/local/bin/k3s").is_none());
    // A ferry-agent below the running version.
    refused(
        &h,
        8,
        vec![(
            "host/a",
            data.clone(),
            file("host/a", "/usr/bin/ferry-agent", 0o755, Some("0.0.1")),
        )],
        "downgrade refused",
    );
    assert!(h.read("/usr/bin/ferry-agent").is_none());
    let journal = h.events();
    assert!(!journal.contains("host-applied"), "{journal}");
}

#[test]
fn host_payloads_are_refused_unless_enabled() {
    let env = Env::new();
    env.publish_raw(&env.drop_dir(), "app", 1, &[("host/x", b"x")], |m| {
        m.host = Some(HostSection {
            files: vec![file("host/x", "/usr/local/bin/k3s", 0o755, None)],
            units: vec![],
        })
    });
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("sync app is not host-capable"), "{out}");
}
