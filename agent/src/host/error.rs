//! Why a host section is refused on this device: the one error of the gate and the plan.

use ferry_bundle::host::Arch;
use thiserror::Error;

/// Why a host section is refused on this device.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("host payloads are not enabled on this device (host.enabled)")]
    Disabled,
    #[error("sync {0} is not host-capable (`host: {{enabled: true}}` on the sync): a bundle with a host section is refused whole")]
    NotHostCapable(String),
    #[error("sync {0} accepts unsigned bundles (insecureSkipSignature): a bundle with a host section is refused whole")]
    Unsigned(String),
    #[error("host unit {0} is not on host.allowUnits")]
    UnitNotAllowed(String),
    #[error("host unit {unit}: health command {exe} is not on host.healthExecutables (absolute paths, never a shell)")]
    ExecutableNotAllowed { unit: String, exe: String },
    #[error("host file {target} has mode {mode:04o}: setuid, setgid, sticky, group- or world-writable bits are refused")]
    UnsafeMode { target: String, mode: u32 },
    #[error(
        "host file {target} has owner uid {uid} gid {gid}: only root or host.allowUids/allowGids"
    )]
    Owner { target: String, uid: u32, gid: u32 },
    #[error("host target {0} is not on this device's allow-list")]
    NotAllowed(String),
    #[error("host target {0} is a symlink; ferry never writes through one")]
    SymlinkTarget(String),
    #[error("host target {0} is a directory or special file")]
    SpecialFile(String),
    #[error("host file {target} is built for {content}, this device is {running:?}")]
    WrongArchitecture {
        target: String,
        content: String,
        running: Arch,
    },
    #[error("host file {0} for ferry-agent has no version")]
    SelfVersionMissing(String),
    #[error(
        "ferry-agent {offered} is below the running {running}: downgrade refused (allowDowngrade)"
    )]
    Downgrade { offered: String, running: String },
    #[error("ferry-agent {0} was rolled back on this device before (it never confirmed itself); not installed again")]
    SelfUpdateRolledBack(String),
    #[error("this device's architecture {0:?} is not one ferry knows")]
    UnknownArchitecture(String),
}
