//! Checks of defaulting, canonical values, `omitempty`, allocations, no-op writes and dry
//! runs, each a function of a cluster.

use super::{rv, Cluster};
use serde_json::json;

pub fn deployment(ns: &str, app: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  creationTimestamp: null
spec:
  replicas: 2.0
  selector:
    matchLabels: {{app: {app}}}
  template:
    metadata:
      labels: {{app: {app}}}
      creationTimestamp: null
    spec:
      containers:
      - name: web
        image: nginx:1.27
        args: []
        ports:
        - containerPort: 80
        resources:
          limits: {{cpu: 0.5, memory: 1024Mi}}
          requests: {{cpu: 100m, memory: 0.5Gi}}
        volumeMounts:
        - {{name: cfg, mountPath: /etc/web}}
      volumes:
      - name: cfg
        configMap:
          name: web
          defaultMode: 0644
"#
    )
}

/// A Deployment written as a new user writes one reads back as the server stores it, and the
/// same apply again writes nothing.
pub fn check_deployment_round_trip(c: &Cluster) {
    let ns = c.namespace("fid-deploy");
    c.apply("d.yaml", &deployment(&ns, "web"));
    let d = c.get("deployment", &ns, "web");
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 2);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(
        (
            spec["revisionHistoryLimit"].clone(),
            spec["progressDeadlineSeconds"].clone()
        ),
        (json!(10), json!(600))
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["securityContext"], json!({}));
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    // A zero `creationTimestamp` was written as `null` up to 1.32; the 1.37 types omit it
    // (`omitzero`).
    assert!(
        spec["template"]["metadata"]
            .get("creationTimestamp")
            .is_none(),
        "{d}"
    );
    let ctr = &pod["containers"][0];
    assert!(ctr.get("args").is_none(), "empty lists vanish: {ctr}");
    assert_eq!(
        ctr["resources"],
        json!({"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "512Mi"}})
    );
    assert_eq!(ctr["imagePullPolicy"], "IfNotPresent");
    assert_eq!(ctr["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(ctr["terminationMessagePolicy"], "File");
    assert_eq!(
        ctr["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(
        pod["volumes"][0]["configMap"],
        json!({"name": "web", "defaultMode": 420})
    );
    assert_eq!(d["metadata"]["generation"], 1);
    assert!(d["metadata"]["creationTimestamp"].is_string());
    // The same manifest again: nothing changes, not even the resourceVersion.
    let d = c.settled_deployment(&ns, "web");
    c.apply("d.yaml", &deployment(&ns, "web"));
    let again = c.get("deployment", &ns, "web");
    assert_eq!(
        rv(&again),
        rv(&d),
        "a no-op apply keeps the resourceVersion:\n{d}\n{again}"
    );
    // A label is not a spec change: generation stays; replicas is one.
    c.ok(&["label", "deployment", "web", "-n", &ns, "tier=front"]);
    assert_eq!(c.get("deployment", &ns, "web")["metadata"]["generation"], 1);
    c.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    assert_eq!(c.get("deployment", &ns, "web")["metadata"]["generation"], 2);
    c.done(&ns);
}

/// Client-side apply (create, then three-way strategic merge patches) sees the same stored
/// object and reports `unchanged` for the same manifest.
pub fn check_client_side_apply(c: &Cluster) {
    let ns = c.namespace("fid-csa");
    let f = c.file("d.yaml", &deployment(&ns, "web"));
    assert!(c
        .ok(&["apply", "-f", &f])
        .stdout
        .contains("deployment.apps/web created"));
    let d = c.settled_deployment(&ns, "web");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "500m"
    );
    // kubectl patches `cpu: 0.5` against the stored `500m` (so it says "configured"); the
    // server canonicalizes the patch back to what it stores and writes nothing.
    c.ok(&["apply", "-f", &f]);
    assert_eq!(rv(&c.get("deployment", &ns, "web")), rv(&d));
    c.done(&ns);
}

/// `stringData` is folded into base64 `data` and dropped; `type` defaults to Opaque.
pub fn check_secret_string_data(c: &Cluster) {
    let ns = c.namespace("fid-secret");
    let yaml = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {ns}\nstringData:\n  user: admin\n  password: s3cret\n");
    c.apply("s.yaml", &yaml);
    let s = c.get("secret", &ns, "creds");
    assert_eq!(s["type"], "Opaque");
    assert_eq!(
        s["data"],
        json!({"user": "YWRtaW4=", "password": "czNjcmV0"})
    );
    assert!(s.get("stringData").is_none(), "{s}");
    assert!(
        s["metadata"].get("generation").is_none(),
        "Secrets have no generation: {s}"
    );
    c.apply("s.yaml", &yaml);
    assert_eq!(rv(&c.get("secret", &ns, "creds")), rv(&s));
    c.done(&ns);
}

/// A Service gets a cluster IP that stays across applies and may not be changed, and the
/// Service defaults.
pub fn check_service_cluster_ip(c: &Cluster) {
    let ns = c.namespace("fid-svc");
    let svc = |port: u16, extra: &str| {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector: {{app: web}}\n  ports:\n  - port: {port}\n{extra}")
    };
    c.apply("svc.yaml", &svc(80, ""));
    let s = c.get("service", &ns, "web");
    let ip = s["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{s}");
    assert_eq!(s["spec"]["clusterIPs"], json!([ip]));
    assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert_eq!(s["spec"]["sessionAffinity"], "None");
    assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
    assert_eq!(
        s["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP", "targetPort": 80}])
    );
    assert_eq!(s["status"], json!({"loadBalancer": {}}));
    c.apply("svc.yaml", &svc(8080, ""));
    assert_eq!(c.get("service", &ns, "web")["spec"]["clusterIP"], json!(ip));
    let other = if ip.ends_with(".77") {
        ip.replace(".77", ".78")
    } else {
        format!(
            "{}.77",
            ip.rsplit_once('.').map(|(a, _)| a).unwrap_or("10.43.0")
        )
    };
    let f = c.file("svc2.yaml", &svc(8080, &format!("  clusterIP: {other}\n")));
    let err = c.fails(&["apply", "--server-side", "--force-conflicts", "-f", &f]);
    // Invalid values print as JSON (1.37; Go literals up to 1.32).
    assert!(
        err.contains(&format!(
            "spec.clusterIPs[0]: Invalid value: [\"{other}\"]: may not change once set"
        )),
        "{err}"
    );
    c.done(&ns);
}

/// Namespaces get their name label, the `kubernetes` finalizer and phase Active.
pub fn check_namespace_defaults(c: &Cluster) {
    let name = "fid-ns-defaults";
    if c.real {
        c.run(&[
            "delete",
            "namespace",
            name,
            "--wait=true",
            "--ignore-not-found",
        ]);
    }
    c.apply(
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
    );
    let n = c.get("namespace", "", name);
    assert_eq!(
        n["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": name})
    );
    assert_eq!(n["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(n["status"], json!({"phase": "Active"}));
    c.done(name);
}

/// `--dry-run=server` runs defaulting and allocation and stores nothing.
pub fn check_dry_run(c: &Cluster) {
    let ns = c.namespace("fid-dry");
    let f = c.file("svc.yaml", &format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: dry\n  namespace: {ns}\nspec:\n  ports:\n  - port: 53\n    protocol: UDP\n"));
    let out = c
        .ok(&[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-o",
            "json",
            "-f",
            &f,
        ])
        .stdout;
    let s: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(
        s["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| !ip.is_empty()),
        "{s}"
    );
    assert_eq!(s["spec"]["ports"][0]["targetPort"], 53);
    assert!(
        !c.exists("service", &ns, "dry"),
        "a dry run persists nothing"
    );
    c.done(&ns);
}

/// Jobs get their defaults and a generated selector; the template may not change.
pub fn check_job(c: &Cluster) {
    let ns = c.namespace("fid-job");
    let job = |image: &str| {
        format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\n  namespace: {ns}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: once\n        image: {image}\n")
    };
    c.apply("job.yaml", &job("busybox:1.36"));
    let j = c.get("job", &ns, "once");
    let uid = j["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(j["spec"]["backoffLimit"], 6);
    assert_eq!(j["spec"]["completionMode"], "NonIndexed");
    assert_eq!(j["spec"]["suspend"], false);
    assert_eq!(
        j["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    assert_eq!(
        j["spec"]["template"]["metadata"]["labels"]["job-name"],
        "once"
    );
    let f = c.file("job2.yaml", &job("busybox:1.37"));
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(
        err.contains("spec.template: Invalid value:") && err.contains("field is immutable"),
        "{err}"
    );
    c.done(&ns);
}

/// StorageClass, PersistentVolumeClaim and RBAC binding defaults (the kinds of k3s's
/// local-storage and RBAC manifests).
pub fn check_storage_and_rbac_defaults(c: &Cluster) {
    let ns = c.namespace("fid-storage");
    c.apply(
        "sc.yaml",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fid-local\nprovisioner: rancher.io/local-path\n",
    );
    let sc = c.get("storageclass", "", "fid-local");
    assert_eq!(sc["reclaimPolicy"], "Delete");
    assert_eq!(sc["volumeBindingMode"], "Immediate");
    c.apply(
        "pvc.yaml",
        &format!("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: {ns}\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: fid-local\n  resources:\n    requests:\n      storage: 2048Mi\n"),
    );
    let pvc = c.get("pvc", &ns, "data");
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "2Gi");
    assert!(pvc["metadata"].get("generation").is_none(), "{pvc}");
    c.apply(
        "rb.yaml",
        &format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: readers\n  namespace: {ns}\nroleRef:\n  kind: ClusterRole\n  name: view\nsubjects:\n- kind: Group\n  name: readers\n- kind: ServiceAccount\n  name: default\n  namespace: {ns}\n"),
    );
    let rb = c.get("rolebinding", &ns, "readers");
    assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
    assert!(rb["subjects"][1].get("apiGroup").is_none(), "{rb}");
    if c.real {
        c.run(&["delete", "storageclass", "fid-local", "--ignore-not-found"]);
    }
    c.done(&ns);
}
