//! Subcommand dispatch for `ferry-bundle`.

use crate::args::{self, Args};
use crate::build::{self, BuildSpec};
use anyhow::{anyhow, Context, Result};
use ferry_bundle::local::{self, LocalError};
use ferry_bundle::manifest::{Targets, Timestamp};
use ferry_bundle::verify::SignaturePolicy;
use ferry_bundle::{
    archive, keys, layout, Device, Limits, Manifest, SigningKey, TrustedKeys, Verdict, VerifyPolicy,
};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A failure with the exit code it maps to.
pub struct CliError {
    pub code: u8,
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        let code = if error
            .downcast_ref::<LocalError>()
            .is_some_and(|e| e.verify_error().is_some())
        {
            1
        } else {
            3
        };
        CliError { code, error }
    }
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError {
        code: 2,
        error: anyhow!("{}\n\n{USAGE}", msg.into()),
    }
}

pub const USAGE: &str = "usage: ferry-bundle <command> [options]
  keygen  --out STEM [--password-file F] [--force]        write STEM.pub and STEM.key (minisign formats)
  build   SRC --name N --revision R --out DIR [--key K] [--ttl 30d]
          [--target-device ID]... [--target-selector k=v,..]... [--rollout-percent P] [--force]
          [--var NAME[=VALUE]]... [--strict-substitution]   content is checked as a device reads it
          [--image REF]... [--images-from-manifests] [--platform os/arch]... [--require-images]
          [--insecure-registry HOST]... [--docker-config F | --basic-auth-file F] [--ca-file F]
          [--host HOST.yaml]                               host files and units (docs/host-payloads.md)
  sign    DIR --key K                                      sign DIR/bundle.yaml
  verify  PATH --pub KEY_OR_DIR... [--name N] [--device-id ID] [--label k=v]... [--min-revision R]
  inspect PATH [--output json]
  export  DIR --out FILE.bundle                            one archive (HTTP, USB)
  publish DIR --out WEBROOT                                exploded layout for HTTP delta updates
  push    DIR oci://HOST[:PORT]/REPO[:TAG] [--format ferry|flux] [--ca-file F]
          [--client-cert F --client-key F] [--basic-auth-file F | --docker-config F] [--plain-http]
The secret key password comes from --password-file or FERRY_KEY_PASSWORD, never the command line.
Exit codes: 0 ok, 1 verification refused, 2 usage error, 3 other failure.";

/// Runs one command line.
pub fn run(raw: Vec<OsString>) -> Result<(), CliError> {
    let mut raw = raw.into_iter();
    let cmd = raw
        .next()
        .and_then(|c| c.into_string().ok())
        .ok_or_else(|| usage("missing command"))?;
    let rest: Vec<OsString> = raw.collect();
    let valued: &[&str] = &[
        "out",
        "password-file",
        "name",
        "revision",
        "key",
        "ttl",
        "target-device",
        "target-selector",
        "rollout-percent",
        "pub",
        "device-id",
        "label",
        "min-revision",
        "output",
        "ca-file",
        "client-cert",
        "client-key",
        "basic-auth-file",
        "docker-config",
        "format",
        "var",
        "image",
        "platform",
        "insecure-registry",
        "host",
    ];
    let a = args::parse(rest, valued).map_err(usage)?;
    if let Some(f) = a.unknown_flags(&[
        "force",
        "help",
        "plain-http",
        "strict-substitution",
        "images-from-manifests",
        "require-images",
    ]) {
        return Err(usage(format!("unknown flag --{f}")));
    }
    match cmd.as_str() {
        "keygen" => keygen(&a),
        "build" => build_cmd(&a),
        "sign" => sign_cmd(&a),
        "verify" => verify_cmd(&a),
        "inspect" => inspect(&a),
        "export" => export(&a),
        "publish" => publish(&a),
        "push" => push_cmd(&a),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        "version" | "--version" => {
            println!("ferry-bundle {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        other => Err(usage(format!("unknown command {other:?}"))),
    }
}

fn required<'a>(a: &'a Args, name: &str) -> Result<&'a str, CliError> {
    a.get(name)
        .ok_or_else(|| usage(format!("missing --{name}")))
}

fn one_positional(a: &Args, what: &str) -> Result<PathBuf, CliError> {
    match a.positional.as_slice() {
        [p] => Ok(PathBuf::from(p)),
        _ => Err(usage(format!("expected exactly one {what}"))),
    }
}

fn password(a: &Args) -> Result<Option<String>> {
    if let Some(f) = a.get("password-file") {
        let p = fs::read_to_string(f).with_context(|| format!("reading password file {f}"))?;
        return Ok(Some(p.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(std::env::var("FERRY_KEY_PASSWORD").ok())
}

fn load_key(a: &Args) -> Result<SigningKey> {
    let path = a.get("key").ok_or_else(|| anyhow!("missing --key"))?;
    Ok(SigningKey::load(Path::new(path), password(a)?)?)
}

fn keygen(a: &Args) -> Result<(), CliError> {
    let out = required(a, "out")?;
    let (pubp, keyp) = keys::generate(Path::new(out), password(a)?, a.flag("force"))
        .map_err(anyhow::Error::from)?;
    println!(
        "public key: {}\nsecret key: {}",
        pubp.display(),
        keyp.display()
    );
    Ok(())
}

fn parse_ttl(s: &str) -> Result<Duration, CliError> {
    humantime::parse_duration(s).map_err(|e| usage(format!("bad --ttl {s:?}: {e}")))
}

fn build_cmd(a: &Args) -> Result<(), CliError> {
    let src = one_positional(a, "source directory")?;
    let revision = required(a, "revision")?
        .parse()
        .map_err(|_| usage("--revision must be a non-negative integer"))?;
    let rollout_percent = match a.get("rollout-percent") {
        Some(p) => Some(
            p.parse::<u8>()
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| usage("--rollout-percent must be 0..100"))?,
        ),
        None => None,
    };
    let targets = Targets {
        devices: a.all("target-device"),
        selectors: a
            .all("target-selector")
            .iter()
            .map(|s| build::parse_selector(s))
            .collect::<Result<_>>()?,
    };
    let key = match a.get("key") {
        Some(_) => Some(load_key(a)?),
        None => None,
    };
    let out = PathBuf::from(required(a, "out")?);
    let spec = BuildSpec {
        src: &src,
        out: &out,
        name: required(a, "name")?,
        revision,
        ttl: parse_ttl(a.get("ttl").unwrap_or("30d"))?,
        targets,
        rollout_percent,
        force: a.flag("force"),
        vars: build::parse_vars(&a.all("var"))?,
        strict_substitution: a.flag("strict-substitution"),
        images: crate::images::ImageOptions {
            images: a.all("image"),
            platforms: a.all("platform"),
            from_manifests: a.flag("images-from-manifests"),
            require: a.flag("require-images"),
            insecure_registries: a.all("insecure-registry"),
            docker_config: a.get("docker-config"),
            basic_auth_file: a.get("basic-auth-file"),
            ca_file: a.get("ca-file"),
        },
        host: a.get("host").map(std::path::Path::new),
    };
    let m = build::build(&spec, key.as_ref())?;
    for h in m.host.iter().flat_map(|h| &h.files) {
        if let Some(f) = m.file(&h.source) {
            println!(
                "host file {} -> {} ({:?}, {} bytes, sha256 {})",
                h.source, h.target, h.arch, f.size, f.sha256
            );
        }
    }
    println!(
        "built {} revision {} ({} files, {} bytes, {} images){} in {}",
        m.name,
        m.revision,
        m.files.len(),
        m.total_size(),
        m.images.len(),
        if key.is_some() {
            ", signed"
        } else {
            ", unsigned"
        },
        out.display()
    );
    Ok(())
}

fn sign_cmd(a: &Args) -> Result<(), CliError> {
    let dir = one_positional(a, "bundle directory")?;
    let key = load_key(a)?;
    let m = build::sign_dir(&dir, &key)?;
    println!(
        "signed {} revision {} with key {}",
        m.name,
        m.revision,
        key.key_id()
    );
    Ok(())
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("ferry-bundle-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&p)?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn verify_cmd(a: &Args) -> Result<(), CliError> {
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
        None => Manifest::parse(&opened.signed.manifest)
            .map(|m| m.name)
            .unwrap_or_default(),
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

fn inspect(a: &Args) -> Result<(), CliError> {
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
    Ok(())
}

/// Reads a plain bundle directory that must be signed.
fn signed_dir(dir: &Path) -> Result<(Manifest, Vec<u8>, String)> {
    let limits = Limits::default();
    let signed = layout::read_signed(dir, limits.max_manifest_bytes, limits.max_signature_bytes)?;
    let m = Manifest::parse(&signed.manifest)
        .with_context(|| format!("{}/bundle.yaml", dir.display()))?;
    let sig = signed
        .signature
        .ok_or_else(|| anyhow!("{} is not signed (run `ferry-bundle sign`)", dir.display()))?;
    for f in &m.files {
        local::verify_file_on_disk(f, &dir.join(&f.path))
            .with_context(|| format!("{}", dir.display()))?;
    }
    for b in ferry_bundle::images::distinct_blobs(&m.images).values() {
        let entry = ferry_bundle::FileEntry {
            path: layout::blob_rel(&b.sha256),
            size: b.size,
            sha256: b.sha256.clone(),
        };
        local::verify_file_on_disk(&entry, &layout::blob_path(dir, &b.sha256))
            .with_context(|| format!("{} (image blob)", dir.display()))?;
    }
    Ok((m, signed.manifest, sig))
}

fn export(a: &Args) -> Result<(), CliError> {
    let dir = one_positional(a, "bundle directory")?;
    let out = PathBuf::from(required(a, "out")?);
    let (m, bytes, sig) = signed_dir(&dir)?;
    let tmp = out.with_extension("partial");
    let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    archive::write(&dir, &m, &bytes, &sig, std::io::BufWriter::new(file))
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &out).with_context(|| format!("renaming to {}", out.display()))?;
    println!(
        "exported {} revision {} to {}",
        m.name,
        m.revision,
        out.display()
    );
    Ok(())
}

fn publish(a: &Args) -> Result<(), CliError> {
    let dir = one_positional(a, "bundle directory")?;
    let out = PathBuf::from(required(a, "out")?);
    let (m, bytes, sig) = signed_dir(&dir)?;
    layout::write_exploded(&dir, &m, &bytes, &sig, &out).map_err(anyhow::Error::from)?;
    println!(
        "published {} revision {} to {} ({} blobs)",
        m.name,
        m.revision,
        out.display(),
        m.files.len()
    );
    Ok(())
}

fn push_cmd(a: &Args) -> Result<(), CliError> {
    let [dir, target] = a.positional.as_slice() else {
        return Err(usage("expected DIR and oci://HOST/REPO[:TAG]"));
    };
    let flux = match a.get("format").unwrap_or("ferry") {
        "ferry" => false,
        "flux" => true,
        other => return Err(usage(format!("unknown --format {other:?} (ferry or flux)"))),
    };
    let (m, bytes, sig) = signed_dir(Path::new(dir))?;
    if flux && !m.images.is_empty() {
        return Err(anyhow!(
            "{dir} carries images; the flux layout (one tarball) does not carry them: use \
             --format ferry"
        )
        .into());
    }
    let opts = crate::push::PushOptions {
        ca_file: a.get("ca-file"),
        client_cert: a.get("client-cert"),
        client_key: a.get("client-key"),
        basic_auth_file: a.get("basic-auth-file"),
        docker_config: a.get("docker-config"),
        plain_http: a.flag("plain-http"),
        flux,
    };
    let (digest, uploaded) = crate::push::push(Path::new(dir), &m, &bytes, &sig, target, &opts)?;
    println!(
        "pushed {} revision {} to {target} ({digest}, {uploaded} new blobs)",
        m.name, m.revision
    );
    Ok(())
}
