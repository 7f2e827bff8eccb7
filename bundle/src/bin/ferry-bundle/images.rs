//! `ferry-bundle build --image REF --platform P --images-from-manifests --require-images`:
//! pulls the images into the bundle's `blobs/sha256` and returns the signed image map; warns
//! (or fails with `--require-images`) when a manifest references an image the bundle lacks.

use crate::push::{connection, PushOptions};
use anyhow::{bail, Context, Result};
use ferry_bundle::images::pull::{api_host, Puller};
use ferry_bundle::images::{scan, ImageEntry, ImageLimits, ImageName};
use ferry_bundle::manifest::FileEntry;
use ferry_bundle::oci::Reference;
use ferry_bundle::registry::Registry;
use std::collections::BTreeSet;
use std::path::Path;

/// The origin of Docker Hub's token service (the realm its registry names).
const DOCKER_HUB_TOKEN_REALM: &str = "https://auth.docker.io";

/// What the build was asked to carry.
#[derive(Default)]
pub struct ImageOptions<'a> {
    pub images: Vec<String>,
    pub platforms: Vec<String>,
    pub from_manifests: bool,
    pub require: bool,
    /// Registries reached over plain HTTP (private links only).
    pub insecure_registries: Vec<String>,
    pub docker_config: Option<&'a str>,
    pub basic_auth_file: Option<&'a str>,
    pub ca_file: Option<&'a str>,
}

fn manifest_text(out: &Path, files: &[FileEntry]) -> String {
    let mut text = String::new();
    for f in files {
        if [".yaml", ".yml", ".json"]
            .iter()
            .any(|e| f.path.ends_with(e))
        {
            if let Ok(t) = std::fs::read_to_string(out.join(&f.path)) {
                text.push_str(&t);
                text.push_str("\n---\n");
            }
        }
    }
    text
}

/// True when `carried` satisfies a reference to `wanted`.
fn carries(carried: &[ImageEntry], wanted: &ImageName) -> bool {
    carried.iter().any(|e| {
        let Ok(n) = e.image_name() else { return false };
        n.locator() == wanted.locator()
            && match (&wanted.digest, &wanted.tag) {
                (Some(d), _) => {
                    e.digest == *d
                        || d.strip_prefix("sha256:")
                            .is_some_and(|h| e.blob(h).is_some())
                }
                (None, t) => n.tag == *t,
            }
    })
}

/// Pulls the requested images into `out/blobs/sha256`; returns the map, sorted by name.
pub fn collect(o: &ImageOptions, out: &Path, files: &[FileEntry]) -> Result<Vec<ImageEntry>> {
    let referenced: BTreeSet<String> = scan::referenced_images(&manifest_text(out, files));
    let mut wanted: BTreeSet<ImageName> = BTreeSet::new();
    for i in &o.images {
        wanted.insert(ImageName::parse(i)?);
    }
    if o.from_manifests {
        for r in &referenced {
            wanted.insert(
                ImageName::parse(r).with_context(|| "in the bundle's manifests".to_string())?,
            );
        }
    }
    let blob_dir = out.join("blobs").join("sha256");
    let mut entries = Vec::new();
    for name in &wanted {
        let host = api_host(&name.registry).to_string();
        let reference = Reference {
            registry: host.clone(),
            repository: name.repository.clone(),
            tag: name.tag.clone(),
            digest: name.digest.clone(),
        };
        let push_opts = PushOptions {
            ca_file: o.ca_file,
            client_cert: None,
            client_key: None,
            basic_auth_file: o.basic_auth_file,
            docker_config: o.docker_config,
            plain_http: o.insecure_registries.contains(&name.registry)
                || o.insecure_registries.contains(&host),
            flux: false,
            token_realms: Vec::new(),
        };
        let mut conn = connection(&reference, &push_opts)?;
        if conn.credentials.is_none() && host != name.registry {
            // docker config.json names Docker Hub by its canonical host.
            conn = connection(
                &Reference {
                    registry: name.registry.clone(),
                    ..reference.clone()
                },
                &push_opts,
            )?;
        }
        if host != name.registry {
            // Docker Hub's token service has its own host; the publisher's Docker Hub
            // credentials may go there (the registry client sends them to no other origin).
            conn.token_realms.push(DOCKER_HUB_TOKEN_REALM.into());
        }
        let registry = Registry::new(reference, &conn)?;
        let entry = Puller {
            registry: &registry,
            name,
            platforms: &o.platforms,
            blob_dir: &blob_dir,
            limits: ImageLimits::default(),
        }
        .pull()?;
        eprintln!(
            "image {}: {} blobs, {} bytes{}",
            entry.name,
            entry.blobs.len(),
            entry.blobs.iter().map(|b| b.size).sum::<u64>(),
            if entry.platforms.is_empty() {
                String::new()
            } else {
                format!(" ({})", entry.platforms.join(", "))
            }
        );
        entries.push(entry);
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut missing = Vec::new();
    for r in &referenced {
        match ImageName::parse(r) {
            Ok(n) if carries(&entries, &n) => {}
            _ => missing.push(r.clone()),
        }
    }
    if !missing.is_empty() && (!entries.is_empty() || o.require) {
        let msg = format!(
            "the manifests reference {} image(s) the bundle does not carry: {}",
            missing.len(),
            missing.join(", ")
        );
        if o.require {
            bail!("{msg} (--require-images)");
        }
        eprintln!("ferry-bundle: warning: {msg}");
    }
    Ok(entries)
}
