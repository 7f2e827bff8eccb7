//! k3s's helm-controller (k3s-io/helm-controller `pkg/controllers/chart/chart.go`): a
//! HelmChart gets the `wrangler.cattle.io/on-helm-chart-remove` finalizer and a
//! `helm-install-<name>` Job, created suspended and resumed once the job controller has seen
//! it; `status.jobName` and the JobCreated/Failed conditions; when the chart or its
//! HelmChartConfig changes (the Job's configHash), the old Job is kept until it has a
//! condition and no active pod, then replaced by a new one; a deleted chart runs
//! `helm-delete-<name>` before its finalizer goes.

use super::super::deletion::{drop_finalizer, is_deleting};
use super::super::store::{Key, State};
use super::batch::finished;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const FINALIZER: &str = "wrangler.cattle.io/on-helm-chart-remove";
const MANAGED_BY: &str = "helmcharts.cattle.io/managed-by";
const CONFIG_HASH: &str = "helmcharts.helm.cattle.io/configHash";
const CHART_LABEL: &str = "helmcharts.helm.cattle.io/chart";
/// The job image k3s configures for its helm-controller.
pub const JOB_IMAGE: &str = "rancher/klipper-helm:v0.9.4-build20250113";

/// The HelmChartConfig CRD k3s installs next to HelmChart.
pub fn seed(state: &mut State) {
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "helmchartconfigs.helm.cattle.io"},
        "spec": {"group": "helm.cattle.io", "scope": "Namespaced",
            "names": {"plural": "helmchartconfigs", "singular": "helmchartconfig", "kind": "HelmChartConfig", "listKind": "HelmChartConfigList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    state.create_as_controller("apiextensions.k8s.io", "CustomResourceDefinition", "", crd);
}

fn job_key(ns: &str, name: &str) -> Key {
    ("batch".into(), "jobs".into(), ns.into(), name.into())
}

fn has_true(obj: &Value, kind: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// The Job the controller wants for `chart` (`action` is install or delete).
fn desired_job(chart: &Value, config: Option<&Value>, action: &str) -> Value {
    let name = chart["metadata"]["name"].as_str().unwrap_or_default();
    let ns = chart["metadata"]["namespace"].as_str().unwrap_or_default();
    let spec = &chart["spec"];
    let mut args = vec![json!(action)];
    if action == "install" {
        if let Some(t) = spec["targetNamespace"].as_str() {
            args.extend([json!("--namespace"), json!(t)]);
        }
        if let Some(v) = spec["version"].as_str() {
            args.extend([json!("--version"), json!(v)]);
        }
    }
    let env = |k: &str, v: &Value| json!({"name": k, "value": v.as_str().unwrap_or_default()});
    let template = json!({
        "metadata": {"annotations": {}, "labels": {CHART_LABEL: name}},
        "spec": {"restartPolicy": "OnFailure", "serviceAccountName": format!("helm-{name}"),
            "containers": [{"name": "helm", "image": JOB_IMAGE, "imagePullPolicy": "IfNotPresent", "args": args,
                "env": [env("NAME", &json!(name)), env("VERSION", &spec["version"]), env("REPO", &spec["repo"]),
                        env("HELM_DRIVER", &json!("secret")), env("CHART_NAMESPACE", &json!(ns)), env("CHART", &spec["chart"])]}]}});
    let backoff = spec["backOffLimit"].as_i64().unwrap_or(1000);
    let mut hash = Sha256::new();
    hash.update(backoff.to_string());
    hash.update(template.to_string());
    hash.update(spec.to_string());
    if let Some(c) = config {
        hash.update(c["spec"].to_string());
    }
    let mut template = template;
    template["metadata"]["annotations"][CONFIG_HASH] =
        json!(format!("SHA256={}", hex::encode_upper(hash.finalize())));
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": format!("helm-{action}-{name}"), "namespace": ns, "labels": {CHART_LABEL: name},
                     "annotations": {"objectset.rio.cattle.io/owner-gvk": "helm.cattle.io/v1, Kind=HelmChart",
                                     "objectset.rio.cattle.io/owner-name": name, "objectset.rio.cattle.io/owner-namespace": ns}},
        "spec": {"suspend": true, "backoffLimit": backoff, "template": template}})
}

fn job_hash(job: &Value) -> &Value {
    &job["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]
}

/// Creates, resumes or replaces the Job; returns it as it stands.
fn reconcile_job(state: &mut State, want: Value) -> Option<Value> {
    let ns = want["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = want["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let key = job_key(&ns, &name);
    match state.stored_obj(&key).cloned() {
        None => {
            state.create_as_controller("batch", "Job", &ns, want);
        }
        Some(job) if job_hash(&job) != job_hash(&want) => {
            // reconcileJob: wait for the job controller to have synced it and for its pods.
            let synced = job["status"]["conditions"]
                .as_array()
                .is_some_and(|c| !c.is_empty());
            let active = job["status"]["active"].as_i64().unwrap_or(0);
            if synced && active == 0 && !is_deleting(&job) {
                state.delete_as_controller(&key);
                state.create_as_controller("batch", "Job", &ns, want);
            }
        }
        Some(job) => {
            let fresh =
                job["metadata"]["generation"].as_i64() == Some(1) && job["spec"]["suspend"] == true;
            if fresh && has_true(&job, "Suspended") {
                state.mutate(&key, |j| j["spec"]["suspend"] = json!(false));
            }
        }
    }
    state.stored_obj(&key).cloned()
}

pub fn run(state: &mut State) {
    for (key, chart) in state.objects_of("helm.cattle.io", "helmcharts") {
        let (ns, name) = (key.2.clone(), key.3.clone());
        let config_key: Key = (
            "helm.cattle.io".into(),
            "helmchartconfigs".into(),
            ns.clone(),
            name.clone(),
        );
        let config = state.stored_obj(&config_key).cloned();
        if is_deleting(&chart) {
            let held = chart["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
            if !held {
                continue;
            }
            let job = reconcile_job(state, desired_job(&chart, config.as_ref(), "delete"));
            if job.as_ref().is_some_and(|j| has_true(j, "Complete")) {
                state.mutate(&key, |c| {
                    drop_finalizer(c, FINALIZER);
                });
            }
            continue;
        }
        if chart["metadata"]["annotations"][MANAGED_BY].is_null()
            || !chart["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
        {
            state.mutate(&key, |c| {
                c["metadata"]["annotations"][MANAGED_BY] = json!("helm-controller");
                let mut f = c["metadata"]["finalizers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if !f.iter().any(|x| x == FINALIZER) {
                    f.push(json!(FINALIZER));
                }
                c["metadata"]["finalizers"] = Value::Array(f);
            });
        }
        let job = reconcile_job(state, desired_job(&chart, config.as_ref(), "install"));
        let job_name = format!("helm-install-{name}");
        let created = json!({"type": "JobCreated", "status": "True", "reason": "Job created",
            "message": format!("Applying HelmChart using Job {ns}/{job_name}")});
        let failed = if job
            .as_ref()
            .is_some_and(|j| finished(j) && has_true(j, "Failed"))
        {
            json!({"type": "Failed", "status": "True", "reason": "Job failed", "message": "Job has reached configured number of retries without succeeding"})
        } else {
            json!({"type": "Failed", "status": "False"})
        };
        state.write_status(
            &key,
            json!({"jobName": job_name, "conditions": [created, failed]}),
        );
    }
}
