//! Attacks on the image mirror, end to end with a real `containerd` pulling through ferry's
//! mirror (Debian's `docker-registry` as the upstream at build time, stopped before the pulls):
//! a flood of silent local connections does not keep containerd from its images, and a sync
//! cannot serve a tag the configuration gives to another sync (or k3s's own images).

mod common;
mod images_support;

use common::*;
use ferry_tests::containerd::Containerd;
use images_support::*;
use std::io::Read;
use std::net::TcpStream;

/// `ferry-agent images serve` for `env`, once it listens.
fn images_serve(env: &Env) -> Kill {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry-agent"))
        .arg("--config")
        .arg(&env.config)
        .args(["images", "serve"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Kill(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stderr), &mut line).unwrap();
    assert!(line.contains("image mirror on"), "{line}");
    server
}

/// Kills a child process when dropped (also when an assertion fails).
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn containerd_pulls_through_the_mirror_while_64_idle_local_connections_are_held() {
    let mut upstream = Upstream::start();
    let v1 = app_image("flood");
    upstream.push("demo/app", "1", &v1);
    let env = Env::new();
    let staging = env.dir.path().join("staging");
    let e1 = upstream.pull_into("demo/app", "1", &["linux/amd64"], &staging.join("app-1"));
    let name = upstream.name("demo/app", "1");
    publish(&env, &staging, 1, Some(&name), vec![e1]);
    let (registry_host, upstream_url) = (
        upstream.registry.host.clone(),
        format!("https://{}", upstream.registry.host),
    );
    upstream.registry.stop();
    copy_dir(&staging.join("app-1"), &env.drop_dir().join("app-1"));
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");

    let state = env.dir.path().join("state");
    let (mirror, stats) = start_mirror(&state);
    let ctrd = Containerd::start().expect("containerd");
    ctrd.mirror(&registry_host, &upstream_url, &mirror).unwrap();
    // A local process holds 64 silent connections (the mirror's whole connection cap).
    let addr = mirror.trim_start_matches("http://").to_string();
    let mut idle: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    for round in 0..3 {
        let pulled = ctrd.pull(&name, "linux/amd64");
        assert!(
            pulled.status.success(),
            "pull {round}: {}\n{}",
            out(&pulled),
            ctrd.log()
        );
        assert!(ctrd.images().contains(&name));
        let rm = ctrd.ctr(&["images", "rm", &name]);
        assert!(rm.status.success(), "{}", out(&rm));
    }
    let amd = v1.platform("amd64");
    assert_eq!(
        stats.gets_of(&amd.layers[1].blob.hex()),
        1,
        "pulled once, kept"
    );
    // The silent connections made room: the server closed some of them, answering nothing.
    let closed = idle
        .iter_mut()
        .filter(|c| {
            let mut c: &TcpStream = c;
            c.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 16];
            !matches!(c.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert!(closed > 0, "no idle connection was closed");
}

#[test]
fn a_tenant_image_named_like_another_syncs_is_refused_and_the_owner_keeps_serving() {
    let mut upstream = Upstream::start();
    let (v1, v2) = (app_image("infra"), app_image("tenant"));
    upstream.push("demo/app", "1", &v1);
    upstream.push("team-a/web", "1", &v2);
    // The puller asks for the tag of the recorded name.
    upstream.push("team-a/web", "1.12.0", &v2);
    let reg = upstream.registry.host.clone();
    let env = Env::new();
    let staging = env.dir.path().join("staging");
    let amd = ["linux/amd64"];
    // The infra sync carries <registry>/demo/app:1.
    let owned = upstream.name("demo/app", "1");
    let e1 = upstream.pull_into("demo/app", "1", &amd, &staging.join("app-1"));
    publish(&env, &staging, 1, Some(&owned), vec![e1]);
    // The tenant renames its own image to the infra's tag, then to k3s's CoreDNS.
    let coredns = "docker.io/rancher/mirrored-coredns-coredns:1.12.0";
    let tenant_files = [("cm.yaml", cm("t", "default", "1"))];
    env.publish_with(&staging, "tenant", 1, &tenant_files, |_| {});
    for (rev, name) in [(2u64, owned.as_str()), (3, coredns)] {
        let dir = staging.join(format!("tenant-{rev}"));
        let tag = name.rsplit(':').next().unwrap();
        let e = upstream.pull_named("team-a/web", tag, name, &amd, &dir);
        env.publish_with(&staging, "tenant", rev, &tenant_files, |m| {
            m.images = vec![e]
        });
    }
    upstream.registry.stop();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tenant_drop = env.dir.path().join("drop-tenant");
    std::fs::create_dir_all(&tenant_drop).unwrap();
    env.write_config_tail(
        &format!("images: {{listen: \"127.0.0.1:{port}\"}}"),
        &format!("timeout: 5s\nimages: {{prefixes: [\"{reg}/demo\"]}}"),
        &format!(
            "  - name: tenant\n    source: {{type: directory, path: {}}}\n    interval: 1s\n    timeout: 5s\n    images: {{prefixes: [\"{reg}/team-a\"]}}\n",
            tenant_drop.display()
        ),
    );
    copy_dir(&staging.join("app-1"), &env.drop_dir().join("app-1"));
    copy_dir(&staging.join("tenant-1"), &tenant_drop.join("tenant-1"));
    let (code, o) = env.sync();
    assert_eq!(code, 0, "{o}");

    // The mirror as `ferry-agent images serve` runs it, from the configuration.
    let server = images_serve(&env);
    let mirror = format!("http://127.0.0.1:{port}");
    let ctrd = Containerd::start().expect("containerd");
    ctrd.mirror(&reg, &format!("https://{reg}"), &mirror)
        .unwrap();
    let pull_owned = || {
        let pulled = ctrd.pull(&owned, "linux/amd64");
        assert!(pulled.status.success(), "{}\n{}", out(&pulled), ctrd.log());
        let rm = ctrd.ctr(&["images", "rm", &owned]);
        assert!(rm.status.success(), "{}", out(&rm));
    };
    pull_owned();

    // The tenant's bundle naming the infra's tag: refused at verification, with its name.
    copy_dir(&staging.join("tenant-2"), &tenant_drop.join("tenant-2"));
    let (_, o) = env.sync();
    let clash =
        format!("image {owned} belongs to sync app (its images.prefixes has {reg}/demo); refused");
    assert!(o.contains(&clash), "{o}");
    // Routed as a refusal: a `refused` event naming the candidate (a directory source skips
    // refused candidates; the tenant's revision 1 stays applied).
    let events = out(&env.agent(&["events"]));
    assert!(
        events.contains("refused") && events.contains(&clash),
        "{events}"
    );
    // Nothing of it was stored: the tenant's layer is not in the cache.
    let state = env.dir.path().join("state");
    let tenant_layer = &v2.platform("amd64").layers[1].blob;
    assert!(!cached(&state, tenant_layer));

    // The same for k3s's CoreDNS image, which no sync was given.
    copy_dir(&staging.join("tenant-3"), &tenant_drop.join("tenant-3"));
    let (_, o) = env.sync();
    assert!(
        o.contains(&format!(
            "image {coredns} is outside this sync's images.prefixes ({reg}/team-a); refused"
        )),
        "{o}"
    );
    assert!(!cached(&state, tenant_layer));

    // The owner's image is still what the mirror serves for that tag.
    pull_owned();
    let content = ctrd.content();
    assert!(content.contains(&v1.platform("amd64").manifest.digest()));
    assert!(!content.contains(&v2.platform("amd64").manifest.digest()));
    let head = ureq::head(&format!("{mirror}/v2/demo/app/manifests/1?ns={reg}"))
        .call()
        .unwrap();
    assert_eq!(
        head.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok()),
        Some(v1.index.digest().as_str())
    );
    let coredns_probe = ureq::head(&format!(
        "{mirror}/v2/rancher/mirrored-coredns-coredns/manifests/1.12.0?ns=docker.io"
    ))
    .config()
    .http_status_as_error(false)
    .build()
    .call()
    .unwrap();
    assert_eq!(coredns_probe.status().as_u16(), 404);

    // The map follows the configuration, not what was applied before it changed: once the
    // infra sync no longer owns <registry>/demo, its applied image is not served for that tag.
    drop(server);
    env.write_config_tail(
        &format!("images: {{listen: \"127.0.0.1:{port}\"}}"),
        &format!("timeout: 5s\nimages: {{prefixes: [\"{reg}/platform\"]}}"),
        &format!(
            "  - name: tenant\n    source: {{type: directory, path: {}}}\n    interval: 1s\n    timeout: 5s\n    images: {{prefixes: [\"{reg}/team-a\"]}}\n",
            tenant_drop.display()
        ),
    );
    let _server = images_serve(&env);
    let gone = ureq::head(&format!("{mirror}/v2/demo/app/manifests/1?ns={reg}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
}
