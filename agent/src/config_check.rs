//! Checks of the configuration against the machine, run by `check-config` and before any
//! command that syncs (`run`, `sync`, ...), so `check-config` passing means `run` starts:
//! every path that must exist exists; the quarantine is not the drop or inside it; trust
//! anchors (keys) and the config file are not writable by others, nor any directory on their
//! way that lets others rename them away (refused, or only warned with
//! `insecureAllowWritableTrust: true`); `images.listen` is a loopback IP:PORT; a relay
//! (`serve`) has a private site token file; the `host`
//! section's allow-list and self path are absolute, normalized host paths and its root is an
//! existing directory; allow-listed places others can write (or a directory on their way) and
//! host-capable syncs that are fenced or share their keys are warned about.

use crate::config::{AgentConfig, SourceConfig};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A configuration that cannot run on this machine.
#[derive(Debug, Error)]
pub enum CheckError {
    #[error("{what} {path} does not exist or cannot be read: {reason}")]
    Missing {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "{what} {path} {problem}; fix its permissions or set insecureAllowWritableTrust: true"
    )]
    Writable {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
    #[error(transparent)]
    Images(#[from] crate::images::MirrorSetupError),
    #[error(transparent)]
    RelayToken(#[from] crate::serve::TokenError),
    #[error("host.{field}: {source}")]
    HostPath {
        field: &'static str,
        source: ferry_bundle::host::HostError,
    },
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("host.root {0} is not a directory")]
    HostRootNotDirectory(PathBuf),
    #[error("sync {sync}: {source}")]
    Quarantine {
        sync: String,
        source: crate::source::quarantine::QuarantineError,
    },
}

/// Findings that do not stop the agent (printed by `check-config`, logged by `run`).
pub type Warnings = Vec<String>;

/// Runs every check; `config_path` is the file the configuration was read from.
pub fn check(cfg: &AgentConfig, config_path: &Path) -> Result<Warnings, CheckError> {
    let mut warnings = Vec::new();
    let mut trust = |what: &'static str, path: &Path| -> Result<(), CheckError> {
        let finding = match writable_by_others(path) {
            Some(problem) => Some((what, path.to_path_buf(), problem)),
            None => parent_writable_by_others(path).map(|(dir, problem)| {
                let problem = format!("{problem}, so {what} {} can be replaced", path.display());
                ("parent directory", dir, problem)
            }),
        };
        match finding {
            None => Ok(()),
            Some((what, path, problem)) if cfg.insecure_allow_writable_trust => {
                warnings.push(format!("{what} {} {problem}", path.display()));
                Ok(())
            }
            Some((what, path, problem)) => Err(CheckError::Writable {
                what,
                path,
                problem,
            }),
        }
    };
    trust("config", config_path)?;
    if cfg
        .syncs
        .iter()
        .any(|s| !s.insecure_skip_signature && s.keys.is_none())
    {
        must_exist("keys", &cfg.keys)?;
        trust_tree(&cfg.keys, &mut trust)?;
    }
    for s in &cfg.syncs {
        if let (Some(k), false) = (&s.keys, s.insecure_skip_signature) {
            must_exist("keys", k)?;
            trust_tree(k, &mut trust)?;
        }
        match &s.source {
            SourceConfig::Directory {
                path,
                quarantine: Some(q),
            } => crate::source::quarantine::check_placement(q, path).map_err(|source| {
                CheckError::Quarantine {
                    sync: s.name.clone(),
                    source,
                }
            })?,
            SourceConfig::Directory { .. } => {}
            SourceConfig::Http { auth, .. } | SourceConfig::Git { auth, .. } => {
                for p in auth.clone().paths_mut() {
                    must_exist("credential file", p)?;
                }
            }
            SourceConfig::Oci {
                ca_file,
                client_cert,
                client_key,
                basic_auth_file,
                docker_config,
                ..
            } => {
                for p in [
                    ca_file,
                    client_cert,
                    client_key,
                    basic_auth_file,
                    docker_config,
                ]
                .into_iter()
                .flatten()
                {
                    must_exist("credential file", p)?;
                }
            }
        }
    }
    if let Some(images) = &cfg.images {
        crate::images::loopback(&images.listen)?;
    }
    if let Some(serve) = &cfg.serve {
        crate::serve::RelayTokens::load(serve.token_file.as_deref())?;
    }
    if let Some(k) = &cfg.kubeconfig {
        must_exist("kubeconfig", k)?;
    }
    for n in &cfg.notifications {
        for p in n.tls.clone().paths_mut() {
            must_exist("credential file", p)?;
        }
    }
    if let Some(f) = &cfg.fleet {
        for p in f.tls.clone().paths_mut() {
            must_exist("credential file", p)?;
        }
    }
    if let Some(h) = &cfg.host {
        warnings.extend(check_host(h)?);
    }
    warnings.extend(host_capable_syncs(cfg));
    crate::secrets::check(cfg.decryption.as_ref())?;
    Ok(warnings)
}

/// Host-capable syncs whose settings suggest a tenant (fence, impersonation) or whose keys
/// other syncs trust too: their host sections run as root.
fn host_capable_syncs(cfg: &AgentConfig) -> Warnings {
    let mut warnings = Vec::new();
    for s in cfg.syncs.iter().filter(|s| s.host.enabled) {
        if !s.namespaces.is_empty() || s.impersonate.is_some() {
            warnings.push(format!(
                "sync {}: host-capable with a namespace fence or impersonation; its host \
                 section runs as root, outside the fence and the identity",
                s.name
            ));
        }
        let keys = s.keys.as_ref().unwrap_or(&cfg.keys);
        if let Some(other) = cfg
            .syncs
            .iter()
            .find(|o| o.name != s.name && o.keys.as_ref().unwrap_or(&cfg.keys) == keys)
        {
            warnings.push(format!(
                "sync {}: host-capable but trusts the same keys as sync {} ({}); give it its own `keys`",
                s.name,
                other.name,
                keys.display()
            ));
        }
    }
    warnings
}

/// Allow-listed places others can write, or with a directory on their way that others could
/// rename: what ferry installs there could be replaced by someone other than root.
fn writable_allow_list(h: &crate::host::HostConfig) -> Warnings {
    let mut warnings = Vec::new();
    for a in &h.allow {
        let path = crate::host::units::under_root(&h.root, a.trim_end_matches('/'));
        let finding = writable_by_others(&path)
            .map(|problem| format!("{} {problem}", path.display()))
            .or_else(|| {
                parent_writable_by_others(&path)
                    .map(|(dir, problem)| format!("parent directory {} {problem}", dir.display()))
            });
        if let Some(f) = finding {
            warnings.push(format!(
                "host.allow {a}: {f}; others could replace the host files ferry installs there"
            ));
        }
    }
    warnings
}

/// The `host` section: allow-list entries and the self path are absolute, normalized host paths
/// (a directory entry ends in `/`), the root is an existing directory.
fn check_host(h: &crate::host::HostConfig) -> Result<Warnings, CheckError> {
    use ferry_bundle::host::validate_target;
    let path = |field: &'static str| move |source| CheckError::HostPath { field, source };
    for a in &h.allow {
        let exact = match a.strip_suffix('/') {
            Some("") => "/",
            Some(dir) => dir,
            None => a.as_str(),
        };
        if exact == "/" {
            // Allowing the whole host would make the allow-list meaningless.
            return Err(CheckError::HostPath {
                field: "allow",
                source: ferry_bundle::host::HostError::NotNormalized(a.clone()),
            });
        }
        validate_target(exact).map_err(path("allow"))?;
    }
    validate_target(&h.self_path).map_err(path("selfPath"))?;
    must_exist("host.root", &h.root)?;
    if !h.root.is_dir() {
        return Err(CheckError::HostRootNotDirectory(h.root.clone()));
    }
    let mut warnings = writable_allow_list(h);
    if !h.enabled {
        warnings.push("host: enabled is false; bundles with a host section are refused".into());
    } else if !h.allows(&h.self_path) {
        warnings.push(format!(
            "host: selfPath {} is not on the allow-list; self-updates are refused",
            h.self_path
        ));
    }
    Ok(warnings)
}

fn must_exist(what: &'static str, path: &Path) -> Result<(), CheckError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| CheckError::Missing {
            what,
            path: path.into(),
            reason: e.to_string(),
        })
}

/// Checks `path` and, for a directory, every entry in it.
fn trust_tree(
    path: &Path,
    check: &mut impl FnMut(&'static str, &Path) -> Result<(), CheckError>,
) -> Result<(), CheckError> {
    check("keys", path)?;
    if path.is_dir() {
        for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
            check("key", &e.path())?;
        }
    }
    Ok(())
}

/// Why others could change `path` (or what it points to), if they can: writable by group or
/// others, or owned by someone other than root or this user. Symlinks are judged by target.
pub fn writable_by_others(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let me = unsafe_free_uid();
    if meta.uid() != 0 && Some(meta.uid()) != me {
        return Some(format!("is owned by uid {}", meta.uid()));
    }
    let mode = meta.mode();
    if mode & 0o002 != 0 {
        return Some(format!("is writable by others (mode {:o})", mode & 0o7777));
    }
    if mode & 0o020 != 0 && meta.gid() != 0 {
        return Some(format!(
            "is writable by its group (mode {:o})",
            mode & 0o7777
        ));
    }
    None
}

/// A directory on the way to `path` (as written, and after resolving links) in which others
/// could rename `path` or one of its parents away and put their own in its place: one they
/// own, or one writable by them without the sticky bit (in a sticky directory like `/tmp` only
/// an entry's owner can rename it).
pub fn parent_writable_by_others(path: &Path) -> Option<(PathBuf, String)> {
    let written = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut dirs: Vec<PathBuf> = written.ancestors().skip(1).map(Path::to_path_buf).collect();
    if let Ok(real) = std::fs::canonicalize(path) {
        dirs.extend(real.ancestors().skip(1).map(Path::to_path_buf));
    }
    dirs.dedup();
    for dir in dirs {
        let Ok(meta) = std::fs::metadata(&dir) else {
            continue;
        };
        let Some(problem) = writable_by_others(&dir) else {
            continue;
        };
        let sticky = meta.mode() & 0o1000 != 0;
        if !(sticky && problem.starts_with("is writable")) {
            return Some((dir, problem));
        }
    }
    None
}

/// This process's uid, read without `unsafe` (the owner of `/proc/self`).
fn unsafe_free_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn group_and_world_writable_files_are_found() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("k.pub");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(writable_by_others(&f), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(writable_by_others(&f)
            .unwrap()
            .contains("writable by others"));
    }

    fn host(root: &Path, allow: &str) -> crate::host::HostConfig {
        let text = format!("enabled: true\nroot: {}\nallow: {allow}\n", root.display());
        ferry_bundle::yaml::from_str_bounded("host", &text, &ferry_bundle::yaml::Budget::small())
            .unwrap()
    }

    #[test]
    fn host_allow_list_must_be_absolute_and_the_root_must_exist() {
        let d = tempfile::tempdir().unwrap();
        let ok = host(d.path(), "[/usr/bin/ferry-agent, /etc/rancher/k3s/]");
        assert_eq!(check_host(&ok).unwrap(), Warnings::new());
        let no_self = host(d.path(), "[/etc/rancher/k3s/]");
        assert!(check_host(&no_self).unwrap()[0].contains("self-updates are refused"));
        for bad in ["[usr/bin/k3s]", "[/etc/../etc/]", "[/]", "[/etc//k3s/]"] {
            let e = check_host(&host(d.path(), bad)).unwrap_err();
            assert!(e.to_string().starts_with("host.allow: "), "{bad}: {e}");
        }
        let e = check_host(&host(&d.path().join("missing"), "[/usr/bin/k3s]")).unwrap_err();
        assert!(e.to_string().contains("host.root"), "{e}");
        let file = d.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = check_host(&host(&file, "[/usr/bin/k3s]")).unwrap_err();
        assert!(matches!(e, CheckError::HostRootNotDirectory(_)), "{e}");
    }
}
