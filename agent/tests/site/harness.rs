//! A site of three real `ferry-agent run` processes (separate state directories, one config
//! each, device ids node-1..3) against one API server, on one test clock they share
//! (`FERRY_TEST_CLOCK_FILE`): the test moves it one retry period at a time, and only once
//! every live node's election thread waits on it (each sleep leaves a mark naming the time it
//! waits for), so every node makes exactly one election try per step, whatever the load.

use crate::common::Env;
use ferry_tests::kube_sim::LogEntry;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The retry period the site runs with (client-go's default); one clock step.
pub const STEP_MS: i64 = 2_000;
pub const LEASE_MS: i64 = 15_000;
const START_MS: i64 = 1_900_000_000_000;

pub struct Node {
    pub id: String,
    /// The node's only path to the API server.
    pub proxy: crate::proxy::Proxy,
    pub config: PathBuf,
    pub child: Option<Child>,
    pub stopped: bool,
}

/// The API server a site runs against: kube-sim (its request log), or a real control plane
/// (its kubeconfig and audit log).
#[derive(Clone, Copy)]
pub enum Api {
    Sim,
    Real {
        kubeconfig: &'static Path,
        audit: &'static Path,
    },
}

pub struct Site {
    pub env: Env,
    pub api: Api,
    /// The site's name (its Lease is `ferry-<name>`) and the namespace its objects live in.
    pub name: String,
    pub ns: String,
    pub clock: PathBuf,
    pub nodes: Vec<Node>,
    kubectl_cache: tempfile::TempDir,
}

impl Site {
    /// Three nodes of site `name` on `api`; not started.
    pub fn new(api: Api, name: &str) -> Site {
        let env = Env::new();
        let clock = env.dir.path().join("clock");
        std::fs::write(&clock, START_MS.to_string()).unwrap();
        let kubeconfig = match api {
            Api::Sim => env.sim.kubeconfig_path(),
            Api::Real { kubeconfig, .. } => kubeconfig.to_path_buf(),
        };
        let kc_text = std::fs::read_to_string(&kubeconfig).unwrap();
        // The API server's address, from the kubeconfig's `server: https://127.0.0.1:PORT`.
        let server = kc_text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: https://"))
            .expect("a server in the kubeconfig")
            .trim()
            .to_string();
        let nodes = (1..=3)
            .map(|i| {
                let id = format!("{name}-{i}");
                let dir = env.dir.path().join(&id);
                std::fs::create_dir_all(&dir).unwrap();
                let config = dir.join("agent.yaml");
                let proxy = crate::proxy::Proxy::start(server.parse().unwrap());
                let kubeconfig = dir.join("kubeconfig");
                std::fs::write(
                    &kubeconfig,
                    kc_text.replace(&server, &proxy.addr.to_string()),
                )
                .unwrap();
                std::fs::write(
                    &config,
                    format!(
                        "device:\n  id: {id}\n  labels: {{site: lab}}\nstateDir: {}\nkubeconfig: {}\nkeys: {}\nsite:\n  name: {name}\nsyncs:\n  - name: app\n    source: {{type: directory, path: {}}}\n    interval: 1s\n    timeout: 30s\n",
                        dir.join("state").display(),
                        kubeconfig.display(),
                        env.dir.path().join("keys").display(),
                        env.drop_dir().display(),
                    ),
                )
                .unwrap();
                Node {
                    id,
                    proxy,
                    config,
                    child: None,
                    stopped: false,
                }
            })
            .collect();
        Site {
            env,
            api,
            name: name.into(),
            ns: format!("site-{name}"),
            clock,
            nodes,
            kubectl_cache: tempfile::tempdir().unwrap(),
        }
    }

    /// Adds top-level `lines` to node `i`'s config (before it starts).
    pub fn add_config(&self, i: usize, lines: &str) {
        let path = &self.nodes[i].config;
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, format!("{lines}\n{text}")).unwrap();
    }

    /// Gives each node a drop directory of its own and a relay (`serve:` on a free port, one
    /// site token), and names the other nodes' relays as its `site.peers`. Returns the drops.
    pub fn relays(&mut self) -> Vec<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let token = self.env.dir.path().join("site-token");
        std::fs::write(&token, "ferry-test-site-token-0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ports: Vec<u16> = (0..self.nodes.len())
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect();
        let shared = self.env.drop_dir().display().to_string();
        let mut drops = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let drop = n.config.with_file_name("drop");
            std::fs::create_dir_all(&drop).unwrap();
            let peers: String = (0..ports.len())
                .filter(|j| *j != i)
                .map(|j| {
                    format!(
                        "\n    - {{url: \"http://127.0.0.1:{}/\", tokenFile: {}}}",
                        ports[j],
                        token.display()
                    )
                })
                .collect();
            let text = std::fs::read_to_string(&n.config)
                .unwrap()
                .replace(&shared, &drop.display().to_string())
                .replace(
                    &format!("site:\n  name: {}\n", self.name),
                    &format!("site:\n  name: {}\n  peers:{peers}\n", self.name),
                );
            let serve = format!(
                "serve: {{listen: \"127.0.0.1:{}\", tokenFile: {}}}\n",
                ports[i],
                token.display()
            );
            std::fs::write(&n.config, format!("{serve}{text}")).unwrap();
            drops.push(drop);
        }
        drops
    }

    /// `kubectl` against the site's server.
    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        let kubeconfig = match self.api {
            Api::Sim => self.env.sim.kubeconfig_path(),
            Api::Real { kubeconfig, .. } => kubeconfig.to_path_buf(),
        };
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(self.kubectl_cache.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// An object as the server has it.
    pub fn obj(&self, group: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        match self.api {
            Api::Sim => self.env.obj(group, kind, ns, name),
            Api::Real { .. } => {
                let what = if group.is_empty() {
                    kind.to_lowercase()
                } else {
                    format!("{}.{group}", kind.to_lowercase())
                };
                let o = self.kubectl(&["get", &what, name, "-n", ns, "-o", "json"]);
                serde_json::from_slice(&o.stdout).ok()
            }
        }
    }

    /// The site's Lease.
    pub fn lease(&self) -> Option<Value> {
        self.obj(
            "coordination.k8s.io",
            "Lease",
            "kube-system",
            &format!("ferry-{}", self.name),
        )
    }

    /// Every request the server saw, in its order: kube-sim's log, or the audit log's
    /// events read as the same entries.
    pub fn requests(&self) -> Vec<LogEntry> {
        match self.api {
            Api::Sim => self.env.sim.log(),
            Api::Real { audit, .. } => audit_entries(audit),
        }
    }

    pub fn start(&mut self, i: usize, faults: &[(&str, &str)]) {
        let n = &mut self.nodes[i];
        let log = std::fs::File::create(n.config.with_file_name("agent.log")).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry-agent"));
        c.arg("--config")
            .arg(&n.config)
            .arg("run")
            .env("FERRY_TEST_CLOCK_FILE", &self.clock)
            .env("FERRY_LOG", "info,ferry_agent::daemon=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in faults {
            c.env(k, v);
        }
        n.child = Some(c.spawn().unwrap());
        n.stopped = false;
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i, &[]);
        }
    }

    pub fn pid(&self, i: usize) -> u32 {
        self.nodes[i].child.as_ref().unwrap().id()
    }

    fn signal(&self, i: usize, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid(i).to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} node {i}");
    }

    /// SIGTERM (a clean shutdown), and reaped.
    pub fn term(&mut self, i: usize) -> std::process::ExitStatus {
        self.signal(i, "-TERM");
        self.nodes[i].child.take().unwrap().wait().unwrap()
    }

    /// kill -9, and reaped.
    pub fn kill(&mut self, i: usize) {
        let mut c = self.nodes[i].child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }

    pub fn stop(&mut self, i: usize) {
        self.signal(i, "-STOP");
        self.nodes[i].stopped = true;
    }

    pub fn cont(&mut self, i: usize) {
        self.signal(i, "-CONT");
        self.nodes[i].stopped = false;
    }

    pub fn now_ms(&self) -> i64 {
        std::fs::read_to_string(&self.clock)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Waits (bounded, wall time) until every running node's election thread sleeps on the
    /// clock waiting for a time after now.
    pub fn settle(&self) {
        let now = self.now_ms();
        let deadline = Instant::now() + Duration::from_secs(60);
        for (i, n) in self.nodes.iter().enumerate() {
            if n.child.is_none() || n.stopped {
                continue;
            }
            let mark = self
                .clock
                .with_extension(format!("{}.ferry-site", self.pid(i)));
            loop {
                let waits: i64 = std::fs::read_to_string(&mark)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0);
                if waits > now {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} did not wait on the clock within 60 s:\n{}",
                    n.id,
                    self.tail(i)
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Moves the clock one retry period once every running node waits on it.
    pub fn tick(&self) {
        self.settle();
        let next = self.now_ms() + STEP_MS;
        let tmp = self.clock.with_extension("tmp");
        std::fs::write(&tmp, next.to_string()).unwrap();
        std::fs::rename(tmp, &self.clock).unwrap();
    }

    /// Ticks until `cond` holds (checked between steps, with a short bounded look on the
    /// wall clock for passes, which run on their own schedule); returns the steps taken.
    pub fn ticks_until(&self, what: &str, max: u32, mut cond: impl FnMut() -> bool) -> u32 {
        for n in 0..=max {
            let look = Instant::now() + Duration::from_millis(300);
            loop {
                if cond() {
                    return n;
                }
                if Instant::now() >= look {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.tick();
        }
        panic!("{what}: not within {max} steps\n{}", self.logs());
    }

    /// Passes node `i` finished (its log says so).
    pub fn passes(&self, i: usize) -> usize {
        let log = self.log(i);
        log.matches("sync pass done").count() + log.matches("sync pass failed").count()
    }

    /// Ticks until node `i` finished `n` more passes.
    pub fn more_passes(&self, i: usize, n: usize) -> u32 {
        let start = self.passes(i);
        self.ticks_until(
            &format!("{} passed {n} times", self.nodes[i].id),
            40,
            || self.passes(i) >= start + n,
        )
    }

    /// Node `i`'s whole log.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].config.with_file_name("agent.log"))
            .unwrap_or_default()
    }

    fn tail(&self, i: usize) -> String {
        let text = self.log(i);
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    pub fn logs(&self) -> String {
        (0..self.nodes.len())
            .map(|i| format!("--- {}:\n{}", self.nodes[i].id, self.tail(i)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = Command::new("kill")
                    .args(["-CONT", &c.id().to_string()])
                    .status();
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// The audit log's events as request log entries (verb mapped back to the HTTP method).
fn audit_entries(audit: &Path) -> Vec<LogEntry> {
    let text = std::fs::read(audit).unwrap_or_default();
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| {
            let uri = e["requestURI"].as_str().unwrap_or("");
            let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
            let method = match e["verb"].as_str().unwrap_or("") {
                "create" => "POST",
                "update" => "PUT",
                "patch" => "PATCH",
                "delete" | "deletecollection" => "DELETE",
                _ => "GET",
            };
            LogEntry {
                method: method.into(),
                path: path.into(),
                query: query.into(),
                content_type: String::new(),
                status: e["responseStatus"]["code"].as_u64().unwrap_or(0) as u16,
                user: e["user"]["username"].as_str().unwrap_or("").into(),
                user_agent: e["userAgent"].as_str().unwrap_or("").into(),
            }
        })
        .collect()
}

/// The namespace `ns` and a ConfigMap `site-<i>` in it per index with `value`.
pub fn configmaps(ns: &str, count: usize, value: &str) -> Vec<(&'static str, String)> {
    let mut files = vec![("a-namespace.yaml", crate::common::namespace(ns))];
    files.extend((0..count).map(|i| {
        let name: &'static str = Box::leak(format!("cm-{i}.yaml").into_boxed_str());
        (name, crate::common::cm(&format!("site-{i}"), ns, value))
    }));
    files
}

/// Which node a request came from, by its User-Agent (`ferry-agent/<v> node/<id>`).
pub fn node_of(user_agent: &str) -> Option<&str> {
    user_agent.split(" node/").nth(1)
}
