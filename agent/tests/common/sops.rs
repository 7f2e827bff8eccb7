//! SOPS helpers shared by the agent's end-to-end tests: an identity file, a bundle whose
//! Kustomize secretGenerator reads SOPS sources (rendered by the real kustomize, recorded by
//! ferry-bundle's publisher code), and a search of a directory tree for a plaintext marker.

use super::*;
use ferry_tests::sops_tools::sops_encrypt;
use std::os::unix::fs::PermissionsExt;

pub fn write_key(env: &Env, name: &str, text: &str) -> PathBuf {
    let p = env.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// Every file under `dir` (recursively) that contains `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                let data = std::fs::read(&p).unwrap();
                if data.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p);
                }
            }
        }
    }
    hits
}

/// A Kustomize secretGenerator with a SOPS env file and a binary SOPS file, rendered by the
/// real kustomize with the sources encrypted and recorded by ferry-bundle's publisher code.
pub fn generated_bundle(env: &Env, revision: u64, dotenv: &str, recipient: &str) -> String {
    let src = env.dir.path().join(format!("kust-{revision}"));
    std::fs::create_dir_all(&src).unwrap();
    let enc = sops_encrypt(&src, "app.env", dotenv, &[recipient], &[]);
    std::fs::write(src.join("app.env"), enc).unwrap();
    let bin = sops_encrypt(&src, "tls.key", b"\x00\xffkey-bytes", &[recipient], &[]);
    std::fs::write(src.join("tls.key"), bin).unwrap();
    std::fs::write(src.join("ns.yaml"), namespace("apps")).unwrap();
    std::fs::write(
        src.join("kustomization.yaml"),
        "namespace: apps\nresources: [ns.yaml]\nsecretGenerator:\n- name: creds\n  envs: [app.env]\n  files: [tls.key]\n",
    )
    .unwrap();
    let o = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = env.dir.path().join(format!("kust-out-{revision}"));
    let found = ferry_bundle::sops::publish::find(&src, &out, "rendered.yaml", &o.stdout).unwrap();
    assert_eq!(found.len(), 1);
    let name = found[0].entry.name.clone();
    let mut files = vec![("rendered.yaml".to_string(), o.stdout.clone())];
    for s in found[0].entry.sources() {
        files.push((s.to_string(), std::fs::read(out.join(s)).unwrap()));
    }
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    let entries: Vec<_> = found.into_iter().map(|f| f.entry).collect();
    env.publish_raw(&env.drop_dir(), "app", revision, &files, |m| {
        m.generated_secrets = entries
    });
    name
}
