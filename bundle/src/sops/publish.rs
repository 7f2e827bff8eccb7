//! Finds the Secrets a kustomization generated from SOPS sources (`secretGenerator` `envs` and
//! `files`), after `kustomize build` ran with the sources still encrypted: a Secret whose
//! `sops_mac` equals a SOPS dotenv file's came from that file (`envs`), a value whose bytes
//! equal a binary SOPS file's came from it (`files`). The sources are copied into the bundle
//! under [`SOURCES_DIR`] and the Secrets recorded in the manifest, so the device completes
//! them ([`super::generator`], docs/secrets.md). The publisher's side; errors are sentences
//! naming the Secret, key and file.

use super::generator::{FileSource, GeneratedSecret};
use super::Format;
use crate::render;
use base64::Engine;
use std::fs;
use std::path::Path;

type Result<T> = std::result::Result<T, String>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*)) };
}

/// Where the sources travel in the bundle.
pub const SOURCES_DIR: &str = "secret-sources";

/// A generated Secret found in the rendered stream.
pub struct Found {
    pub entry: GeneratedSecret,
    /// `rendered.yaml#N`, as the content check names it.
    pub origin: String,
    /// Keys that came from no SOPS source (literals, plain files): they travel readable.
    pub plain_keys: Vec<String>,
}

struct Source {
    path: String,
    bytes: Vec<u8>,
    format: Format,
}

impl Source {
    /// A dotenv file's `sops_mac` line and its (non-metadata) keys.
    fn env(&self) -> Option<(&str, Vec<&str>)> {
        let text = std::str::from_utf8(&self.bytes).ok()?;
        let lines = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let mac = lines.clone().find_map(|l| l.strip_prefix("sops_mac="))?;
        let keys = lines
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim_start()))
            .filter(|k| !k.starts_with("sops_"))
            .collect();
        Some((mac, keys))
    }
}

/// The SOPS files under `src` (any format, recognised by their metadata).
fn sources(src: &Path) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    let collected = crate::source_dir::collect(src).map_err(|e| e.to_string())?;
    for f in collected.files {
        let bytes = fs::read(&f.disk_path)
            .map_err(|e| format!("reading {}: {e}", f.disk_path.display()))?;
        let dotenv = bytes.starts_with(b"sops_mac=ENC[")
            || bytes.windows(14).any(|w| w == b"\nsops_mac=ENC[");
        let format = match dotenv {
            true => Format::Dotenv,
            false => Format::for_path(&f.entry.path),
        };
        if super::looks_like_sops(&bytes)
            && super::inspect_as(&f.entry.path, &bytes, format).is_ok()
        {
            out.push(Source {
                path: f.entry.path,
                bytes,
                format,
            });
        }
    }
    Ok(out)
}

fn decode(value: &serde_json::Value) -> Option<Vec<u8>> {
    let text: String = value.as_str()?.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Finds the generated Secrets in `rendered` (the kustomize output written to `out` as
/// `file`) and copies their sources from `src` into `out`.
pub fn find(src: &Path, out: &Path, file: &str, rendered: &[u8]) -> Result<Vec<Found>> {
    let sources = sources(src)?;
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let vars = Default::default();
    let how = render::Substitution {
        vars: &vars,
        strict: false,
    };
    let objects = render::render_file_with(file, rendered, &how)
        .map_err(|e| format!("content check: {e}"))?;
    let mut found = Vec::new();
    for o in objects
        .iter()
        .filter(|o| o.api_version == "v1" && o.kind == "Secret")
    {
        let Some(data) = o.value["data"].as_object() else {
            continue;
        };
        let at = |key: &str| format!("{}: Secret key {key:?}", o.origin);
        let mut envs = Vec::new();
        let mut files = Vec::new();
        let mut covered: Vec<&str> = Vec::new();
        if let Some(mac) = data.get("sops_mac").and_then(decode) {
            let env = sources.iter().find_map(|s| {
                let (m, keys) = s.env()?;
                (m.as_bytes() == mac).then_some((s, keys))
            });
            let Some((s, keys)) = env else {
                bail!("{}: SOPS dotenv metadata from no SOPS file under {} (only one SOPS envs source per secretGenerator: their sops_ keys would collide)", at("sops_mac"), src.display());
            };
            envs.push(format!("{SOURCES_DIR}/{}", s.path));
            covered.extend(keys);
        }
        let mut plain_keys = Vec::new();
        for (key, value) in data {
            if covered.contains(&key.as_str()) || (!envs.is_empty() && key.starts_with("sops_")) {
                continue;
            }
            let bytes = decode(value).unwrap_or_default();
            match sources.iter().find(|s| s.bytes == bytes) {
                Some(s) if s.format == Format::Binary => files.push(FileSource {
                    key: key.clone(),
                    path: format!("{SOURCES_DIR}/{}", s.path),
                }),
                Some(s) => bail!(
                    "{}: the SOPS {} file {} as a `files:` source is not supported (the device would have to re-emit it as sops does); use `envs:` for a dotenv file, or encrypt the file as binary (any other extension)",
                    at(key),
                    s.format.name(),
                    s.path
                ),
                None if String::from_utf8_lossy(&bytes).contains("ENC[AES256_GCM,") => bail!(
                    "{}: holds SOPS ciphertext that is no whole SOPS file under {}",
                    at(key),
                    src.display()
                ),
                None => plain_keys.push(key.clone()),
            }
        }
        if envs.is_empty() && files.is_empty() {
            continue;
        }
        found.push(Found {
            entry: GeneratedSecret {
                file: file.into(),
                name: o.value["metadata"]["name"].as_str().unwrap_or("").into(),
                namespace: o.value["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .into(),
                envs,
                files,
            },
            origin: o.origin.clone(),
            plain_keys,
        });
    }
    for path in found.iter().flat_map(|f| f.entry.sources()) {
        let rel = path.trim_start_matches(SOURCES_DIR).trim_start_matches('/');
        let dst = out.join(path);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        fs::copy(src.join(rel), &dst).map_err(|e| format!("copying {rel}: {e}"))?;
    }
    Ok(found)
}
