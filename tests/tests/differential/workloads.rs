//! Sequences on Deployments (rollout, `/scale`, patches) and Jobs, and deletion with each
//! propagation policy (on the real server the garbage collector does the work: end states are
//! compared after a bounded poll).

use super::*;

pub fn deployment(name: &str, replicas: u32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                          "env": [{"name": "A", "value": "1"}]}]}}}})
}

fn available(replicas: u64) -> impl Fn(&Answer) -> bool {
    move |a| {
        let s = &a.body["status"];
        s["availableReplicas"].as_u64() == Some(replicas)
            && s["updatedReplicas"].as_u64() == Some(replicas)
            && s["replicas"].as_u64() == Some(replicas)
            && s["observedGeneration"] == a.body["metadata"]["generation"]
    }
}

/// Aliases every ReplicaSet's pod-template-hash of app `name` on each server as `<hash>`.
fn alias_hashes(p: &mut Pair, name: &str) {
    let path = format!(
        "/apis/apps/v1/namespaces/{}/replicasets?labelSelector=app%3D{name}",
        p.ns
    );
    for t in [&mut p.sim, &mut p.real] {
        let a = t.send("GET", &path, None, None);
        for rs in a.body["items"].as_array().into_iter().flatten() {
            if let Some(h) = rs["metadata"]["labels"]["pod-template-hash"].as_str() {
                t.aliases.push((h.to_string(), "<hash>".into()));
            }
        }
    }
}

/// A Deployment rolled out, scaled through `/scale`, patched, dry-run applied.
pub fn deployment_scale_and_patch(p: &mut Pair) {
    let path = "/apis/apps/v1/namespaces/{ns}/deployments/web";
    p.apply("create", path, "alpha", "", &deployment("web", 2));
    p.wait("rolled out", path, &available(2));
    alias_hashes(p, "web");
    p.get("rolled-out Deployment", path);
    p.get("scale", &format!("{path}/scale"));
    p.send(
        "scale patch",
        "PATCH",
        &format!("{path}/scale?fieldManager=scaler"),
        Some(MERGE),
        Some(&json!({"spec": {"replicas": 3}})),
    );
    p.wait("scaled", path, &available(3));
    p.get("scaled Deployment", path);
    p.apply(
        "apply conflicts with the scaler",
        path,
        "alpha",
        "",
        &deployment("web", 2),
    );
    p.send(
        "strategic patch of env",
        "PATCH",
        &format!("{path}?fieldManager=patcher"),
        Some(STRATEGIC),
        Some(&json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "env": [{"name": "P", "value": "2"}]}]}}}})),
    );
    p.wait("second rollout", path, &available(3));
    alias_hashes(p, "web");
    p.get("after the second rollout", path);
    p.send(
        "strategic patch deleting an env item",
        "PATCH",
        &format!("{path}?fieldManager=patcher"),
        Some(STRATEGIC),
        Some(&json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "env": [{"name": "A", "$patch": "delete"}]}]}}}})),
    );
    p.wait("third rollout", path, &available(3));
    alias_hashes(p, "web");
    p.send(
        "json patch removing a label",
        "PATCH",
        &format!("{path}?fieldManager=patcher"),
        Some(JSON_PATCH),
        Some(
            &json!([{"op": "add", "path": "/metadata/labels", "value": {"team": "a"}},
                     {"op": "remove", "path": "/metadata/labels/team"}]),
        ),
    );
    p.get("after the third rollout", path);
    let mut changed = deployment("web", 3);
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    p.apply(
        "dry-run apply",
        path,
        "alpha",
        "&dryRun=All&force=true",
        &changed,
    );
    let mut selector = deployment("web", 3);
    selector["spec"]["selector"]["matchLabels"]["tier"] = json!("x");
    selector["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
    p.apply(
        "immutable selector",
        path,
        "alpha",
        "&force=true",
        &selector,
    );
    p.send(
        "scale put",
        "PUT",
        &format!("{path}/scale"),
        Some(JSON),
        Some(&json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                     "metadata": {"name": "web", "namespace": p.ns},
                     "spec": {"replicas": 1}})),
    );
    p.get("scale after put", &format!("{path}/scale"));
}

/// What remains of app `name` after its Deployment's deletion.
fn remains(t: &Target, ns: &str, name: &str) -> Value {
    let get = |path: String| t.send("GET", &path, None, None);
    let rs = get(format!(
        "/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=app%3D{name}"
    ));
    let pods = get(format!(
        "/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{name}"
    ));
    let owned = |l: &Answer| {
        let items = l.body["items"].as_array().cloned().unwrap_or_default();
        let with_owner = items
            .iter()
            .filter(|i| i["metadata"]["ownerReferences"].is_array())
            .count();
        json!({"count": items.len(), "with_owner": with_owner})
    };
    let d = get(format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}"));
    json!({"deployment": d.status, "replicasets": owned(&rs), "pods": owned(&pods)})
}

/// Deletion with Foreground, Background and Orphan propagation: the DELETE answers and the end
/// states (Deployment, ReplicaSets, Pods) once the garbage collector is done.
pub fn deletion_propagation(p: &mut Pair) {
    let policies = [
        ("fg", "Foreground"),
        ("bg", "Background"),
        ("orphan", "Orphan"),
    ];
    for (name, _) in policies {
        let path = format!("/apis/apps/v1/namespaces/{{ns}}/deployments/{name}");
        p.apply("create", &path, "alpha", "", &deployment(name, 2));
    }
    for (name, _) in policies {
        let path = format!("/apis/apps/v1/namespaces/{{ns}}/deployments/{name}");
        p.wait("rolled out", &path, &available(2));
        alias_hashes(p, name);
    }
    for (name, policy) in policies {
        let path = format!("/apis/apps/v1/namespaces/{{ns}}/deployments/{name}");
        let opts =
            json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": policy});
        p.send(
            &format!("delete {policy}"),
            "DELETE",
            &path,
            Some(JSON),
            Some(&opts),
        );
    }
    let ns = p.ns.clone();
    for (name, policy) in policies {
        let settled = |t: &Target| {
            let deadline = Instant::now() + POLL_BOUND;
            loop {
                let r = remains(t, &ns, name);
                let done = r["deployment"] == 404
                    && if policy == "Orphan" {
                        r["replicasets"] == json!({"count": 1, "with_owner": 0})
                            && r["pods"]["count"] == 2
                    } else {
                        r["replicasets"]["count"] == 0 && r["pods"]["count"] == 0
                    };
                if done || Instant::now() > deadline {
                    return r;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        };
        let (s, r) = (settled(&p.sim), settled(&p.real));
        p.compare_values(&format!("end state {policy}"), &s, &r);
    }
}

/// A Job run to completion, its status, and its deletion (batch/v1 Jobs orphan by default).
pub fn job(p: &mut Pair) {
    let path = "/apis/batch/v1/namespaces/{ns}/jobs/once";
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "run", "image": "busybox:1.36", "command": ["true"]}]}}}});
    p.apply("create", path, "alpha", "", &job);
    let complete = |a: &Answer| {
        a.body["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Complete" && c["status"] == "True")
        })
    };
    p.poll("complete", path, &complete);
    p.apply("no-op re-apply", path, "alpha", "", &job);
    let mut changed = job.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:1.37");
    p.apply("immutable template", path, "alpha", "", &changed);
    p.send("delete", "DELETE", path, None, None);
    let ns = p.ns.clone();
    let pods = format!("/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3Donce");
    let [s, r] = [&p.sim, &p.real].map(|t| {
        let (a, _) = t.poll(&pods, &|a| {
            a.body["items"].as_array().is_some_and(|i| {
                i.iter().all(|i| i["metadata"]["ownerReferences"].is_null())
            })
        });
        let items = a.body["items"].as_array().cloned().unwrap_or_default();
        json!({"pods": items.len(),
               "owned": items.iter().filter(|i| i["metadata"]["ownerReferences"].is_array()).count()})
    });
    p.compare_values("pods after the Job's deletion", &s, &r);
}
