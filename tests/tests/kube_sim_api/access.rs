//! Who may talk to kube-sim: client certificates, tokens, impersonation and simple RBAC.

use super::helpers::*;
use ferry_tests::client::Auth;
use serde_json::{json, Value};
#[test]
fn authentication_cert_token_none_and_rogue() {
    let s = sim();
    let url = format!("{}/api/v1/namespaces", s.url());
    let (st, _) = send_as(&s, Auth::ClientCert, &url, None).unwrap();
    assert_eq!(st, 200);
    let (st, _) = send_as(&s, Auth::None, &url, Some(&s.token)).unwrap();
    assert_eq!(st, 200);
    let (st, body) = send_as(&s, Auth::None, &url, Some("wrong")).unwrap();
    assert_eq!(st, 401, "{body}");
    let (st, _) = send_as(&s, Auth::None, &url, None).unwrap();
    assert_eq!(st, 401);
    // A client certificate from another CA fails the TLS handshake.
    assert!(send_as(&s, Auth::RogueClientCert, &url, None).is_err());
    let (st, body) = send_as(&s, Auth::None, &format!("{}/version", s.url()), None).unwrap();
    assert_eq!(st, 200);
    assert!(body.contains("v1.37.2"));
}

#[test]
fn impersonation_and_simple_rbac() {
    let s = sim();
    let c = C::new(&s);
    let as_user = |user: &str, method: &str, path: &str, body: Option<&Value>| {
        let mut r = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", s.url()))
            .header("Impersonate-User", user);
        if body.is_some() {
            r = r.header("Content-Type", APPLY);
        }
        let mut resp = c
            .agent
            .run(
                r.body(body.map(|b| b.to_string()).unwrap_or_default())
                    .unwrap(),
            )
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    let (st, body) = as_user("tenant", "GET", CM_PATH, None);
    assert_eq!(st, 403, "{body}");
    assert!(
        body.contains("User \\\"tenant\\\" cannot list resource \\\"configmaps\\\""),
        "{body}"
    );
    let rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "t", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}, "subjects": [{"kind": "User", "name": "tenant"}]});
    assert_eq!(
        c.apply(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/t",
            "admin",
            &rb
        )
        .0,
        201
    );
    let (st, _) = as_user(
        "tenant",
        "PATCH",
        &format!("{CM_PATH}/x?fieldManager=t"),
        Some(&cm("x", json!({}))),
    );
    assert_eq!(st, 201);
    let (st, _) = as_user(
        "tenant",
        "GET",
        "/api/v1/namespaces/kube-system/configmaps",
        None,
    );
    assert_eq!(st, 403, "no binding in kube-system");
    let (st, _) = as_user("tenant", "GET", "/api/v1/namespaces", None);
    assert_eq!(st, 403, "cluster scope needs a ClusterRoleBinding");
    // A token user is the admin here too and may impersonate; an unauthenticated client may not.
    let (st, _) = send_as(
        &s,
        Auth::None,
        &format!("{}/api/v1/namespaces", s.url()),
        None,
    )
    .unwrap();
    assert_eq!(st, 401);
}
