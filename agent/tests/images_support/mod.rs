//! Shared parts of the image tests: the upstream registry with ferry's client, a harness-built
//! app image, signed bundles with an image map, the mirror on an agent's state, file helpers.

#![allow(dead_code)]

use crate::common::*;
use ferry_agent::images::map::StoreMap;
use ferry_agent::images::server::{serve, Mirror, MirrorStats};
use ferry_agent::store::blobs::BlobCache;
use ferry_agent::store::Store;
use ferry_bundle::images::pull::Puller;
use ferry_bundle::images::{ImageEntry, ImageLimits, ImageName, ImagePolicy};
use ferry_bundle::oci::Reference;
use ferry_bundle::registry::{Connection, Registry};
use ferry_tests::oci_image::{layer, Blob, MultiImage, PlatformImage};
use ferry_tests::registry::TestRegistry;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The upstream registry and a client for one repository.
pub struct Upstream {
    pub registry: TestRegistry,
    pub ca: Vec<u8>,
}

impl Upstream {
    pub fn start() -> Self {
        let registry = TestRegistry::start(None).expect("docker-registry");
        let ca = std::fs::read(registry.ca_file()).unwrap();
        Upstream { registry, ca }
    }

    pub fn client(&self, repo: &str, tag: Option<&str>) -> Registry {
        let reference = Reference {
            registry: self.registry.host.clone(),
            repository: repo.into(),
            tag: tag.map(str::to_string),
            digest: None,
        };
        let conn = Connection {
            ca_pem: Some(self.ca.clone()),
            ..Connection::default()
        };
        Registry::new(reference, &conn).unwrap()
    }

    /// Pushes every blob, each platform manifest by digest, then the index under `tag`.
    pub fn push(&self, repo: &str, tag: &str, image: &MultiImage) {
        let r = self.client(repo, None);
        for p in &image.platforms {
            for b in p.children() {
                if !r.blob_exists(&b.digest()).unwrap() {
                    r.push_blob(&b.digest(), &b.bytes).unwrap();
                }
            }
            r.put_manifest_typed(
                &p.manifest.digest(),
                p.manifest.media_type,
                &p.manifest.bytes,
            )
            .unwrap();
        }
        r.put_manifest_typed(tag, image.index.media_type, &image.index.bytes)
            .unwrap();
    }

    pub fn name(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.registry.host)
    }

    /// Pulls `repo:tag` for `platforms` into `bundle/blobs/sha256` (what `ferry-bundle build
    /// --image` does) and returns the image map entry.
    pub fn pull_into(
        &self,
        repo: &str,
        tag: &str,
        platforms: &[&str],
        bundle: &Path,
    ) -> ImageEntry {
        self.pull_named(repo, tag, &self.name(repo, tag), platforms, bundle)
    }

    /// Like [`Upstream::pull_into`], recording the image under `name` (e.g. a Docker Hub name
    /// whose content this registry holds, as a pull-through mirror would).
    pub fn pull_named(
        &self,
        repo: &str,
        tag: &str,
        name: &str,
        platforms: &[&str],
        bundle: &Path,
    ) -> ImageEntry {
        let name = ImageName::parse(name).unwrap();
        let platforms: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
        let client = self.client(repo, Some(tag));
        Puller {
            registry: &client,
            name: &name,
            platforms: &platforms,
            blob_dir: &bundle.join("blobs/sha256"),
            limits: ImageLimits::default(),
        }
        .pull()
        .unwrap()
    }
}

/// An app image: a base layer with a real static busybox, an app layer with `version`.
pub fn app_image(version: &str) -> MultiImage {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static installed");
    let base = layer(&[("bin/busybox", &busybox, 0o755)]);
    let platforms = ["amd64", "arm64"]
        .iter()
        .map(|arch| {
            let app = layer(&[(
                "app/version",
                format!("{version} {arch}\n").as_bytes(),
                0o644,
            )]);
            PlatformImage::new(
                "linux",
                arch,
                vec![base.clone(), app],
                &["/bin/busybox", "cat", "/app/version"],
            )
        })
        .collect();
    MultiImage::new(platforms)
}

/// Publishes a signed bundle with a Deployment of `image` and the given image map into
/// `drop/app-<rev>` (image blobs already pulled into that directory).
pub fn publish(
    env: &Env,
    drop: &Path,
    revision: u64,
    image: Option<&str>,
    images: Vec<ImageEntry>,
) -> PathBuf {
    let mut files = vec![("ns.yaml", namespace("demo"))];
    if let Some(i) = image {
        files.push(("web.yaml", deployment("web", "demo", i)));
    }
    env.publish_with(drop, "app", revision, &files, |m| m.images = images)
}

/// The mirror on the agent's state (the same code `ferry-agent run` starts on images.listen).
pub fn start_mirror(state: &Path) -> (String, Arc<MirrorStats>) {
    std::fs::create_dir_all(state).unwrap();
    let store = Arc::new(Store::open(&state.join("state.db")).unwrap());
    let map = StoreMap::new(store, vec![("app".into(), ImagePolicy::Any)]);
    let mirror = Mirror::new(
        BlobCache::open(&state.join("blobs")).unwrap(),
        Arc::new(move || map.current()),
    );
    let stats = mirror.stats.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || serve(listener, Arc::new(mirror)));
    (addr, stats)
}

pub fn cached(state: &Path, blob: &Blob) -> bool {
    state.join("blobs").join(blob.hex()).is_file()
}

pub fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::create_dir_all(to).unwrap();
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// (name, size) of every file in `dir`.
pub fn dir_files(dir: &Path) -> Vec<(String, u64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect()
}
