//! One refusal path (issue 20, item 2), end to end with the real binary: a bundle refused
//! after its manifest verified (a tampered image layer, a tampered host file) is recorded like
//! every other refusal: a `refused` event naming the source and the file, the sync's last
//! error in `status`, a drop candidate quarantined, `highestVerified` unchanged, the last good
//! revision still applied, and nothing read again until the source changes.

mod common;
mod drop_support;
mod images_support;

use common::*;
use drop_support::Device;
use ferry_tests::static_server::StaticServer;
use images_support::*;
use std::path::Path;

/// `status --output json` of sync `app`.
fn status(env: &Env) -> serde_json::Value {
    let o = env.agent(&["status", "--output", "json"]);
    assert!(o.status.success(), "{}", out(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    rows.as_array()
        .and_then(|r| r.iter().find(|s| s["sync"] == "app"))
        .cloned()
        .unwrap_or_else(|| panic!("no sync app in {rows}"))
}

/// The `refused` events of `state.db`: (message, how many times it was recorded).
fn refused_events(state: &Path) -> Vec<(String, i64)> {
    let c = rusqlite::Connection::open(state.join("state.db")).unwrap();
    let mut st = c
        .prepare("SELECT message, count FROM events WHERE kind = 'refused' ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Revision 2 with the `demo/app:2` image (arm64) whose app layer is tampered, in the drop.
/// Returns the tampered layer's hex digest.
fn tampered_image_revision(env: &Env) -> String {
    tampered_image_revision_numbered(env, 2)
}

/// Like [`tampered_image_revision`], as revision `rev`.
fn tampered_image_revision_numbered(env: &Env, rev: u64) -> String {
    let mut upstream = Upstream::start();
    let tag = rev.to_string();
    let image = app_image(&tag);
    upstream.push("demo/app", &tag, &image);
    let bundle = env.drop_dir().join(format!("app-{rev}"));
    let entry = upstream.pull_into("demo/app", &tag, &["linux/arm64"], &bundle);
    let name = upstream.name("demo/app", &tag);
    upstream.registry.stop();
    publish(env, &env.drop_dir(), rev, Some(&name), vec![entry]);
    let layer = image.platform("arm64").layers[1].blob.hex();
    let victim = bundle.join("blobs/sha256").join(&layer);
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    layer
}

/// A host section installing the bundle's `host/config.yaml` as k3s's config.
fn k3s_config_section() -> ferry_bundle::host::HostSection {
    ferry_bundle::host::HostSection {
        files: vec![ferry_bundle::host::HostFile {
            source: "host/config.yaml".into(),
            target: "/etc/rancher/k3s/config.yaml".into(),
            mode: 0o600,
            uid: 0,
            gid: 0,
            arch: ferry_bundle::host::Arch::Any,
            version: None,
            allow_downgrade: false,
            sops: false,
        }],
        units: vec![],
    }
}

fn assert_revision_1_kept(env: &Env, what: &str) {
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1",
        "{what}: the last good revision stays applied"
    );
    assert!(
        env.obj("apps", "Deployment", "demo", "web").is_none(),
        "{what}: nothing of the refused revision was applied"
    );
    let st = status(env);
    assert_eq!(st["revision"], 1, "{what}: {st}");
    assert_eq!(
        st["highestVerified"], 1,
        "{what}: a revision that failed verification is not the highest verified: {st}"
    );
}

#[test]
fn a_tampered_image_layer_in_a_drop_is_refused_recorded_quarantined_and_not_read_again() {
    let device = Device::new();
    let env = &device.env;
    let layer = tampered_image_revision(env);

    let (code, o) = device.sync();
    assert_eq!(code, 1, "{o}");
    assert!(o.contains(&layer), "the output names the blob: {o}");
    let refused = refused_events(&device.state());
    assert_eq!(refused.len(), 1, "one refused event: {refused:?}");
    let (message, count) = &refused[0];
    assert_eq!(*count, 1);
    assert!(
        message.contains(&layer) && message.contains("app-2"),
        "the event names the source and the blob: {message}"
    );
    let st = status(env);
    let last_error = st["lastError"].as_str().unwrap_or_default().to_string();
    assert!(
        last_error.contains(&layer),
        "status shows the refusal as the last error: {st}"
    );
    assert_revision_1_kept(env, "first poll");
    // The drop candidate went to the quarantine, with the reason naming the blob.
    let left: Vec<_> = std::fs::read_dir(env.drop_dir()).unwrap().collect();
    assert!(left.is_empty(), "not quarantined: {left:?}");
    let slots: Vec<_> = std::fs::read_dir(&device.quarantine)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(slots.len(), 1, "{slots:?}");
    let reason = std::fs::read_to_string(slots[0].join("reason")).unwrap();
    assert!(reason.contains(&layer), "{reason}");
    assert!(slots[0].join("app-2/bundle.yaml").is_file(), "{slots:?}");
    assert!(
        !device.state().join("blobs").join(&layer).exists(),
        "a tampered blob never reaches the cache"
    );

    // The next poll reads nothing: no new refusal, the error stays, revision 1 is enforced.
    let (code, o) = device.sync();
    assert_eq!(code, 0, "{o}");
    assert_eq!(refused_events(&device.state()), refused, "{o}");
    assert_eq!(status(env)["lastError"], last_error.as_str());
    assert_revision_1_kept(env, "second poll");
    assert_eq!(device.integrity(), "ok");
}

#[test]
fn after_a_refused_newest_candidate_the_next_newer_one_in_the_drop_is_applied() {
    let device = Device::new();
    let env = &device.env;
    env.publish(2, &[("a.yaml", cm("a", "default", "2"))]);
    let layer = tampered_image_revision_numbered(env, 3);
    let (code, o) = device.sync();
    assert_eq!(code, 1, "{o}");
    assert!(o.contains(&layer), "{o}");
    assert_eq!(status(env)["highestVerified"], 1);
    // Revision 3 went to the quarantine; revision 2 waited for the next look.
    let (code, o) = device.sync();
    assert_eq!(code, 0, "{o}");
    assert!(o.contains("revision 2 applied"), "{o}");
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "2"
    );
    let st = status(env);
    assert_eq!(st["highestVerified"], 2, "{st}");
    assert!(st["lastError"].is_null(), "{st}");
    assert_eq!(refused_events(&device.state()).len(), 1);
}

#[test]
fn a_tampered_image_layer_without_a_quarantine_is_not_read_again_until_the_drop_changes() {
    let env = Env::new();
    env.write_config("timeout: 5s");
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");
    std::fs::remove_dir_all(env.drop_dir().join("app-1")).unwrap();
    let layer = tampered_image_revision(&env);
    let state = env.dir.path().join("state");

    let (code, o) = env.sync();
    assert_eq!(code, 1, "{o}");
    let refused = refused_events(&state);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].0.contains(&layer), "{refused:?}");
    assert_revision_1_kept(&env, "first poll");

    // Were the drop read again, the missing layer would be a new refusal ("missing").
    let victim = env.drop_dir().join("app-2/blobs/sha256").join(&layer);
    std::fs::remove_file(&victim).unwrap();
    for poll in 2..4 {
        let (code, o) = env.sync();
        assert_eq!(code, 0, "poll {poll}: {o}");
        assert_eq!(refused_events(&state), refused, "poll {poll}: {o}");
        assert!(status(&env)["lastError"]
            .as_str()
            .is_some_and(|e| e.contains(&layer)));
        assert_revision_1_kept(&env, "later polls");
    }
}

#[test]
fn a_tampered_host_file_from_an_http_source_is_refused_before_it_counts_as_verified() {
    let env = Env::new();
    let root = env.dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let www = env.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let server = StaticServer::start(&www).unwrap();
    env.write_config_source(
        &format!(
            "host:\n  enabled: true\n  root: {}\n  allow: [/etc/rancher/k3s/]\n",
            root.display()
        ),
        &format!(
            "{{type: http, url: \"{}app/\", caFile: {}}}",
            server.url,
            server.ca_file().display()
        ),
        // A host-capable sync (its own gate): the tampered file is what is refused.
        "timeout: 5s\nhost: {enabled: true}",
        "",
    );
    Env::explode(
        &env.stage(1, &[("a.yaml", cm("a", "default", "1"))]),
        &www.join("app"),
    );
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");

    // Revision 2 installs a host file; the server hands out other bytes for it.
    let plain = env.dir.path().join("staging");
    let config = b"write-kubeconfig-mode: \"0600\"\n".to_vec();
    let a2 = cm("a", "default", "2");
    let files: Vec<(&str, &[u8])> = vec![("a.yaml", a2.as_bytes()), ("host/config.yaml", &config)];
    let host = k3s_config_section();
    let b2 = env.publish_raw(&plain, "app", 2, &files, |m| m.host = Some(host));
    Env::explode(&b2, &www.join("app"));
    let sha = ferry_bundle::digest::sha256_hex(&config);
    std::fs::write(
        www.join("app/blobs/sha256").join(&sha),
        b"write-kubeconfig-mode: \"0644\"\n",
    )
    .unwrap();

    let (code, o) = env.sync();
    assert_eq!(code, 1, "{o}");
    let state = env.dir.path().join("state");
    let refused = refused_events(&state);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].0.contains("host/config.yaml") && refused[0].0.contains(&server.url),
        "the event names the source and the file: {refused:?}"
    );
    let st = status(&env);
    assert!(
        st["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("host/config.yaml")),
        "{st}"
    );
    assert_eq!(st["highestVerified"], 1, "{st}");
    assert_eq!(st["revision"], 1, "{st}");
    assert!(
        !root.join("etc/rancher/k3s/config.yaml").exists(),
        "nothing of the refused revision reached the host"
    );
    assert_eq!(
        env.obj("", "ConfigMap", "default", "a").unwrap()["data"]["value"],
        "1"
    );
}

#[test]
fn a_refusal_that_depends_on_the_configuration_is_looked_at_again_once_it_changes() {
    let env = Env::new();
    let root = env.dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let top = format!(
        "host:\n  enabled: true\n  root: {}\n  allow: [/etc/rancher/k3s/]\n",
        root.display()
    );
    // The sync may not carry host sections yet.
    env.write_config_full(&top, "timeout: 5s");
    env.publish(1, &[("a.yaml", cm("a", "default", "1"))]);
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");
    let config = b"write-kubeconfig-mode: \"0600\"\n".to_vec();
    let a2 = cm("a", "default", "2");
    let files: Vec<(&str, &[u8])> = vec![("a.yaml", a2.as_bytes()), ("host/config.yaml", &config)];
    let host = k3s_config_section();
    env.publish_raw(&env.drop_dir(), "app", 2, &files, |m| m.host = Some(host));
    let (code, o) = env.sync();
    assert_eq!(code, 1, "{o}");
    let state = env.dir.path().join("state");
    let refused = refused_events(&state);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].0.contains("app-2") && refused[0].0.contains("host"),
        "{refused:?}"
    );
    assert_revision_1_kept(&env, "refused by the host gate");
    // The operator makes the sync host-capable: the unchanged drop is looked at again.
    env.write_config_full(&top, "timeout: 5s\nhost: {enabled: true}");
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");
    assert!(o.contains("revision 2 applied"), "{o}");
    assert_eq!(
        std::fs::read(root.join("etc/rancher/k3s/config.yaml")).unwrap(),
        config
    );
    assert_eq!(status(&env)["highestVerified"], 2);
}
