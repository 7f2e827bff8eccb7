//! Sign-in seen in a real browser (Debian's Chromium through chromedriver, over the fleet's
//! TLS listener, so `Secure` `__Host-` cookies behave as in production): the sign-in page, a
//! wrong password, sign-in and the return to the page asked for, a viewer's forbidden retire
//! (403), a forged cross-site form refused, an operator's retire, sign-out, session expiry on
//! the receiver's clock, and OIDC sign-in through a real Ory Hydra.

mod common;
use common::chromium::Browser;
use common::hydra::Hydra;
use common::{heartbeat, Receiver, StoreKind};
use std::io::{BufRead, BufReader, Write};

const PW: &str = "a long test password";

/// A page on another origin holding a form that POSTs to `action` (a forged request).
fn attacker_site(action: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let page = format!(
                "<!DOCTYPE html><html><body><form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"csrf\" value=\"guess\"><button id=\"go\" type=\"submit\">win a prize</button></form></body></html>"
            );
            let mut s = &stream;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    url
}

fn report(r: &Receiver, devices: &[&str]) {
    for d in devices {
        let hb = heartbeat(d, "healthy", None);
        assert_eq!(
            r.post("/api/heartbeat", &hb, Some(&r.token(d)), None)
                .unwrap()
                .0,
            200
        );
    }
}

#[test]
fn sign_in_forbidden_retire_forged_form_sign_out_and_expiry_in_chromium() {
    let r = Receiver::start_with(
        &["edge-1", "edge-2"],
        StoreKind::Sqlite,
        "signin: {idleTimeout: 30m}\n",
    );
    r.add_user("vera", "viewer", PW);
    r.add_user("olga", "operator", PW);
    report(&r, &["edge-1", "edge-2"]);
    let b = Browser::start(&r.path("server.pem"));

    // A page asked for without a session: the sign-in page, then back to that page.
    b.go(&format!("{}/devices/edge-1", r.url));
    assert!(
        b.current_url().ends_with("/login?next=%2Fdevices%2Fedge-1"),
        "{}",
        b.current_url()
    );
    if std::env::var("FERRY_FLEET_SCREENSHOTS").as_deref() == Ok("docs") {
        let img = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/img");
        b.screenshot(&img.join("fleet-signin.png"), 900, 420);
    }
    b.type_into("#username", "vera");
    b.type_into("#password", "not the password");
    b.click("#signin-button");
    b.wait_for("#signin-error");
    assert_eq!(b.text("#signin-error"), "Wrong user name or password.");
    b.type_into("#username", "vera");
    b.type_into("#password", PW);
    b.click("#signin-button");
    b.wait_url("/devices/edge-1");

    // A viewer may look but not retire: 403.
    b.click("#retire");
    b.wait_for("#retire-button");
    b.click("#retire-button");
    b.wait_until("the refusal", |b| b.source().contains("forbidden"));
    let page = b.source();
    assert!(
        page.contains("operator role") && page.contains("forbidden"),
        "{page}"
    );
    assert_eq!(r.get("/api/devices/edge-1").0, 200);

    // Sign out: the session is gone, pages lead to the sign-in page again.
    b.go(&format!("{}/logout", r.url));
    b.click("#signout-button");
    b.wait_until("the sign-in page", |b| b.current_url().ends_with("/login"));
    b.go(&format!("{}/", r.url));
    assert!(
        b.current_url().contains("/login?next="),
        "{}",
        b.current_url()
    );

    // An operator, lured to another site whose form posts "retire" to the fleet: refused
    // (no CSRF token, cross-site), nothing retired.
    b.sign_in(&r.url, "olga", PW);
    let evil = attacker_site(format!("{}/devices/edge-1/retire", r.url));
    b.go(&evil);
    b.click("#go");
    b.wait_until("the forged form's answer", |b| {
        b.current_url().contains("/retire")
    });
    let page = b.source();
    assert!(
        page.contains("unauthorized") || page.contains("forbidden"),
        "forged form: {page}"
    );
    assert_eq!(
        r.get("/api/devices/edge-1").0,
        200,
        "not retired by a forged form"
    );

    // The operator retires edge-2 from its page: gone from the views.
    b.go(&format!("{}/devices/edge-2", r.url));
    b.click("#retire");
    b.wait_for("#retire-button");
    b.click("#retire-button");
    b.wait_until("the device list", |b| b.current_url().ends_with("/devices"));
    assert_eq!(b.count("tr[data-device]"), 1);
    assert_eq!(r.get("/api/devices/edge-2").0, 404);

    // 31 idle minutes on the receiver's clock: the session has expired.
    r.set_clock(r.t0 + 31 * 60);
    b.go(&format!("{}/devices", r.url));
    assert!(
        b.current_url().contains("/login?next=%2Fdevices"),
        "{}",
        b.current_url()
    );
}

#[test]
fn oidc_sign_in_through_ory_hydra_in_chromium() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redirect = format!("https://127.0.0.1:{port}/oidc/callback");
    let started = std::time::Instant::now();
    let hydra = Hydra::start(&redirect, &["fleet-operators"]);
    eprintln!("hydra ready after {:?}", started.elapsed());
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("oidc-secret");
    std::fs::write(&secret, &hydra.client_secret).unwrap();
    let extra = format!(
        "signin:\n  oidc:\n    issuer: {}\n    clientId: {}\n    clientSecretFile: {}\n    redirectUrl: {redirect}\n    scopes: [profile]\n    usernameClaim: preferred_username\n    roleClaim: fleet_roles\n    roles: {{fleet-operators: operator}}\n",
        hydra.issuer,
        hydra.client_id,
        secret.display()
    );
    let r = Receiver::start_on(&["edge-1"], StoreKind::Sqlite, &extra, port);
    report(&r, &["edge-1"]);
    let b = Browser::start(&r.path("server.pem"));
    b.go(&format!("{}/devices", r.url));
    assert!(b.current_url().contains("/login?next=%2Fdevices"));
    b.click("#oidc");
    // Hydra -> the login and consent app -> Hydra -> the fleet's callback -> the page asked for.
    b.wait_until("the page asked for", |b| {
        b.current_url().ends_with("/devices")
    });
    assert_eq!(b.count("tr[data-device]"), 1);
    b.go(&format!("{}/logout", r.url));
    assert!(
        b.source().contains("Signed in as oidc:alice (operator)"),
        "{}",
        b.source()
    );
    // A callback that this browser did not start (a forged or replayed code) is refused.
    let mut resp = r
        .raw_client()
        .get(&format!(
            "{}/oidc/callback?code=stolen&state=guessed",
            r.url
        ))
        .header("Cookie", "__Host-ferry_oidc=other")
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(body.contains("not started in this browser"), "{body}");
}
