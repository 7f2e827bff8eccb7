//! `build`: a directory (rendered with kustomize or helm when asked) into a signed bundle.

use super::signing::load_key;
use super::{one_positional, required, usage, CliError};
use crate::args::Args;
use crate::build::{self, BuildSpec};
use anyhow::Result;
use ferry_bundle::manifest::Targets;
use std::path::PathBuf;
use std::time::Duration;

fn parse_ttl(s: &str) -> Result<Duration, CliError> {
    humantime::parse_duration(s).map_err(|e| usage(format!("bad --ttl {s:?}: {e}")))
}

pub(super) fn build_cmd(a: &Args) -> Result<(), CliError> {
    let src = one_positional(a, "source directory")?;
    let revision = required(a, "revision")?
        .parse()
        .map_err(|_| usage("--revision must be a non-negative integer"))?;
    let rollout_percent = match a.get("rollout-percent") {
        Some(p) => Some(
            p.parse::<u8>()
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| usage("--rollout-percent must be 0..100"))?,
        ),
        None => None,
    };
    let targets = Targets {
        devices: a.all("target-device"),
        selectors: a
            .all("target-selector")
            .iter()
            .map(|s| build::parse_selector(s))
            .collect::<Result<_>>()?,
    };
    let key = match a.get("key") {
        Some(_) => Some(load_key(a)?),
        None => None,
    };
    let out = PathBuf::from(required(a, "out")?);
    let spec = BuildSpec {
        src: &src,
        out: &out,
        name: required(a, "name")?,
        revision,
        ttl: parse_ttl(a.get("ttl").unwrap_or("30d"))?,
        targets,
        rollout_percent,
        force: a.flag("force"),
        vars: build::parse_vars(&a.all("var"))?,
        strict_substitution: a.flag("strict-substitution"),
        images: crate::images::ImageOptions {
            images: a.all("image"),
            platforms: a.all("platform"),
            from_manifests: a.flag("images-from-manifests"),
            require: a.flag("require-images"),
            insecure_registries: a.all("insecure-registry"),
            docker_config: a.get("docker-config"),
            basic_auth_file: a.get("basic-auth-file"),
            ca_file: a.get("ca-file"),
        },
        host: a.get("host").map(std::path::Path::new),
        allow_empty: a.flag("allow-empty"),
        allow_mass_prune: a.flag("allow-mass-prune"),
    };
    let built = build::build(&spec, key.as_ref())?;
    if !built.hidden.is_empty() {
        eprintln!(
            "left out (hidden): {}",
            ferry_bundle::text::bounded(&built.hidden.join(", "), 4096)
        );
    }
    let m = &built.manifest;
    for h in m.host.iter().flat_map(|h| &h.files) {
        if let Some(f) = m.file(&h.source) {
            println!(
                "host file {} -> {} ({:?}, {} bytes, sha256 {})",
                h.source, h.target, h.arch, f.size, f.sha256
            );
        }
    }
    println!(
        "built {} revision {} ({} files, {} objects, {} bytes, {} images){}{} in {}",
        m.name,
        m.revision,
        m.files.len(),
        built.objects,
        m.total_size(),
        m.images.len(),
        if m.allow_mass_prune {
            ", allowMassPrune"
        } else {
            ""
        },
        if key.is_some() {
            ", signed"
        } else {
            ", unsigned"
        },
        out.display()
    );
    Ok(())
}
