//! Build-time rendering of Kustomize and Helm sources into plain manifests.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// What renders a source directory, if anything.
#[derive(Debug, PartialEq, Eq)]
pub enum Renderer {
    None,
    Kustomize,
    Helm,
}

/// Kustomize when the directory has a kustomization file, Helm when it has a `Chart.yaml`.
pub fn detect(src: &Path) -> Renderer {
    if ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| src.join(f).is_file())
    {
        Renderer::Kustomize
    } else if src.join("Chart.yaml").is_file() {
        Renderer::Helm
    } else {
        Renderer::None
    }
}

fn have(tool: &str, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Renders `src` with `kubectl kustomize` (or `kustomize build`) and returns the YAML stream.
pub fn kustomize(src: &Path) -> Result<Vec<u8>> {
    let mut cmd = if have("kubectl", &["version", "--client"]) {
        let mut c = Command::new("kubectl");
        c.arg("kustomize").arg(src);
        c
    } else if have("kustomize", &["version"]) {
        let mut c = Command::new("kustomize");
        c.arg("build").arg(src);
        c
    } else {
        bail!("{} holds a kustomization, but neither `kubectl` nor `kustomize` is installed to render it", src.display());
    };
    run(&mut cmd, src)
}

/// Renders the chart in `src` with `helm template`, using `values.yaml` beside it if any.
pub fn helm(src: &Path, release: &str) -> Result<Vec<u8>> {
    if !have("helm", &["version"]) {
        bail!("{} holds a Helm chart, but `helm` is not installed to render it (or ship it as a k3s HelmChart with chartContent)", src.display());
    }
    let mut cmd = Command::new("helm");
    cmd.arg("template").arg(release).arg(src);
    run(&mut cmd, src)
}

fn run(cmd: &mut Command, src: &Path) -> Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "rendering {} failed: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}
