//! Export of the applied images as an OCI archive for k3s's airgap images directory
//! (`/var/lib/rancher/k3s/agent/images/`), for first boot or k3s versions without mirrors.
//!
//! The archive is an OCI image layout in a tar: `oci-layout`, `index.json` naming each image by
//! its fully qualified name (`io.containerd.image.name`) and tag (`org.opencontainers.image.
//! ref.name`), and `blobs/sha256/<hex>` streamed from the cache. containerd imports such
//! directories with `--all-platforms`, which fails on an index whose other platforms are absent:
//! an image whose index lists platforms the bundle does not carry is therefore exported under a
//! reduced index of the carried manifests (a different top-level digest; the mirror keeps
//! serving the upstream one). Written under a hidden temporary name, then renamed.

use super::map::ImageMap;
use crate::store::blobs::BlobCache;
use ferry_bundle::images::{is_index_type, ImageEntry, OCI_INDEX};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AirgapError {
    #[error("airgap export {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("airgap export: image {name}: {reason}")]
    Image { name: String, reason: String },
}

/// The top-level descriptor for one image and any blob synthesized for it (a reduced index).
fn top_descriptor(
    img: &ImageEntry,
    cache: &BlobCache,
) -> Result<(Value, Option<Vec<u8>>), AirgapError> {
    let bad = |reason: String| AirgapError::Image {
        name: img.name.clone(),
        reason,
    };
    let top = img.top().ok_or_else(|| bad("no top-level blob".into()))?;
    let mut descriptor =
        json!({"mediaType": top.media_type, "digest": img.digest, "size": top.size});
    let mut extra = None;
    if is_index_type(&top.media_type) {
        let bytes = cache.read(&top.sha256).map_err(|e| bad(e.to_string()))?;
        let index: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let all = index["manifests"].as_array().cloned().unwrap_or_default();
        let carried: Vec<Value> = all
            .iter()
            .filter(|d| {
                d["digest"]
                    .as_str()
                    .and_then(|d| d.strip_prefix("sha256:"))
                    .is_some_and(|h| img.blob(h).is_some())
            })
            .cloned()
            .collect();
        if carried.len() != all.len() {
            let reduced = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": carried,
            }))
            .map_err(|e| bad(e.to_string()))?;
            descriptor = json!({
                "mediaType": OCI_INDEX,
                "digest": format!("sha256:{}", ferry_bundle::digest::sha256_hex(&reduced)),
                "size": reduced.len(),
            });
            extra = Some(reduced);
        }
    }
    let name = img.image_name().map_err(|e| bad(e.to_string()))?;
    let mut annotations = json!({"io.containerd.image.name": name.to_string()});
    if let Some(t) = &name.tag {
        annotations["org.opencontainers.image.ref.name"] = json!(t);
    }
    descriptor["annotations"] = annotations;
    Ok((descriptor, extra))
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    size: u64,
    data: impl std::io::Read,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    tar.append_data(&mut h, path, data)
}

/// Writes `dir/<file_name>` with every image of `map`; returns the number of images.
pub fn export(
    map: &ImageMap,
    cache: &BlobCache,
    dir: &Path,
    file_name: &str,
) -> Result<usize, AirgapError> {
    let final_path = dir.join(file_name);
    let tmp = dir.join(format!(".{file_name}.partial"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AirgapError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut manifests = Vec::new();
    let mut blobs: BTreeMap<String, u64> = BTreeMap::new();
    let mut extras: Vec<Vec<u8>> = Vec::new();
    for img in &map.images {
        let (descriptor, extra) = top_descriptor(&img.entry, cache)?;
        manifests.push(descriptor);
        extras.extend(extra);
        blobs.extend(img.entry.blobs.iter().map(|b| (b.sha256.clone(), b.size)));
    }
    let file = fs::File::create(&tmp).map_err(io(&tmp))?;
    let written = (|| -> std::io::Result<()> {
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        append(&mut tar, "oci-layout", layout.len() as u64, &layout[..])?;
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests}))
            .map_err(std::io::Error::other)?;
        append(&mut tar, "index.json", index.len() as u64, index.as_slice())?;
        for e in &extras {
            let hex = ferry_bundle::digest::sha256_hex(e);
            append(
                &mut tar,
                &format!("blobs/sha256/{hex}"),
                e.len() as u64,
                e.as_slice(),
            )?;
        }
        for (hex, size) in &blobs {
            let (f, _) = cache.open_blob(hex).map_err(std::io::Error::other)?;
            append(
                &mut tar,
                &format!("blobs/sha256/{hex}"),
                *size,
                std::io::Read::take(f, *size),
            )?;
        }
        let mut w = tar.into_inner()?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(AirgapError::Io {
            path: tmp,
            source: e,
        });
    }
    fs::rename(&tmp, &final_path).map_err(io(&final_path))?;
    Ok(map.images.len())
}
