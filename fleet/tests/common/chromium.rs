//! Debian's Chromium, headless, driven like a person's browser through Debian's chromedriver
//! (the W3C WebDriver HTTP API, spoken with ureq): one browser for the whole test, a fresh
//! profile, no network but the receiver, and the receiver's certificate accepted by its
//! public-key pin only (no blanket "ignore certificate errors").

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: ureq::Agent,
    _profile: tempfile::TempDir,
}

fn spki_pin(cert_pem: &Path) -> String {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let der = CertificateDer::from_pem_file(cert_pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(cert.tbs_certificate.subject_pki.raw))
}

impl Browser {
    /// Starts chromedriver and one headless Chromium that trusts the server cert in `cert_pem`.
    pub fn start(cert_pem: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (tests/run installs chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        // chromedriver is up once /status answers ready (bounded wait on its own readiness).
        let mut ready = false;
        for _ in 0..200 {
            if let Ok(mut r) = http.get(&format!("{base}/status")).call() {
                let v: Value =
                    serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default())
                        .unwrap_or_default();
                if v["value"]["ready"] == true {
                    ready = true;
                    break;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(ready, "chromedriver did not start");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--ignore-certificate-errors-spki-list={}", spki_pin(cert_pem))]}}}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            http,
            _profile: profile,
        };
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut resp = match method {
            "GET" => self.http.get(&url).call(),
            "DELETE" => self.http.delete(&url).call(),
            _ => self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(json!({})).to_string()),
        }
        .unwrap();
        let v: Value = serde_json::from_str(
            &resp
                .body_mut()
                .with_config()
                .limit(50 << 20)
                .read_to_string()
                .unwrap(),
        )
        .unwrap();
        assert!(
            v["value"]["error"].is_null(),
            "webdriver {method} {path}: {v}"
        );
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn go(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    /// The DOM as the browser built it.
    pub fn source(&self) -> String {
        self.call("GET", &self.s("/source"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn current_url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let e = self.element(css);
        self.call("GET", &self.s(&format!("/element/{e}/text")), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        let v = self.call(
            "POST",
            &self.s("/elements"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_array().map(Vec::len).unwrap_or(0)
    }

    /// Follows the link or submits the form `css` selects, and waits (bounded) until the page
    /// it leads to has loaded: WebDriver's click may return before the navigation it started,
    /// and a look at the page then would see the old one. Every click in these tests navigates.
    pub fn click(&self, css: &str) {
        let e = self.element(css);
        self.script("window.ferryBeforeClick = true;")
            .expect("a page to click on");
        self.call("POST", &self.s(&format!("/element/{e}/click")), None);
        self.wait_until("the page the click leads to", |b| {
            b.script("return document.readyState === 'complete' && !window.ferryBeforeClick")
                == Some(Value::Bool(true))
        });
    }

    /// Runs `script` in the page and returns its value; None while the page cannot answer (in
    /// the middle of a navigation).
    fn script(&self, script: &str) -> Option<Value> {
        let url = format!("{}{}", self.base, self.s("/execute/sync"));
        let mut resp = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .send(json!({"script": script, "args": []}).to_string())
            .ok()?;
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()?;
        v["value"]["error"].is_null().then(|| v["value"].clone())
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        );
    }

    /// Waits (bounded: 30 s) until `done` holds: a form's answer may arrive after the click
    /// returned (a password check under load takes a while).
    pub fn wait_until(&self, what: &str, done: impl Fn(&Browser) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done(self) {
            assert!(
                std::time::Instant::now() < deadline,
                "waited 30 s for {what}: {} {}",
                self.current_url(),
                self.source()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Waits until the browser is at a URL containing `part`.
    pub fn wait_url(&self, part: &str) {
        self.wait_until(part, |b| b.current_url().contains(part));
    }

    /// Waits until an element matching `css` is on the page.
    pub fn wait_for(&self, css: &str) {
        self.wait_until(css, |b| b.count(css) > 0);
    }

    /// Signs in through the sign-in page (`/login`), as a person would.
    pub fn sign_in(&self, base: &str, user: &str, password: &str) {
        self.go(&format!("{base}/login"));
        self.type_into("#username", user);
        self.type_into("#password", password);
        self.click("#signin-button");
        self.wait_until("the signed-in page", |b| {
            !b.current_url().contains("/login")
        });
    }

    /// A PNG of the viewport at `width`x`height`.
    pub fn screenshot(&self, out: &Path, width: u32, height: u32) {
        self.call(
            "POST",
            &self.s("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        std::fs::write(out, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = self.s("");
        let _ = self.http.delete(&format!("{}{path}", self.base)).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Saves a screenshot of what `b` shows: into docs/img with `FERRY_FLEET_SCREENSHOTS=docs`,
/// else into target/fleet-screenshots.
pub fn shot(b: &Browser, name: &str, w: u32, h: u32) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let img = match std::env::var("FERRY_FLEET_SCREENSHOTS").as_deref() {
        Ok("docs") => root.join("docs/img"),
        _ => root.join("target/fleet-screenshots"),
    };
    std::fs::create_dir_all(&img).unwrap();
    b.screenshot(&img.join(name), w, h);
}
