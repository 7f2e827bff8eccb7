//! The request set-ups the kube-sim API tests share: a simulator (default or with a manual
//! clock), a client-certificate client with one method per verb, and ConfigMap bodies.

use ferry_tests::client::{agent, send, Auth};
use ferry_tests::kube_sim::{ClockMode, KubeSim, SimConfig, SimOptions};
use serde_json::{json, Value};

/// Path of the ConfigMap collection in the default namespace.
pub const CM_PATH: &str = "/api/v1/namespaces/default/configmaps";

/// The content type of a server-side apply.
pub const APPLY: &str = "application/apply-patch+yaml";

/// kube-sim with its default options.
pub fn sim() -> KubeSim {
    KubeSim::start(SimOptions::default()).unwrap()
}

/// kube-sim on a manual clock, its configuration given by `config` on top of the defaults.
pub fn manual_sim(config: impl FnOnce(&mut SimConfig)) -> KubeSim {
    let mut c = SimConfig {
        clock: ClockMode::Manual,
        ..SimConfig::default()
    };
    config(&mut c);
    KubeSim::start(SimOptions { port: 0, config: c }).unwrap()
}

/// One request with the given credentials to a full URL: status and body.
pub fn send_as(
    s: &KubeSim,
    auth: Auth,
    url: &str,
    token: Option<&str>,
) -> Result<(u16, String), ureq::Error> {
    let (status, _, body) = send(&agent(s, auth), "GET", url, None, None, token)?;
    Ok((status, body))
}

/// A ConfigMap named `name` in the default namespace.
pub fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data})
}

/// A client authenticated by its client certificate.
pub struct C {
    pub agent: ureq::Agent,
    pub base: String,
}

impl C {
    pub fn new(s: &KubeSim) -> Self {
        C {
            agent: agent(s, Auth::ClientCert),
            base: s.url(),
        }
    }
    /// One request: status and the body as JSON (or as a string when it is not JSON).
    pub fn req(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let (status, _, text) = send(
            &self.agent,
            method,
            &format!("{}{path}", self.base),
            ct,
            body,
            None,
        )
        .unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.req("GET", path, None, None)
    }
    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.req("DELETE", path, None, None)
    }
    /// POST of a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.req(
            "POST",
            path,
            Some("application/json"),
            Some(&body.to_string()),
        )
    }
    /// PUT of a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.req(
            "PUT",
            path,
            Some("application/json"),
            Some(&body.to_string()),
        )
    }
    /// PATCH with a raw body of the given content type.
    pub fn patch(&self, path: &str, ct: &str, body: &str) -> (u16, Value) {
        self.req("PATCH", path, Some(ct), Some(body))
    }
    /// Server-side apply of `body` as field manager `manager`.
    pub fn apply(&self, path: &str, manager: &str, body: &Value) -> (u16, Value) {
        self.patch(
            &format!("{path}?fieldManager={manager}"),
            APPLY,
            &body.to_string(),
        )
    }
}
