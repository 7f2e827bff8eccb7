//! Configuration mistakes and tampering caught by `check-config` (which runs every check
//! `run` and `sync` run): unknown keys everywhere, zero limits, missing paths, a quarantine in
//! the drop, trust anchors others can write, a kubeconfig that does not load.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

fn check(env: &Env) -> (i32, String) {
    let o = env.agent(&["check-config"]);
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn refused(env: &Env, expect: &str) {
    let (code, out) = check(env);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains(expect), "expected {expect:?} in: {out}");
    // `sync` refuses the same configuration.
    let (code, out) = env.sync();
    assert_eq!(code, 3, "{out}");
}

#[test]
fn a_good_config_checks_and_loads_the_kubeconfig() {
    let env = Env::new();
    let (code, out) = check(&env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("kube   client configuration loaded"), "{out}");
}

#[test]
fn unknown_keys_in_limits_are_refused() {
    let env = Env::new();
    env.write_config_full("limits: {maxFiles: 10, maxFilez: 5}", "timeout: 5s");
    refused(&env, "unknown field `maxFilez`");
}

#[test]
fn zero_limits_and_concurrency_are_refused() {
    let env = Env::new();
    env.write_config_full("limits: {maxTotalBytes: 0}", "");
    refused(&env, "limits.maxTotalBytes must be at least 1");
    env.write_config_full("concurrency: 0", "");
    refused(&env, "concurrency must be 1 to 64");
}

#[test]
fn a_quarantine_that_is_the_drop_or_inside_it_is_refused() {
    let env = Env::new();
    for q in [env.drop_dir(), env.drop_dir().join("quarantine")] {
        env.write_config_source(
            "",
            &format!(
                "{{type: directory, path: {}, quarantine: {}}}",
                env.drop_dir().display(),
                q.display()
            ),
            "",
            "",
        );
        refused(&env, "is the drop directory");
    }
}

#[test]
fn keys_and_config_writable_by_others_are_refused_unless_explicitly_allowed() {
    let env = Env::new();
    let key = env.dir.path().join("keys/publisher.pub");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o666)).unwrap();
    refused(&env, "is writable by others");
    env.write_config_full("insecureAllowWritableTrust: true", "");
    let (code, out) = check(&env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("WARNING key"), "{out}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.write_config_full("", "");
    std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o646)).unwrap();
    refused(&env, "config");
}

#[test]
fn missing_keys_and_a_broken_kubeconfig_are_refused() {
    let env = Env::new();
    std::fs::remove_dir_all(env.dir.path().join("keys")).unwrap();
    refused(&env, "keys");
    let env = Env::new();
    let text = std::fs::read_to_string(&env.config).unwrap();
    let broken = env.dir.path().join("broken-kubeconfig");
    std::fs::write(&broken, "apiVersion: v1\nkind: Config\nclusters: [oops\n").unwrap();
    let text = text.replace(
        &format!("kubeconfig: {}", env.sim.kubeconfig_path().display()),
        &format!("kubeconfig: {}", broken.display()),
    );
    std::fs::write(&env.config, text).unwrap();
    refused(&env, "cluster access");
}

#[test]
fn a_keys_directory_or_a_parent_others_can_write_is_refused() {
    let env = Env::new();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    // Others could add their own key to the directory.
    let keys = env.dir.path().join("keys");
    mode(&keys, 0o777);
    refused(&env, "is writable by others");
    mode(&keys, 0o755);
    // Others could rename the keys directory (and the config) away and put their own in place.
    mode(env.dir.path(), 0o777);
    refused(&env, "is writable by others");
    std::os::unix::fs::chown(env.dir.path(), None, Some(1)).unwrap();
    mode(env.dir.path(), 0o775);
    refused(&env, "is writable by its group");
    std::os::unix::fs::chown(env.dir.path(), None, Some(0)).unwrap();
    // With the sticky bit (like /tmp) others cannot rename what is not theirs.
    mode(env.dir.path(), 0o1777);
    let (code, out) = check(&env);
    assert_eq!(code, 0, "{out}");
    // The flag turns the finding into a warning.
    mode(env.dir.path(), 0o777);
    env.write_config_full("insecureAllowWritableTrust: true", "");
    let (code, out) = check(&env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("WARNING"), "{out}");
    mode(env.dir.path(), 0o700);
}
