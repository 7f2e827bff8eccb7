//! LIST as the real server answers it: selectors, `limit` with opaque `continue` tokens in
//! the apiserver's format (base64 JSON `{"v","rv","start"}`) that expire with 410 Expired once
//! the store was compacted past them (answering a fresh token that continues at the latest
//! version, as the etcd3 store does), and the metadata-only forms
//! (`as=PartialObjectMetadataList` / `as=PartialObjectMetadata`).

use super::errors::ApiError;
use super::http::{Request, Response};
use super::resources::ResourceType;
use super::selectors::{self, LabelSelector};
use super::store::State;
use base64::Engine;
use serde_json::{json, Value};

/// What the client asked the answer to be (the `as=` of its Accept header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Full,
    /// `PartialObjectMetadata(List)` in meta.k8s.io `version`.
    Metadata {
        v1beta1: bool,
    },
}

/// Reads the Accept header: the first media range that asks for partial metadata wins.
pub fn shape(req: &Request) -> Shape {
    let accept = req.header("Accept").unwrap_or_default();
    for range in accept.split(',') {
        let params: Vec<(String, String)> = range
            .split(';')
            .skip(1)
            .filter_map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        let get = |k: &str| params.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        if get("as").is_some_and(|a| a.starts_with("PartialObjectMetadata"))
            && get("g") == Some("meta.k8s.io")
        {
            return Shape::Metadata {
                v1beta1: get("v") == Some("v1beta1"),
            };
        }
    }
    Shape::Full
}

fn media(kind: &str, v1beta1: bool) -> String {
    format!(
        "application/json;as={kind};g=meta.k8s.io;v={}",
        if v1beta1 { "v1beta1" } else { "v1" }
    )
}

/// One object as PartialObjectMetadata.
pub fn partial(obj: &Value, v1beta1: bool) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": if v1beta1 { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
           "metadata": obj["metadata"]})
}

/// A GET answer in the shape the client asked for.
pub fn get_response(obj: Value, shape: Shape) -> Response {
    match shape {
        Shape::Full => Response::json(200, &obj),
        Shape::Metadata { v1beta1 } => {
            let mut r = Response::json(200, &partial(&obj, v1beta1));
            r.content_type = media("PartialObjectMetadata", v1beta1);
            r
        }
    }
}

/// A continue token: the list's resourceVersion (-1: continue at the latest) and the key the
/// next page starts after.
fn encode_token(rv: i64, start: &str) -> String {
    let t = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{start}\u{0}")});
    base64::engine::general_purpose::URL_SAFE.encode(t.to_string())
}

fn decode_token(token: &str) -> Result<(i64, String), ApiError> {
    let bad = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if v["v"] != "meta.k8s.io/v1" {
        return Err(bad());
    }
    let rv = v["rv"].as_i64().ok_or_else(bad)?;
    let start = v["start"]
        .as_str()
        .ok_or_else(bad)?
        .trim_end_matches('\u{0}')
        .to_string();
    Ok((rv, start))
}

fn item_key(obj: &Value) -> (String, String) {
    (
        obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn key_text((ns, name): &(String, String)) -> String {
    if ns.is_empty() {
        name.clone()
    } else {
        format!("{ns}/{name}")
    }
}

fn parse_key(text: &str) -> (String, String) {
    match text.split_once('/') {
        Some((ns, name)) => (ns.to_string(), name.to_string()),
        None => (String::new(), text.to_string()),
    }
}

/// LIST `rt` (in `namespace`, if given).
pub fn list(
    state: &State,
    rt: &ResourceType,
    namespace: Option<&str>,
    req: &Request,
) -> Result<Response, ApiError> {
    let label = LabelSelector::parse(req.query("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let field = req.query("fieldSelector").unwrap_or("");
    let mut items = Vec::new();
    for obj in state.list(rt, namespace) {
        if label.matches(&selectors::labels_of(&obj))
            && selectors::field_matches(field, &obj).map_err(ApiError::bad_request)?
        {
            items.push(obj);
        }
    }
    let mut list_rv = state.rv as i64;
    if let Some(token) = req.query("continue").filter(|t| !t.is_empty()) {
        let (rv, start) = decode_token(token)?;
        if rv >= 0 && (rv as u64) <= state.compacted_rv {
            return Err(ApiError::continue_expired(encode_token(-1, &start)));
        }
        if rv >= 0 {
            list_rv = rv;
        }
        let after = parse_key(&start);
        items.retain(|o| item_key(o) > after);
    }
    let limit: usize = req
        .query("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let total = items.len();
    items.truncate(limit);
    let mut meta = json!({"resourceVersion": list_rv.max(0).to_string()});
    if items.len() < total {
        let last = items.last().map(item_key).unwrap_or_default();
        meta["continue"] = json!(encode_token(list_rv.max(0), &key_text(&last)));
        // The etcd3 store counts what remains only when no selector filters the list.
        if label.is_empty() && field.is_empty() {
            meta["remainingItemCount"] = json!(total - items.len());
        }
    } else if rt.crd.is_some() {
        // Unstructured lists write their empty continue token.
        meta["continue"] = json!("");
    }
    if rt.crd.is_none() {
        // Typed lists encode their items without kind and apiVersion.
        for item in &mut items {
            if let Some(m) = item.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
        }
    }
    if super::tables::wanted(req, rt) {
        return Ok(super::tables::namespaces(&items, meta));
    }
    Ok(match shape(req) {
        Shape::Full => Response::json(
            200,
            &json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.group_version(), "metadata": meta, "items": items}),
        ),
        Shape::Metadata { v1beta1 } => {
            let items: Vec<Value> = items.iter().map(|o| partial(o, v1beta1)).collect();
            let api_version = if v1beta1 {
                "meta.k8s.io/v1beta1"
            } else {
                "meta.k8s.io/v1"
            };
            let mut r = Response::json(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": api_version, "metadata": meta, "items": items}),
            );
            r.content_type = media("PartialObjectMetadataList", v1beta1);
            r
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let t = encode_token(1234, "default/web");
        assert_eq!(decode_token(&t).unwrap(), (1234, "default/web".to_string()));
        assert!(decode_token("not-a-token").is_err());
    }
}
