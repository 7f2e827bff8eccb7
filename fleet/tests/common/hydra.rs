//! A real OpenID Connect provider for the sign-in tests: Ory Hydra v2.3.0 (built by tests/run
//! into ~/.cache/ferry-tools/hydra-v2.3.0 from tests/hydra) with its in-memory database, plus
//! the tiny login-and-consent app Hydra delegates to (a thread here: it accepts every login as
//! `alice` and grants the requested scopes with a `fleet_roles` claim, through Hydra's admin
//! API).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Hydra {
    child: Child,
    pub issuer: String,
    pub admin: String,
    pub client_id: String,
    pub client_secret: String,
}

pub fn binary() -> std::path::PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    std::path::PathBuf::from(home).join(".cache/ferry-tools/hydra-v2.3.0/hydra")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn json_of(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Value {
    let mut resp = resp.unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(status < 300, "hydra admin: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// The login-and-consent app: answers Hydra's redirects by accepting through the admin API.
fn login_consent_app(admin: String, roles: Vec<String>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let param = |name: &str| {
                target
                    .split_once('?')
                    .and_then(|(_, q)| {
                        q.split('&')
                            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    })
                    .unwrap_or("")
                    .to_string()
            };
            let a = http();
            let redirect = if target.starts_with("/login") {
                let c = param("login_challenge");
                json_of(
                    a.put(&format!(
                        "{admin}/admin/oauth2/auth/requests/login/accept?login_challenge={c}"
                    ))
                    .send_json(json!({"subject": "alice"})),
                )
            } else {
                let c = param("consent_challenge");
                let req = json_of(
                    a.get(&format!(
                        "{admin}/admin/oauth2/auth/requests/consent?consent_challenge={c}"
                    ))
                    .call(),
                );
                json_of(
                    a.put(&format!("{admin}/admin/oauth2/auth/requests/consent/accept?consent_challenge={c}"))
                        .send_json(json!({"grant_scope": req["requested_scope"],
                            "session": {"id_token": {"preferred_username": "alice", "fleet_roles": roles}}})),
                )
            };
            let to = redirect["redirect_to"].as_str().unwrap_or("/").to_string();
            let mut s = &stream;
            let _ = write!(s, "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

impl Hydra {
    /// Starts Hydra (public and admin on loopback ports) and registers a confidential client
    /// whose redirect URI is `redirect`; `roles` go into every ID token's `fleet_roles`.
    pub fn start(redirect: &str, roles: &[&str]) -> Hydra {
        let bin = binary();
        assert!(
            bin.exists(),
            "{} missing: tests/run builds it (go_tools)",
            bin.display()
        );
        let (public, admin_port) = (free_port(), free_port());
        let admin = format!("http://127.0.0.1:{admin_port}");
        let app = login_consent_app(admin.clone(), roles.iter().map(|r| r.to_string()).collect());
        let issuer = format!("http://127.0.0.1:{public}");
        let child = Command::new(&bin)
            .args(["serve", "all", "--dev"])
            .env("DSN", "memory")
            .env("URLS_SELF_ISSUER", &issuer)
            .env("URLS_LOGIN", format!("http://127.0.0.1:{app}/login"))
            .env("URLS_CONSENT", format!("http://127.0.0.1:{app}/consent"))
            .env("SECRETS_SYSTEM", "ferry-fleet-test-secret-0123456789")
            .env("SERVE_PUBLIC_HOST", "127.0.0.1")
            .env("SERVE_PUBLIC_PORT", public.to_string())
            .env("SERVE_ADMIN_HOST", "127.0.0.1")
            .env("SERVE_ADMIN_PORT", admin_port.to_string())
            .env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let a = http();
        while a
            .get(&format!("{admin}/health/ready"))
            .call()
            .map(|r| r.status().as_u16() != 200)
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "hydra not ready within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let client = json_of(a.post(&format!("{admin}/admin/clients")).send_json(json!({
            "client_name": "ferry-fleet", "grant_types": ["authorization_code"],
            "response_types": ["code"], "scope": "openid profile", "redirect_uris": [redirect],
            "token_endpoint_auth_method": "client_secret_basic"})));
        Hydra {
            child,
            issuer,
            admin,
            client_id: client["client_id"].as_str().unwrap().to_string(),
            client_secret: client["client_secret"].as_str().unwrap().to_string(),
        }
    }
}

impl Drop for Hydra {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
