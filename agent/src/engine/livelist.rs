//! Reads of live objects (executor). Metadata-only LIST: one paginated request series per kind
//! and namespace with ferry's label selector, restarted from the beginning when the server
//! expired the continue token (410 Gone); a server that answers with full objects is accepted
//! too. GET of one object ([`get_live`]), shared by check, write, wait and prune.

use super::drift::LiveRecord;
use super::ownership;
use crate::kube::{KubeClient, KubeError, ResourceInfo};
use kube::core::params::{GetParams, ListParams};
use kube::core::Request;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Items per page.
const PAGE: u32 = 500;
/// Restarts after an expired continue token before giving up.
const MAX_RESTARTS: u32 = 3;
/// What kubectl sends: metadata if the server can, full objects otherwise.
const ACCEPT: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/// One listed object: its record, its `managedFields`, and whether it is being deleted.
#[derive(Debug, Clone)]
pub struct Listed {
    pub record: LiveRecord,
    /// Null when ferry's apply entry is the only one (`ownership::others_manage`): nothing
    /// to yield, and most objects of a LIST are so (a copy was ~2 KiB a ConfigMap).
    pub managed_fields: Value,
    pub terminating: bool,
}

/// One page of a LIST, decoded into the fields the drift check uses (not a JSON tree of the
/// whole page: items carry labels, annotations and more that are dropped while decoding).
#[derive(Deserialize)]
struct Page {
    /// Go encodes an empty list as `null`.
    #[serde(default)]
    items: Option<Vec<PageItem>>,
    #[serde(default)]
    metadata: Option<PageMetadata>,
}

#[derive(Deserialize)]
struct PageMetadata {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

#[derive(Deserialize)]
struct PageItem {
    #[serde(default)]
    metadata: Option<ItemMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemMetadata {
    name: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    #[serde(default)]
    managed_fields: Value,
    #[serde(default)]
    deletion_timestamp: Option<String>,
}

/// Lists `info` objects in `namespace` (None: cluster-scoped) matching `selector`, by name.
pub fn list_metadata(
    client: &KubeClient,
    info: &ResourceInfo,
    namespace: Option<&str>,
    selector: &str,
) -> Result<BTreeMap<String, Listed>, KubeError> {
    let mut restarts = 0;
    'restart: loop {
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let params = ListParams {
                label_selector: Some(selector.to_string()),
                limit: Some(PAGE),
                continue_token: token.clone(),
                ..ListParams::default()
            };
            let mut req = Request::new(info.url_path(namespace))
                .list_metadata(&params)
                .map_err(|e| KubeError::Request {
                    what: info.url_path(namespace),
                    reason: e.to_string(),
                })?;
            req.headers_mut()
                .insert(http::header::ACCEPT, http::HeaderValue::from_static(ACCEPT));
            let page: Page = match client.send_as(req) {
                Ok(p) => p,
                Err(e) if e.code() == Some(410) && restarts < MAX_RESTARTS => {
                    restarts += 1;
                    tracing::debug!("continue token expired, listing again: {e}");
                    continue 'restart;
                }
                Err(e) => return Err(e),
            };
            for m in page.items.into_iter().flatten().filter_map(|i| i.metadata) {
                let (Some(name), Some(uid), Some(rv)) = (m.name, m.uid, m.resource_version) else {
                    continue;
                };
                let record = LiveRecord::from_metadata(uid, rv, &m.managed_fields);
                let managed_fields = match ownership::others_manage(&m.managed_fields) {
                    true => m.managed_fields,
                    false => Value::Null,
                };
                out.insert(
                    name,
                    Listed {
                        record,
                        managed_fields,
                        terminating: m.deletion_timestamp.is_some(),
                    },
                );
            }
            token = page
                .metadata
                .and_then(|m| m.continue_token)
                .filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

/// GETs a live object; None when it does not exist.
pub fn get_live(
    client: &KubeClient,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, KubeError> {
    let ns = (!namespace.is_empty()).then_some(namespace);
    let req = Request::new(info.url_path(ns))
        .get(name, &GetParams::default())
        .map_err(|e| KubeError::Request {
            what: name.into(),
            reason: e.to_string(),
        })?;
    match client.send(req) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}
