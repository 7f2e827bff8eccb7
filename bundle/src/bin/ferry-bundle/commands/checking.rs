//! `verify` and `inspect`: a bundle checked as a device checks it, in a scratch directory.

use super::{one_positional, usage, CliError};
use crate::args::Args;
use anyhow::{Context, Result};
use ferry_bundle::local;
use ferry_bundle::manifest::Timestamp;
use ferry_bundle::verify::SignaturePolicy;
use ferry_bundle::{keys, Device, Limits, Manifest, TrustedKeys, Verdict, VerifyPolicy};
use std::fs;
use std::path::{Path, PathBuf};

/// A scratch directory removed on drop: a fresh, unpredictable name created `0700` with
/// `mkdir` (which fails on anything already there), so nothing planted in the temporary
/// directory is written through.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let p = std::env::temp_dir().join(format!(
            "ferry-bundle-{}-{}",
            std::process::id(),
            ferry_bundle::safe_open::unpredictable_suffix()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&p)
            .with_context(|| format!("creating scratch directory {}", p.display()))?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(super) fn verify_cmd(a: &Args) -> Result<(), CliError> {
    let path = one_positional(a, "bundle (directory or .bundle file)")?;
    let pubs = a.all("pub");
    if pubs.is_empty() {
        return Err(usage(
            "missing --pub (a public key file or a directory of *.pub)",
        ));
    }
    let mut keys = TrustedKeys::new();
    for p in &pubs {
        keys.extend(TrustedKeys::load(Path::new(p)).map_err(anyhow::Error::from)?);
    }
    let scratch = Scratch::new()?;
    let limits = Limits::default();
    let opened = local::open(&path, &limits, &scratch.0).map_err(anyhow::Error::from)?;
    let name = match a.get("name") {
        Some(n) => n.to_string(),
        // The name comes from the signature's trusted comment, once the signature checks:
        // nothing unsigned is parsed to learn it.
        None => ferry_bundle::sign::signed_name(
            &opened.signed.manifest,
            opened.signed.signature.as_deref().unwrap_or(""),
            &keys,
        )
        .map_err(|e| {
            anyhow::Error::from(local::LocalError::Verify {
                path: opened.origin.clone(),
                source: e.into(),
            })
        })?,
    };
    let mut labels = std::collections::BTreeMap::new();
    for l in a.all("label") {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| usage(format!("bad --label {l:?}")))?;
        labels.insert(k.to_string(), v.to_string());
    }
    let highest = match a.get("min-revision") {
        Some(r) => Some(
            r.parse()
                .map_err(|_| usage("--min-revision must be an integer"))?,
        ),
        None => None,
    };
    let policy = VerifyPolicy {
        signatures: SignaturePolicy::Required(keys),
        name,
        now: Timestamp::now(),
        highest_applied: highest,
        device: Device {
            id: a.get("device-id").unwrap_or("").to_string(),
            labels,
        },
        limits,
        images: ferry_bundle::images::ImagePolicy::Any,
    };
    let verdict = local::verify(&opened, &policy).map_err(anyhow::Error::from)?;
    let v = verdict.manifest();
    let state = match verdict {
        Verdict::New(_) => "ok",
        Verdict::UpToDate(_) => "ok (same revision as --min-revision)",
    };
    println!(
        "{state}: {} revision {} signed by key {}, {} files verified, expires {}",
        v.manifest.name,
        v.manifest.revision,
        v.key_id.as_deref().unwrap_or("-"),
        v.manifest.files.len(),
        v.manifest.expires
    );
    Ok(())
}

pub(super) fn inspect(a: &Args) -> Result<(), CliError> {
    let path = one_positional(a, "bundle (directory or .bundle file)")?;
    let scratch = Scratch::new()?;
    let opened = local::open(&path, &Limits::default(), &scratch.0).map_err(anyhow::Error::from)?;
    let m =
        Manifest::parse(&opened.signed.manifest).with_context(|| format!("{}", path.display()))?;
    let key_id = opened
        .signed
        .signature
        .as_deref()
        .and_then(|s| minisign::SignatureBox::from_string(s).ok())
        .map(|s| keys::key_id(s.keynum()));
    if a.get("output") == Some("json") {
        let doc = serde_json::json!({
            "path": path.display().to_string(),
            "encoding": format!("{:?}", opened.encoding).to_lowercase(),
            "signedBy": key_id,
            "manifestSha256": ferry_bundle::digest::sha256_hex(&opened.signed.manifest),
            "manifest": m,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(anyhow::Error::from)?
        );
        return Ok(());
    }
    println!(
        "name:      {}\nrevision:  {}\ncreated:   {}\nexpires:   {}",
        m.name, m.revision, m.created, m.expires
    );
    println!("signed by: {}", key_id.as_deref().unwrap_or("(unsigned)"));
    if !m.targets.is_empty() {
        println!(
            "targets:   devices={:?} selectors={:?}",
            m.targets.devices, m.targets.selectors
        );
    }
    if let Some(p) = m.rollout.as_ref().and_then(|r| r.percent) {
        println!("rollout:   {p}% of devices");
    }
    println!("files:     {} ({} bytes)", m.files.len(), m.total_size());
    for f in &m.files {
        println!("  {}  {:>8}  {}", &f.sha256[..12], f.size, f.path);
    }
    if !m.sops.is_empty() {
        println!(
            "encrypted: {} SOPS file(s), decrypted on the device",
            m.sops.len()
        );
        for f in &m.sops {
            println!("  {}  for {}", f.path, f.recipients.join(", "));
        }
    }
    for g in &m.generated_secrets {
        let sources: Vec<&str> = g.sources().collect();
        println!(
            "generated Secret {}/{} from {}, completed on the device",
            g.namespace,
            g.name,
            sources.join(", ")
        );
    }
    Ok(())
}
