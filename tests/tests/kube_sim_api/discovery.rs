//! Discovery (legacy, aggregated, OpenAPI v3) and CRD resources served once established.

use super::helpers::*;
use ferry_tests::client::{agent, Auth};
use serde_json::Value;
use std::time::Duration;
#[test]
fn discovery_legacy_aggregated_and_openapi() {
    let s = sim();
    let a = agent(&s, Auth::ClientCert);
    let get = |path: &str, accept: Option<&str>| {
        let mut r = ureq::http::Request::builder().uri(format!("{}{path}", s.url()));
        if let Some(acc) = accept {
            r = r.header("Accept", acc);
        }
        let mut resp = a.run(r.body(()).unwrap()).unwrap();
        let ct = resp
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        (
            ct,
            serde_json::from_str::<Value>(&resp.body_mut().read_to_string().unwrap()).unwrap(),
        )
    };
    let (_, groups) = get("/apis", None);
    assert_eq!(groups["kind"], "APIGroupList");
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "helm.cattle.io"),
        "HelmChart CRD pre-installed"
    );
    let (ct, agg) = get(
        "/apis",
        Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        ),
    );
    assert_eq!(
        ct,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(agg["kind"], "APIGroupDiscoveryList");
    let (_, core) = get("/api/v1", None);
    let ns = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "namespaces")
        .unwrap()
        .clone();
    assert_eq!(ns["namespaced"], false);
    let (_, root) = get("/openapi/v3", None);
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains("?hash="));
    let (_, doc) = get(&url, None);
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    assert!(patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fieldValidation"));
}

#[test]
fn crd_resources_are_served_only_after_established() {
    let s = manual_sim(|c| c.crd_delay = Duration::from_secs(5));
    let c = C::new(&s);
    let crd: Value = ferry_bundle::yaml::value_from_str(
        "crd.yaml",
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../k3s-examples/crd/crd.yaml"
        ))
        .unwrap(),
        &ferry_bundle::yaml::Budget::default(),
    )
    .unwrap();
    assert_eq!(
        c.apply(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sensors.edge.example.com",
            "ferry",
            &crd
        )
        .0,
        201
    );
    assert_eq!(c.get("/apis/edge.example.com/v1/sensors").0, 404);
    s.advance(Duration::from_secs(4));
    assert_eq!(
        c.get("/apis/edge.example.com/v1/sensors").0,
        404,
        "not before crd_delay"
    );
    s.advance(Duration::from_secs(1));
    let (st, l) = c.get("/apis/edge.example.com/v1/sensors");
    assert_eq!(st, 200, "{l}");
    let crd = s
        .object(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "",
            "sensors.edge.example.com",
        )
        .unwrap();
    assert!(crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True"));
}
