"""Facts of kube-apiserver v1.37.2 that the staging modules gen.py reads do not hold, taken
from kubernetes/kubernetes v1.37.2 and checked against the real server's discovery
(`kubectl get --raw /apis`, `/api/v1`, `/apis/<group>/<version>`; the differential harness's
`discovery` sequence compares them on every run). A new Kubernetes version means checking each
table here again.
"""

import base64
import hashlib

# Group versions kube-apiserver 1.37 serves by default (every GA version, no beta API; its
# `/apis` lists exactly these plus apiextensions and apiregistration).
SERVED = [
    ("core", "v1"), ("admissionregistration", "v1"), ("apps", "v1"), ("authentication", "v1"),
    ("authorization", "v1"), ("autoscaling", "v1"), ("autoscaling", "v2"), ("batch", "v1"),
    ("certificates", "v1"), ("coordination", "v1"), ("discovery", "v1"), ("events", "v1"),
    ("flowcontrol", "v1"), ("networking", "v1"), ("node", "v1"), ("policy", "v1"), ("rbac", "v1"),
    ("resource", "v1"), ("scheduling", "v1"), ("storage", "v1"), ("storagemigration", "v1"),
]

# shortNames and categories: ShortNames()/Categories() of the REST storages in
# kubernetes/kubernetes pkg/registry/<group>/<resource>/storage/storage.go at v1.37.2
# (and apiextensions-apiserver pkg/registry/customresourcedefinition/etcd.go, kube-aggregator
# pkg/registry/apiservice/etcd/etcd.go). Key: (group, plural).
SHORT_NAMES = {
    ("", "componentstatuses"): ["cs"], ("", "configmaps"): ["cm"], ("", "endpoints"): ["ep"],
    ("", "events"): ["ev"], ("", "limitranges"): ["limits"], ("", "namespaces"): ["ns"],
    ("", "nodes"): ["no"], ("", "persistentvolumeclaims"): ["pvc"],
    ("", "persistentvolumes"): ["pv"], ("", "pods"): ["po"],
    ("", "replicationcontrollers"): ["rc"], ("", "resourcequotas"): ["quota"],
    ("", "serviceaccounts"): ["sa"], ("", "services"): ["svc"],
    ("apps", "daemonsets"): ["ds"], ("apps", "deployments"): ["deploy"],
    ("apps", "replicasets"): ["rs"], ("apps", "statefulsets"): ["sts"],
    ("autoscaling", "horizontalpodautoscalers"): ["hpa"], ("batch", "cronjobs"): ["cj"],
    ("certificates.k8s.io", "certificatesigningrequests"): ["csr"],
    ("events.k8s.io", "events"): ["ev"],
    ("networking.k8s.io", "ingresses"): ["ing"], ("networking.k8s.io", "networkpolicies"): ["netpol"],
    ("networking.k8s.io", "ipaddresses"): ["ip"], ("storage.k8s.io", "volumeattributesclasses"): ["vac"],
    ("policy", "poddisruptionbudgets"): ["pdb"], ("scheduling.k8s.io", "priorityclasses"): ["pc"],
    ("storage.k8s.io", "storageclasses"): ["sc"],
    ("apiextensions.k8s.io", "customresourcedefinitions"): ["crd", "crds"],
}
CATEGORIES = {
    ("", "pods"): ["all"], ("", "replicationcontrollers"): ["all"], ("", "services"): ["all"],
    ("apps", "daemonsets"): ["all"], ("apps", "deployments"): ["all"],
    ("apps", "replicasets"): ["all"], ("apps", "statefulsets"): ["all"],
    ("autoscaling", "horizontalpodautoscalers"): ["all"], ("batch", "cronjobs"): ["all"],
    ("batch", "jobs"): ["all"],
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): ["api-extensions"],
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): ["api-extensions"],
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): ["api-extensions"],
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): ["api-extensions"],
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"): ["api-extensions"],
    ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings"): ["api-extensions"],
    ("apiextensions.k8s.io", "customresourcedefinitions"): ["api-extensions"],
    ("apiregistration.k8s.io", "apiservices"): ["api-extensions"],
}

# Verbs where the REST storage serves other verbs than the typed client offers (componentstatuses
# is a read-only storage; services gained deletecollection in the storage, not in client-go).
VERBS = {
    ("", "componentstatuses"): ["get", "list"],
    ("", "services"): ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                       "watch"],
}
# Resources with no typed client of their own (pods' Bind posts to `bindings`).
EXTRA = [{"group": "", "version": "v1", "kind": "Binding", "plural": "bindings",
          "singular": "binding", "namespaced": True, "verbs": ["create"], "subresources": [],
          "shortNames": [], "categories": [], "type": None}]

# The version a resource is stored in when it is not the served one (its discovery
# `storageVersionHash` hashes the storage group/version/kind): kubernetes/kubernetes
# pkg/kubeapiserver/default_storage_factory_builder.go (version overrides, events cohabiting
# with core events), autoscaling stored as v2, CRDs stored as apiextensions v1beta1.
STORAGE_VERSIONS = {
    ("certificates.k8s.io", "clustertrustbundles"): ("certificates.k8s.io", "v1beta1"),
    ("certificates.k8s.io", "podcertificaterequests"): ("certificates.k8s.io", "v1beta1"),
    ("storagemigration.k8s.io", "storageversionmigrations"): ("storagemigration.k8s.io", "v1beta1"),
    ("resource.k8s.io", "devicetaintrules"): ("resource.k8s.io", "v1beta2"),
    ("autoscaling", "horizontalpodautoscalers"): ("autoscaling", "v2"),
    ("events.k8s.io", "events"): ("", "v1"),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("apiextensions.k8s.io", "v1beta1"),
}
# Resources without storage (no `storageVersionHash`): componentstatuses (probed live) and the
# create-only kinds (reviews, bindings).
NOT_STORED = {("", "componentstatuses")}


def storage_version_hash(r):
    """apiserver `discovery.StorageVersionHash` of the resource's storage version, or None."""
    if (r["group"], r["plural"]) in NOT_STORED or r["verbs"] == ["create"]:
        return None
    group, version = STORAGE_VERSIONS.get((r["group"], r["plural"]), (r["group"], r["version"]))
    digest = hashlib.sha256(f"{group}/{version}/{r['kind']}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()
