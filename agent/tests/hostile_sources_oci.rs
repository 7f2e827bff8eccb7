//! Issue 20, the OCI and HTTP sources attacked by hostile servers written for the purpose, end
//! to end: the real `ferry-agent sync --once` under `RLIMIT_DATA` = the unit's `MemoryMax=128M`,
//! revision 1 applied first from the same source. Memory bombs in a tag list and in a manifest
//! under its true digest, a slow-trickle answer against the configured `timeout`, a token realm
//! on `http://` named by a TLS registry, and an HTTPS source redirected to `http://`.

mod common;
mod source_attacks;

use common::*;
use ferry_bundle::manifest::Manifest;
use ferry_bundle::oci;
use source_attacks::{Body, Device, HostileHttp, Reply, Seen};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A ferry artifact of revision `revision`: the image manifest, its digest, and the blobs.
struct Artifact {
    doc: Vec<u8>,
    digest: String,
    blobs: BTreeMap<String, Vec<u8>>,
}

fn artifact(env: &Env, revision: u64) -> Artifact {
    let dir = env.stage(revision, &source_attacks::files(revision));
    let bytes = std::fs::read(dir.join("bundle.yaml")).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    let sig = std::fs::read_to_string(dir.join("bundle.yaml.minisig")).unwrap();
    let layers = oci::ferry_layers(&m, &bytes, &sig);
    let mut blobs = BTreeMap::new();
    blobs.insert(layers[0].digest.clone(), bytes.clone());
    blobs.insert(layers[1].digest.clone(), sig.into_bytes());
    for f in &m.files {
        blobs.insert(
            format!("sha256:{}", f.sha256),
            std::fs::read(dir.join(&f.path)).unwrap(),
        );
    }
    let doc = oci::image_manifest(
        Some(oci::FERRY_ARTIFACT_TYPE),
        oci::EMPTY_CONFIG_MEDIA_TYPE,
        oci::EMPTY_CONFIG,
        &layers,
        &BTreeMap::new(),
    );
    let digest = format!("sha256:{}", ferry_bundle::digest::sha256_hex(&doc));
    Artifact { doc, digest, blobs }
}

/// What the hostile registry answers; changed between syncs.
#[derive(Clone)]
struct Registry {
    /// Tag `1.0.0` (and `stable`) and its digest point at this manifest.
    manifest: Arc<Vec<u8>>,
    digest: String,
    /// Serve the manifest one byte at a time.
    trickle: bool,
    tags: Arc<Vec<u8>>,
    blobs: Arc<BTreeMap<String, Vec<u8>>>,
    /// A 401 challenge for every request without `Authorization`.
    challenge: Option<String>,
}

impl Registry {
    fn of(a: &Artifact) -> Self {
        Registry {
            manifest: Arc::new(a.doc.clone()),
            digest: a.digest.clone(),
            trickle: false,
            tags: Arc::new(br#"{"name":"app","tags":["1.0.0"]}"#.to_vec()),
            blobs: Arc::new(a.blobs.clone()),
            challenge: None,
        }
    }

    fn answer(&self, req: &Seen) -> Reply {
        if let (Some(c), None) = (&self.challenge, req.header("Authorization")) {
            return Reply::new(401, "application/json", b"{}".to_vec())
                .header("WWW-Authenticate", c);
        }
        let path = req.path();
        if let Some(r) = path.strip_prefix("/v2/app/manifests/") {
            if r != "1.0.0" && r != "stable" && r != self.digest {
                return Reply::new(404, "application/json", b"{}".to_vec());
            }
            let mut reply = Reply::new(200, oci::OCI_MANIFEST_MEDIA_TYPE, Vec::new())
                .header("Docker-Content-Digest", &self.digest);
            reply.body = if self.trickle && req.method == "GET" {
                Body::Trickle(self.manifest.to_vec())
            } else {
                Body::Bytes(self.manifest.to_vec())
            };
            return reply;
        }
        if let Some(d) = path.strip_prefix("/v2/app/blobs/") {
            if let Some(b) = self.blobs.get(d) {
                return Reply::new(200, "application/octet-stream", b.clone());
            }
        }
        if path == "/v2/app/tags/list" {
            return Reply::new(200, "application/json", self.tags.to_vec());
        }
        Reply::new(404, "application/json", b"{}".to_vec())
    }
}

/// A hostile registry over TLS serving revision 1, and a device that applied it.
fn registry_device(selector: &str, extra: &str) -> (HostileHttp, Arc<Mutex<Registry>>, Device) {
    let server = HostileHttp::start(true);
    let device = Device::new("{type: directory, path: /nonexistent}");
    let state = Arc::new(Mutex::new(Registry::of(&artifact(&device.env, 1))));
    let s = state.clone();
    server.set(move |req| s.lock().unwrap().answer(req));
    device.env.write_config_source(
        "",
        &format!(
            "{{type: oci, url: \"oci://127.0.0.1:{}/app\", {selector}, caFile: {}{extra}}}",
            server.port,
            server.ca_file().display()
        ),
        "timeout: 5s",
        "",
    );
    device.applied(1);
    (server, state, device)
}

/// `{"<key>":[{"a":0},{"a":0},...]}` of about `bytes` bytes.
fn object_array(key: &str, bytes: usize) -> Vec<u8> {
    let mut out = format!("{{\"{key}\":[").into_bytes();
    while out.len() < bytes - 16 {
        out.extend_from_slice(br#"{"a":0},"#);
    }
    out.extend_from_slice(br#"{"a":0}]}"#);
    out
}

#[test]
fn a_4_mib_tag_list_of_objects_is_refused_within_the_memory_limit() {
    let (_server, state, device) = registry_device("semver: \">=1.0.0\"", "");
    state.lock().unwrap().tags = Arc::new(object_array("tags", 4 << 20));
    device.attack("4 MiB tag list of objects", "tags/list", 120);
    // Under the byte bound, parsed typed (no JSON tree): the first object is refused.
    state.lock().unwrap().tags = Arc::new(object_array("tags", (2 << 20) - 64));
    device.attack("2 MiB tag list of objects", "expected a string", 120);
}

#[test]
fn a_4_mib_manifest_of_layers_under_its_true_digest_is_refused_within_the_memory_limit() {
    let (_server, state, device) = registry_device("tag: stable", "");
    let doc = object_array("layers", 4 << 20);
    {
        let mut s = state.lock().unwrap();
        s.digest = format!("sha256:{}", ferry_bundle::digest::sha256_hex(&doc));
        s.manifest = Arc::new(doc);
    }
    device.attack("4 MiB manifest of layers", "layers", 120);
}

#[test]
fn a_slow_trickle_manifest_is_cut_at_the_configured_timeout() {
    let (_server, state, device) = registry_device("tag: stable", ", timeout: 2s");
    let next = artifact(&device.env, 2);
    {
        let mut s = state.lock().unwrap();
        *s = Registry::of(&next);
        s.trickle = true;
    }
    // Without the deadline the 1,000-byte manifest takes minutes (the outer kill at 60 s).
    device.attack("1 byte per 200 ms", "timed out", 60);
}

#[test]
fn a_token_realm_on_plain_http_never_gets_the_registry_credentials() {
    let plain = HostileHttp::start(false);
    plain.set(|_| Reply::new(200, "application/json", br#"{"token":"t"}"#.to_vec()));
    let (_server, state, device) = registry_device("tag: stable", "");
    let creds = device.env.dir.path().join("basic");
    std::fs::write(&creds, "edge:secret-password\n").unwrap();
    let config = std::fs::read_to_string(&device.env.config).unwrap();
    std::fs::write(
        &device.env.config,
        config.replace(
            ", caFile:",
            &format!(", basicAuthFile: {}, caFile:", creds.display()),
        ),
    )
    .unwrap();
    let next = artifact(&device.env, 2);
    {
        let mut s = state.lock().unwrap();
        *s = Registry::of(&next);
        s.challenge = Some(format!(
            "Bearer realm=\"{}/token\",service=\"registry\"",
            plain.base()
        ));
    }
    device.attack("token realm on http://", "realm", 120);
    assert!(
        plain.requests().is_empty(),
        "the plain-HTTP realm was asked: {:?}",
        plain.requests()
    );
}

#[test]
fn an_https_source_redirected_to_http_is_not_followed() {
    let device = Device::new("{type: directory, path: /nonexistent}");
    let (good, bad) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    Env::explode(&device.env.stage(1, &source_attacks::files(1)), good.path());
    Env::explode(&device.env.stage(2, &source_attacks::files(2)), bad.path());
    let https = HostileHttp::start(true);
    let plain = HostileHttp::start(false);
    let serve = |root: std::path::PathBuf| {
        move |req: &Seen| match std::fs::read(root.join(req.path().trim_start_matches('/'))) {
            Ok(b) => Reply::new(200, "application/octet-stream", b),
            Err(_) => Reply::new(404, "text/plain", Vec::new()),
        }
    };
    https.set(serve(good.path().to_path_buf()));
    plain.set(serve(bad.path().to_path_buf()));
    device.env.write_config_source(
        "",
        &format!(
            "{{type: http, url: \"{}/\", caFile: {}}}",
            https.base(),
            https.ca_file().display()
        ),
        "timeout: 5s",
        "",
    );
    device.applied(1);
    let to = plain.base();
    https.set(move |req| {
        Reply::new(307, "text/plain", Vec::new()).header("Location", &format!("{to}{}", req.target))
    });
    device.attack("307 to http://", "http://", 120);
    assert!(
        plain.requests().is_empty(),
        "the redirect to http:// was followed: {:?}",
        plain.requests()
    );
}
