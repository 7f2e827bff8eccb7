//! `ferry-bundle build --image` against Debian's docker-registry with basic auth from a docker
//! `config.json`: only the target platform travels, the upstream index is kept byte for byte,
//! a manifest naming an image the bundle lacks is a warning (an error with --require-images),
//! `publish` carries the image blobs and `export` refuses a bundle with images.

use base64::Engine;
use ferry_bundle::oci::Reference;
use ferry_bundle::registry::{Connection, Registry};
use ferry_bundle::Manifest;
use ferry_tests::oci_image::{layer, MultiImage, PlatformImage};
use ferry_tests::registry::TestRegistry;
use std::process::Command;

fn ferry_bundle(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferry-bundle"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn build_pulls_the_target_platform_and_warns_about_missing_images() {
    let reg = TestRegistry::start(Some(("pub", "password"))).unwrap();
    let t = tempfile::tempdir().unwrap();
    let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let platforms = ["amd64", "arm64"]
        .iter()
        .map(|a| {
            let l = layer(&[("hello", format!("hi {a}\n").as_bytes(), 0o644)]);
            PlatformImage::new("linux", a, vec![l], &["/hello"])
        })
        .collect();
    let image = MultiImage::new(platforms);
    let conn = Connection {
        ca_pem: Some(std::fs::read(reg.ca_file()).unwrap()),
        credentials: Some("pub:password".into()),
        ..Connection::default()
    };
    let client = Registry::new(Reference::parse(&reg.url("demo/web")).unwrap(), &conn).unwrap();
    for pi in &image.platforms {
        for b in pi.children() {
            client.push_blob(&b.digest(), &b.bytes).unwrap();
        }
        client
            .put_manifest_typed(
                &pi.manifest.digest(),
                pi.manifest.media_type,
                &pi.manifest.bytes,
            )
            .unwrap();
    }
    client
        .put_manifest_typed("1", image.index.media_type, &image.index.bytes)
        .unwrap();

    let auth = base64::engine::general_purpose::STANDARD.encode("pub:password");
    std::fs::write(
        t.path().join("config.json"),
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
            reg.host
        ),
    )
    .unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let web = format!("{}/demo/web:1", reg.host);
    let missing = format!("{}/demo/missing:1", reg.host);
    std::fs::write(
        src.join("pods.yaml"),
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: a}}\nspec:\n  containers:\n  - {{name: a, image: \"{web}\"}}\n  - {{name: b, image: \"{missing}\"}}\n"),
    )
    .unwrap();
    assert!(ferry_bundle(&["keygen", "--out", &p(&t.path().join("k"))])
        .status
        .success());
    let out = t.path().join("b");
    let build = |extra: &[&str]| {
        let mut args = vec![
            "build".to_string(),
            p(&src),
            "--name".into(),
            "app".into(),
            "--revision".into(),
            "1".into(),
            "--out".into(),
            p(&out),
            "--force".into(),
            "--key".into(),
            p(&t.path().join("k.key")),
            "--image".into(),
            web.clone(),
            "--platform".into(),
            "linux/arm64".into(),
            "--docker-config".into(),
            p(&t.path().join("config.json")),
            "--ca-file".into(),
            p(&reg.ca_file()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ferry_bundle(&args)
    };
    let o = build(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("warning") && text(&o).contains(&missing),
        "{}",
        text(&o)
    );
    let m = Manifest::parse(&std::fs::read(out.join("bundle.yaml")).unwrap()).unwrap();
    assert_eq!(m.images.len(), 1);
    let img = &m.images[0];
    assert_eq!(img.name, web);
    assert_eq!(img.digest, image.index.digest(), "upstream index kept");
    assert_eq!(img.platforms, vec!["linux/arm64"]);
    let arm = image.platform("arm64");
    let amd = image.platform("amd64");
    let mut want: Vec<String> = [
        &image.index,
        &arm.manifest,
        &arm.config,
        &arm.layers[0].blob,
    ]
    .iter()
    .map(|b| b.hex())
    .collect();
    want.sort();
    let listed: Vec<String> = img.blobs.iter().map(|b| b.sha256.clone()).collect();
    assert_eq!(listed, want, "only the arm64 blobs travel");
    assert!(!out
        .join("blobs/sha256")
        .join(amd.layers[0].blob.hex())
        .exists());
    assert_eq!(m.files.len(), 1, "image blobs are not content files");

    let o = build(&["--require-images"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("--require-images") && text(&o).contains(&missing),
        "{}",
        text(&o)
    );

    let o = build(&[]);
    assert!(o.status.success());
    let web_root = t.path().join("www");
    let o = ferry_bundle(&["publish", &p(&out), "--out", &p(&web_root)]);
    assert!(o.status.success(), "{}", text(&o));
    for h in &want {
        assert!(
            web_root.join("blobs/sha256").join(h).is_file(),
            "{h} published"
        );
    }
    // The `.bundle` archive carries every image blob as a member `blobs/sha256/<hex>`.
    let archive_path = t.path().join("a.bundle");
    let o = ferry_bundle(&["export", &p(&out), "--out", &p(&archive_path)]);
    assert!(o.status.success(), "{}", text(&o));
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&archive_path).unwrap());
    let members: Vec<String> = tar::Archive::new(gz)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for h in &want {
        assert!(
            members.contains(&format!("blobs/sha256/{h}")),
            "{h} in the archive: {members:?}"
        );
    }

    // The OCI artifact (ferry layout) carries the image blobs as layers; flux's cannot.
    let target = format!("{}:1", reg.url("demo/bundle"));
    let push = |format: &str| {
        ferry_bundle(&[
            "push",
            &p(&out),
            &target,
            "--format",
            format,
            "--ca-file",
            &p(&reg.ca_file()),
            "--docker-config",
            &p(&t.path().join("config.json")),
        ])
    };
    let o = push("ferry");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("7 new blobs"), "{}", text(&o));
    let pushed = Registry::new(Reference::parse(&target).unwrap(), &conn).unwrap();
    let (doc, _) = pushed.manifest("1").unwrap();
    let doc = String::from_utf8(doc).unwrap();
    for h in &want {
        assert!(
            doc.contains(&format!("sha256:{h}")),
            "{h} is a layer: {doc}"
        );
    }
    let o = push("flux");
    assert!(!o.status.success());
    assert!(text(&o).contains("flux layout"), "{}", text(&o));

    // A tampered image blob in the bundle directory is caught before it is published.
    let victim = out.join("blobs/sha256").join(arm.layers[0].blob.hex());
    std::fs::write(&victim, b"tampered").unwrap();
    let o = ferry_bundle(&["publish", &p(&out), "--out", &p(&t.path().join("www2"))]);
    assert!(!o.status.success());
    assert!(text(&o).contains("image blob"), "{}", text(&o));
}
