//! `keygen` and `sign`, and how the signing key and its password are found.

use super::{one_positional, required, CliError};
use crate::args::Args;
use crate::build;
use anyhow::{anyhow, Context, Result};
use ferry_bundle::{keys, SigningKey};
use std::fs;
use std::path::Path;

pub(super) fn password(a: &Args) -> Result<Option<String>> {
    if let Some(f) = a.get("password-file") {
        let p = fs::read_to_string(f).with_context(|| format!("reading password file {f}"))?;
        return Ok(Some(p.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(std::env::var("FERRY_KEY_PASSWORD").ok())
}

pub(super) fn load_key(a: &Args) -> Result<SigningKey> {
    let path = a.get("key").ok_or_else(|| anyhow!("missing --key"))?;
    Ok(SigningKey::load(Path::new(path), password(a)?)?)
}

pub(super) fn keygen(a: &Args) -> Result<(), CliError> {
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

pub(super) fn sign_cmd(a: &Args) -> Result<(), CliError> {
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
