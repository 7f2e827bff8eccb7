#!/usr/bin/env python3
"""Derives tests/data/k8s-1.37.json, the schema data kube-sim serves, from the real sources.

Kubernetes 1.37.2: the release tests/control-plane builds (kube-apiserver and
kube-controller-manager from k8s.io/kubernetes v1.37.2), so kube-sim and the real server it is
checked against share one version. Inputs, read from the Go module cache (`modsource.py`,
`$GOMODCACHE/k8s.io/<module>@v0.37.2`, there once tests/control-plane/build ran):
  * the structured-merge-diff schema that applyconfiguration-gen generated from the real OpenAPI
    (`schemaYAML` in applyconfigurations/internal/internal.go of client-go and
    apiextensions-apiserver): map fields, list/map element relationships, keys, scalar kinds,
    defaults. apiextensions-apiserver's schema holds only the untyped entries and kube-aggregator
    generates none, so the CustomResourceDefinition and APIService types are converted here
    from their Go types and `+listType`/`+listMapKey`/`+mapType` markers with the
    rules of kube-openapi's schemaconv (a list without listType is atomic; patchStrategy merge
    with a key makes it associative);
  * the Go types (k8s.io/api, apimachinery meta/v1, apiextensions v1, apiregistration v1): per field
    its json name, `omitempty`, `omitzero`, pointer or value, Go type, patchStrategy/patchMergeKey
    tags;
  * the typed clients of client-go (and of the two extension modules): plural, scope, verbs and the
    status/scale subresources of every served resource.
Facts not in those modules (kube-apiserver's default-enabled group versions, shortNames,
categories, verbs and storage versions from kubernetes/kubernetes) are listed in `facts.py`;
they were checked against the discovery of the real 1.37.2 server.

Usage: tests/schema/gen.py [--modcache "$(go env GOMODCACHE)"] [--module-version 0.37.2]
                           [--out tests/data/k8s-1.37.json]
Needs Python 3 and PyYAML.
"""

import argparse
import json
import os
import re
import subprocess
import sys

import yaml

from facts import CATEGORIES, EXTRA, SERVED, SHORT_NAMES, VERBS, storage_version_hash
from modsource import ModSource

CLIENT_GO = "kubernetes+client-go"
API = "kubernetes+api"
MACHINERY = "kubernetes+apimachinery"
APIEXT = "kubernetes+apiextensions-apiserver"
AGGREGATOR = "kubernetes+kube-aggregator"

# Typed-client method -> discovery verb.
VERB_OF = {"Create": "create", "Update": "update", "Delete": "delete",
           "DeleteCollection": "deletecollection", "Get": "get", "List": "list",
           "Watch": "watch", "Patch": "patch"}

# OpenAPI name prefix -> (mirror, Go package dir) for the Go facts.
GO_PACKAGES = {
    "io.k8s.apimachinery.pkg.apis.meta.v1": (MACHINERY, "pkg/apis/meta/v1"),
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1": (APIEXT, "pkg/apis/apiextensions/v1"),
    "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1": (AGGREGATOR, "pkg/apis/apiregistration/v1"),
}

# Go types that are scalars on the wire (named by their package-qualified Go name).
WIRE_SCALARS = {
    "resource.Quantity": "Quantity", "intstr.IntOrString": "IntOrString",
    "metav1.Time": "Time", "Time": "Time", "metav1.MicroTime": "MicroTime",
    "MicroTime": "MicroTime", "metav1.Duration": "Duration", "Duration": "Duration",
    "runtime.RawExtension": "RawExtension", "types.UID": "string", "JSON": "JSON",
    "apiextensionsv1.JSON": "JSON", "Fields": "Fields", "FieldsV1": "FieldsV1",
}
GO_BASIC = {"string", "bool", "int", "int32", "int64", "uint32", "uint64", "float32", "float64", "byte"}


def smd_schema(src, repo, path):
    text = src.show(repo, path)
    m = re.search(r"var schemaYAML = typed\.YAMLObject\(`(.*?)`\)", text, re.S)
    if not m:
        sys.exit(f"{repo}:{path}: no schemaYAML")
    return yaml.safe_load(m.group(1))["types"]


STRUCT_RE = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.S | re.M)
ALIAS_RE = re.compile(r"^type (\w+) =? ?(string|bool|int32|int64|int|float64|\[\]byte|map\[\S+|\[\]\S+)\s*$", re.M)
FIELD_RE = re.compile(r"^\s+(\w+)\s+([^\s`]+)\s+`([^`]*)`", re.M)
EMBED_RE = re.compile(r"^\s+([\w.]+)\s+`([^`]*)`", re.M)


def tag(tags, key):
    m = re.search(key + r':"([^"]*)"', tags)
    return m.group(1) if m else None


def go_package(src, repo, pkgdir):
    """Structs (name -> [(json, facts) or ('inline', Type)]) and scalar aliases of one package."""
    structs, aliases = {}, {}
    for f in src.ls(repo, pkgdir):
        if not f.endswith(".go") or f.endswith("_test.go") or f.startswith("zz_") or f.startswith("generated"):
            continue
        text = src.show(repo, f"{pkgdir}/{f}")
        for m in ALIAS_RE.finditer(text):
            aliases[m.group(1)] = m.group(2)
        for m in STRUCT_RE.finditer(text):
            fields, markers = [], {}
            for line in m.group(2).splitlines():
                mk = re.match(r"\s*// \+(listType|listMapKey|mapType)=(\S+)", line)
                if mk:
                    markers.setdefault(mk.group(1), []).append(mk.group(2))
                    continue
                if line.strip().startswith("//") or not line.strip():
                    continue
                fm = FIELD_RE.match(line)
                em = EMBED_RE.match(line)
                if fm:
                    fields.append(("field", fm.group(1), fm.group(2), fm.group(3), markers))
                elif em and tag(em.group(2), "json") is not None:
                    fields.append(("embed", em.group(1), em.group(1), em.group(2), markers))
                markers = {}
            structs[m.group(1)] = fields
    return structs, aliases


def classify(expr, aliases):
    """(pointer, wire scalar or None, shape) of a Go type expression."""
    ptr = expr.startswith("*")
    t = expr.lstrip("*")
    if t == "[]byte":
        return ptr, "bytes", "scalar"
    if t.startswith("[]"):
        return ptr, None, "list"
    if t.startswith("map["):
        return ptr, None, "map"
    if t in WIRE_SCALARS:
        return ptr, WIRE_SCALARS[t], "scalar"
    if t in GO_BASIC:
        return ptr, t, "scalar"
    if t in aliases and aliases[t] != "[]byte" and aliases[t][:1] in "[m":
        return ptr, None, "map" if aliases[t].startswith("map[") else "list"
    if t in aliases:
        base = aliases[t]
        return ptr, "bytes" if base == "[]byte" else base, "scalar"
    return ptr, None, "struct"


META_PKG = {}


def go_fields(structs, aliases, name, seen=()):
    """json name -> facts for struct `name`, with inline embeds flattened."""
    out = {}
    for kind, gname, expr, tags, _markers in structs.get(name, []):
        jt = tag(tags, "json")
        if jt is None or jt == "-":
            continue
        parts = jt.split(",")
        if parts[0] == "" or "inline" in parts[1:]:
            inner = expr.lstrip("*")
            if inner.startswith("metav1."):
                out.update(go_fields(*META_PKG["pkg"], inner[len("metav1."):], seen + (name,)))
            elif inner not in seen:
                out.update(go_fields(structs, aliases, inner, seen + (name,)))
            continue
        ptr, scalar, shape = classify(expr, aliases)
        facts = {"go": expr, "shape": shape}
        if ptr:
            facts["ptr"] = True
        if "omitempty" in parts[1:]:
            facts["omitempty"] = True
        if "omitzero" in parts[1:]:
            facts["omitzero"] = True
        if scalar:
            facts["scalar"] = scalar
        for k in ("patchStrategy", "patchMergeKey"):
            v = tag(tags, k)
            if v:
                facts[k] = v
        out[parts[0]] = facts
    return out


META = "io.k8s.apimachinery.pkg.apis.meta.v1"
GO_NAMED = {"metav1.Time": META + ".Time", "metav1.ObjectMeta": META + ".ObjectMeta",
            "metav1.ListMeta": META + ".ListMeta"}
SCALAR_KIND = {"string": "string", "bytes": "string", "bool": "boolean"}


# Go types with their own JSON marshalling and no OpenAPI type: schemaconv makes them deduced.
UNTYPED_GO = {"JSON", "JSONSchemaPropsOrArray", "JSONSchemaPropsOrBool",
              "JSONSchemaPropsOrStringArray", "runtime.RawExtension"}


def smd_from_go(src, repo, pkgdir, prefix, roots):
    """SMD types for the structs reachable from `roots`, as schemaconv would convert them."""
    structs, aliases = go_package(src, repo, pkgdir)
    out, todo = {}, list(roots)

    def type_of(expr, markers, tags=""):
        t = expr.lstrip("*")
        if t in UNTYPED_GO:
            return {"namedType": "__untyped_deduced_"}
        ptr, scalar, shape = classify(expr, aliases)
        if shape in ("list", "map") and t in aliases:
            t = aliases[t]
        if shape == "scalar" and scalar in SCALAR_KIND:
            return {"scalar": SCALAR_KIND[scalar]}
        if shape == "scalar" and scalar in GO_BASIC:
            return {"scalar": "numeric"}
        if t in GO_NAMED:
            return {"namedType": GO_NAMED[t]}
        if shape == "list":
            elem = type_of(t[2:], {})
            lt = (markers.get("listType") or [""])[0]
            keys = markers.get("listMapKey", [])
            if not lt and tag(tags, "patchStrategy") == "merge":
                lt, keys = ("map", [tag(tags, "patchMergeKey")]) if tag(tags, "patchMergeKey") else ("set", [])
            rel = {"map": "associative", "set": "associative"}.get(lt, "atomic")
            lst = {"elementType": elem, "elementRelationship": rel}
            if lt == "map":
                lst["keys"] = keys
            return {"list": lst}
        if shape == "map":
            elem = type_of(t.split("]", 1)[1], {})
            mp = {"elementType": elem}
            if (markers.get("mapType") or [""])[0] == "atomic":
                mp["elementRelationship"] = "atomic"
            return {"map": mp}
        todo.append(t)
        return {"namedType": f"{prefix}.{t}"}

    while todo:
        name = todo.pop()
        if f"{prefix}.{name}" in out or name not in structs:
            continue
        fields = []
        for kind, gname, expr, tags, markers in structs[name]:
            jt = (tag(tags, "json") or "").split(",")
            if kind == "embed" and jt[0] == "":
                continue  # TypeMeta inline: apiVersion and kind come from the schema below
            f = {"name": jt[0], "type": type_of(expr, markers, tags)}
            if not expr.startswith("*") and "omitempty" not in jt[1:] and "scalar" in f["type"]:
                f["default"] = {"string": "", "numeric": 0, "boolean": False}[f["type"]["scalar"]]
            fields.append(f)
        if name in roots:
            fields += [{"name": "apiVersion", "type": {"scalar": "string"}},
                       {"name": "kind", "type": {"scalar": "string"}}]
        fields.sort(key=lambda f: f["name"])
        out[f"{prefix}.{name}"] = {"name": f"{prefix}.{name}", "map": {"fields": fields}}
    return list(out.values())


def package_of(type_name):
    prefix, _, short = type_name.rpartition(".")
    if prefix in GO_PACKAGES:
        return GO_PACKAGES[prefix], short
    m = re.match(r"io\.k8s\.api\.(\w+)\.(\w+)$", prefix)
    if m:
        return (API, f"{m.group(1)}/{m.group(2)}"), short
    return None, short


def attach_go_facts(src, types):
    META_PKG["pkg"] = go_package(src, MACHINERY, "pkg/apis/meta/v1")
    packages = {}
    missing = []
    for t in types:
        pkg, short = package_of(t["name"])
        if pkg is None or "map" not in t:
            continue
        if pkg not in packages:
            packages[pkg] = go_package(src, *pkg)
        structs, aliases = packages[pkg]
        facts = go_fields(structs, aliases, short)
        for f in t["map"].get("fields", []):
            if f["name"] in facts:
                f["go"] = facts[f["name"]]
            else:
                missing.append(f"{t['name']}.{f['name']}")
    return missing


def group_name(src, repo, pkgdir):
    text = src.show(repo, f"{pkgdir}/register.go")
    m = re.search(r'const GroupName = "([^"]*)"', text)
    return m.group(1) if m else ""


def typed_resources(src, repo, clientdir, group, version, type_prefix):
    out = []
    for f in src.ls(repo, clientdir):
        if not f.endswith(".go") or f.endswith("_client.go") or f in ("doc.go", "generated_expansion.go") or "expansion" in f:
            continue
        text = src.show(repo, f"{clientdir}/{f}")
        iface = re.search(r"type (\w+)Interface interface \{\n(.*?)\n\}", text, re.S)
        ctor = re.search(r"func new\w+\(c \*\w+(, namespace string)?\)", text)
        plural = re.search(r"gentype\.NewClient\w*\[\*\w+\.(\w+),?.*?\]\(\s*\"([a-z0-9]+)\"", text, re.S)
        if not (iface and ctor and plural):
            continue
        methods = re.findall(r"^\t(\w+)\(ctx", iface.group(2), re.M)
        kind, res = plural.group(1), plural.group(2)
        verbs = sorted({VERB_OF[m] for m in methods if m in VERB_OF} | ({"patch"} if "Apply" in methods else set()))
        verbs = VERBS.get((group, res), verbs)
        subs = []
        if "UpdateStatus" in methods:
            subs.append("status")
        if "GetScale" in methods:
            subs.append("scale")
        out.append({
            "group": group, "version": version, "kind": kind, "plural": res,
            "singular": kind.lower(), "namespaced": bool(ctor.group(1)), "verbs": verbs,
            "subresources": subs, "shortNames": SHORT_NAMES.get((group, res), []),
            "categories": CATEGORIES.get((group, res), []), "type": f"{type_prefix}.{kind}",
        })
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modcache", help="the Go module cache (default: `go env GOMODCACHE`)")
    ap.add_argument("--module-version", default="0.37.2", help="the k8s.io/* staging modules' version")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "data", "k8s-1.37.json")))
    a = ap.parse_args()
    modcache = a.modcache or subprocess.run(["go", "env", "GOMODCACHE"], check=True,
                                            capture_output=True, text=True).stdout.strip()
    src = ModSource(modcache, a.module_version)

    types = {}
    for repo, path in [(CLIENT_GO, "applyconfigurations/internal/internal.go"),
                       (APIEXT, "pkg/client/applyconfiguration/internal/internal.go")]:
        for t in smd_schema(src, repo, path):
            types.setdefault(t["name"], t)
    for t in smd_from_go(src, AGGREGATOR, "pkg/apis/apiregistration/v1",
                         "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1", ["APIService"]):
        types.setdefault(t["name"], t)
    for t in smd_from_go(src, APIEXT, "pkg/apis/apiextensions/v1",
                         "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
                         ["CustomResourceDefinition"]):
        types[t["name"]] = t

    resources = []
    for gdir, version in SERVED:
        group = "" if gdir == "core" else group_name(src, API, f"{gdir}/{version}")
        resources += typed_resources(src, CLIENT_GO, f"kubernetes/typed/{gdir}/{version}", group,
                                     version, f"io.k8s.api.{gdir}.{version}")
    resources += typed_resources(src, APIEXT, "pkg/client/clientset/clientset/typed/apiextensions/v1",
                                 "apiextensions.k8s.io", "v1",
                                 "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1")
    resources += typed_resources(src, AGGREGATOR, "pkg/client/clientset_generated/clientset/typed/apiregistration/v1",
                                 "apiregistration.k8s.io", "v1",
                                 "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1")
    for r in resources:
        if r["type"] not in types:
            # Create-only review kinds (e.g. SelfSubjectReview) have no apply configuration.
            print(f"note: {r['kind']} has no apply schema type", file=sys.stderr)
            r["type"] = None
    resources = [r for r in resources if r["verbs"]]  # policy/v1 Eviction is a pods subresource
    resources += EXTRA
    for r in resources:
        r["storageVersionHash"] = storage_version_hash(r)
    resources.sort(key=lambda r: (r["group"], r["version"], r["plural"]))
    # Keep the types reachable from served resources (and the scale subresource's Scale).
    keep, todo = set(), [r["type"] for r in resources if r["type"]] + ["io.k8s.api.autoscaling.v1.Scale"]
    while todo:
        name = todo.pop()
        if name in keep or name not in types:
            continue
        keep.add(name)
        todo += re.findall(r"'namedType': '([^']+)'", repr(types[name]))
    ordered = [types[k] for k in sorted(keep)]
    missing = attach_go_facts(src, ordered)

    head = {repo: src.revision(repo)
            for repo in (CLIENT_GO, API, MACHINERY, APIEXT, AGGREGATOR)}
    data = {
        "kubernetesVersion": "1." + a.module_version.split(".", 1)[1],
        "generatedBy": "tests/schema/gen.py",
        "sources": {k.replace("+", "/"): v for k, v in head.items()},
        "goFactsMissing": missing,
        "resources": resources,
        "types": ordered,
    }
    with open(a.out, "w") as f:
        json.dump(data, f, separators=(",", ":"), sort_keys=False)
        f.write("\n")
    print(f"{a.out}: {len(resources)} resources, {len(ordered)} types, {len(missing)} fields without Go facts",
          file=sys.stderr)


if __name__ == "__main__":
    main()
