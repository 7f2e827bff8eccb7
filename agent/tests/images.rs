//! Images travel with bundles, end to end with real components: Debian's `docker-registry` as
//! the upstream at build time (images made by the harness's OCI writer, a real busybox binary
//! in a layer), the real `ferry-agent` binary syncing from a USB drop directory and through a
//! relay (`ferry-agent serve`), ferry's mirror, and a real `containerd` pulling through
//! `certs.d/<registry>/hosts.toml` after the upstream registry was stopped (no route to it).

mod common;

use common::*;
use ferry_agent::images::map::StoreMap;
use ferry_agent::images::server::{serve, Mirror, MirrorStats};
use ferry_agent::store::blobs::BlobCache;
use ferry_agent::store::Store;
use ferry_bundle::images::pull::Puller;
use ferry_bundle::images::{ImageEntry, ImageLimits, ImageName};
use ferry_bundle::oci::Reference;
use ferry_bundle::registry::{Connection, Registry};
use ferry_tests::containerd::Containerd;
use ferry_tests::oci_image::{layer, Blob, MultiImage, PlatformImage};
use ferry_tests::registry::TestRegistry;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The upstream registry and a client for one repository.
struct Upstream {
    registry: TestRegistry,
    ca: Vec<u8>,
}

impl Upstream {
    fn start() -> Self {
        let registry = TestRegistry::start(None).expect("docker-registry");
        let ca = std::fs::read(registry.ca_file()).unwrap();
        Upstream { registry, ca }
    }

    fn client(&self, repo: &str, tag: Option<&str>) -> Registry {
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
    fn push(&self, repo: &str, tag: &str, image: &MultiImage) {
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

    fn name(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.registry.host)
    }

    /// Pulls `repo:tag` for `platforms` into `bundle/blobs/sha256` (what `ferry-bundle build
    /// --image` does) and returns the image map entry.
    fn pull_into(&self, repo: &str, tag: &str, platforms: &[&str], bundle: &Path) -> ImageEntry {
        self.pull_named(repo, tag, &self.name(repo, tag), platforms, bundle)
    }

    /// Like [`Upstream::pull_into`], recording the image under `name` (e.g. a Docker Hub name
    /// whose content this registry holds, as a pull-through mirror would).
    fn pull_named(
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
fn app_image(version: &str) -> MultiImage {
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
fn publish(
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
fn start_mirror(state: &Path) -> (String, Arc<MirrorStats>) {
    std::fs::create_dir_all(state).unwrap();
    let store = Arc::new(Store::open(&state.join("state.db")).unwrap());
    let map = StoreMap::new(store, vec!["app".into()]);
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

fn cached(state: &Path, blob: &Blob) -> bool {
    state.join("blobs").join(blob.hex()).is_file()
}

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn usb_drop_images_reach_containerd_one_layer_moves_tamper_refused_prune() {
    let mut upstream = Upstream::start();
    let (v1, v2, v3) = (app_image("1"), app_image("2"), app_image("3"));
    upstream.push("demo/app", "1", &v1);
    upstream.push("demo/app", "2", &v2);
    upstream.push("demo/app", "3", &v3);
    let env = Env::new();
    env.write_config_full("history: 1", "timeout: 5s");
    let staging = env.dir.path().join("staging");
    // Build every revision while the upstream is reachable: arm64 only.
    let b1 = staging.join("app-1");
    let e1 = upstream.pull_into("demo/app", "1", &["linux/arm64"], &b1);
    assert_eq!(e1.platforms, vec!["linux/arm64"]);
    assert_eq!(
        e1.digest,
        v1.index.digest(),
        "the upstream index travels byte for byte"
    );
    assert_eq!(
        e1.blobs.len(),
        5,
        "index, arm64 manifest, config, 2 layers: {e1:?}"
    );
    publish(
        &env,
        &staging,
        1,
        Some(&upstream.name("demo/app", "1")),
        vec![e1],
    );
    let b2 = staging.join("app-2");
    let e2 = upstream.pull_into("demo/app", "2", &["linux/arm64"], &b2);
    publish(
        &env,
        &staging,
        2,
        Some(&upstream.name("demo/app", "2")),
        vec![e2],
    );
    let b3 = staging.join("app-3");
    let e3 = upstream.pull_into("demo/app", "3", &["linux/arm64"], &b3);
    publish(
        &env,
        &staging,
        3,
        Some(&upstream.name("demo/app", "3")),
        vec![e3],
    );
    publish(&env, &staging, 4, None, vec![]);
    let upstream_url = format!("https://{}", upstream.registry.host);
    let registry_host = upstream.registry.host.clone();
    upstream.registry.stop();

    let state = env.dir.path().join("state");
    let ctrd = Containerd::start().expect("containerd");
    let (mirror, stats) = start_mirror(&state);
    ctrd.mirror(&registry_host, &upstream_url, &mirror).unwrap();
    let usb = |rev: u64| {
        let from = staging.join(format!("app-{rev}"));
        let to = env.drop_dir().join(format!("app-{rev}"));
        copy_dir(&from, &to);
        to
    };

    // Revision 1 through the USB drop: the arm64 image reaches containerd.
    usb(1);
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");
    let a1 = v1.platform("arm64");
    let pulled = ctrd.pull(&upstream.name("demo/app", "1"), "linux/arm64");
    assert!(pulled.status.success(), "{}\n{}", out(&pulled), ctrd.log());
    assert!(
        ctrd.images().contains(&upstream.name("demo/app", "1")),
        "{:?}",
        ctrd.images()
    );
    let content = ctrd.content();
    for b in [
        &v1.index,
        &a1.manifest,
        &a1.config,
        &a1.layers[0].blob,
        &a1.layers[1].blob,
    ] {
        assert!(
            content.contains(&b.digest()),
            "containerd lacks {}",
            b.digest()
        );
    }
    // The bundle is arm64 only: amd64 is 404 and containerd has none of it.
    let amd = ctrd.pull(&upstream.name("demo/app", "1"), "linux/amd64");
    assert!(!amd.status.success(), "{}", out(&amd));
    assert!(!ctrd
        .content()
        .contains(&v1.platform("amd64").manifest.digest()));
    assert_eq!(stats.gets_of(&v1.platform("amd64").manifest.hex()), 0);
    assert!(stats.not_found.load(std::sync::atomic::Ordering::Relaxed) > 0);

    // First boot without mirrors: the OCI archive for k3s's airgap directory imports the way
    // k3s imports it (`--all-platforms`), under the fully qualified name.
    let airgap = env.dir.path().join("airgap");
    let o = env.agent(&["images", "export-airgap", airgap.to_str().unwrap()]);
    assert!(o.status.success(), "{}", out(&o));
    let tar = airgap.join("ferry-images.tar");
    let imported = ctrd.ctr_in(
        "airgap",
        // The bundle is arm64-only and this host is not: import without unpacking here
        // (an arm64 node unpacks it).
        &[
            "images",
            "import",
            "--all-platforms",
            "--no-unpack",
            tar.to_str().unwrap(),
        ],
    );
    assert!(imported.status.success(), "{}", out(&imported));
    let listed = String::from_utf8_lossy(&ctrd.ctr_in("airgap", &["images", "ls", "-q"]).stdout)
        .into_owned();
    assert!(listed.contains(&upstream.name("demo/app", "1")), "{listed}");
    assert!(
        std::fs::read_dir(&airgap).unwrap().count() == 1,
        "no temporary file left"
    );

    // Revision 2 changes one layer: only it (and the small index/manifest/config) moves.
    let before = dir_files(&state.join("blobs"));
    usb(2);
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");
    let a2 = v2.platform("arm64");
    let moved: u64 = dir_files(&state.join("blobs"))
        .into_iter()
        .filter(|(name, _)| !before.iter().any(|(b, _)| b == name))
        .map(|(_, size)| size)
        .sum();
    let small = v2.index.bytes.len() + a2.manifest.bytes.len() + a2.config.bytes.len();
    // The Deployment naming the new tag is the one content file that changed.
    let web = deployment("web", "demo", &upstream.name("demo/app", "2")).len();
    assert_eq!(
        moved,
        (a2.layers[1].blob.bytes.len() + small + web) as u64,
        "bytes added to the cache"
    );
    eprintln!(
        "figure: revision 2 moved {moved} bytes of a {} byte image (base layer {} bytes not moved)",
        a2.layers.iter().map(|l| l.blob.bytes.len()).sum::<usize>() + small,
        a2.layers[0].blob.bytes.len()
    );
    let pulled = ctrd.pull(&upstream.name("demo/app", "2"), "linux/arm64");
    assert!(pulled.status.success(), "{}", out(&pulled));
    assert_eq!(
        stats.gets_of(&a2.layers[0].blob.hex()),
        1,
        "the shared base layer was requested once (revision 1)"
    );
    assert_eq!(
        stats.gets_of(&a2.layers[1].blob.hex()),
        1,
        "the new layer was requested"
    );

    // Revision 3 with a tampered layer on the stick: refused before containerd sees it.
    let d3 = usb(3);
    let a3 = v3.platform("arm64");
    let victim = d3.join("blobs/sha256").join(a3.layers[1].blob.hex());
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let (code, o) = env.sync();
    assert_ne!(code, 0, "{o}");
    assert!(
        o.contains(&a3.layers[1].blob.hex()) && o.contains("refused"),
        "{o}"
    );
    assert!(
        !cached(&state, &a3.layers[1].blob),
        "a tampered blob never reaches the cache"
    );
    let pulled = ctrd.pull(&upstream.name("demo/app", "3"), "linux/arm64");
    assert!(!pulled.status.success(), "{}", out(&pulled));
    assert_eq!(stats.gets_of(&a3.layers[1].blob.hex()), 0);
    assert!(!ctrd.content().contains(&a3.layers[1].blob.digest()));
    std::fs::remove_dir_all(&d3).unwrap();

    // Revision 4 carries no image; with history 1 the old images are pruned from the cache.
    usb(4);
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");
    for b in [
        &a1.layers[1].blob,
        &a2.layers[0].blob,
        &a2.layers[1].blob,
        &v2.index,
    ] {
        assert!(!cached(&state, b), "{} still cached", b.hex());
    }
    assert!(
        ctrd.images().contains(&upstream.name("demo/app", "2")),
        "containerd keeps what it pulled"
    );
    let pulled = ctrd.pull(&upstream.name("demo/app", "1"), "linux/arm64");
    assert!(!pulled.status.success(), "pruned: {}", out(&pulled));
    let probe = ureq::get(&format!(
        "{mirror}/v2/demo/app/manifests/2?ns={registry_host}"
    ))
    .config()
    .http_status_as_error(false)
    .build()
    .call()
    .unwrap();
    assert_eq!(
        probe.status().as_u16(),
        404,
        "a pruned image is no longer served"
    );
}

#[test]
fn relay_passes_images_to_a_neighbour_that_verifies_them() {
    let mut upstream = Upstream::start();
    // The k3s-examples app, unchanged: its Deployment runs docker.io/library/nginx:1.27-alpine.
    // The test registry holds a harness-built image under that repository (no Docker Hub here);
    // the bundle records it under the Docker Hub name, and containerd asks with ns=docker.io.
    let v1 = app_image("relay");
    upstream.push("library/nginx", "1.27-alpine", &v1);
    let name = "docker.io/library/nginx:1.27-alpine".to_string();
    let site = Env::new();
    let staging = site.dir.path().join("staging");
    let b1 = staging.join("app-1");
    let e1 = upstream.pull_named("library/nginx", "1.27-alpine", &name, &[], &b1);
    assert_eq!(e1.platforms, vec!["linux/amd64", "linux/arm64"]);
    let app = Env::example(APP);
    assert!(app
        .iter()
        .any(|(_, text)| text.contains("image: docker.io/library/nginx:1.27-alpine")));
    site.publish_with(&staging, "app", 1, &app, |m| m.images = vec![e1]);
    let upstream_url = "https://registry-1.docker.io".to_string();
    let registry_host = "docker.io".to_string();
    upstream.registry.stop();

    // The site's first node gets the bundle by USB and relays it.
    copy_dir(&b1, &site.drop_dir().join("app-1"));
    let (code, o) = site.sync();
    assert_eq!(code, 0, "{o}");
    let mut relay = std::process::Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&site.config)
        .args(["serve", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(relay.stderr.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let relay_addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("relay address in {line:?}"))
        .to_string();

    // A neighbour syncs from the relay and verifies every blob against its own signed copy.
    let neighbour = Env::new();
    // The neighbour trusts the same publisher and verifies everything itself.
    std::fs::copy(
        site.dir.path().join("keys/publisher.pub"),
        neighbour.dir.path().join("keys/publisher.pub"),
    )
    .unwrap();
    neighbour.write_config_source(
        "",
        &format!("{{type: http, url: \"http://{relay_addr}/app/\"}}"),
        "timeout: 5s",
        "",
    );
    let (code, o) = neighbour.sync();
    let _ = relay.kill();
    let _ = relay.wait();
    assert_eq!(code, 0, "{o}");
    let state = neighbour.dir.path().join("state");
    let amd = v1.platform("amd64");
    for b in [
        &v1.index,
        &amd.manifest,
        &amd.config,
        &amd.layers[0].blob,
        &amd.layers[1].blob,
    ] {
        assert!(cached(&state, b), "neighbour lacks {}", b.hex());
    }
    let ctrd = Containerd::start().expect("containerd");
    let (mirror, stats) = start_mirror(&state);
    ctrd.mirror(&registry_host, &upstream_url, &mirror).unwrap();
    let pulled = ctrd.pull(&name, "linux/amd64");
    assert!(pulled.status.success(), "{}\n{}", out(&pulled), ctrd.log());
    assert!(ctrd.images().contains(&name));
    assert_eq!(stats.gets_of(&amd.layers[0].blob.hex()), 1);
}

fn copy_dir(from: &Path, to: &Path) {
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
fn dir_files(dir: &Path) -> Vec<(String, u64)> {
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

/// Figures for docs/performance.md (not a pass/fail test; run with
/// `cargo test -p ferry-agent --test images figures -- --ignored --nocapture`): peak RSS of a
/// sync that fetches a 64 MiB layer, bytes moved by a one-layer revision, and the mirror's
/// throughput and RSS while serving the 64 MiB layer.
#[test]
#[ignore]
fn figures() {
    let mut upstream = Upstream::start();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let big: Vec<u8> = (0..64 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let base = layer(&[("data/blob", &big, 0o644)]);
    drop(big);
    let image = |v: &str| {
        let app = layer(&[("app/version", v.as_bytes(), 0o644)]);
        MultiImage::new(vec![PlatformImage::new(
            "linux",
            "amd64",
            vec![base.clone(), app],
            &["/bin/sh"],
        )])
    };
    let (v1, v2) = (image("1"), image("2"));
    upstream.push("bench/app", "1", &v1);
    upstream.push("bench/app", "2", &v2);
    let env = Env::new();
    let staging = env.dir.path().join("staging");
    for (rev, tag) in [(1u64, "1"), (2, "2")] {
        let dir = staging.join(format!("app-{rev}"));
        let e = upstream.pull_into("bench/app", tag, &[], &dir);
        publish(
            &env,
            &staging,
            rev,
            Some(&upstream.name("bench/app", tag)),
            vec![e],
        );
    }
    upstream.registry.stop();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.write_config_full(
        &format!("images: {{listen: \"127.0.0.1:{port}\"}}"),
        "timeout: 5s",
    );
    let timed_sync = || {
        let o = std::process::Command::new("/usr/bin/time")
            .args(["-f", "maxrss_kib=%M"])
            .arg(env!("CARGO_BIN_EXE_ferry-agent"))
            .arg("--config")
            .arg(&env.config)
            .args(["sync", "--once"])
            .output()
            .unwrap();
        let t = out(&o);
        assert!(o.status.success(), "{t}");
        t.lines()
            .find_map(|l| l.strip_prefix("maxrss_kib="))
            .unwrap()
            .to_string()
    };
    let state = env.dir.path().join("state");
    copy_dir(&staging.join("app-1"), &env.drop_dir().join("app-1"));
    let started = std::time::Instant::now();
    let rss1 = timed_sync();
    println!(
        "figure: sync fetching a {} byte image (64 MiB layer): peak RSS {rss1} KiB, {:?} (debug build)",
        base.blob.bytes.len(),
        started.elapsed()
    );
    let before = dir_files(&state.join("blobs"));
    copy_dir(&staging.join("app-2"), &env.drop_dir().join("app-2"));
    let rss2 = timed_sync();
    let added: Vec<(String, u64)> = dir_files(&state.join("blobs"))
        .into_iter()
        .filter(|(n, _)| !before.iter().any(|(b, _)| b == n))
        .collect();
    println!(
        "figure: revision 2 (one changed layer) added {} blobs, {} bytes to the cache (image {} bytes); peak RSS {rss2} KiB",
        added.len(),
        added.iter().map(|a| a.1).sum::<u64>(),
        base.blob.bytes.len() + v2.platforms[0].layers[1].blob.bytes.len()
    );
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .args(["images", "serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed even when an assertion below fails.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = server.stderr.take().unwrap();
    let server = Kill(server);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stderr), &mut line).unwrap();
    let url = format!(
        "http://127.0.0.1:{port}/v2/bench/app/blobs/{}?ns={}",
        base.blob.digest(),
        upstream.registry.host
    );
    // curl as the client (an unoptimized test client would measure itself).
    let curl = |url: &str, n: usize| {
        let mut c = std::process::Command::new("curl");
        c.args(["-s", "-f", "-w", "%{size_download}\n"]);
        for _ in 0..n {
            c.args(["-o", "/dev/null", url]);
        }
        let o = c.output().expect("curl");
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.trim().parse::<u64>().unwrap())
            .sum::<u64>()
    };
    let rounds = 20;
    let started = std::time::Instant::now();
    let bytes = curl(&url, rounds);
    let secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let o = std::process::Command::new("curl")
                    .args(["-s", "-f", "-w", "%{size_download}\n"])
                    .args((0..5).flat_map(|_| ["-o".to_string(), "/dev/null".into(), url.clone()]))
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(|l| l.trim().parse::<u64>().unwrap())
                    .sum::<u64>()
            })
        })
        .collect();
    let par: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let par_secs = started.elapsed().as_secs_f64();
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.0.id())).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_default()
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    println!(
        "figure: mirror served {rounds} x 64 MiB sequentially at {:.0} MiB/s; 4 clients x 5 at {:.0} MiB/s; RSS {} KiB, peak {} KiB (debug build)",
        bytes as f64 / secs / 1048576.0,
        par as f64 / par_secs / 1048576.0,
        field("VmRSS:"),
        field("VmHWM:")
    );
    drop(server);
}

#[test]
fn an_oci_artifact_carries_the_images_and_the_device_verifies_them() {
    let upstream = Upstream::start();
    let v1 = app_image("oci");
    upstream.push("demo/oci-app", "1", &v1);
    let env = Env::new();
    let staging = env.dir.path().join("staging");
    let b1 = staging.join("app-1");
    let e1 = upstream.pull_into("demo/oci-app", "1", &["linux/amd64"], &b1);
    let name = upstream.name("demo/oci-app", "1");
    publish(&env, &staging, 1, Some(&name), vec![e1]);
    // `ferry-bundle push` (ferry layout): image blobs stream up as layers of the artifact.
    let bytes = std::fs::read(b1.join("bundle.yaml")).unwrap();
    let m = ferry_bundle::Manifest::parse(&bytes).unwrap();
    let sig = std::fs::read_to_string(b1.join("bundle.yaml.minisig")).unwrap();
    let artifact = upstream.client("ferry/app", None);
    let (_, uploaded) = ferry_bundle::registry::push_bundle(
        &artifact,
        &b1,
        &m,
        &bytes,
        &sig,
        "1",
        ferry_bundle::registry::PushFormat::Ferry,
    )
    .unwrap();
    assert_eq!(
        uploaded,
        4 + 5,
        "manifest, signature, 2 files, 5 image blobs: {uploaded}"
    );
    env.write_config_source(
        "",
        &format!(
            "{{type: oci, url: \"{}\", tag: \"1\", caFile: {}}}",
            upstream.registry.url("ferry/app"),
            upstream.registry.ca_file().display()
        ),
        "timeout: 5s",
        "",
    );
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");
    let state = env.dir.path().join("state");
    let amd = v1.platform("amd64");
    for b in [
        &v1.index,
        &amd.manifest,
        &amd.config,
        &amd.layers[0].blob,
        &amd.layers[1].blob,
    ] {
        assert!(cached(&state, b), "device lacks {}", b.hex());
    }
    assert!(!cached(&state, &v1.platform("arm64").manifest));
}
