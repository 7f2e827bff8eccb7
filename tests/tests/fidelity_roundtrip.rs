//! Typed round trip and validation, proven through the real `kubectl`: defaulting, canonical
//! quantities, Go `omitempty`, Secret `stringData`, Service cluster IPs, Namespace defaults,
//! no-op applies, `fieldValidation`, immutable fields, dry runs, generation. Each check takes a
//! cluster, so the `#[ignore]` entry point runs the very same checks against a real k3s
//! (`FERRY_REAL_KUBECONFIG=/etc/rancher/k3s/k3s.yaml cargo test -p ferry-tests --test
//! fidelity_roundtrip -- --ignored`).

mod fidelity;

use ferry_tests::kube_sim::{KubeSim, SimOptions};
use fidelity::{rv, Cluster};
use serde_json::json;

fn deployment(ns: &str, app: &str) -> String {
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
fn check_deployment_round_trip(c: &Cluster) {
    let ns = c.namespace("fid-deploy");
    c.apply("d.yaml", &deployment(&ns, "web"));
    let d = c.get("deployment", &ns, "web");
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 2);
    assert_eq!(spec["strategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}));
    assert_eq!((spec["revisionHistoryLimit"].clone(), spec["progressDeadlineSeconds"].clone()), (json!(10), json!(600)));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["securityContext"], json!({}));
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert!(spec["template"]["metadata"].get("creationTimestamp").is_some_and(|v| v.is_null()), "{d}");
    let ctr = &pod["containers"][0];
    assert!(ctr.get("args").is_none(), "empty lists vanish: {ctr}");
    assert_eq!(ctr["resources"], json!({"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "512Mi"}}));
    assert_eq!(ctr["imagePullPolicy"], "IfNotPresent");
    assert_eq!(ctr["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(ctr["terminationMessagePolicy"], "File");
    assert_eq!(ctr["ports"], json!([{"containerPort": 80, "protocol": "TCP"}]));
    assert_eq!(pod["volumes"][0]["configMap"], json!({"name": "web", "defaultMode": 420}));
    assert_eq!(d["metadata"]["generation"], 1);
    assert!(d["metadata"]["creationTimestamp"].is_string());
    // The same manifest again: nothing changes, not even the resourceVersion.
    c.apply("d.yaml", &deployment(&ns, "web"));
    let again = c.get("deployment", &ns, "web");
    assert_eq!(rv(&again), rv(&d), "a no-op apply keeps the resourceVersion:\n{d}\n{again}");
    // A label is not a spec change: generation stays; replicas is one.
    c.ok(&["label", "deployment", "web", "-n", &ns, "tier=front"]);
    assert_eq!(c.get("deployment", &ns, "web")["metadata"]["generation"], 1);
    c.ok(&["patch", "deployment", "web", "-n", &ns, "--type=merge", "-p", r#"{"spec":{"replicas":3}}"#]);
    assert_eq!(c.get("deployment", &ns, "web")["metadata"]["generation"], 2);
    c.done(&ns);
}

/// Client-side apply (create, then three-way strategic merge patches) sees the same stored
/// object and reports `unchanged` for the same manifest.
fn check_client_side_apply(c: &Cluster) {
    let ns = c.namespace("fid-csa");
    let f = c.file("d.yaml", &deployment(&ns, "web"));
    assert!(c.ok(&["apply", "-f", &f]).stdout.contains("deployment.apps/web created"));
    let d = c.get("deployment", &ns, "web");
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"], "500m");
    // kubectl patches `cpu: 0.5` against the stored `500m` (so it says "configured"); the
    // server canonicalizes the patch back to what it stores and writes nothing.
    c.ok(&["apply", "-f", &f]);
    assert_eq!(rv(&c.get("deployment", &ns, "web")), rv(&d));
    c.done(&ns);
}

/// `stringData` is folded into base64 `data` and dropped; `type` defaults to Opaque.
fn check_secret_string_data(c: &Cluster) {
    let ns = c.namespace("fid-secret");
    let yaml = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {ns}\nstringData:\n  user: admin\n  password: s3cret\n");
    c.apply("s.yaml", &yaml);
    let s = c.get("secret", &ns, "creds");
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"], json!({"user": "YWRtaW4=", "password": "czNjcmV0"}));
    assert!(s.get("stringData").is_none(), "{s}");
    assert!(s["metadata"].get("generation").is_none(), "Secrets have no generation: {s}");
    c.apply("s.yaml", &yaml);
    assert_eq!(rv(&c.get("secret", &ns, "creds")), rv(&s));
    c.done(&ns);
}

/// A Service gets a cluster IP that stays across applies and may not be changed, and the
/// Service defaults.
fn check_service_cluster_ip(c: &Cluster) {
    let ns = c.namespace("fid-svc");
    let svc = |port: u16, extra: &str| {
        format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector: {{app: web}}\n  ports:\n  - port: {port}\n{extra}")
    };
    c.apply("svc.yaml", &svc(80, ""));
    let s = c.get("service", &ns, "web");
    let ip = s["spec"]["clusterIP"].as_str().unwrap_or_default().to_string();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{s}");
    assert_eq!(s["spec"]["clusterIPs"], json!([ip]));
    assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(s["spec"]["type"], "ClusterIP");
    assert_eq!(s["spec"]["sessionAffinity"], "None");
    assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
    assert_eq!(s["spec"]["ports"], json!([{"port": 80, "protocol": "TCP", "targetPort": 80}]));
    assert_eq!(s["status"], json!({"loadBalancer": {}}));
    c.apply("svc.yaml", &svc(8080, ""));
    assert_eq!(c.get("service", &ns, "web")["spec"]["clusterIP"], json!(ip));
    let other = if ip.ends_with(".77") { ip.replace(".77", ".78") } else { format!("{}.77", ip.rsplit_once('.').map(|(a, _)| a).unwrap_or("10.43.0")) };
    let f = c.file("svc2.yaml", &svc(8080, &format!("  clusterIP: {other}\n")));
    let err = c.fails(&["apply", "--server-side", "--force-conflicts", "-f", &f]);
    assert!(err.contains(&format!("spec.clusterIPs[0]: Invalid value: []string{{\"{other}\"}}: may not change once set")), "{err}");
    c.done(&ns);
}

/// Namespaces get their name label, the `kubernetes` finalizer and phase Active.
fn check_namespace_defaults(c: &Cluster) {
    let name = "fid-ns-defaults";
    if c.real {
        c.run(&["delete", "namespace", name, "--wait=true", "--ignore-not-found"]);
    }
    c.apply("ns.yaml", &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"));
    let n = c.get("namespace", "", name);
    assert_eq!(n["metadata"]["labels"], json!({"kubernetes.io/metadata.name": name}));
    assert_eq!(n["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(n["status"], json!({"phase": "Active"}));
    c.done(name);
}

fn with_unknown_field(ns: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\n  namespace: {ns}\ndata:\n  a: b\nspecs:\n  foo: 1\n")
}

/// kubectl's default `--validate=strict` gets a 400 naming the field; `warn` a warning and
/// the field dropped; `false` nothing; server-side apply refuses undeclared fields.
fn check_field_validation(c: &Cluster) {
    let ns = c.namespace("fid-fv");
    let f = c.file("cm.yaml", &with_unknown_field(&ns));
    let err = c.fails(&["create", "-f", &f]);
    assert!(err.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "specs""#), "{err}");
    let warned = c.ok(&["create", "--validate=warn", "-f", &f]);
    assert!(warned.stderr.contains(r#"Warning: unknown field "specs""#), "{}", warned.stderr);
    assert!(c.get("configmap", &ns, "typo").get("specs").is_none());
    c.ok(&["delete", "configmap", "typo", "-n", &ns]);
    let silent = c.ok(&["create", "--validate=false", "-f", &f]);
    assert!(!silent.stderr.contains("Warning"), "{}", silent.stderr);
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(err.contains(&format!("failed to create typed patch object ({ns}/typo; /v1, Kind=ConfigMap): .specs: field not declared in schema")), "{err}");
    c.done(&ns);
}

/// Immutable fields answer 422 with the real messages.
fn check_immutable_fields(c: &Cluster) {
    let ns = c.namespace("fid-immutable");
    c.apply("d.yaml", &deployment(&ns, "web"));
    let f = c.file("d2.yaml", &deployment(&ns, "web2"));
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(err.contains(r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#), "{err}");
    let cm = |v: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\n  namespace: {ns}\nimmutable: true\ndata:\n  a: \"{v}\"\n");
    c.apply("cm.yaml", &cm("1"));
    let f = c.file("cm2.yaml", &cm("2"));
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(err.contains("data: Forbidden: field is immutable when `immutable` is set"), "{err}");
    let sts = |size: &str| format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: {ns}\nspec:\n  serviceName: db\n  selector:\n    matchLabels: {{app: db}}\n  template:\n    metadata:\n      labels: {{app: db}}\n    spec:\n      containers:\n      - name: db\n        image: postgres:16\n  volumeClaimTemplates:\n  - metadata:\n      name: data\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources:\n        requests:\n          storage: {size}\n");
    c.apply("sts.yaml", &sts("1Gi"));
    let s = c.get("statefulset", &ns, "db");
    assert_eq!(s["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"], "Filesystem");
    assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(s["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
    let f = c.file("sts2.yaml", &sts("2Gi"));
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(err.contains("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"), "{err}");
    c.done(&ns);
}

/// `--dry-run=server` runs defaulting and allocation and stores nothing.
fn check_dry_run(c: &Cluster) {
    let ns = c.namespace("fid-dry");
    let f = c.file("svc.yaml", &format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: dry\n  namespace: {ns}\nspec:\n  ports:\n  - port: 53\n    protocol: UDP\n"));
    let out = c.ok(&["apply", "--server-side", "--dry-run=server", "-o", "json", "-f", &f]).stdout;
    let s: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(s["spec"]["clusterIP"].as_str().is_some_and(|ip| !ip.is_empty()), "{s}");
    assert_eq!(s["spec"]["ports"][0]["targetPort"], 53);
    assert!(!c.exists("service", &ns, "dry"), "a dry run persists nothing");
    c.done(&ns);
}

/// Jobs get their defaults and a generated selector; the template may not change.
fn check_job(c: &Cluster) {
    let ns = c.namespace("fid-job");
    let job = |image: &str| format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\n  namespace: {ns}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: once\n        image: {image}\n");
    c.apply("job.yaml", &job("busybox:1.36"));
    let j = c.get("job", &ns, "once");
    let uid = j["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    assert_eq!(j["spec"]["backoffLimit"], 6);
    assert_eq!(j["spec"]["completionMode"], "NonIndexed");
    assert_eq!(j["spec"]["suspend"], false);
    assert_eq!(j["spec"]["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    assert_eq!(j["spec"]["template"]["metadata"]["labels"]["job-name"], "once");
    let f = c.file("job2.yaml", &job("busybox:1.37"));
    let err = c.fails(&["apply", "--server-side", "-f", &f]);
    assert!(err.contains("spec.template: Invalid value:") && err.contains("field is immutable"), "{err}");
    c.done(&ns);
}

const CHECKS: &[(&str, fn(&Cluster))] = &[
    ("deployment_round_trip", check_deployment_round_trip),
    ("client_side_apply", check_client_side_apply),
    ("secret_string_data", check_secret_string_data),
    ("service_cluster_ip", check_service_cluster_ip),
    ("namespace_defaults", check_namespace_defaults),
    ("field_validation", check_field_validation),
    ("immutable_fields", check_immutable_fields),
    ("dry_run", check_dry_run),
    ("job", check_job),
];

fn on_sim(check: fn(&Cluster)) {
    let sim = KubeSim::start(SimOptions::default()).expect("kube-sim starts");
    check(&Cluster::new(&sim.kubeconfig_path(), false));
}

#[test]
fn deployment_round_trip() {
    on_sim(check_deployment_round_trip);
}

#[test]
fn client_side_apply() {
    on_sim(check_client_side_apply);
}

#[test]
fn secret_string_data() {
    on_sim(check_secret_string_data);
}

#[test]
fn service_cluster_ip() {
    on_sim(check_service_cluster_ip);
}

#[test]
fn namespace_defaults() {
    on_sim(check_namespace_defaults);
}

#[test]
fn field_validation() {
    on_sim(check_field_validation);
}

#[test]
fn immutable_fields() {
    on_sim(check_immutable_fields);
}

#[test]
fn dry_run() {
    on_sim(check_dry_run);
}

#[test]
fn job() {
    on_sim(check_job);
}

/// The same checks against a real k3s: the first run there measures kube-sim's fidelity.
#[test]
#[ignore = "needs a real k3s: FERRY_REAL_KUBECONFIG"]
fn real_cluster_roundtrip() {
    let c = Cluster::real();
    for (name, check) in CHECKS {
        eprintln!("fidelity check: {name}");
        check(&c);
    }
}
