//! A small OCI image writer for tests (no docker): gzip'd tar layers with mtime 0 (tar and
//! gzip header), an image config with the layers' diff ids, an image manifest per platform and
//! an index over them. Reproducible: the same files give the same digests. Pushing is the
//! caller's (ferry's registry client).

use sha2::{Digest, Sha256};
use std::io::Write;

pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One blob with its media type.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn hex(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }
    pub fn digest(&self) -> String {
        format!("sha256:{}", self.hex())
    }
    fn descriptor(&self) -> serde_json::Value {
        serde_json::json!({"mediaType": self.media_type, "digest": self.digest(), "size": self.bytes.len()})
    }
}

/// A layer and the sha256 of its uncompressed tar (the config's diff id).
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Blob,
    pub diff_id: String,
}

/// A gzip'd tar of `files` (path, content, mode), directories implied, mtime 0.
pub fn layer(files: &[(&str, &[u8], u32)]) -> Layer {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, path, *data).expect("tar entry");
    }
    let raw = tar.into_inner().expect("tar");
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("gzip");
    Layer {
        blob: Blob {
            media_type: LAYER,
            bytes: gz.finish().expect("gzip"),
        },
        diff_id: format!("sha256:{}", hex::encode(Sha256::digest(&raw))),
    }
}

/// One platform's image: manifest, config, layers.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub os: String,
    pub arch: String,
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Layer>,
}

impl PlatformImage {
    pub fn new(os: &str, arch: &str, layers: Vec<Layer>, cmd: &[&str]) -> Self {
        let config = serde_json::json!({
            "architecture": arch,
            "os": os,
            "config": {"Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        });
        let config = Blob {
            media_type: CONFIG,
            bytes: serde_json::to_vec(&config).expect("json"),
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.descriptor(),
            "layers": layers.iter().map(|l| l.blob.descriptor()).collect::<Vec<_>>(),
        });
        PlatformImage {
            os: os.into(),
            arch: arch.into(),
            manifest: Blob {
                media_type: MANIFEST,
                bytes: serde_json::to_vec(&manifest).expect("json"),
            },
            config,
            layers,
        }
    }

    /// Config and layers (what a manifest references).
    pub fn children(&self) -> Vec<&Blob> {
        std::iter::once(&self.config)
            .chain(self.layers.iter().map(|l| &l.blob))
            .collect()
    }
}

/// A multi-platform image: an index over platform images.
#[derive(Debug, Clone)]
pub struct MultiImage {
    pub index: Blob,
    pub platforms: Vec<PlatformImage>,
}

impl MultiImage {
    pub fn new(platforms: Vec<PlatformImage>) -> Self {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": platforms.iter().map(|p| {
                let mut d = p.manifest.descriptor();
                d["platform"] = serde_json::json!({"os": p.os, "architecture": p.arch});
                d
            }).collect::<Vec<_>>(),
        });
        MultiImage {
            index: Blob {
                media_type: INDEX,
                bytes: serde_json::to_vec(&index).expect("json"),
            },
            platforms,
        }
    }

    pub fn platform(&self, arch: &str) -> &PlatformImage {
        self.platforms
            .iter()
            .find(|p| p.arch == arch)
            .expect("platform in image")
    }
}
