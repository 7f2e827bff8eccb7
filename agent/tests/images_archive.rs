//! USB by archive: a `.bundle` (what `ferry-bundle export` writes, through the same
//! `ferry_bundle::archive::write`) carries the image blobs as listed members
//! `blobs/sha256/<hex>`. The real `ferry-agent` syncs it from a directory source, fetches and
//! verifies every image blob from the archive, and a real `containerd` pulls the image through
//! ferry's mirror with the upstream registry stopped. A tampered blob member is refused before
//! it reaches the cache.

mod common;
mod images_support;

use common::*;

use ferry_tests::containerd::Containerd;
use images_support::*;

#[test]
fn a_bundle_archive_carries_images_to_containerd_and_a_tampered_member_is_refused() {
    let mut upstream = Upstream::start();
    let (v1, v2) = (app_image("1"), app_image("2"));
    upstream.push("demo/app", "1", &v1);
    upstream.push("demo/app", "2", &v2);
    let env = Env::new();
    env.write_config_full("history: 2", "timeout: 5s");
    let staging = env.dir.path().join("staging");
    let e1 = upstream.pull_into("demo/app", "1", &["linux/arm64"], &staging.join("app-1"));
    let listed1: Vec<String> = e1.blobs.iter().map(|b| b.sha256.clone()).collect();
    publish(
        &env,
        &staging,
        1,
        Some(&upstream.name("demo/app", "1")),
        vec![e1],
    );
    let e2 = upstream.pull_into("demo/app", "2", &["linux/arm64"], &staging.join("app-2"));
    publish(
        &env,
        &staging,
        2,
        Some(&upstream.name("demo/app", "2")),
        vec![e2],
    );
    let upstream_url = format!("https://{}", upstream.registry.host);
    let registry_host = upstream.registry.host.clone();
    upstream.registry.stop();

    // Revision 1 as one `.bundle` file on the stick.
    std::fs::create_dir_all(env.drop_dir()).unwrap();
    let archive1 = env.drop_dir().join("app-1.bundle");
    Env::archive(&staging.join("app-1"), &archive1);
    let members = archive_members(&archive1);
    for hex in &listed1 {
        assert!(
            members.contains(&format!("blobs/sha256/{hex}")),
            "{hex} missing from {members:?}"
        );
    }
    let state = env.dir.path().join("state");
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");
    for hex in &listed1 {
        assert!(
            state.join("blobs").join(hex).is_file(),
            "image blob {hex} fetched and verified from the archive"
        );
    }
    let ctrd = Containerd::start().expect("containerd");
    let (mirror, stats) = start_mirror(&state);
    ctrd.mirror(&registry_host, &upstream_url, &mirror).unwrap();
    let pulled = ctrd.pull(&upstream.name("demo/app", "1"), "linux/arm64");
    assert!(pulled.status.success(), "{}\n{}", out(&pulled), ctrd.log());
    let a1 = v1.platform("arm64");
    assert!(ctrd.content().contains(&a1.layers[0].blob.digest()));
    assert_eq!(stats.gets_of(&a1.layers[0].blob.hex()), 1);

    // Revision 2's archive with its new app layer changed (same size): refused, not cached.
    let a2 = v2.platform("arm64");
    let victim = staging
        .join("app-2/blobs/sha256")
        .join(a2.layers[1].blob.hex());
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    Env::archive(&staging.join("app-2"), &env.drop_dir().join("app-2.bundle"));
    let (code, o) = env.sync();
    assert_ne!(code, 0, "{o}");
    assert!(
        o.contains(&a2.layers[1].blob.hex()) && o.contains("refused"),
        "{o}"
    );
    assert!(
        !cached(&state, &a2.layers[1].blob),
        "a tampered member never reaches the cache"
    );
    let pulled = ctrd.pull(&upstream.name("demo/app", "2"), "linux/arm64");
    assert!(!pulled.status.success(), "{}", out(&pulled));
}

/// Member names of a `.bundle` archive.
fn archive_members(path: &std::path::Path) -> Vec<String> {
    let f = std::fs::File::open(path).unwrap();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}
