//! Against a real cluster (`$KUBECONFIG`, e.g. a k3s node): applies the example app bundle,
//! checks it became healthy, then removes it. Run with `cargo test -- --ignored real_cluster`.

mod common;

use std::process::Command;

#[test]
#[ignore = "needs a real cluster in $KUBECONFIG"]
fn real_cluster_applies_the_example_bundle() {
    let kubeconfig = std::env::var("KUBECONFIG").expect("set KUBECONFIG to a real cluster");
    let env = common::Env::new();
    // Point the agent at the real cluster instead of kube-sim.
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &env.sim.kubeconfig_path().display().to_string(),
        &kubeconfig,
    );
    std::fs::write(&env.config, text.replace("timeout: 5s", "timeout: 3m")).unwrap();
    env.publish(1, &common::Env::example(common::APP));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("up to date, nothing written"), "{out}");
    let o = Command::new("kubectl")
        .args([
            "get",
            "deployment",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.metadata.labels.ferry\\.dev/sync}",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "app");
    // Clean up: an empty revision prunes everything.
    env.publish(2, &[("empty.yaml", "# nothing\n".to_string())]);
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
}
