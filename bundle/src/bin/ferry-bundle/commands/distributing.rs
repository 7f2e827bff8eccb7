//! `export`, `publish` and `push`: a signed bundle directory to an archive, a layout or a
//! registry.

use super::{one_positional, required, usage, CliError};
use crate::args::Args;
use anyhow::{anyhow, Context, Result};
use ferry_bundle::local;
use ferry_bundle::{archive, layout, Limits, Manifest};
use std::fs;
use std::path::{Path, PathBuf};

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

pub(super) fn export(a: &Args) -> Result<(), CliError> {
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

pub(super) fn publish(a: &Args) -> Result<(), CliError> {
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

pub(super) fn push_cmd(a: &Args) -> Result<(), CliError> {
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
        token_realms: a.all("token-realm"),
    };
    let (digest, uploaded) = crate::push::push(Path::new(dir), &m, &bytes, &sig, target, &opts)?;
    println!(
        "pushed {} revision {} to {target} ({digest}, {uploaded} new blobs)",
        m.name, m.revision
    );
    Ok(())
}
