//! Real ferry agents for the receiver's tests: one kube-sim per device, a signing key, a drop
//! directory of signed bundles, and the `ferry-agent` binary run with `sync --once` (each run
//! ends with a heartbeat; events go to the receiver's event endpoint).

use ferry_bundle::manifest::{FileEntry, Manifest, Timestamp};
use ferry_bundle::{digest, keys, sign, SigningKey};
use ferry_tests::kube_sim::{KubeSim, SimConfig, SimOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How a device authenticates to the receiver.
pub enum Auth {
    Certificate,
    Token,
}

pub struct Device {
    pub id: String,
    pub sim: KubeSim,
    pub dir: tempfile::TempDir,
    key: SigningKey,
}

/// Newest modification time under `dir`.
fn newest(dir: &Path) -> std::time::SystemTime {
    let mut t = std::time::UNIX_EPOCH;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let m = if p.is_dir() {
            newest(&p)
        } else {
            e.metadata().and_then(|m| m.modified()).unwrap_or(t)
        };
        t = t.max(m);
    }
    t
}

/// The `ferry-agent` binary of this workspace. `cargo test --workspace` builds it; a run of
/// this crate's tests alone builds it when it is missing or older than the agent's sources
/// (not every time: a build with other packages selected unifies features differently and
/// would rebuild shared dependencies back and forth).
pub fn agent_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let bin = target.join("ferry-agent");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources = newest(&root.join("agent/src")).max(newest(&root.join("bundle/src")));
    let fresh = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= sources);
    if !fresh {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-q", "-p", "ferry-agent", "--bin", "ferry-agent"])
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(
            st.success() && bin.exists(),
            "cannot build {}",
            bin.display()
        );
    }
    bin
}

impl Device {
    pub fn new(id: &str, receiver: &super::Receiver, auth: Auth, labels: &str) -> Device {
        let sim = KubeSim::start(SimOptions {
            port: 0,
            config: SimConfig {
                ready_delay: Duration::from_millis(20),
                ..SimConfig::default()
            },
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = keys::generate(&dir.path().join("publisher"), None, false).unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::rename(
            dir.path().join("publisher.pub"),
            dir.path().join("keys/publisher.pub"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("drop")).unwrap();
        let ca = receiver.path("ca.pem");
        let creds = match auth {
            Auth::Certificate => format!(
                "  clientCert: {}\n  clientKey: {}\n",
                receiver.path(&format!("devices/{id}.pem")).display(),
                receiver.path(&format!("devices/{id}-key.pem")).display()
            ),
            Auth::Token => format!(
                "  tokenFile: {}\n",
                receiver.path(&format!("devices/{id}.token")).display()
            ),
        };
        let config = format!(
            "device:\n  id: {id}\n  labels: {labels}\nstateDir: {state}\nkubeconfig: {kube}\nkeys: {keys}\n\
fleet:\n  url: {url}/api/heartbeat\n  interval: 1m\n  caFile: {ca}\n{creds}\
notifications:\n  - name: fleet-events\n    url: {url}/api/events\n    format: json\n    caFile: {ca}\n{ncreds}\
syncs:\n  - name: apps\n    source: {{type: directory, path: {drop}}}\n    interval: 1s\n    timeout: 2s\n",
            state = dir.path().join("state").display(),
            kube = sim.kubeconfig_path().display(),
            keys = dir.path().join("keys").display(),
            url = receiver.url,
            ca = ca.display(),
            ncreds = creds.replace("  ", "    "),
            drop = dir.path().join("drop").display(),
        );
        std::fs::write(dir.path().join("agent.yaml"), config).unwrap();
        Device {
            id: id.into(),
            sim,
            dir,
            key: SigningKey::load(&key, None).unwrap(),
        }
    }

    /// Signs a bundle `apps` revision `revision` running `image` into the drop directory.
    pub fn publish(&self, revision: u64, image: &str) {
        let out = self.dir.path().join(format!("drop/apps-{revision}"));
        std::fs::create_dir_all(&out).unwrap();
        let files = [
            ("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n".to_string()),
            ("web.yaml", format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n")),
        ];
        let mut entries = Vec::new();
        for (path, data) in &files {
            std::fs::write(out.join(path), data).unwrap();
            entries.push(FileEntry {
                path: path.to_string(),
                size: data.len() as u64,
                sha256: digest::sha256_hex(data.as_bytes()),
            });
        }
        let m = Manifest::new(
            "apps",
            revision,
            Timestamp::now(),
            Duration::from_secs(86400),
            entries,
        );
        let yaml = m.to_yaml();
        std::fs::write(out.join("bundle.yaml"), &yaml).unwrap();
        let sig = sign::sign(yaml.as_bytes(), &sign::trusted_comment(&m), &self.key).unwrap();
        std::fs::write(out.join("bundle.yaml.minisig"), sig).unwrap();
    }

    /// Makes this device a node of site `site` whose API server is `kubeconfig`'s (the nodes
    /// of a site share one cluster and elect one writer by its Lease).
    pub fn join_site(&self, site: &str, kubeconfig: &Path) {
        let path = self.dir.path().join("agent.yaml");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            &format!("kubeconfig: {}", self.sim.kubeconfig_path().display()),
            &format!("kubeconfig: {}", kubeconfig.display()),
        );
        std::fs::write(&path, format!("site:\n  name: {site}\n{text}")).unwrap();
    }

    /// `ferry-agent sync --once`: (exit code, output).
    pub fn sync(&self, bin: &Path) -> (i32, String) {
        let o = Command::new(bin)
            .arg("--config")
            .arg(self.dir.path().join("agent.yaml"))
            .args(["sync", "--once"])
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }
}
