//! Images travel with bundles, end to end with real components: Debian's `docker-registry` as
//! the upstream at build time (images made by the harness's OCI writer, a real busybox binary
//! in a layer), the real `ferry-agent` binary syncing from a USB drop directory and through a
//! relay (`ferry-agent serve`), ferry's mirror, and a real `containerd` pulling through
//! `certs.d/<registry>/hosts.toml` after the upstream registry was stopped (no route to it).

mod common;
mod images_support;

use common::*;

use ferry_tests::containerd::Containerd;
use images_support::*;

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
    let token = site.relay_token();
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
        &format!(
            "{{type: http, url: \"http://{relay_addr}/app/\", tokenFile: {}}}",
            token.display()
        ),
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
