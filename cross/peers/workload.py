#!/usr/bin/env python3
"""Writes one tool's copy of a peer-benchmark workload (cross/peers/run) into OUT_DIR.

  workload.py mixed PREFIX OUT_DIR   1000 objects: 10 Namespaces PREFIX-bench-N, each with 5
                                     Deployments (1 replica), 10 Services, 10 ServiceAccounts,
                                     5 Roles, 5 RoleBindings and 64 ConfigMaps, as 100 files.
  workload.py k3s PREFIX OUT_DIR     tests/corpus/k3s (the largest corpus app) moved into the
                                     Namespace PREFIX-k3s; cluster-scoped objects get the
                                     prefix in their names (and ClusterRoleBindings follow);
                                     the APIService is left out (no metrics-server runs, and an
                                     unavailable aggregated API breaks every client's discovery),
                                     and kube-dns loses its fixed clusterIP (one per cluster).

Each tool gets its own copy, so no tool finds another's objects on the server.
"""
import os
import sys

import yaml

CLUSTER_KINDS = {"ClusterRole", "ClusterRoleBinding", "StorageClass", "RuntimeClass"}


def mixed(prefix, out):
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{prefix}-bench-{n}"}}
            for n in range(10)]
    write(out, "00-namespaces.yaml", docs)
    payload = "x" * 200
    for n in range(10):
        ns = f"{prefix}-bench-{n}"
        files = {k: [] for k in range(10)}
        for i in range(5):
            labels = {"app": f"web-{i}"}
            files[0].append({"apiVersion": "apps/v1", "kind": "Deployment",
                             "metadata": {"name": f"web-{i}", "namespace": ns},
                             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                                      "template": {"metadata": {"labels": labels}, "spec": {
                                          "serviceAccountName": f"sa-{i}",
                                          "containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10",
                                                          "ports": [{"containerPort": 8080, "name": "http"}],
                                                          "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}})
            files[1].append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                             "metadata": {"name": f"reader-{i}", "namespace": ns},
                             "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]})
            files[1].append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                             "metadata": {"name": f"reader-{i}", "namespace": ns},
                             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"reader-{i}"},
                             "subjects": [{"kind": "ServiceAccount", "name": f"sa-{i}", "namespace": ns}]})
        for i in range(10):
            files[2].append({"apiVersion": "v1", "kind": "Service",
                             "metadata": {"name": f"svc-{i}", "namespace": ns},
                             "spec": {"selector": {"app": f"web-{i % 5}"},
                                      "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
            files[3].append({"apiVersion": "v1", "kind": "ServiceAccount",
                             "metadata": {"name": f"sa-{i}", "namespace": ns}})
        for i in range(64):
            files[4 + i % 6].append({"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": f"cm-{i}", "namespace": ns},
                                     "data": {"key": "v1", "payload": payload}})
        for k, docs in files.items():
            write(out, f"10-{ns}-{k:02d}.yaml", docs)


def k3s(prefix, out, corpus):
    ns = f"{prefix}-k3s"
    write(out, "00-namespace.yaml", [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}])
    renamed = set()
    files = {}
    for f in sorted(os.listdir(corpus)):
        if f.endswith(".yaml"):
            with open(os.path.join(corpus, f)) as fh:
                files[f] = [d for d in yaml.safe_load_all(fh) if d]
    for docs in files.values():
        for d in docs:
            if d["kind"] == "ClusterRole":
                renamed.add(d["metadata"]["name"])
    for f, docs in files.items():
        keep = []
        for d in docs:
            meta = d["metadata"]
            if d["kind"] == "APIService":
                continue
            if d["kind"] in CLUSTER_KINDS:
                meta["name"] = f"{prefix}-{meta['name']}"
            elif "namespace" in meta:
                meta["namespace"] = ns
            ref = d.get("roleRef")
            if ref and ref["kind"] == "ClusterRole" and ref["name"] in renamed:
                ref["name"] = f"{prefix}-{ref['name']}"
            for s in d.get("subjects", []) or []:
                if s.get("namespace") == "kube-system":
                    s["namespace"] = ns
            if d["kind"] == "Service":
                d["spec"].pop("clusterIP", None)  # kube-dns's fixed IP: one per cluster
                d["spec"].pop("clusterIPs", None)
            if d["kind"] == "StorageClass":
                d.setdefault("metadata", {}).setdefault("annotations", {}).pop(
                    "storageclass.kubernetes.io/is-default-class", None)
            keep.append(d)
        write(out, f, keep)


def write(out, name, docs):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name), "w") as fh:
        yaml.safe_dump_all(docs, fh, sort_keys=False, explicit_start=True)


if __name__ == "__main__":
    kind, prefix, out = sys.argv[1:4]
    if kind == "mixed":
        mixed(prefix, out)
    else:
        k3s(prefix, out, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/corpus/k3s"))
