//! Hostile bundles end to end: each is refused with an error naming what is wrong, the last
//! good revision stays applied, and nothing is written to the cluster. (The bundle library's
//! own tests cover each verification error and hostile archives in isolation.)

mod common;

use common::*;
use ferry_bundle::manifest::Timestamp;

/// A device with revision 1 applied; the drop directory is emptied for the hostile bundle.
fn applied() -> Env {
    let env = Env::new();
    env.write_config("timeout: 5s");
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    std::fs::remove_dir_all(env.drop_dir()).unwrap();
    std::fs::create_dir_all(env.drop_dir()).unwrap();
    env.sim.clear_log();
    env
}

/// Syncs and checks: failed, the error mentions `expect`, revision 1 still applied, no object
/// of the bundle written.
fn refused(env: &Env, expect: &str) {
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(expect), "expected {expect:?} in: {out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
    // The only write allowed is ferry's own status ConfigMap reporting the error.
    let writes: Vec<_> = env
        .sim
        .writes()
        .into_iter()
        .filter(|w| !w.path.ends_with("/configmaps/ferry-status"))
        .collect();
    assert!(writes.is_empty(), "writes: {writes:?}");
    let status: serde_json::Value =
        serde_json::from_slice(&env.agent(&["status", "--output", "json"]).stdout).unwrap();
    assert_eq!(status[0]["revision"], 1);
}

fn good_files(v: &str) -> Vec<(&'static str, String)> {
    vec![("a.yaml", cm("a", "default", v))]
}

#[test]
fn signature_by_an_untrusted_key() {
    let env = applied();
    let other = Env::new();
    other.publish_with(&env.drop_dir(), "app", 2, &good_files("2"), |_| {});
    refused(&env, "which is not trusted");
}

#[test]
fn missing_signature() {
    let env = applied();
    let dir = env.publish(2, &good_files("2"));
    std::fs::remove_file(dir.join("bundle.yaml.minisig")).unwrap();
    refused(&env, "signature is missing");
}

#[test]
fn tampered_manifest() {
    let env = applied();
    let dir = env.publish(2, &good_files("2"));
    let m = std::fs::read_to_string(dir.join("bundle.yaml"))
        .unwrap()
        .replace("revision: 2", "revision: 3");
    std::fs::write(dir.join("bundle.yaml"), m).unwrap();
    refused(&env, "does not match the manifest");
}

#[test]
fn tampered_file_and_mix_and_match() {
    let env = applied();
    let dir = env.publish(2, &good_files("2"));
    // The manifest of revision 2 with the file content of revision 1.
    std::fs::write(dir.join("a.yaml"), cm("a", "default", "1")).unwrap();
    refused(&env, "file a.yaml has");
}

#[test]
fn expired_bundle() {
    let env = applied();
    env.publish_with(&env.drop_dir(), "app", 2, &good_files("2"), |m| {
        m.created = Timestamp(1_000_000);
        m.expires = Timestamp(2_000_000);
    });
    refused(&env, "expired at");
}

#[test]
fn replay_of_the_same_revision_with_other_content() {
    let env = applied();
    env.publish(1, &good_files("evil"));
    refused(&env, "replay refused");
}

#[test]
fn rollback_to_a_lower_revision_is_not_offered() {
    let env = applied();
    env.publish(0, &good_files("0"));
    // An older revision in a directory is history, not a candidate: the source has nothing.
    refused(&env, "holds no valid bundle");
}

#[test]
fn bundle_for_another_device() {
    let env = applied();
    env.publish_with(&env.drop_dir(), "app", 2, &good_files("2"), |m| {
        m.targets.devices = vec!["edge-999".into()]
    });
    refused(&env, "does not target device edge-1");
}

#[test]
fn path_traversal_in_the_manifest() {
    let env = applied();
    env.publish_with(&env.drop_dir(), "app", 2, &good_files("2"), |m| {
        m.files[0].path = "../../etc/a.yaml".into()
    });
    refused(&env, "contains a '..' component");
}

#[test]
fn a_symlink_instead_of_a_file() {
    let env = applied();
    let dir = env.publish(2, &good_files("2"));
    std::fs::remove_file(dir.join("a.yaml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("a.yaml")).unwrap();
    refused(&env, "file a.yaml is missing");
}

#[test]
fn too_many_files_for_the_limits() {
    let env = applied();
    env.write_config_full("limits: {maxFiles: 2}", "timeout: 5s");
    env.publish(
        2,
        &[
            ("a.yaml", cm("a", "default", "2")),
            ("b.yaml", cm("b", "default", "2")),
            ("c.yaml", cm("c", "default", "2")),
        ],
    );
    refused(&env, "3 files, above the limit of 2");
}

#[test]
fn yaml_alias_bomb() {
    let env = applied();
    let mut lol = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for c in "bcdefghi".chars() {
        lol.push_str(&format!(
            "{c}: &{c} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
        prev = c;
    }
    env.publish(
        2,
        &[("a.yaml", cm("a", "default", "2")), ("bomb.yaml", lol)],
    );
    refused(
        &env,
        "bomb.yaml#0: over the parse budget: aliases expand to more than",
    );
}

#[test]
fn deeply_nested_yaml() {
    let env = applied();
    let deep = format!("a: {}{}\n", "[".repeat(5000), "]".repeat(5000));
    env.publish(
        2,
        &[("a.yaml", cm("a", "default", "2")), ("deep.yaml", deep)],
    );
    refused(
        &env,
        "deep.yaml#0: over the parse budget: nested deeper than 100 levels",
    );
}

#[test]
fn non_utf8_content() {
    let env = applied();
    env.publish_bytes(2, &[("a.yaml", vec![0xff, 0xfe, 0x00, 0x41])]);
    refused(&env, "a.yaml: not UTF-8");
}

#[test]
fn invalid_object_name_and_unknown_kind() {
    let env = applied();
    env.publish(2, &[("a.yaml", cm("Bad_Name", "default", "2"))]);
    refused(&env, "a.yaml#0: invalid name \"Bad_Name\"");
    env.publish(
        3,
        &[(
            "a.yaml",
            "apiVersion: nope.example.com/v1\nkind: Widget\nmetadata:\n  name: w\n".to_string(),
        )],
    );
    refused(
        &env,
        "Widget (nope.example.com/v1) is not served by the cluster",
    );
}

#[test]
fn an_oversized_object() {
    let env = applied();
    let big = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: default\ndata:\n  blob: \"{}\"\n", "x".repeat(1_700_000));
    env.publish(2, &[("big.yaml", big)]);
    refused(&env, "big.yaml#0: object is");
}
