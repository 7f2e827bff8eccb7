//! A real HTTPS server that records what it receives: the fleet endpoint and webhook receiver
//! of the tests. It can be switched "down" (answers 503) to simulate an unreachable endpoint.

use crate::kube_sim::http::{self, Fault, Handler, Request, Response};
use crate::kube_sim::Pki;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    received: Mutex<Vec<Request>>,
    down: AtomicBool,
}

struct Recorder(Arc<State>);

impl Handler for Recorder {
    fn handle(&self, req: Request) -> Response {
        if self.0.down.load(Ordering::SeqCst) {
            return Response::new(503, "text/plain", b"down".to_vec());
        }
        self.0
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(req);
        Response::new(204, "text/plain", Vec::new())
    }
    fn fault(&self, _req: &Request) -> Fault {
        Fault::None
    }
}

/// A running recording server.
pub struct RecordingServer {
    pub url: String,
    pub pki: Pki,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    dir: tempfile::TempDir,
}

impl RecordingServer {
    pub fn start() -> anyhow::Result<Self> {
        let pki = Pki::generate()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        http::serve(
            listener,
            pki.server_config()?,
            Arc::new(Recorder(state.clone())),
            stop.clone(),
        );
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem)?;
        std::fs::write(dir.path().join("client.pem"), &pki.client_cert_pem)?;
        std::fs::write(dir.path().join("client-key.pem"), &pki.client_key_pem)?;
        std::fs::write(dir.path().join("token"), "fleet-secret-token\n")?;
        Ok(RecordingServer {
            url,
            pki,
            state,
            stop,
            dir,
        })
    }

    /// Files for the client side: CA, client certificate and key, bearer token.
    pub fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Requests received so far (while up).
    pub fn received(&self) -> Vec<Request> {
        self.state
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Bodies received on `path`, parsed as JSON.
    pub fn json_bodies(&self, path: &str) -> Vec<serde_json::Value> {
        self.received()
            .iter()
            .filter(|r| r.path == path)
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
    }

    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
