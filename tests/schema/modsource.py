"""gen.py's source: the Kubernetes staging modules read from the Go module cache
(`$GOMODCACHE/k8s.io/<module>@v<version>`), the exact versions tests/control-plane pins
(v0.37.2 beside k8s.io/kubernetes v1.37.2), so kube-sim's schema data is derived from the same
release as the real control plane it is checked against. Each module's provenance is its
version and the `h1:` hash tests/control-plane/go.sum records for it (the hash the go command
checked when it put the module in the cache).
"""

import os

MODULES = {
    "kubernetes+client-go": "client-go",
    "kubernetes+api": "api",
    "kubernetes+apimachinery": "apimachinery",
    "kubernetes+apiextensions-apiserver": "apiextensions-apiserver",
    "kubernetes+kube-aggregator": "kube-aggregator",
}

GO_SUM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "control-plane", "go.sum")


class ModSource:
    def __init__(self, modcache, version):
        self.modcache = modcache
        self.version = version
        self.sums = {}
        if os.path.exists(GO_SUM):
            with open(GO_SUM) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 3 and not parts[1].endswith("/go.mod"):
                        self.sums[(parts[0], parts[1])] = parts[2]

    def _dir(self, repo):
        d = os.path.join(self.modcache, "k8s.io", f"{MODULES[repo]}@v{self.version}")
        if not os.path.isdir(d):
            raise SystemExit(f"{d} missing: run tests/control-plane/build (or `go mod download` there)")
        return d

    def show(self, repo, path):
        with open(os.path.join(self._dir(repo), path)) as f:
            return f.read()

    def ls(self, repo, path):
        return sorted(os.listdir(os.path.join(self._dir(repo), path)))

    def revision(self, repo):
        mod = f"k8s.io/{MODULES[repo]}"
        ver = f"v{self.version}"
        h = self.sums.get((mod, ver))
        return f"{mod}@{ver}" + (f" {h}" if h else "")
