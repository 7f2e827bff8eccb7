#!/bin/sh
# Regenerates bundle/helmchart.yaml from chart-src/hello (a deterministic .tgz, base64 inline).
set -eu
cd "$(dirname "$0")"
mkdir -p bundle
tgz=$(tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C chart-src -cf - hello | gzip -n | base64 -w0)
cat > bundle/helmchart.yaml <<YAML
# k3s's helm controller installs this chart; the chart travels inside the signed bundle.
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: hello
  namespace: kube-system
spec:
  targetNamespace: default
  valuesContent: |-
    message: "hello from \${DEVICE_ID}"
  chartContent: $tgz
YAML
