//! Who owns which field, decided by the real server: drift made with `kubectl edit` is put back
//! with one write; a second manager's fields stay; the real HPA controller owns `replicas`
//! through `/scale` and ferry does not fight it; an immutable field is refused with the
//! server's message, then re-created where the object asks for it.

use super::*;
use std::process::Command;

fn deploy(ns: &str, app: &str, ann: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\n  annotations: {{{ann}}}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {app}}}\n  template:\n    metadata:\n      labels: {{app: {app}}}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n        resources:\n          requests: {{cpu: 0.5, memory: 64Mi}}\n")
}

#[test]
fn drift_is_restored_with_one_write_and_another_managers_fields_stay() {
    let real = Real::new(shared(), "timeout: 3m");
    let ns = "own-drift";
    let files = [
        ("ns.yaml", namespace(ns)),
        ("cm.yaml", cm("conf", ns, "1")),
        ("d.yaml", deploy(ns, "web", "")),
    ];
    real.env.publish(1, &files);
    real.pass("drift: first pass");
    real.quiet("drift: no-change pass");

    // kubectl edit (the real editor round trip, KUBE_EDITOR) of a field ferry owns.
    let editor = real.env.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/value: \"1\"/value: edited/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = Command::new("kubectl")
        .env("KUBE_EDITOR", &editor)
        .arg("--kubeconfig")
        .arg(&real.at.cp.kubeconfig)
        .args(["edit", "configmap", "conf", "-n", ns])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        real.get(&["cm", "conf", "-n", ns], "{.data.value}"),
        "edited"
    );
    let (out, count) = real.pass("drift: restoring pass");
    assert!(out.contains("drift corrected"), "{out}");
    let object_writes: Vec<_> = count
        .write_uris
        .iter()
        .filter(|w| !w.contains("ferry-status"))
        .collect();
    assert_eq!(object_writes.len(), 1, "{:?}", count.write_uris);
    assert!(
        object_writes[0].contains("/configmaps/conf"),
        "{object_writes:?}"
    );
    assert_eq!(real.get(&["cm", "conf", "-n", ns], "{.data.value}"), "1");
    real.quiet("drift: after the restore");

    // A second manager's env var, sidecar and annotation: theirs, left alone by the cheap
    // pass and by a full sweep.
    real.apply_as(
        "other",
        &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\n  annotations: {{other.example/owner: team-x}}\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: main\n        env:\n        - {{name: INJECTED, value: \"1\"}}\n      - name: sidecar\n        image: busybox:1.36\n"),
    );
    real.quiet("other manager: cheap pass");
    real.config("timeout: 3m\ndriftSweepInterval: 0s");
    real.quiet("other manager: sweep pass");
    assert_eq!(
        real.get(
            &["deployment", "web", "-n", ns],
            "{.spec.template.spec.containers[*].name} {.spec.template.spec.containers[0].env[0].name} {.metadata.annotations.other\\.example/owner}"
        ),
        "main sidecar INJECTED team-x"
    );
}

/// podinfo's HPA (minReplicas 2 over a Deployment of 1): the real HPA controller scales
/// through `/scale`; ferry's passes (cheap and full sweeps) leave `replicas` to it.
#[test]
fn the_hpa_owns_replicas_through_scale_and_ferry_does_not_fight_it() {
    let real = Real::new(shared(), "timeout: 3m");
    let files = corpus_files("apps/podinfo", "", str::to_string);
    real.env.publish(1, &files);
    let (out, _) = real.pass("hpa: first pass");
    assert!(out.contains("revision 1 applied"), "{out}");
    let started = Instant::now();
    real.wait_for(
        &["deployment", "podinfo", "-n", "podinfo"],
        "{.spec.replicas}",
        "2",
        Duration::from_secs(120),
    );
    eprintln!("hpa: scaled to 2 after {:?}", started.elapsed());
    let managers = real.get(
        &[
            "deployment",
            "podinfo",
            "-n",
            "podinfo",
            "--show-managed-fields",
        ],
        "{range .metadata.managedFields[*]}{.manager}/{.subresource} {end}",
    );
    assert!(managers.contains("/scale"), "{managers}");
    real.quiet("hpa: cheap pass");
    real.config("timeout: 3m\ndriftSweepInterval: 0s");
    real.quiet("hpa: sweep pass");
    real.quiet("hpa: sweep pass again");
    assert_eq!(
        real.get(
            &["deployment", "podinfo", "-n", "podinfo"],
            "{.spec.replicas}"
        ),
        "2"
    );
    let events = String::from_utf8_lossy(&real.env.agent(&["events"]).stdout).into_owned();
    assert_eq!(
        events
            .lines()
            .filter(|l| l.contains("field .spec.replicas is owned by manager"))
            .count(),
        1,
        "{events}"
    );
}

#[test]
fn an_immutable_field_is_refused_with_the_servers_message_then_recreated() {
    let real = Real::new(shared(), "timeout: 3m\nfailedRevisionBackoff: 1h");
    let ns = "own-immutable";
    real.env.publish(
        1,
        &[
            ("ns.yaml", namespace(ns)),
            ("d.yaml", deploy(ns, "web", "")),
        ],
    );
    real.pass("immutable: first pass");
    let uid = real.get(&["deployment", "web", "-n", ns], "{.metadata.uid}");
    real.env.publish(
        2,
        &[
            ("ns.yaml", namespace(ns)),
            ("d.yaml", deploy(ns, "web2", "")),
        ],
    );
    let (code, out, _) = real.sync("immutable: selector changed");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("field spec.selector is immutable"), "{out}");
    assert_eq!(
        real.get(
            &["deployment", "web", "-n", ns],
            "{.spec.selector.matchLabels.app}"
        ),
        "web"
    );
    real.env.publish(
        3,
        &[
            ("ns.yaml", namespace(ns)),
            (
                "d.yaml",
                deploy(ns, "web2", "ferry.dev/recreate: on-immutable"),
            ),
        ],
    );
    let (out, count) = real.pass("immutable: recreate");
    assert!(out.contains("revision 3 applied"), "{out}");
    assert!(
        count.write_uris.iter().any(|w| w.starts_with("delete ")),
        "{:?}",
        count.write_uris
    );
    assert_eq!(
        real.get(
            &["deployment", "web", "-n", ns],
            "{.spec.selector.matchLabels.app}"
        ),
        "web2"
    );
    assert_ne!(
        real.get(&["deployment", "web", "-n", ns], "{.metadata.uid}"),
        uid
    );
    real.quiet("immutable: after the recreate");
}
