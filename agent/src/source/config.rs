//! A sync's `source:` in agent.yaml: where its bundles come from (a directory, HTTP(S), Git,
//! an OCI registry) and with which credentials.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Where a sync gets its bundles.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// A local directory (or USB mount) holding `.bundle` archives and/or bundle directories.
    Directory {
        path: PathBuf,
        /// Move refused candidates here, each with a `.reason` file (never deleted silently).
        quarantine: Option<PathBuf>,
    },
    /// HTTP(S): a `.bundle` archive URL, or the base URL (ending in `/`) of an exploded layout.
    #[serde(rename_all = "camelCase")]
    Http {
        url: String,
        /// Detached signature, when the archive or layout has none of its own.
        signature_url: Option<String>,
        #[serde(
            default = "default_http_timeout",
            deserialize_with = "ferry_bundle::config_file::duration"
        )]
        timeout: Duration,
        #[serde(flatten)]
        auth: crate::outbound::EndpointTls,
    },
    /// A Git repository (`https://`, `git://` or a local path) holding a signed bundle at `path`.
    #[serde(rename_all = "camelCase")]
    Git {
        url: String,
        branch: Option<String>,
        tag: Option<String>,
        /// Highest tag matching this range (Cargo syntax).
        semver: Option<String>,
        commit: Option<String>,
        /// Directory of the bundle in the repository (default: the root).
        #[serde(default)]
        path: String,
        /// Deadline of each request (HTTPS) or connection (`git://`), pack included.
        #[serde(
            default = "default_fetch_timeout",
            deserialize_with = "ferry_bundle::config_file::duration"
        )]
        timeout: Duration,
        /// Largest pack a fetch may receive (default: the bundle limits' total, manifest and
        /// signature sizes plus 16 MiB).
        max_pack_bytes: Option<u64>,
        #[serde(flatten)]
        auth: crate::outbound::EndpointTls,
    },
    /// An OCI registry: `url: oci://host[:port]/repository` plus one of tag, digest, semver.
    #[serde(rename_all = "camelCase")]
    Oci {
        url: String,
        tag: Option<String>,
        digest: Option<String>,
        /// Highest tag matching this range (Cargo syntax, e.g. `>=1.2, <2`).
        semver: Option<String>,
        ca_file: Option<PathBuf>,
        client_cert: Option<PathBuf>,
        client_key: Option<PathBuf>,
        /// `user:password` for basic auth or the registry's token service.
        basic_auth_file: Option<PathBuf>,
        /// A docker `config.json` holding credentials for the registry.
        docker_config: Option<PathBuf>,
        /// Plain HTTP (only for a registry on a trusted private link).
        #[serde(default)]
        plain_http: bool,
        /// Deadline of each request to the registry, body included.
        #[serde(
            default = "default_fetch_timeout",
            deserialize_with = "ferry_bundle::config_file::duration"
        )]
        timeout: Duration,
        /// Token services on another origin (`https://host[:port]`) that may receive the
        /// registry credentials.
        #[serde(default)]
        token_realms: Vec<String>,
    },
}

fn default_fetch_timeout() -> Duration {
    Duration::from_secs(600)
}

fn default_http_timeout() -> Duration {
    Duration::from_secs(300)
}

impl SourceConfig {
    /// The local paths this source names (resolved against the config file's directory).
    pub fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        match self {
            SourceConfig::Directory { path, quarantine } => {
                std::iter::once(path).chain(quarantine.iter_mut()).collect()
            }
            SourceConfig::Http { auth, .. } | SourceConfig::Git { auth, .. } => auth.paths_mut(),
            SourceConfig::Oci {
                ca_file,
                client_cert,
                client_key,
                basic_auth_file,
                docker_config,
                ..
            } => [
                ca_file,
                client_cert,
                client_key,
                basic_auth_file,
                docker_config,
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }
}
