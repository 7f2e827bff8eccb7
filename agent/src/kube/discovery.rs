//! Resource discovery with a cache: group/version/kind -> plural and scope. A group/version
//! is fetched once and re-fetched only when a kind is missing (a CRD may have just become
//! established).

use super::client::{KubeClient, KubeError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// What the API server says about one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The collection URL (`/apis/apps/v1/namespaces/demo/deployments`).
    pub fn url_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace.filter(|_| self.namespaced) {
            Some(ns) => format!("{base}/namespaces/{ns}/{}", self.plural),
            None => format!("{base}/{}", self.plural),
        }
    }
}

/// Splits `apps/v1` into ("apps", "v1") and `v1` into ("", "v1").
pub fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

/// A discovery cache shared by the syncs of one agent.
#[derive(Default)]
pub struct Discovery {
    /// api_version -> kind -> info; a fetched group/version with no kinds is cached empty.
    cache: Mutex<BTreeMap<String, BTreeMap<String, ResourceInfo>>>,
}

impl Discovery {
    pub fn new() -> Self {
        Self::default()
    }

    /// Looks up a kind; `Ok(None)` when the server does not serve it (yet).
    pub fn resolve(
        &self,
        client: &KubeClient,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<ResourceInfo>, KubeError> {
        if let Some(hit) = self.cached(api_version, kind) {
            return Ok(Some(hit));
        }
        self.refresh(client, api_version)?;
        Ok(self.cached(api_version, kind))
    }

    fn cached(&self, api_version: &str, kind: &str) -> Option<ResourceInfo> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(api_version)
            .and_then(|m| m.get(kind))
            .cloned()
    }

    /// Fetches one group/version's resource list.
    pub fn refresh(&self, client: &KubeClient, api_version: &str) -> Result<(), KubeError> {
        let (group, version) = split_api_version(api_version);
        let path = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let mut kinds = BTreeMap::new();
        match client.get_path(&path) {
            Ok(list) => {
                for r in list["resources"].as_array().into_iter().flatten() {
                    let name = r["name"].as_str().unwrap_or_default();
                    if name.contains('/') {
                        continue;
                    }
                    let kind = r["kind"].as_str().unwrap_or_default().to_string();
                    kinds.insert(
                        kind.clone(),
                        ResourceInfo {
                            group: group.clone(),
                            version: version.clone(),
                            kind,
                            plural: name.into(),
                            namespaced: r["namespaced"].as_bool().unwrap_or(true),
                        },
                    );
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(api_version.to_string(), kinds);
        Ok(())
    }

    /// Forgets the given group/versions (after CRDs changed).
    pub fn invalidate(&self, api_versions: &BTreeSet<String>) {
        let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for av in api_versions {
            c.remove(av);
        }
    }
}
