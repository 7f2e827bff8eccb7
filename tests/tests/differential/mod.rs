//! The differential harness: one request sequence replayed against kube-sim and the real
//! control plane (kube-apiserver v1.37.2, `ferry_tests::control_plane`), every answer
//! normalized ([`normalize`]) and compared; what differs is either on the allow-list
//! ([`allow::KNOWN`], each entry with its reason) or fails the test.

pub mod allow;
pub mod basic;
pub mod custom;
pub mod discovery;
pub mod kinds;
pub mod normalize;
pub mod workloads;

use ferry_tests::client::{agent, agent_from_kubeconfig, send_full, Auth};
use ferry_tests::control_plane;
use ferry_tests::kube_sim::{KubeSim, SimOptions};
use normalize::{differences, normalize, Difference};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a poll waits on the real server (its controllers run on their own; the garbage
/// collector and the namespace controller take seconds, longer under load).
pub const POLL_BOUND: Duration = Duration::from_secs(120);

/// What one server answered, normalized.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub warnings: Vec<String>,
    /// A list's `continue` token as sent (the body holds a placeholder).
    pub continue_token: Option<String>,
}

/// One server reached over HTTPS as the admin.
pub struct Target {
    pub name: &'static str,
    agent: ureq::Agent,
    base: String,
    /// (value, placeholder) replaced in every string this server answers.
    pub aliases: Vec<(String, String)>,
}

impl Target {
    /// Sends one request; `path` is absolute (`/api/v1/...`).
    pub fn send(&self, method: &str, path: &str, ct: Option<&str>, body: Option<&str>) -> Answer {
        let url = format!("{}{path}", self.base);
        let r = send_full(&self.agent, method, &url, ct, body, None)
            .unwrap_or_else(|e| panic!("{} {method} {path}: {e}", self.name));
        let mut body = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body));
        let continue_token = body["metadata"]["continue"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        normalize(&mut body, &self.aliases);
        let warnings = r
            .warnings
            .iter()
            .map(|w| normalize::scrub(w, &self.aliases))
            .collect();
        Answer {
            status: r.status,
            body,
            warnings,
            continue_token,
        }
    }

    /// GET with an `Accept` header (aggregated discovery), the body as JSON.
    pub fn get_accept(&self, path: &str, accept: &str) -> Value {
        let url = format!("{}{path}", self.base);
        let mut r = self
            .agent
            .get(&url)
            .header("Accept", accept)
            .call()
            .unwrap_or_else(|e| panic!("{} GET {path}: {e}", self.name));
        let text = r.body_mut().read_to_string().unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    /// Polls GET `path` until `done` holds or [`POLL_BOUND`] passes; the last answer and
    /// whether `done` held. kube-sim's clock moves one simulated second per request.
    pub fn poll(&self, path: &str, done: &dyn Fn(&Answer) -> bool) -> (Answer, bool) {
        let deadline = Instant::now() + POLL_BOUND;
        loop {
            let a = self.send("GET", path, None, None);
            if done(&a) {
                return (a, true);
            }
            if Instant::now() > deadline {
                return (a, false);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// One sequence run against both servers, in a namespace of the same name on each.
pub struct Pair {
    pub sim: Target,
    pub real: Target,
    pub ns: String,
    sequence: &'static str,
    found: Vec<(String, Difference)>,
    _kube_sim: KubeSim,
}

impl Pair {
    /// Starts a kube-sim (per-request clock), reaches the shared control plane and creates
    /// namespace `diff-<sequence>-<pid>` on both (on the real one, waits for its default
    /// ServiceAccount so pods are admitted).
    pub fn new(sequence: &'static str) -> Pair {
        let sim = KubeSim::start(SimOptions::default()).expect("kube-sim");
        let cp = control_plane::shared();
        let (real_agent, real_base) = agent_from_kubeconfig(&cp.kubeconfig);
        let pair = Pair {
            sim: Target {
                name: "kube-sim",
                agent: agent(&sim, Auth::ClientCert),
                base: sim.url(),
                aliases: Vec::new(),
            },
            real: Target {
                name: "kube-apiserver",
                agent: real_agent,
                base: real_base,
                aliases: Vec::new(),
            },
            ns: format!("diff-{}-{}", sequence.replace('_', "-"), std::process::id()),
            sequence,
            found: Vec::new(),
            _kube_sim: sim,
        };
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": pair.ns}});
        for t in [&pair.sim, &pair.real] {
            let a = t.send(
                "POST",
                "/api/v1/namespaces",
                Some(JSON),
                Some(&ns.to_string()),
            );
            assert_eq!(a.status, 201, "{}: namespace: {:?}", t.name, a.body);
        }
        let sa = format!("/api/v1/namespaces/{}/serviceaccounts/default", pair.ns);
        let (a, ok) = pair.real.poll(&sa, &|a| a.status == 200);
        assert!(ok, "no default ServiceAccount: {:?}", a.body);
        pair
    }

    /// `{ns}` in `path` replaced by the namespace.
    fn path(&self, path: &str) -> String {
        path.replace("{ns}", &self.ns)
    }

    /// Sends the same request to both servers and compares the answers.
    pub fn send(
        &mut self,
        step: &str,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Option<&Value>,
    ) -> [Answer; 2] {
        let (path, body) = (self.path(path), body.map(|b| b.to_string()));
        let pair = [&self.sim, &self.real].map(|t| t.send(method, &path, ct, body.as_deref()));
        self.compare(step, &pair[0], &pair[1]);
        pair
    }

    pub fn get(&mut self, step: &str, path: &str) -> [Answer; 2] {
        self.send(step, "GET", path, None, None)
    }

    /// A server-side apply as `manager` (`extra` query parameters such as `&force=true`).
    pub fn apply(&mut self, step: &str, path: &str, manager: &str, extra: &str, body: &Value) {
        let q = format!("{path}?fieldManager={manager}{extra}");
        self.send(step, "PATCH", &q, Some(APPLY), Some(body));
    }

    /// Polls `path` on each server until `done`, then compares the last answers (a server on
    /// which `done` never held is a difference at `poll`).
    pub fn poll(&mut self, step: &str, path: &str, done: &dyn Fn(&Answer) -> bool) -> [Answer; 2] {
        let [s, r] = self.wait(step, path, done);
        self.compare(step, &s, &r);
        [s, r]
    }

    /// Polls `path` on each server until `done` without comparing the answers (only whether
    /// `done` held on both).
    pub fn wait(&mut self, step: &str, path: &str, done: &dyn Fn(&Answer) -> bool) -> [Answer; 2] {
        let path = self.path(path);
        let [(s, sok), (r, rok)] = [&self.sim, &self.real].map(|t| t.poll(&path, done));
        if !(sok && rok) {
            self.note(step, "poll", json!(sok), json!(rok));
        }
        [s, r]
    }

    /// Sends one request to each server with its own body (e.g. carrying a token it issued).
    pub fn send_each(&mut self, step: &str, method: &str, paths: [String; 2]) -> [Answer; 2] {
        let [ps, pr] = paths.map(|p| self.path(&p));
        let s = self.sim.send(method, &ps, None, None);
        let r = self.real.send(method, &pr, None, None);
        self.compare(step, &s, &r);
        [s, r]
    }

    /// Compares two values derived from the servers' answers (e.g. an end-state summary).
    pub fn compare_values(&mut self, step: &str, sim: &Value, real: &Value) {
        let mut out = Vec::new();
        differences("summary", sim, real, &mut out);
        self.found
            .extend(out.into_iter().map(|d| (step.to_string(), d)));
    }

    fn note(&mut self, step: &str, path: &str, sim: Value, real: Value) {
        let d = Difference {
            path: path.into(),
            sim,
            real,
        };
        self.found.push((step.to_string(), d));
    }

    fn compare(&mut self, step: &str, s: &Answer, r: &Answer) {
        if s.status != r.status {
            let brief = |a: &Answer| json!({"code": a.status, "message": a.body.get("message")});
            return self.note(step, "status", brief(s), brief(r));
        }
        if s.warnings != r.warnings {
            self.note(step, "warnings", json!(s.warnings), json!(r.warnings));
        }
        let mut out = Vec::new();
        differences("body", &s.body, &r.body, &mut out);
        self.found
            .extend(out.into_iter().map(|d| (step.to_string(), d)));
    }

    /// Prints every difference (known ones with their reason) and fails on any the allow-list
    /// does not hold.
    pub fn finish(self) {
        let mut new = Vec::new();
        for (step, d) in &self.found {
            match allow::known(self.sequence, step, &d.path) {
                Some(k) => eprintln!("known  {}/{step} {}: {}", self.sequence, d.path, k.reason),
                None => {
                    let line = format!(
                        "NEW    {}/{step} {}: kube-sim {} | kube-apiserver {}",
                        self.sequence, d.path, d.sim, d.real
                    );
                    eprintln!("{line}");
                    new.push(line);
                }
            }
        }
        assert!(
            new.is_empty(),
            "{} difference(s) between kube-sim and kube-apiserver not on the allow-list:\n{}",
            new.len(),
            new.join("\n")
        );
    }
}

pub const JSON: &str = "application/json";
pub const APPLY: &str = "application/apply-patch+yaml";
pub const MERGE: &str = "application/merge-patch+json";
pub const STRATEGIC: &str = "application/strategic-merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";

/// A 404 (the object is gone).
pub fn gone(a: &Answer) -> bool {
    a.status == 404
}
