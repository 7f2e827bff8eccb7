//! The bearer-token challenge flow of the registry client against a loopback HTTPS server that
//! behaves like a registry with a token service (docker-registry's own token auth needs a JWT
//! issuer, so this server stands in for both): 401 with `WWW-Authenticate: Bearer realm=..`,
//! a token endpoint that checks basic credentials, then the request retried with the token.

use ferry_bundle::oci::Reference;
use ferry_bundle::registry::{Connection, Registry};
use ferry_tests::kube_sim::http::{self, Fault, Handler, Request, Response};
use ferry_tests::kube_sim::Pki;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

struct TokenRegistry {
    /// Where the challenge's realm points (the registry's own origin, or another).
    base: String,
    seen: Mutex<Vec<String>>,
}

impl Handler for TokenRegistry {
    fn fault(&self, _: &Request) -> Fault {
        Fault::None
    }
    fn handle(&self, req: Request) -> Response {
        self.seen.lock().unwrap().push(format!(
            "{} {} {}",
            req.method,
            req.path,
            req.header("Authorization").unwrap_or("-")
        ));
        if req.path == "/token" {
            // "edge:pw" in basic auth earns a token scoped as asked.
            if req.header("Authorization") != Some("Basic ZWRnZTpwdw==")
                || req.query("scope") != Some("repository:team/app:pull")
            {
                return Response::new(401, "application/json", b"{}".to_vec());
            }
            return Response::json(
                200,
                &serde_json::json!({"token": "tok-123", "expires_in": 300}),
            );
        }
        if req.header("Authorization") != Some("Bearer tok-123") {
            let mut r = Response::json(
                401,
                &serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
            );
            r.headers.push(("WWW-Authenticate".into(), format!("Bearer realm=\"{}/token\",service=\"test-registry\",scope=\"repository:team/app:pull\"", self.base)));
            return r;
        }
        Response::json(
            200,
            &serde_json::json!({"name": "team/app", "tags": ["1.0.0", "1.2.0"]}),
        )
    }
}

#[test]
fn bearer_challenge_flow() {
    let pki = Pki::generate().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = Arc::new(TokenRegistry {
        base: format!("https://{host}"),
        seen: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    http::serve(
        listener,
        pki.server_config().unwrap(),
        server.clone(),
        stop.clone(),
    );
    let reference = Reference::parse(&format!("oci://{host}/team/app")).unwrap();
    let conn = |creds: Option<&str>| Connection {
        ca_pem: Some(pki.ca_pem.clone().into_bytes()),
        credentials: creds.map(str::to_string),
        ..Connection::default()
    };
    let r = Registry::new(reference.clone(), &conn(Some("edge:pw"))).unwrap();
    assert_eq!(r.tags().unwrap(), ["1.0.0", "1.2.0"]);
    // The token is reused: a second call is one request.
    let before = r.request_count();
    r.tags().unwrap();
    assert_eq!(r.request_count(), before + 1);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0], "GET /v2/team/app/tags/list -");
    assert!(seen[1].starts_with("GET /token Basic"));
    assert_eq!(seen[2], "GET /v2/team/app/tags/list Bearer tok-123");
    // Wrong credentials: the token service refuses and the error says where.
    let bad = Registry::new(reference, &conn(Some("edge:wrong"))).unwrap();
    let e = bad.tags().unwrap_err().to_string();
    assert!(e.contains("token: HTTP 401"), "{e}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The token service on another origin (`localhost` for a registry reached as `127.0.0.1`):
/// the registry credentials go there only when it is listed in `token_realms`.
#[test]
fn credentials_go_to_a_token_service_on_another_origin_only_when_listed() {
    let pki = Pki::generate().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let realm = format!("https://localhost:{port}");
    let server = Arc::new(TokenRegistry {
        base: realm.clone(),
        seen: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    http::serve(
        listener,
        pki.server_config().unwrap(),
        server.clone(),
        stop.clone(),
    );
    let reference = Reference::parse(&format!("oci://127.0.0.1:{port}/team/app")).unwrap();
    let conn = |realms: Vec<String>| Connection {
        ca_pem: Some(pki.ca_pem.clone().into_bytes()),
        credentials: Some("edge:pw".into()),
        token_realms: realms,
        ..Connection::default()
    };
    let e = Registry::new(reference.clone(), &conn(Vec::new()))
        .unwrap()
        .tags()
        .unwrap_err()
        .to_string();
    assert!(e.contains("list it in tokenRealms"), "{e}");
    let seen = server.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|r| !r.starts_with("GET /token")),
        "the unlisted token service was asked: {seen:?}"
    );
    let r = Registry::new(reference, &conn(vec![realm])).unwrap();
    assert_eq!(r.tags().unwrap(), ["1.0.0", "1.2.0"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
}
