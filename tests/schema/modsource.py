"""A gen.py source reading the Kubernetes staging modules from the Go module cache
(`$GOMODCACHE/k8s.io/<module>@v<version>`) instead of git mirrors: the exact versions
tests/control-plane pins (v0.37.2 beside k8s.io/kubernetes v1.37.2), so kube-sim's schema
data can be derived from the same release as the real control plane it is checked against.
"""

import os

MODULES = {
    "kubernetes+client-go": "client-go",
    "kubernetes+api": "api",
    "kubernetes+apimachinery": "apimachinery",
    "kubernetes+apiextensions-apiserver": "apiextensions-apiserver",
    "kubernetes+kube-aggregator": "kube-aggregator",
}


class ModSource:
    def __init__(self, modcache, version):
        self.modcache = modcache
        self.version = version

    def _dir(self, repo):
        return os.path.join(self.modcache, "k8s.io", f"{MODULES[repo]}@v{self.version}")

    def show(self, repo, path):
        with open(os.path.join(self._dir(repo), path)) as f:
            return f.read()

    def ls(self, repo, path):
        return sorted(os.listdir(os.path.join(self._dir(repo), path)))

    def revision(self, repo):
        return f"k8s.io/{MODULES[repo]}@v{self.version}"
