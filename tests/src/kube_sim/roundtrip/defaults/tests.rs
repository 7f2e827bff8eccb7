//! Unit tests of the defaulters against what a real 1.37.2 server returns.

use super::*;

fn defaulted(group: &str, kind: &str, mut obj: Value) -> Value {
    apply(group, kind, &mut obj).expect("defaults");
    obj
}

#[test]
fn deployment_gets_strategy_limits_and_pod_defaults() {
    let d = defaulted(
        "apps",
        "Deployment",
        json!({"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27",
            "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": 0.5, "memory": "1024Mi"}},
            "readinessProbe": {"httpGet": {"port": 80}}}],
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "scratch"}]}}}}),
    );
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["securityContext"], json!({}));
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    let c = &pod["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(
        c["resources"]["limits"],
        json!({"cpu": "500m", "memory": "1Gi"})
    );
    assert!(
        c["resources"]["requests"].is_null(),
        "requests default to limits only in Pods"
    );
    assert_eq!(
        c["readinessProbe"],
        json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(pod["volumes"][0]["configMap"]["defaultMode"], 420);
    assert_eq!(pod["volumes"][1]["emptyDir"], json!({}));
}

#[test]
fn statefulset_daemonset_cronjob_defaults() {
    let s = defaulted(
        "apps",
        "StatefulSet",
        json!({"spec": {"template": {"spec": {"containers": []}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1024Mi"}}}}]}}),
    );
    assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        s["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}})
    );
    assert_eq!(
        s["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    let claim = &s["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["spec"]["volumeMode"], "Filesystem");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(claim["status"]["phase"], "Pending");
    let on_delete = defaulted(
        "apps",
        "StatefulSet",
        json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
    );
    assert_eq!(
        on_delete["spec"]["updateStrategy"],
        json!({"type": "OnDelete"})
    );
    let d = defaulted("apps", "DaemonSet", json!({"spec": {}}));
    assert_eq!(
        d["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    let c = defaulted(
        "batch",
        "CronJob",
        json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}}}),
    );
    assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
    assert_eq!(c["spec"]["suspend"], false);
    assert_eq!(
        c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    assert!(c["spec"]["jobTemplate"]["spec"]["backoffLimit"].is_null());
}

#[test]
fn job_defaults_and_generated_selector() {
    let mut j = defaulted(
        "batch",
        "Job",
        json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "perl"}], "restartPolicy": "Never"}}}}),
    );
    workloads::job_selector(&mut j);
    let spec = &j["spec"];
    assert_eq!(
        (
            spec["completions"].clone(),
            spec["parallelism"].clone(),
            spec["backoffLimit"].clone()
        ),
        (json!(1), json!(1), json!(6))
    );
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(spec["manualSelector"], false);
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
    );
    assert_eq!(spec["template"]["metadata"]["labels"]["job-name"], "pi");
    assert_eq!(
        j["metadata"]["labels"]["batch.kubernetes.io/job-name"],
        "pi"
    );
}

#[test]
fn secret_namespace_service_and_others() {
    let s = defaulted(
        "",
        "Secret",
        json!({"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"b": "hello", "a": "y"}}),
    );
    assert_eq!(
        s,
        json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "eQ==", "b": "aGVsbG8="}})
    );
    let n = defaulted("", "Namespace", json!({"metadata": {"name": "apps"}}));
    assert_eq!(
        n["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": "apps"})
    );
    assert_eq!(n["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(n["status"], json!({"phase": "Active"}));
    let svc = defaulted(
        "",
        "Service",
        json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}]}}),
    );
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    assert_eq!(svc["spec"]["internalTrafficPolicy"], "Cluster");
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP", "targetPort": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}])
    );
    assert_eq!(svc["status"], json!({"loadBalancer": {}}));
    let sc = defaulted(
        "storage.k8s.io",
        "StorageClass",
        json!({"provisioner": "rancher.io/local-path"}),
    );
    assert_eq!(
        (sc["reclaimPolicy"].clone(), sc["volumeBindingMode"].clone()),
        (json!("Delete"), json!("Immediate"))
    );
    let rb = defaulted(
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        json!({"roleRef": {"kind": "ClusterRole", "name": "x"},
        "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "kube-system"}]}),
    );
    assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
    assert!(rb["subjects"][1]["apiGroup"].is_null());
    let pvc = defaulted(
        "",
        "PersistentVolumeClaim",
        json!({"spec": {"resources": {"requests": {"storage": "2048Mi"}}}}),
    );
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "2Gi");
    assert_eq!(pvc["status"]["phase"], "Pending");
    let hpa = defaulted(
        "autoscaling",
        "HorizontalPodAutoscaler",
        json!({"spec": {"maxReplicas": 3, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "tolerance": "50m"}}}}),
    );
    // 1.37 keeps a given tolerance (the real server answers `"tolerance":"50m"` for `0.05`).
    assert_eq!(hpa["spec"]["behavior"]["scaleDown"]["tolerance"], "50m");
    assert_eq!(hpa["spec"]["minReplicas"], 1);
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        80
    );
    assert_eq!(
        hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        60
    );
    assert_eq!(
        hpa["spec"]["behavior"]["scaleUp"]["policies"][0]["value"],
        4
    );
}

#[test]
fn service_allocation_is_stable_and_refuses_taken_addresses() {
    let mut svc = defaulted(
        "",
        "Service",
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
    );
    service::allocate(&mut svc, None, &service::Allocated::default()).unwrap();
    let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.43."), "{ip}");
    assert_eq!(svc["spec"]["clusterIPs"], json!([ip]));
    assert_eq!(svc["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(svc["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30000);
    let mut again = defaulted(
        "",
        "Service",
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
    );
    let taken = service::Allocated::from_services([&svc].into_iter());
    service::allocate(&mut again, Some(&svc), &taken).unwrap();
    assert_eq!(again["spec"]["clusterIP"], json!(ip));
    assert_eq!(again["spec"]["ports"][0]["nodePort"], 30000);
    let mut other =
        json!({"metadata": {"name": "x", "namespace": "default"}, "spec": {"clusterIP": ip}});
    let err = service::allocate(&mut other, None, &taken).unwrap_err();
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("provided IP is already allocated"),
        "{}",
        err.message
    );
}

#[test]
fn pods_default_requests_to_limits_and_start_pending() {
    let p = defaulted(
        "",
        "Pod",
        json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}}),
    );
    assert_eq!(
        p["spec"]["containers"][0]["resources"]["requests"],
        json!({"cpu": "1", "memory": "64Mi"})
    );
    assert_eq!(p["spec"]["enableServiceLinks"], true);
    assert_eq!(
        p["status"],
        json!({"phase": "Pending", "qosClass": "Guaranteed"})
    );
    let b = defaulted(
        "",
        "Pod",
        json!({"spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
    );
    assert_eq!(b["status"]["qosClass"], "BestEffort");
}

#[test]
fn device_requests_get_exact_count_of_one() {
    let claim = defaulted(
        "resource.k8s.io",
        "ResourceClaim",
        json!({"spec": {"devices": {"requests": [
            {"name": "a", "exactly": {"deviceClassName": "gpu"}},
            {"name": "b", "firstAvailable": [{"name": "x", "deviceClassName": "gpu", "allocationMode": "All"}]}]}}}),
    );
    let requests = &claim["spec"]["devices"]["requests"];
    assert_eq!(
        requests[0]["exactly"],
        json!({"deviceClassName": "gpu", "allocationMode": "ExactCount", "count": 1})
    );
    assert_eq!(requests[1]["firstAvailable"][0]["allocationMode"], "All");
    assert!(requests[1]["firstAvailable"][0].get("count").is_none());
}
