//! Test harness: a kube-sim, a signing key, a drop directory and an agent config, and a way to
//! run the real `ferry-agent` binary against them.

#![allow(dead_code)]

pub mod sops;

use ferry_bundle::manifest::{FileEntry, Manifest, Timestamp};
use ferry_bundle::{digest, keys, sign, SigningKey};
use ferry_tests::kube_sim::{KubeSim, SimConfig, SimOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub struct Env {
    pub sim: KubeSim,
    pub dir: tempfile::TempDir,
    pub key: SigningKey,
    pub config: PathBuf,
    pub kubectl_cache: tempfile::TempDir,
}

pub const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../k3s-examples/app");

impl Env {
    pub fn new() -> Self {
        Self::with_sim(SimConfig {
            ready_delay: Duration::from_millis(50),
            crd_delay: Duration::from_millis(200),
            ..SimConfig::default()
        })
    }

    pub fn with_sim(config: SimConfig) -> Self {
        let sim = KubeSim::start(SimOptions { port: 0, config }).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = keys::generate(&dir.path().join("publisher"), None, false).unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::rename(
            dir.path().join("publisher.pub"),
            dir.path().join("keys/publisher.pub"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("drop")).unwrap();
        let config = dir.path().join("agent.yaml");
        let env = Env {
            sim,
            key: SigningKey::load(&key, None).unwrap(),
            config,
            dir,
            kubectl_cache: tempfile::tempdir().unwrap(),
        };
        env.write_config("timeout: 5s");
        env
    }

    /// Writes the agent config with `extra` lines added to the sync.
    pub fn write_config(&self, extra: &str) {
        self.write_config_full("", extra);
    }

    /// Writes the agent config with `top` lines at the top level and `extra` lines in the sync.
    pub fn write_config_full(&self, top: &str, extra: &str) {
        self.write_config_tail(top, extra, "");
    }

    /// Like [`Env::write_config_full`], with `tail` appended as is (more syncs).
    pub fn write_config_tail(&self, top: &str, extra: &str, tail: &str) {
        let source = format!("{{type: directory, path: {}}}", self.drop_dir().display());
        self.write_config_source(top, &source, extra, tail);
    }

    /// The agent config with the given source (a YAML flow mapping) for sync `app`.
    pub fn write_config_source(&self, top: &str, source: &str, extra: &str, tail: &str) {
        let extra: String = extra.lines().map(|l| format!("    {l}\n")).collect();
        let text = format!(
            "device:\n  id: edge-1\n  labels: {{site: lab}}\n  vars: {{SITE: lab}}\nstateDir: {}\nkubeconfig: {}\nkeys: {}\n{top}\nsyncs:\n  - name: app\n    source: {source}\n    interval: 1s\n{extra}{tail}",
            self.dir.path().join("state").display(),
            self.sim.kubeconfig_path().display(),
            self.dir.path().join("keys").display(),
        );
        std::fs::write(&self.config, text).unwrap();
    }

    /// Publishes a signed bundle into `staging/app-<rev>` (not the drop directory).
    pub fn stage(&self, revision: u64, files: &[(&str, String)]) -> PathBuf {
        let staging = self.dir.path().join("staging");
        std::fs::create_dir_all(&staging).unwrap();
        self.publish_with(&staging, "app", revision, files, |_| {})
    }

    /// Writes the exploded layout of a plain bundle directory into `webroot`.
    pub fn explode(plain: &Path, webroot: &Path) {
        let bytes = std::fs::read(plain.join("bundle.yaml")).unwrap();
        let m = Manifest::parse(&bytes).unwrap();
        let sig = std::fs::read_to_string(plain.join("bundle.yaml.minisig")).unwrap();
        ferry_bundle::layout::write_exploded(plain, &m, &bytes, &sig, webroot).unwrap();
    }

    /// Writes a `.bundle` archive of a plain bundle directory as it is on disk now (tampered
    /// files included).
    pub fn archive(plain: &Path, out: &Path) {
        let bytes = std::fs::read(plain.join("bundle.yaml")).unwrap();
        let m = Manifest::parse(&bytes).unwrap();
        let sig = std::fs::read_to_string(plain.join("bundle.yaml.minisig")).unwrap();
        let tmp = out.with_extension("tmp");
        ferry_bundle::archive::write(
            plain,
            &m,
            &bytes,
            &sig,
            std::fs::File::create(&tmp).unwrap(),
        )
        .unwrap();
        std::fs::rename(tmp, out).unwrap();
    }

    /// Writes a relay site token file (mode 0600) and the default config with a `serve`
    /// section naming it; returns the file (neighbours name a copy as their `tokenFile`).
    pub fn relay_token(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let f = self.dir.path().join("relay-token");
        std::fs::write(&f, "ferry-test-site-token-0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.write_config_full(
            &format!(
                "serve: {{listen: \"127.0.0.1:0\", tokenFile: {}}}",
                f.display()
            ),
            "timeout: 5s",
        );
        f
    }

    pub fn drop_dir(&self) -> PathBuf {
        self.dir.path().join("drop")
    }

    /// Signs a bundle named `app` with `files` into `drop/app-<revision>/`.
    pub fn publish(&self, revision: u64, files: &[(&str, String)]) -> PathBuf {
        self.publish_named("app", revision, files)
    }

    pub fn publish_named(&self, name: &str, revision: u64, files: &[(&str, String)]) -> PathBuf {
        self.publish_with(&self.drop_dir(), name, revision, files, |_| {})
    }

    /// Signs a bundle named `app` whose files are raw bytes (not necessarily UTF-8).
    pub fn publish_bytes(&self, revision: u64, files: &[(&str, Vec<u8>)]) -> PathBuf {
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (*p, d.as_slice())).collect();
        self.publish_raw(&self.drop_dir(), "app", revision, &files, |_| {})
    }

    /// Signs a bundle into `drop/<name>-<revision>/`, letting `edit` change the manifest first.
    pub fn publish_with(
        &self,
        drop: &Path,
        name: &str,
        revision: u64,
        files: &[(&str, String)],
        edit: impl FnOnce(&mut Manifest),
    ) -> PathBuf {
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
        self.publish_raw(drop, name, revision, &files, edit)
    }

    pub fn publish_raw(
        &self,
        drop: &Path,
        name: &str,
        revision: u64,
        files: &[(&str, &[u8])],
        edit: impl FnOnce(&mut Manifest),
    ) -> PathBuf {
        let out = drop.join(format!("{name}-{revision}"));
        std::fs::create_dir_all(&out).unwrap();
        let mut entries = Vec::new();
        for (path, data) in files {
            let p = out.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, data).unwrap();
            entries.push(FileEntry {
                path: path.to_string(),
                size: data.len() as u64,
                sha256: digest::sha256_hex(data),
            });
        }
        let mut m = Manifest::new(
            name,
            revision,
            Timestamp::now(),
            Duration::from_secs(86400),
            entries,
        );
        edit(&mut m);
        let yaml = m.to_yaml();
        std::fs::write(out.join("bundle.yaml"), &yaml).unwrap();
        let sig = sign::sign(yaml.as_bytes(), &sign::trusted_comment(&m), &self.key).unwrap();
        std::fs::write(out.join("bundle.yaml.minisig"), sig).unwrap();
        out
    }

    /// The files of a directory of the examples.
    pub fn example(dir: &str) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let content = std::fs::read_to_string(Path::new(dir).join(&n)).unwrap();
            out.push((Box::leak(n.into_boxed_str()) as &'static str, content));
        }
        out
    }

    pub fn agent(&self, args: &[&str]) -> Output {
        self.agent_env(args, &[])
    }

    pub fn agent_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry-agent"));
        c.arg("--config").arg(&self.config).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// Runs `sync --once` and returns (exit code, stdout + stderr).
    pub fn sync(&self) -> (i32, String) {
        let o = self.agent(&["sync", "--once"]);
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.sim.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.kubectl_cache.path())
            .args(args)
            .output()
            .expect("kubectl must be installed")
    }

    pub fn obj(&self, group: &str, kind: &str, ns: &str, name: &str) -> Option<serde_json::Value> {
        self.sim.object(group, kind, ns, name)
    }
}

pub fn cm(name: &str, ns: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"{name}\"\n  namespace: {ns}\ndata:\n  value: \"{value}\"\n")
}

pub fn deployment(name: &str, ns: &str, image: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n")
}

pub fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

fn service(name: &str, ns: &str, ty: &str) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  type: {ty}\n  selector: {{app: web-0}}\n  ports:\n  - port: 80\n")
}

/// For the tests of health requests: a Namespace, 20 ConfigMaps, 2 ServiceAccounts, a Role
/// and RoleBinding, a ClusterIP and a LoadBalancer Service and 2 Deployments (29 objects);
/// `value` goes in the first ConfigMap.
pub fn health_mix(ns: &str, value: &str) -> Vec<(&'static str, String)> {
    let mut objects = vec![namespace(ns)];
    objects.extend((0..20).map(|i| cm(&format!("c{i}"), ns, if i == 0 { value } else { "v" })));
    for i in 0..2 {
        objects.push(format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-{i}\n  namespace: {ns}\n"
        ));
        objects.push(deployment(
            &format!("web-{i}"),
            ns,
            "registry.k8s.io/pause:3.10",
        ));
    }
    objects.push(format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader\n  namespace: {ns}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n"));
    objects.push(format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: reader\n  namespace: {ns}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}\nsubjects:\n- {{kind: ServiceAccount, name: sa-0, namespace: {ns}}}\n"));
    objects.push(service("plain", ns, "ClusterIP"));
    objects.push(service("public", ns, "LoadBalancer"));
    vec![("all.yaml", objects.join("---\n"))]
}

/// The resource (plural) of a path naming one object, e.g. `configmaps` for
/// `/api/v1/namespaces/speed/configmaps/c0`; None for collections and discovery.
pub fn object_plural(path: &str) -> Option<String> {
    let s: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_matches('/')
        .split('/')
        .collect();
    let depth = if s.first() == Some(&"api") { 2 } else { 3 };
    let rest = &s[depth.min(s.len())..];
    match rest {
        [plural, _name] => Some(plural.to_string()),
        ["namespaces", _, plural, _name] => Some(plural.to_string()),
        _ => None,
    }
}

/// What the write's answer (or the check's LIST) settles in [`health_mix`]: never a GET.
pub const SETTLED_PLURALS: &[&str] = &[
    "namespaces",
    "configmaps",
    "serviceaccounts",
    "roles",
    "rolebindings",
];

/// The `.yaml` files of a corpus directory under the repository's `tests/corpus`, each passed
/// through `edit`, named `<prefix><file>` in the bundle.
pub fn corpus_files(
    dir: &str,
    prefix: &str,
    edit: impl Fn(&str) -> String,
) -> Vec<(&'static str, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpus")
        .join(dir);
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let text = edit(&std::fs::read_to_string(root.join(&n)).unwrap());
            let path: &'static str = Box::leak(format!("{prefix}{n}").into_boxed_str());
            (path, text)
        })
        .collect()
}

/// What a source is polled with in tests of transports alone: bundle `app`, signatures not
/// checked (the bundle's own verification has its tests), device `edge-1`, default limits.
pub fn unsigned_policy() -> ferry_bundle::verify::VerifyPolicy {
    use ferry_bundle::verify::{Device, SignaturePolicy, VerifyPolicy};
    VerifyPolicy {
        signatures: SignaturePolicy::Skip,
        name: "app".into(),
        now: Timestamp::now(),
        highest_applied: None,
        device: Device {
            id: "edge-1".into(),
            labels: Default::default(),
        },
        limits: Default::default(),
        images: ferry_bundle::images::ImagePolicy::Any,
    }
}
