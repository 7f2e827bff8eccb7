//! A signed bundle upgrades a stand-in k3s and its configuration; a broken k3s is rolled back.

use crate::harness::*;

#[test]
fn a_signed_bundle_upgrades_k3s_and_its_config_and_a_broken_k3s_is_rolled_back() {
    let h = Host::new();
    h.standard(1, "v1.31.5+k3s1");
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        h.api_version().contains("v1.31.5+k3s1"),
        "{}",
        h.api_version()
    );
    assert_eq!(
        h.read("/etc/rancher/k3s/registries.yaml").unwrap(),
        std::fs::read(format!("{EXAMPLE}/bundle/host/registries.yaml")).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h.path("/etc/rancher/k3s/config.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    // The host files are not cluster manifests: only the namespace was applied.
    assert!(h.env.obj("", "Namespace", "", "host").is_some());

    // Revision 2: a new k3s; the API answers with the new version, the old one is kept.
    h.standard(2, "v1.32.3+k3s1");
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(
        h.api_version().contains("v1.32.3+k3s1"),
        "{}",
        h.api_version()
    );
    assert_eq!(
        h.read("/usr/local/bin/k3s.ferry-prev").unwrap(),
        fake_k3s("v1.31.5+k3s1")
    );

    // Revision 3: a k3s that never comes up; health fails, v1.32.3 is restored and restarted.
    // 10 s: the rollback checks the restored k3s with this deadline too (on a loaded machine
    // the stand-in answers in seconds).
    h.publish_broken_k3s(3, 10);
    let (code, out) = h.env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("rolled back") && out.contains("k3s.service not healthy"),
        "{out}"
    );
    assert_eq!(
        h.read("/usr/local/bin/k3s").unwrap(),
        fake_k3s("v1.32.3+k3s1")
    );
    assert!(
        h.api_version().contains("v1.32.3+k3s1"),
        "{}",
        h.api_version()
    );
    let events = h.events();
    assert!(
        events.contains("host-rolled-back") && events.contains("host-applied"),
        "{events}"
    );
}
