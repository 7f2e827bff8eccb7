//! Subcommand dispatch for `ferry-bundle`: arguments, usage and exit codes; each group of
//! verbs has its own module ([`signing`], [`building`], [`checking`], [`distributing`]).

mod building;
mod checking;
mod distributing;
mod signing;

use building::build_cmd;
use checking::{inspect, verify_cmd};
use distributing::{export, publish, push_cmd};
use signing::{keygen, sign_cmd};

use crate::args::{self, Args};
use anyhow::{anyhow, Result};
use ferry_bundle::local::LocalError;
use std::ffi::OsString;
use std::path::PathBuf;

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
          [--allow-empty] [--allow-mass-prune]              confirm a bundle without objects / a mass deletion
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
        "allow-empty",
        "allow-mass-prune",
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
