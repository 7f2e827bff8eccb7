//! `ferry-bundle build`: content directory (plain, Kustomize or Helm) -> plain bundle directory.

use crate::render::Renderer;
use anyhow::{bail, Context, Result};
use ferry_bundle::manifest::{Manifest, Rollout, Targets, Timestamp};
use ferry_bundle::render;
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
    /// Variables the devices define (`DEVICE_ID` always is), for the content check.
    pub vars: BTreeMap<String, String>,
    /// Check as a sync with `strictSubstitution: true` reads the content.
    pub strict_substitution: bool,
    pub images: crate::images::ImageOptions<'a>,
    /// A `host` section (YAML) whose sources are bundle paths under `src`.
    pub host: Option<&'a Path>,
    /// Build a bundle that holds no objects (devices then delete what earlier revisions
    /// applied: the manifest confirms it with `allowMassPrune`).
    pub allow_empty: bool,
    /// Sign `allowMassPrune: true`: devices may delete most of what the previous revision
    /// applied.
    pub allow_mass_prune: bool,
    /// Refuse plaintext `Secret` objects (SOPS files are the way to ship them).
    pub require_encrypted_secrets: bool,
}

/// What a build made.
pub struct Built {
    pub manifest: Manifest,
    /// Objects in the cluster manifests.
    pub objects: usize,
    /// Hidden entries of the source left out (see [`source_dir::Collected::hidden`]).
    pub hidden: Vec<String>,
}

/// Builds the bundle and writes `bundle.yaml` (and the signature when `key` is given).
pub fn build(spec: &BuildSpec, key: Option<&SigningKey>) -> Result<Built> {
    if !ferry_bundle::manifest::is_valid_name(spec.name) {
        bail!(
            "invalid bundle name {:?}: lowercase letters, digits, '-' and '.', at most 63",
            spec.name
        );
    }
    prepare_out(spec.out, spec.force)?;
    let mut generated = Vec::new();
    let hidden = match crate::render::detect(spec.src) {
        Renderer::Kustomize => {
            let rendered = crate::render::kustomize(spec.src)?;
            write_rendered(spec.out, &rendered)?;
            generated = ferry_bundle::sops::publish::find(spec.src, spec.out, RENDERED, &rendered)
                .map_err(|e| anyhow::anyhow!(e))?;
            Vec::new()
        }
        Renderer::Helm => {
            write_rendered(spec.out, &crate::render::helm(spec.src, spec.name)?)?;
            Vec::new()
        }
        Renderer::None => copy_tree(spec.src, spec.out)?,
    };
    let collected = source_dir::collect(spec.out)?.files;
    let host = spec.host.map(read_host_section).transpose()?;
    if let (Some(path), Some(h)) = (spec.host, &host) {
        h.validate(|p| collected.iter().any(|f| f.entry.path == p))
            .with_context(|| format!("{}", path.display()))?;
    }
    // Host sources are installed on the host, never read as cluster manifests (as on a device).
    let cluster: Vec<_> = collected
        .iter()
        .filter(|f| !host.as_ref().is_some_and(|h| h.is_source(&f.entry.path)))
        .cloned()
        .collect();
    let mut content = check_content(&cluster, &spec.vars, spec.strict_substitution)?;
    // A generated Secret whose every key comes from a SOPS source travels encrypted.
    content.plaintext_secrets.retain(|origin| {
        !generated
            .iter()
            .any(|g| &g.origin == origin && g.plain_keys.is_empty())
    });
    if !content.plaintext_secrets.is_empty() {
        let list = content.plaintext_secrets.join(", ");
        if spec.require_encrypted_secrets {
            bail!("plaintext Secret objects refused (--require-encrypted-secrets): {list}; encrypt them with sops --encrypt --age");
        }
        eprintln!("warning: plaintext Secret objects travel readable by anyone holding the bundle: {list}; encrypt them with sops (docs/secrets.md)");
    }
    let objects = content.objects;
    let cluster_files: Vec<_> = cluster.into_iter().map(|f| f.entry).collect();
    let images = crate::images::collect(&spec.images, spec.out, &cluster_files)?;
    let empty = objects == 0 && images.is_empty() && host.is_none();
    if empty && !spec.allow_empty {
        let listed: Vec<&str> = collected.iter().map(|f| f.entry.path.as_str()).collect();
        let left_out = match hidden.is_empty() {
            true => String::new(),
            false => format!("; hidden entries left out: {}", hidden.join(", ")),
        };
        bail!(
            "the bundle holds no objects ({} files: {}{left_out}): a device applying it deletes everything earlier revisions applied. Pass --allow-empty if that is what you want",
            listed.len(),
            if listed.is_empty() { "none".to_string() } else { listed.join(", ") }
        );
    }
    let files: Vec<_> = collected.into_iter().map(|f| f.entry).collect();
    let mut manifest = Manifest::new(spec.name, spec.revision, Timestamp::now(), spec.ttl, files);
    manifest.images = images;
    manifest.targets = spec.targets.clone();
    manifest.rollout = spec.rollout_percent.map(|p| Rollout { percent: Some(p) });
    manifest.allow_mass_prune = spec.allow_mass_prune || (empty && spec.allow_empty);
    manifest.sops = content.sops;
    manifest.generated_secrets = generated.into_iter().map(|g| g.entry).collect();
    // Host files marked `sops` and generator sources are listed too, with their recipients.
    use ferry_bundle::sops::Format;
    let host_sops = host.iter().flat_map(|h| &h.files).filter(|f| f.sops);
    let others = host_sops
        .map(|f| (f.source.as_str(), Format::for_path(&f.source)))
        .chain(manifest.generated_secrets.iter().flat_map(|g| {
            let envs = g.envs.iter().map(|p| (p.as_str(), Format::Dotenv));
            envs.chain(g.files.iter().map(|f| (f.path.as_str(), Format::Binary)))
        }));
    for (path, format) in others {
        let bytes = fs::read(spec.out.join(path)).with_context(|| format!("reading {path}"))?;
        let summary = ferry_bundle::sops::inspect_as(path, &bytes, format)
            .with_context(|| format!("{path} is used as a SOPS file"))?;
        manifest.sops.push(ferry_bundle::manifest::SopsFile {
            path: path.to_string(),
            recipients: summary.recipients,
        });
    }
    manifest.sops.sort_by(|a, b| a.path.cmp(&b.path));
    manifest.sops.dedup_by(|a, b| a.path == b.path);
    manifest.host = host;
    let yaml = manifest.to_yaml();
    Manifest::parse(yaml.as_bytes()).context("built manifest does not parse back")?;
    layout::write_atomic(&spec.out.join(ferry_bundle::MANIFEST_FILE), yaml.as_bytes())?;
    if let Some(key) = key {
        sign_dir(spec.out, key)?;
    }
    Ok(Built {
        manifest,
        objects,
        hidden,
    })
}

/// Reads the `--host` file: a host section (bounded YAML).
fn read_host_section(path: &Path) -> Result<ferry_bundle::host::HostSection> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let source = path.display().to_string();
    ferry_bundle::yaml::from_str_bounded(&source, &text, &ferry_bundle::yaml::Budget::small())
        .with_context(|| format!("{source}: not a host section"))
}

/// What the content check found.
pub struct Content {
    /// SOPS files (kept encrypted; their objects are checked on the device).
    pub sops: Vec<ferry_bundle::manifest::SopsFile>,
    /// `file#doc` of every plaintext `v1/Secret`.
    pub plaintext_secrets: Vec<String>,
    /// Objects in the plaintext manifests, plus one for each SOPS file (it holds at least one).
    pub objects: usize,
}

/// Reads every manifest file as a device will (kubectl's YAML rules, substitution, kinds, names
/// per kind, duplicates across files) so a publisher learns of a refusal before a device does.
/// SOPS files stay as they are: only their metadata is read (recipients).
pub fn check_content(
    files: &[source_dir::SourceFile],
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Content> {
    let mut sops = Vec::new();
    let mut plaintext_secrets = Vec::new();
    let mut vars = vars.clone();
    vars.entry("DEVICE_ID".into())
        .or_insert_with(|| "device".into());
    let how = render::Substitution {
        vars: &vars,
        strict,
    };
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for f in files
        .iter()
        .filter(|f| render::is_manifest_file(&f.entry.path))
    {
        let bytes =
            fs::read(&f.disk_path).with_context(|| format!("reading {}", f.disk_path.display()))?;
        if ferry_bundle::sops::looks_like_sops(&bytes) {
            match ferry_bundle::sops::inspect(&f.entry.path, &bytes) {
                Ok(summary) => {
                    sops.push(ferry_bundle::manifest::SopsFile {
                        path: f.entry.path.clone(),
                        recipients: summary.recipients,
                    });
                    continue;
                }
                Err(ferry_bundle::sops::SopsError::NotSops { .. }) => {}
                Err(e) => bail!("content check: {e}"),
            }
        }
        let objects = render::render_file_with(&f.entry.path, &bytes, &how)
            .map_err(|e| anyhow::anyhow!("content check: {e}"))?;
        for o in objects {
            if o.api_version == "v1" && o.kind == "Secret" {
                plaintext_secrets.push(o.origin.clone());
            }
            let meta = &o.value["metadata"];
            let group = o.api_version.rsplit_once('/').map_or("", |(g, _)| g);
            let kind = match group {
                "" => o.kind.clone(),
                g => format!("{}.{g}", o.kind),
            };
            let name = meta["name"].as_str().unwrap_or("");
            let key = match meta["namespace"].as_str() {
                Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
                _ => format!("{kind} {name}"),
            };
            if let Some(other) = seen.insert(key.clone(), o.origin.clone()) {
                bail!(
                    "content check: {}: {} is also defined in {other}",
                    o.origin,
                    key.trim()
                );
            }
        }
    }
    sops.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Content {
        objects: seen.len() + sops.len(),
        sops,
        plaintext_secrets,
    })
}

/// Parses `--var NAME=VALUE` (or `--var NAME`, declared with a placeholder value).
pub fn parse_vars(items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|s| {
            let (k, v) = s.split_once('=').unwrap_or((s, "x"));
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                bail!("bad --var {s:?}: expected NAME or NAME=VALUE");
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
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

/// The bundle file a Kustomize or Helm source renders to.
const RENDERED: &str = "rendered.yaml";

fn write_rendered(out: &Path, yaml: &[u8]) -> Result<()> {
    fs::write(out.join(RENDERED), yaml).context("writing rendered.yaml")
}

/// Copies the content files of `src` into `out`; returns the hidden entries left out.
fn copy_tree(src: &Path, out: &Path) -> Result<Vec<String>> {
    let out_abs = fs::canonicalize(out)?;
    if out_abs.starts_with(fs::canonicalize(src)?) {
        bail!(
            "output directory {} must not be inside the source {}",
            out.display(),
            src.display()
        );
    }
    let content = source_dir::collect(src)?;
    for f in content.files {
        let dst = out.join(&f.entry.path);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(&f.disk_path, &dst)
            .with_context(|| format!("copying {}", f.disk_path.display()))?;
    }
    Ok(content.hidden)
}
