//! The pure plan of a host section: which files this device installs (by digest), which units
//! it restarts, whether the agent replaces itself, and the refusals, each with its own error.
//! The plan starts with [`super::gate::check_section`]: the whole section is checked against
//! the device's allow-lists before anything of it is read from or written to the host.

use super::config::HostConfig;
pub use super::error::PlanError;
use ferry_bundle::host::{Arch, HostFile, HostSection, HostUnit};
use serde::{Deserialize, Serialize};

/// What is at a target path now (read without following symlinks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    Missing,
    Regular {
        sha256: String,
    },
    Symlink,
    /// A directory, device, fifo or socket.
    Special,
}

/// One host file as the plan sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub file: &'a HostFile,
    /// The content's sha256 (from the verified manifest).
    pub sha256: String,
    /// What the content's header says it runs on.
    pub machine: Machine,
    pub current: Current,
}

/// One file to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Install {
    pub target: String,
    pub source: String,
    pub sha256: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The target existed before (its previous version is kept as `<target>.ferry-prev`).
    pub had_previous: bool,
    pub previous_sha256: Option<String>,
}

/// The plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPlan {
    /// Files to install, the agent's own binary (if any) last.
    pub installs: Vec<Install>,
    /// Units to restart after the installs, in section order.
    pub restarts: Vec<HostUnit>,
    /// The agent's own binary is among the installs.
    pub self_update: bool,
}

impl HostPlan {
    pub fn is_empty(&self) -> bool {
        self.installs.is_empty()
    }
}

/// What a content's first bytes say about where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// Not an ELF binary (configuration, script).
    NotElf,
    Elf(Arch),
    /// An ELF binary for a machine ferry never runs on (`e_machine`).
    ElfOther(u16),
}

/// Reads the machine from an ELF header (the first 20 bytes suffice).
pub fn machine(head: &[u8]) -> Machine {
    if head.len() < 20 || &head[..4] != b"\x7fELF" {
        return Machine::NotElf;
    }
    let machine = if head[5] == 2 {
        u16::from_be_bytes([head[18], head[19]])
    } else {
        u16::from_le_bytes([head[18], head[19]])
    };
    match machine {
        62 => Machine::Elf(Arch::X86_64),
        183 => Machine::Elf(Arch::Aarch64),
        40 => Machine::Elf(Arch::Arm),
        other => Machine::ElfOther(other),
    }
}

/// Picks the entries for this architecture (others are for other devices).
pub fn for_arch(section: &HostSection, running: Arch) -> Vec<&HostFile> {
    section
        .files
        .iter()
        .filter(|f| f.arch.runs_on(running))
        .collect()
}

/// Plans a host section. `candidates` are the entries for this architecture.
pub fn plan(
    cfg: &HostConfig,
    section: &HostSection,
    candidates: &[Candidate<'_>],
    running: Arch,
    running_version: &str,
) -> Result<HostPlan, PlanError> {
    super::gate::check_section(cfg, section)?;
    let mut out = HostPlan::default();
    let mut self_install = None;
    for c in candidates {
        let target = &c.file.target;
        let previous_sha256 = match &c.current {
            Current::Symlink => return Err(PlanError::SymlinkTarget(target.clone())),
            Current::Special => return Err(PlanError::SpecialFile(target.clone())),
            Current::Missing => None,
            Current::Regular { sha256 } => Some(sha256.clone()),
        };
        let wrong = |content: String| PlanError::WrongArchitecture {
            target: target.clone(),
            content,
            running,
        };
        if !c.file.arch.runs_on(running) {
            return Err(wrong(format!("{:?} (declared)", c.file.arch)));
        }
        match c.machine {
            Machine::NotElf => {}
            Machine::Elf(content) if content.runs_on(running) => {}
            Machine::Elf(content) => return Err(wrong(format!("{content:?} (ELF header)"))),
            Machine::ElfOther(m) => return Err(wrong(format!("ELF machine {m}"))),
        }
        let is_self = *target == cfg.self_path;
        if is_self {
            check_version(c.file, running_version)?;
        }
        if previous_sha256.as_deref() == Some(c.sha256.as_str()) {
            continue;
        }
        let install = Install {
            target: target.clone(),
            source: c.file.source.clone(),
            sha256: c.sha256.clone(),
            mode: c.file.mode,
            uid: c.file.uid,
            gid: c.file.gid,
            had_previous: previous_sha256.is_some(),
            previous_sha256,
        };
        if is_self {
            self_install = Some(install);
        } else {
            out.installs.push(install);
        }
    }
    out.restarts = section
        .units
        .iter()
        .filter(|u| {
            u.files
                .iter()
                .any(|t| out.installs.iter().any(|i| &i.target == t))
        })
        .cloned()
        .collect();
    if let Some(i) = self_install {
        out.installs.push(i);
        out.self_update = true;
    }
    Ok(out)
}

fn check_version(file: &HostFile, running: &str) -> Result<(), PlanError> {
    let offered = file
        .version
        .as_deref()
        .ok_or_else(|| PlanError::SelfVersionMissing(file.target.clone()))?;
    let lower = match (
        semver::Version::parse(offered),
        semver::Version::parse(running),
    ) {
        (Ok(o), Ok(r)) => o < r,
        _ => true,
    };
    if lower && !file.allow_downgrade {
        return Err(PlanError::Downgrade {
            offered: offered.to_string(),
            running: running.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn cfg() -> HostConfig {
        ferry_bundle::yaml::from_str_bounded(
            "host",
            "enabled: true\nallow: [/usr/bin/ferry-agent, /usr/local/bin/k3s, /etc/rancher/k3s/]\nallowUnits: [k3s.service]\nhealthExecutables: [/usr/local/bin/k3s]\n",
            &ferry_bundle::yaml::Budget::small(),
        )
        .unwrap()
    }

    pub(crate) fn file(target: &str, version: Option<&str>) -> HostFile {
        HostFile {
            source: format!("host{target}"),
            target: target.into(),
            mode: 0o755,
            uid: 0,
            gid: 0,
            arch: Arch::Any,
            version: version.map(String::from),
            allow_downgrade: false,
            sops: false,
        }
    }

    fn cand<'a>(file: &'a HostFile, sha: &str, current: Current) -> Candidate<'a> {
        Candidate {
            file,
            sha256: sha.into(),
            machine: Machine::NotElf,
            current,
        }
    }

    #[test]
    fn plans_changed_files_units_and_self_update_last() {
        let agent = file("/usr/bin/ferry-agent", Some("0.2.0"));
        let k3s = file("/usr/local/bin/k3s", None);
        let conf = file("/etc/rancher/k3s/config.yaml", None);
        let section = HostSection {
            files: vec![agent.clone(), k3s.clone(), conf.clone()],
            units: vec![HostUnit {
                name: "k3s.service".into(),
                files: vec!["/usr/local/bin/k3s".into()],
                health: ferry_bundle::host::HealthCheck {
                    command: vec![],
                    http: None,
                    file: None,
                    timeout_seconds: 5,
                },
            }],
        };
        let cands = [
            cand(
                &agent,
                "a2",
                Current::Regular {
                    sha256: "a1".into(),
                },
            ),
            cand(&k3s, "k2", Current::Missing),
            cand(
                &conf,
                "c1",
                Current::Regular {
                    sha256: "c1".into(),
                },
            ),
        ];
        let p = plan(&cfg(), &section, &cands, Arch::X86_64, "0.1.0").unwrap();
        let targets: Vec<_> = p.installs.iter().map(|i| i.target.as_str()).collect();
        assert_eq!(targets, ["/usr/local/bin/k3s", "/usr/bin/ferry-agent"]);
        assert!(p.self_update);
        assert_eq!(p.restarts.len(), 1);
        assert!(!p.installs[0].had_previous && p.installs[1].had_previous);
        // Nothing differs: an empty plan, no restart.
        let same = [cand(
            &k3s,
            "k2",
            Current::Regular {
                sha256: "k2".into(),
            },
        )];
        let p = plan(&cfg(), &section, &same, Arch::X86_64, "0.1.0").unwrap();
        assert!(p.is_empty() && p.restarts.is_empty());
    }

    #[test]
    fn refusals_are_named() {
        let section = HostSection::default();
        let shadow = file("/etc/shadow", None);
        let k3s = file("/usr/local/bin/k3s", None);
        // The section holds the candidate's entry, as it always does.
        let run = |c: Candidate<'_>| {
            let own = HostSection {
                files: vec![c.file.clone()],
                units: vec![],
            };
            plan(&cfg(), &own, &[c], Arch::X86_64, "0.2.0")
        };
        assert_eq!(
            run(cand(&shadow, "x", Current::Missing)),
            Err(PlanError::NotAllowed("/etc/shadow".into()))
        );
        assert_eq!(
            run(cand(&k3s, "x", Current::Symlink)),
            Err(PlanError::SymlinkTarget("/usr/local/bin/k3s".into()))
        );
        assert_eq!(
            run(cand(&k3s, "x", Current::Special)),
            Err(PlanError::SpecialFile("/usr/local/bin/k3s".into()))
        );
        let mut arm = cand(&k3s, "x", Current::Missing);
        arm.machine = Machine::Elf(Arch::Aarch64);
        assert!(matches!(run(arm), Err(PlanError::WrongArchitecture { .. })));
        let mut odd = cand(&k3s, "x", Current::Missing);
        odd.machine = Machine::ElfOther(8);
        assert!(matches!(run(odd), Err(PlanError::WrongArchitecture { .. })));
        let old = file("/usr/bin/ferry-agent", Some("0.1.0"));
        assert!(matches!(
            run(cand(&old, "x", Current::Missing)),
            Err(PlanError::Downgrade { .. })
        ));
        let mut allowed = old.clone();
        allowed.allow_downgrade = true;
        assert!(run(cand(&allowed, "x", Current::Missing)).is_ok());
        let none = file("/usr/bin/ferry-agent", None);
        assert!(matches!(
            run(cand(&none, "x", Current::Missing)),
            Err(PlanError::SelfVersionMissing(_))
        ));
        let mut off = cfg();
        off.enabled = false;
        assert_eq!(
            plan(&off, &section, &[], Arch::X86_64, "0.2.0"),
            Err(PlanError::Disabled)
        );
    }

    #[test]
    fn reads_elf_machines() {
        let mut h = vec![0u8; 20];
        h[..4].copy_from_slice(b"\x7fELF");
        h[5] = 1;
        h[18] = 62;
        assert_eq!(machine(&h), Machine::Elf(Arch::X86_64));
        h[18] = 183;
        assert_eq!(machine(&h), Machine::Elf(Arch::Aarch64));
        h[18] = 8;
        assert_eq!(machine(&h), Machine::ElfOther(8));
        assert_eq!(machine(b"#!/bin/sh\nexit 0\n"), Machine::NotElf);
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let running = Arch::from_rust(std::env::consts::ARCH).unwrap();
        assert_eq!(machine(&me[..20]), Machine::Elf(running));
    }
}
