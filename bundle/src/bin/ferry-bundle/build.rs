//! `ferry-bundle build`: content directory (plain, Kustomize or Helm) -> plain bundle directory.

use crate::render::{self, Renderer};
use anyhow::{bail, Context, Result};
use ferry_bundle::manifest::{Manifest, Rollout, Targets, Timestamp};
use ferry_bundle::{layout, sign, source_dir, SigningKey};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// What to build.
pub struct BuildSpec<'a> {
    pub src: &'a Path,
    pub out: &'a Path,
    pub name: &'a str,
    pub revision: u64,
    pub ttl: Duration,
    pub targets: Targets,
    pub rollout_percent: Option<u8>,
    pub force: bool,
    /// A `host` section (YAML) whose sources are bundle paths under `src`.
    pub host: Option<&'a Path>,
}

/// Builds the bundle and writes `bundle.yaml` (and the signature when `key` is given).
pub fn build(spec: &BuildSpec, key: Option<&SigningKey>) -> Result<Manifest> {
    if !ferry_bundle::manifest::is_valid_name(spec.name) {
        bail!(
            "invalid bundle name {:?}: lowercase letters, digits, '-' and '.', at most 63",
            spec.name
        );
    }
    prepare_out(spec.out, spec.force)?;
    match render::detect(spec.src) {
        Renderer::Kustomize => write_rendered(spec.out, &render::kustomize(spec.src)?)?,
        Renderer::Helm => write_rendered(spec.out, &render::helm(spec.src, spec.name)?)?,
        Renderer::None => copy_tree(spec.src, spec.out)?,
    }
    let files = source_dir::collect(spec.out)?
        .into_iter()
        .map(|f| f.entry)
        .collect();
    let mut manifest = Manifest::new(spec.name, spec.revision, Timestamp::now(), spec.ttl, files);
    manifest.targets = spec.targets.clone();
    manifest.rollout = spec.rollout_percent.map(|p| Rollout { percent: Some(p) });
    if let Some(path) = spec.host {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let host: ferry_bundle::host::HostSection = serde_yaml::from_str(&text)
            .with_context(|| format!("{}: not a host section", path.display()))?;
        host.validate(|p| manifest.file(p).is_some())
            .with_context(|| format!("{}", path.display()))?;
        manifest.host = Some(host);
    }
    let yaml = manifest.to_yaml();
    Manifest::parse(yaml.as_bytes()).context("built manifest does not parse back")?;
    layout::write_atomic(&spec.out.join(ferry_bundle::MANIFEST_FILE), yaml.as_bytes())?;
    if let Some(key) = key {
        sign_dir(spec.out, key)?;
    }
    Ok(manifest)
}

/// Signs `dir/bundle.yaml`, writing `dir/bundle.yaml.minisig`.
pub fn sign_dir(dir: &Path, key: &SigningKey) -> Result<Manifest> {
    let path = dir.join(ferry_bundle::MANIFEST_FILE);
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = Manifest::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    let sig = sign::sign(&bytes, &sign::trusted_comment(&manifest), key)?;
    layout::write_atomic(&dir.join(ferry_bundle::SIGNATURE_FILE), sig.as_bytes())?;
    Ok(manifest)
}

/// Parses `--target-selector k=v,k2=v2` into a selector.
pub fn parse_selector(s: &str) -> Result<BTreeMap<String, String>> {
    s.split(',')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("bad selector {s:?}: expected key=value[,key=value]"),
        })
        .collect()
}

fn prepare_out(out: &Path, force: bool) -> Result<()> {
    if out.exists() {
        let empty = fs::read_dir(out)?.next().is_none();
        if !empty && !force {
            bail!(
                "output directory {} is not empty (use --force to replace it)",
                out.display()
            );
        }
        fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

fn write_rendered(out: &Path, yaml: &[u8]) -> Result<()> {
    fs::write(out.join("rendered.yaml"), yaml).context("writing rendered.yaml")
}

fn copy_tree(src: &Path, out: &Path) -> Result<()> {
    let out_abs = fs::canonicalize(out)?;
    if out_abs.starts_with(fs::canonicalize(src)?) {
        bail!(
            "output directory {} must not be inside the source {}",
            out.display(),
            src.display()
        );
    }
    for f in source_dir::collect(src)? {
        let dst = out.join(&f.entry.path);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(&f.disk_path, &dst)
            .with_context(|| format!("copying {}", f.disk_path.display()))?;
    }
    Ok(())
}
