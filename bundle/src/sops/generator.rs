//! Kustomize `secretGenerator`s with SOPS sources, as Flux reads them, split between the
//! publisher and the device (docs/secrets.md, "Kustomize secretGenerator"):
//!
//! - `ferry-bundle build` renders the kustomization with the sources still encrypted, so the
//!   generated Secret's data holds their ciphertext and its name hash suffix is Kustomize's own
//!   hash of that ciphertext (references elsewhere are rewritten by Kustomize as usual). It
//!   records the Secret and its SOPS sources in the signed manifest ([`GeneratedSecret`]) and
//!   ships the sources as they are.
//! - The device decrypts the sources and [`fill`]s the Secret's data with what Kustomize would
//!   have generated from the plaintext (Flux decrypts before `kustomize build`): an `envs`
//!   source gives its keys, each value as Kustomize reads sops's decrypted dotenv (a newline
//!   stays the two characters `\n`); a `files` source (a binary sops file) gives one key whose
//!   value is the file's bytes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most generated Secrets in one manifest, and most sources for one of them.
pub const MAX_GENERATED: usize = 256;
pub const MAX_SOURCES: usize = 64;

/// A Secret generated at build from SOPS sources, completed on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratedSecret {
    /// The bundle file holding the rendered Secret (its data the sources' ciphertext).
    pub file: String,
    /// The Secret's name as rendered (with Kustomize's prefix, suffix and hash).
    pub name: String,
    /// Its namespace as rendered (empty: the sync's namespace).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// SOPS dotenv files (bundle paths) read as `envs` sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub envs: Vec<String>,
    /// Binary SOPS files read as `files` sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileSource>,
}

/// A `files` source: the data key and the bundle path of the binary SOPS file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    pub key: String,
    pub path: String,
}

impl GeneratedSecret {
    /// Every source path, `envs` first.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.envs
            .iter()
            .map(String::as_str)
            .chain(self.files.iter().map(|f| f.path.as_str()))
    }

    /// True for the rendered object this entry completes.
    pub fn is(&self, file: &str, value: &Value) -> bool {
        let meta = &value["metadata"];
        self.file == file
            && value["apiVersion"] == "v1"
            && value["kind"] == "Secret"
            && meta["name"] == self.name.as_str()
            && meta["namespace"].as_str().unwrap_or_default() == self.namespace
    }
}

/// Checks the entries' shapes: files and sources listed (`listed`), bounded, a source never
/// a manifest file the device would also apply.
pub fn check(entries: &[GeneratedSecret], listed: impl Fn(&str) -> bool) -> Result<(), String> {
    if entries.len() > MAX_GENERATED {
        return Err(format!("more than {MAX_GENERATED} generated Secrets"));
    }
    for e in entries {
        let name = crate::text::shown(&e.name);
        if e.name.is_empty() || !listed(&e.file) {
            return Err(format!("{name}: no name, or its file is not listed"));
        }
        if e.envs.len() + e.files.len() > MAX_SOURCES || e.envs.len() + e.files.len() == 0 {
            return Err(format!("{name}: between 1 and {MAX_SOURCES} sources"));
        }
        if e.envs.len() > 1 {
            return Err(format!("{name}: more than one SOPS envs source"));
        }
        for s in e.sources() {
            if !listed(s) || crate::render::is_manifest_file(s) {
                return Err(format!(
                    "{name}: source {:?} is not listed, or is a manifest file",
                    crate::text::shown(s)
                ));
            }
        }
    }
    Ok(())
}

/// True for a key Kustomize accepts from an env file (`IsEnvVarName`).
pub fn is_env_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'-' || b == b'.')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Replaces the ciphertext in a rendered Secret's `data` with the plaintext: `env` the
/// decrypted dotenv mapping (its keys replace the file's keys and its `sops_` lines), `files`
/// the decrypted bytes per key. Errors name keys, never values.
pub fn fill(
    secret: &mut Value,
    env: Option<&serde_json::Map<String, Value>>,
    files: &[(&str, &[u8])],
) -> Result<(), String> {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let Some(data) = secret.get_mut("data").and_then(Value::as_object_mut) else {
        return Err("the rendered Secret has no data".into());
    };
    if let Some(env) = env {
        if !data.contains_key("sops_mac") {
            return Err("the rendered Secret holds no SOPS env file".into());
        }
        data.retain(|k, _| !k.starts_with("sops_") && !env.contains_key(k));
        for (k, v) in env {
            let key = k.trim_start();
            let Some(v) = v.as_str().filter(|_| is_env_name(key)) else {
                return Err(format!("env key {:?} is not valid", crate::text::shown(k)));
            };
            // Kustomize reads sops's decrypted dotenv, where a newline is written `\n`.
            let value = zeroize::Zeroizing::new(v.replace('\n', "\\n"));
            data.insert(key.to_string(), Value::String(b64(value.as_bytes())));
        }
    }
    for (key, bytes) in files {
        match data.get_mut(*key) {
            Some(slot) => *slot = Value::String(b64(bytes)),
            None => {
                return Err(format!(
                    "the rendered Secret has no key {:?}",
                    crate::text::shown(key)
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fill_replaces_ciphertext_with_what_kustomize_would_generate() {
        let mut s = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "c-1"},
            "data": {"A": "RU5D", "sops_mac": "RU5D", "sops_version": "My4x", "LIT": "eA==", "f": "e30="}});
        let env = json!({"A": "one\ntwo"});
        fill(&mut s, env.as_object(), &[("f", b"\x00\xff")]).unwrap();
        assert_eq!(
            s["data"],
            json!({"A": "b25lXG50d28=", "LIT": "eA==", "f": "AP8="})
        );
        let e = fill(&mut s.clone(), None, &[("g", b"")]).unwrap_err();
        assert!(e.contains("no key \"g\""), "{e}");
        let e = fill(&mut s, env.as_object(), &[]).unwrap_err();
        assert!(e.contains("no SOPS env"), "{e}");
    }

    #[test]
    fn entries_are_checked() {
        let entry = GeneratedSecret {
            file: "rendered.yaml".into(),
            name: "c".into(),
            namespace: String::new(),
            envs: vec!["secret-sources/a.env".into()],
            files: vec![],
        };
        assert!(check(std::slice::from_ref(&entry), |_| true).is_ok());
        let mut yaml_source = entry.clone();
        yaml_source.envs = vec!["a.yaml".into()];
        assert!(check(&[yaml_source], |_| true).is_err());
        assert!(check(std::slice::from_ref(&entry), |p| p
            != "secret-sources/a.env")
        .is_err());
        assert!(!is_env_name("1A") && is_env_name("A_1.b-c"));
    }
}
