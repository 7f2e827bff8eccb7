//! Sources: where bundles come from. Every source yields the same thing, a signed manifest and
//! a way to fetch its files, which the reconcile loop verifies with one code path.

pub mod config;
pub mod dir;
pub mod git;
mod git_bounds;
pub mod git_http;
pub mod git_probe;
mod git_tree;
pub mod http;
pub mod oci;
pub mod quarantine;

use ferry_bundle::local::LocalError;
use ferry_bundle::manifest::FileEntry;
use ferry_bundle::verify::VerifyPolicy;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("source {source_name} is unreachable: {reason}")]
    Unreachable { source_name: String, reason: String },
    #[error("source {source_name} holds no valid bundle{}", refused_summary(.refused))]
    NoBundle {
        source_name: String,
        refused: Vec<String>,
    },
    #[error("{origin}: {reason}")]
    File { origin: String, reason: String },
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// The refused candidates in a message: the count, and the first few (each already bounded).
fn refused_summary(refused: &[String]) -> String {
    const SHOWN: usize = 5;
    if refused.is_empty() {
        return String::new();
    }
    let mut s = format!(" ({} refused: ", refused.len());
    let shown: Vec<String> = refused
        .iter()
        .take(SHOWN)
        .map(|r| ferry_bundle::text::shown(r))
        .collect();
    s.push_str(&shown.join("; "));
    if refused.len() > SHOWN {
        s.push_str(&format!("; and {} more", refused.len() - SHOWN));
    }
    s.push(')');
    s
}

/// Fetches the content files of a found bundle; returned bytes are verified against the entry.
pub trait FileFetcher: Send {
    fn fetch(&mut self, entry: &FileEntry) -> Result<Vec<u8>, SourceError>;

    /// Opens the image blob `sha256` (`blobs/sha256/<hex>` of the bundle) as a stream; the
    /// caller bounds it by the listed size and verifies it (see [`crate::images::fetch`]).
    /// Sources whose encoding cannot carry images say so.
    fn open_image_blob(
        &mut self,
        sha256: &ferry_bundle::digest::Sha256,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        Err(SourceError::File {
            origin: format!("image blob sha256:{sha256}"),
            reason: "this source's encoding does not carry container images".into(),
        })
    }
}

/// A bundle a source offers.
pub struct Found {
    pub manifest: Vec<u8>,
    pub signature: Option<String>,
    /// Opaque token: the same cursor next time means nothing changed.
    pub cursor: String,
    /// Human-readable location (file path, URL, commit).
    pub origin: String,
    pub files: Box<dyn FileFetcher>,
    /// Candidates that were refused on the way (named, with the reason).
    pub refused: Vec<String>,
}

/// The result of one poll.
pub enum Poll {
    Unchanged,
    Found(Found),
}

/// What a source did with an offered bundle that the pass refused.
#[derive(Debug, Default)]
pub struct AfterRefusal {
    /// Where the source put the bundle (e.g. "quarantined to ..."), for the record.
    pub note: Option<String>,
    /// The cursor under which the source has nothing new to offer: the pass records it, so the
    /// next poll reads nothing until the source changes. `None`: look again next time.
    pub cursor: Option<String>,
}

/// How long a refusal holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lasting {
    /// The offered bytes do not match their signed manifest: nothing to look at again until
    /// the source changes.
    UntilTheSourceChanges,
    /// The refusal depends on this device's configuration or state (keys, targets, host
    /// capability, the applied revision), which may change while the source does not.
    UntilTheConfigurationChanges,
}

/// A place bundles come from.
pub trait Source: Send {
    /// A short description for logs and errors.
    fn describe(&self) -> String;
    /// Looks for the newest bundle; `cursor` is what the last successful poll returned.
    fn poll(&mut self, cursor: Option<&str>, policy: &VerifyPolicy) -> Result<Poll, SourceError>;
    /// The bundle the last poll offered (under `cursor`) was refused after the poll, for
    /// `reason` (a file or image blob did not match its signed manifest, a host section on a
    /// sync that may not carry one, a replayed revision), holding as `lasting` says. By
    /// default nothing is set aside and the next poll looks again: a network source cannot
    /// tell tampering from a transport fault, and only the blobs the cache lacks are fetched.
    fn refused(&mut self, _cursor: &str, _reason: &str, _lasting: Lasting) -> AfterRefusal {
        AfterRefusal::default()
    }
}

/// The files an archive may unpack: those of its head's manifest once that head verifies
/// under `policy` (signature first). `None` unpacks nothing; the caller hands the head on and
/// the sync's own verification reports why it was refused.
pub fn verified_listing(
    head: &ferry_bundle::archive::Head,
    signature: Option<&str>,
    policy: &VerifyPolicy,
) -> Option<Vec<FileEntry>> {
    let signature = head.signature.as_deref().or(signature);
    ferry_bundle::verify::verify_manifest(&head.manifest, signature, policy)
        .ok()
        .map(|v| v.manifest().manifest.files.clone())
}

/// Files extracted from an archive into a scratch directory (removed when dropped).
pub struct ExtractedFiles {
    pub dir: std::path::PathBuf,
    pub origin: String,
}

impl FileFetcher for ExtractedFiles {
    fn fetch(&mut self, entry: &FileEntry) -> Result<Vec<u8>, SourceError> {
        let origin = format!("{}: {}", self.origin, entry.path);
        let f =
            ferry_bundle::safe_open::open_regular(&self.dir.join(&entry.path)).map_err(|e| {
                SourceError::File {
                    origin: origin.clone(),
                    reason: e.to_string(),
                }
            })?;
        ferry_bundle::verify::read_verified(entry, f).map_err(|e| SourceError::File {
            origin,
            reason: e.to_string(),
        })
    }
}

impl Drop for ExtractedFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Builds the source a sync's configuration names; `cache` is the sync's own directory for
/// source state (e.g. the Git repository).
pub fn from_config(
    cfg: &crate::source::config::SourceConfig,
    scratch: &std::path::Path,
    cache: &std::path::Path,
) -> Box<dyn Source> {
    use crate::source::config::SourceConfig;
    match cfg {
        SourceConfig::Git {
            url,
            branch,
            tag,
            semver,
            commit,
            path,
            timeout,
            max_pack_bytes,
            auth,
        } => {
            let reference = match (commit, semver, tag, branch) {
                (Some(c), _, _, _) => git::GitRef::Commit(c.clone()),
                (None, Some(r), _, _) => git::GitRef::Semver(r.clone()),
                (None, None, Some(t), _) => git::GitRef::Tag(t.clone()),
                (None, None, None, b) => {
                    git::GitRef::Branch(b.clone().unwrap_or_else(|| "main".into()))
                }
            };
            // The probe of each poll goes without a User-Agent; gix's requests name their own.
            let http = crate::outbound::Endpoint::kept_alive_unnamed(auth, *timeout, KEEP_IDLE)
                .map(|e| (e.agent().clone(), e.authorization().map(str::to_string)))
                .map_err(|e| e.to_string());
            Box::new(git::GitSource::new(
                url.clone(),
                reference,
                path.clone(),
                cache.join("repo"),
                http,
                git::Bounds {
                    timeout: *timeout,
                    connect_timeout: auth.connect_timeout,
                    read_timeout: auth.read_timeout,
                    max_pack_bytes: *max_pack_bytes,
                },
            ))
        }
        SourceConfig::Directory { path, quarantine } => Box::new(dir::DirSource::new(
            path.clone(),
            scratch.to_path_buf(),
            quarantine.clone(),
        )),
        SourceConfig::Http {
            url,
            signature_url,
            timeout,
            auth,
        } => Box::new(http::HttpSource::new(
            url.clone(),
            signature_url.clone(),
            auth,
            *timeout,
            scratch.to_path_buf(),
        )),
        SourceConfig::Oci {
            url,
            tag,
            digest,
            semver,
            ca_file,
            client_cert,
            client_key,
            basic_auth_file,
            docker_config,
            plain_http,
            timeout,
            token_realms,
        } => {
            let selector = match (digest, semver, tag) {
                (Some(d), _, _) => oci::Selector::Digest(d.clone()),
                (None, Some(r), _) => oci::Selector::Semver(r.clone()),
                (None, None, t) => oci::Selector::Tag(t.clone().unwrap_or_else(|| "latest".into())),
            };
            let conn = oci_connection(
                url,
                ca_file,
                client_cert,
                client_key,
                basic_auth_file,
                docker_config,
                *plain_http,
            )
            .and_then(|c| {
                let https = |r: &String| {
                    ferry_bundle::oci::origin(r).is_some_and(|o| o.starts_with("https://"))
                };
                match token_realms.iter().find(|r| !https(r)) {
                    Some(bad) => Err(format!("tokenRealms: {bad:?} is not an https:// origin")),
                    None => Ok(ferry_bundle::registry::Connection {
                        timeout: Some(*timeout),
                        token_realms: token_realms.clone(),
                        ..c
                    }),
                }
            });
            Box::new(oci::OciSource::new(
                url.clone(),
                selector,
                conn,
                scratch.to_path_buf(),
            ))
        }
    }
}

type OptPath = Option<std::path::PathBuf>;

/// Reads the registry connection settings (files only; secrets never inline or logged).
fn oci_connection(
    url: &str,
    ca: &OptPath,
    cert: &OptPath,
    key: &OptPath,
    basic: &OptPath,
    docker: &OptPath,
    plain_http: bool,
) -> Result<ferry_bundle::registry::Connection, String> {
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let registry = ferry_bundle::oci::Reference::parse(url)
        .map_err(|e| e.to_string())?
        .registry;
    let credentials = match (basic, docker) {
        (Some(f), _) => Some(String::from_utf8_lossy(&read(f)?).trim().to_string()),
        (None, Some(f)) => ferry_bundle::oci::docker_config_credentials(
            &String::from_utf8_lossy(&read(f)?),
            &registry,
        ),
        (None, None) => None,
    };
    let client_pem = match (cert, key) {
        (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
        (None, None) => None,
        _ => return Err("clientCert and clientKey go together".into()),
    };
    Ok(ferry_bundle::registry::Connection {
        ca_pem: ca.as_deref().map(read).transpose()?,
        client_pem,
        credentials,
        plain_http,
        timeout: None,
        token_realms: Vec::new(),
        keep_idle: Some(KEEP_IDLE),
    })
}

/// How long a source keeps an idle connection for its next poll: above any sensible poll
/// interval, so a no-change poll costs one request on a kept connection (and, when the server
/// closed it meanwhile, a resumed TLS session: the rustls configuration, with its session
/// cache, lives as long as the source's client). Servers usually close earlier; that is fine.
pub const KEEP_IDLE: std::time::Duration = std::time::Duration::from_secs(3600);
