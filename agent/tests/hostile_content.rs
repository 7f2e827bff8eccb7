//! Signed but hostile content: a bundle that verifies can still be too big to hold. Object
//! count, object size and total rendered size are limited (`limits` in the agent config);
//! over them the bundle is refused with a named error and the last good revision stays.

mod common;

use common::*;

fn applied(limits: &str) -> Env {
    let env = Env::new();
    env.write_config_full(limits, "timeout: 5s");
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    std::fs::remove_dir_all(env.drop_dir()).unwrap();
    std::fs::create_dir_all(env.drop_dir()).unwrap();
    env.sim.clear_log();
    env
}

/// A `List` of `n` ConfigMaps.
fn list(n: usize) -> String {
    let mut s = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..n {
        s.push_str(&format!(
            "- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: c{i}, namespace: default}}, data: {{v: \"{i}\"}}}}\n"
        ));
    }
    s
}

fn refused(env: &Env, expect: &str) {
    let (code, out) = env.sync();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(expect), "expected {expect:?} in: {out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
    let writes: Vec<_> = env
        .sim
        .writes()
        .into_iter()
        .filter(|w| !w.path.ends_with("/configmaps/ferry-status"))
        .collect();
    assert!(writes.is_empty(), "writes: {writes:?}");
}

#[test]
fn a_list_with_more_objects_than_the_limit_is_refused() {
    let env = applied("limits: {maxObjects: 100}");
    env.publish(
        2,
        &[
            ("a.yaml", cm("a", "default", "2")),
            ("list.yaml", list(1000)),
        ],
    );
    refused(&env, "more than 100 objects (limits.maxObjects)");
}

#[test]
fn objects_over_the_size_limits_are_refused() {
    let env = applied("limits: {maxObjectBytes: 1000}");
    env.publish(2, &[("a.yaml", cm("a", "default", &"x".repeat(2000)))]);
    refused(&env, "(limits.maxObjectBytes)");
    let env = applied("limits: {maxRenderedBytes: 20000}");
    env.publish(
        2,
        &[
            ("a.yaml", cm("a", "default", "2")),
            ("list.yaml", list(500)),
        ],
    );
    refused(&env, "(limits.maxRenderedBytes)");
}

#[test]
fn the_largest_limits_do_not_overflow() {
    let max = u64::MAX;
    let env = applied(&format!(
        "limits: {{maxManifestBytes: {max}, maxSignatureBytes: {max}, maxFiles: {max}, maxFileBytes: {max}, maxTotalBytes: {max}, maxPathBytes: {max}, maxObjects: {max}, maxObjectBytes: {max}, maxRenderedBytes: {max}}}"
    ));
    let plain = env.stage(2, &[("a.yaml", cm("a", "default", "2"))]);
    Env::archive(&plain, &env.drop_dir().join("app-2.bundle"));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "2"
    );
}

#[test]
fn a_100k_object_list_is_refused_inside_the_units_memory_max() {
    // The shipped unit says MemoryMax=128M: run the agent with its data segment limited to
    // that (RLIMIT_DATA covers the heap), so exceeding it aborts instead of passing.
    let env = applied("");
    env.publish(
        2,
        &[
            ("a.yaml", cm("a", "default", "2")),
            ("list.yaml", list(100_000)),
        ],
    );
    let o = std::process::Command::new("prlimit")
        .arg(format!("--data={}", 128u64 << 20))
        .arg(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .args(["sync", "--once"])
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("limits.maxObjects") || out.contains("budget"),
        "{out}"
    );
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
}
