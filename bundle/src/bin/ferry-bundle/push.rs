//! `ferry-bundle push`: a signed bundle directory -> an OCI artifact in a registry (the ferry
//! layout, or with `--format flux` the layout `flux push artifact` makes).

use anyhow::{bail, Context, Result};
use ferry_bundle::oci::{self, Reference};
use ferry_bundle::registry::{push_bundle, Connection, PushFormat, Registry};
use ferry_bundle::Manifest;
use std::path::Path;

/// Registry access options from the command line (secrets only from files).
pub struct PushOptions<'a> {
    pub ca_file: Option<&'a str>,
    pub client_cert: Option<&'a str>,
    pub client_key: Option<&'a str>,
    pub basic_auth_file: Option<&'a str>,
    pub docker_config: Option<&'a str>,
    pub plain_http: bool,
    pub flux: bool,
    /// Token services on another origin that may receive the credentials (`--token-realm`).
    pub token_realms: Vec<String>,
}

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {path}"))
}

pub fn connection(reference: &Reference, o: &PushOptions) -> Result<Connection> {
    let credentials = match (o.basic_auth_file, o.docker_config) {
        (Some(f), _) => Some(
            String::from_utf8(read(f)?)
                .context("basic auth file is not UTF-8")?
                .trim()
                .to_string(),
        ),
        (None, Some(f)) => {
            oci::docker_config_credentials(&String::from_utf8_lossy(&read(f)?), &reference.registry)
        }
        (None, None) => None,
    };
    let client_pem = match (o.client_cert, o.client_key) {
        (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
        (None, None) => None,
        _ => bail!("--client-cert and --client-key go together"),
    };
    Ok(Connection {
        ca_pem: o.ca_file.map(read).transpose()?,
        client_pem,
        credentials,
        plain_http: o.plain_http,
        token_realms: o.token_realms.clone(),
        ..Connection::default()
    })
}

/// Pushes the bundle in `dir` (already verified by the caller) to `target`; returns the digest.
pub fn push(
    dir: &Path,
    m: &Manifest,
    manifest_bytes: &[u8],
    signature: &str,
    target: &str,
    o: &PushOptions,
) -> Result<(String, usize)> {
    let reference = Reference::parse(target)?;
    let tag = reference
        .tag
        .clone()
        .unwrap_or_else(|| m.revision.to_string());
    let registry = Registry::new(reference.clone(), &connection(&reference, o)?)?;
    let format = if o.flux {
        PushFormat::Flux
    } else {
        PushFormat::Ferry
    };
    Ok(push_bundle(
        &registry,
        dir,
        m,
        manifest_bytes,
        signature,
        &tag,
        format,
    )?)
}
