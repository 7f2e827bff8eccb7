//! Host payloads' gate (pure): whether a sync may carry a host section at all ([`gate`]), and
//! the check of a whole section against the device's allow-lists ([`check_section`]): every
//! file of every architecture (target, mode, owner), every unit and its health command. Both
//! run before anything of a section is read from or written to the host.

use super::config::HostConfig;
use super::error::PlanError;
use ferry_bundle::host::HostSection;

/// Whether a sync may carry a host section: only a host-capable one that checks signatures.
pub fn gate(sync: &str, host_capable: bool, unsigned: bool) -> Result<(), PlanError> {
    if !host_capable {
        return Err(PlanError::NotHostCapable(sync.to_string()));
    }
    if unsigned {
        return Err(PlanError::Unsigned(sync.to_string()));
    }
    Ok(())
}

/// Mode bits an installed file may not have: setuid, setgid, sticky, group- or world-writable.
const UNSAFE_MODE_BITS: u32 = 0o7022;

/// Checks the whole section against the device's allow-lists: every file of every
/// architecture (target, mode, owner), every unit and its health probe.
pub fn check_section(cfg: &HostConfig, section: &HostSection) -> Result<(), PlanError> {
    if !cfg.enabled {
        return Err(PlanError::Disabled);
    }
    for f in &section.files {
        if !cfg.allows(&f.target) {
            return Err(PlanError::NotAllowed(f.target.clone()));
        }
        if f.mode & UNSAFE_MODE_BITS != 0 || f.mode > 0o7777 {
            return Err(PlanError::UnsafeMode {
                target: f.target.clone(),
                mode: f.mode,
            });
        }
        if !cfg.allows_owner(f.uid, f.gid) {
            return Err(PlanError::Owner {
                target: f.target.clone(),
                uid: f.uid,
                gid: f.gid,
            });
        }
    }
    for u in &section.units {
        if !cfg.allows_unit(&u.name) {
            return Err(PlanError::UnitNotAllowed(u.name.clone()));
        }
        if let Some(exe) = u.health.command.first() {
            if !cfg.allows_executable(exe) {
                return Err(PlanError::ExecutableNotAllowed {
                    unit: u.name.clone(),
                    exe: exe.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::plan::tests::{cfg, file};
    use ferry_bundle::host::{Arch, HostFile, HostUnit};

    fn unit(name: &str, command: &[&str]) -> HostUnit {
        HostUnit {
            name: name.into(),
            files: vec!["/usr/local/bin/k3s".into()],
            health: ferry_bundle::host::HealthCheck {
                command: command.iter().map(|c| c.to_string()).collect(),
                http: None,
                file: None,
                timeout_seconds: 5,
            },
        }
    }

    #[test]
    fn the_gate_admits_only_signed_host_capable_syncs() {
        assert_eq!(gate("app", true, false), Ok(()));
        assert_eq!(
            gate("team-a", false, false),
            Err(PlanError::NotHostCapable("team-a".into()))
        );
        assert_eq!(
            gate("dev", true, true),
            Err(PlanError::Unsigned("dev".into()))
        );
    }

    #[test]
    fn the_whole_section_is_checked_other_architectures_included() {
        let section = |files: Vec<HostFile>, units: Vec<HostUnit>| HostSection { files, units };
        let k3s = file("/usr/local/bin/k3s", None);
        let ok = section(
            vec![k3s.clone()],
            vec![unit("k3s.service", &["/usr/local/bin/k3s"])],
        );
        assert_eq!(check_section(&cfg(), &ok), Ok(()));
        // A file for another architecture is checked too.
        let mut other = file("/etc/shadow", None);
        other.arch = Arch::Arm;
        assert_eq!(
            check_section(&cfg(), &section(vec![k3s.clone(), other], vec![])),
            Err(PlanError::NotAllowed("/etc/shadow".into()))
        );
        for mode in [0o1755, 0o777, 0o775, 0o757, 0o2755, 0o4755] {
            let mut f = k3s.clone();
            f.mode = mode;
            assert!(
                matches!(
                    check_section(&cfg(), &section(vec![f], vec![])),
                    Err(PlanError::UnsafeMode { .. })
                ),
                "{mode:o}"
            );
        }
        let mut nobody = k3s.clone();
        nobody.uid = 65534;
        assert!(matches!(
            check_section(&cfg(), &section(vec![nobody], vec![])),
            Err(PlanError::Owner { uid: 65534, .. })
        ));
        let mut group = k3s.clone();
        group.gid = 1000;
        let mut allowed = cfg();
        allowed.allow_gids = vec![1000];
        assert!(check_section(&cfg(), &section(vec![group.clone()], vec![])).is_err());
        assert_eq!(
            check_section(&allowed, &section(vec![group], vec![])),
            Ok(())
        );
        assert_eq!(
            check_section(
                &cfg(),
                &section(vec![k3s.clone()], vec![unit("sshd.service", &[])])
            ),
            Err(PlanError::UnitNotAllowed("sshd.service".into()))
        );
        let shell = unit("k3s.service", &["/bin/sh", "-c", "id"]);
        assert!(matches!(
            check_section(&cfg(), &section(vec![k3s.clone()], vec![shell])),
            Err(PlanError::ExecutableNotAllowed { .. })
        ));
        // Even an allow-listed shell is refused.
        let mut lax = cfg();
        lax.health_executables.push("/bin/sh".into());
        let shell = unit("k3s.service", &["/bin/sh", "-c", "id"]);
        assert!(check_section(&lax, &section(vec![k3s], vec![shell])).is_err());
    }
}
