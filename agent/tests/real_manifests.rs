//! Real manifests pass untouched: manifests written in the manner of k3s's bundled add-ons (RBAC
//! names with a colon, shell scripts with their own `${...}`, octal modes, YAML 1.1 booleans,
//! merge keys) sync as they are, and reach the API server as kubectl would send them.

mod common;

use common::*;

fn corpus(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/corpus/yaml")
            .join(name),
    )
    .unwrap()
}

#[test]
fn k3s_style_manifests_sync_untouched() {
    let env = Env::new();
    env.sim.with_state(|s| {
        let rt = s.rt_by_kind("", "Namespace").unwrap();
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}});
        let _ = s.create(&rt, "", ns, "test", false);
    });
    env.publish(
        1,
        &[
            ("dns.yaml", corpus("k3s-dns.yaml")),
            ("scripts.yaml", corpus("block-scalars.yaml")),
            ("modes.yaml", corpus("octal-modes.yaml")),
            ("merged.yaml", corpus("merge-keys.yaml")),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    let role = env
        .obj("rbac.authorization.k8s.io", "ClusterRole", "", "system:dns")
        .expect("ClusterRole system:dns applied");
    assert_eq!(role["rules"][1]["apiGroups"][0], "discovery.k8s.io");
    let scripts = env.obj("", "ConfigMap", "kube-system", "scripts").unwrap();
    assert!(scripts["data"]["setup"]
        .as_str()
        .unwrap()
        .contains("mkdir -m 0777 -p \"${VOL_DIR}\""));
    let modes = env.obj("apps", "Deployment", "demo", "modes").unwrap();
    let volumes = &modes["spec"]["template"]["spec"]["volumes"];
    assert_eq!(volumes[0]["configMap"]["defaultMode"], 420);
    assert_eq!(volumes[0]["configMap"]["items"][0]["mode"], 493);
    assert_eq!(
        modes["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][1]["readOnly"],
        true
    );
    let merged = env.obj("apps", "Deployment", "default", "merged").unwrap();
    let containers = &merged["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[1]["image"], "nginx:1.27-alpine");
    assert_eq!(containers[3]["image"], "nginx:1.27");
}
