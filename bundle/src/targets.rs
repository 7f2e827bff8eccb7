//! Which devices a bundle is for: target matching and rollout waves (pure functions).

use crate::manifest::Targets;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The identity a device verifies bundles as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub labels: BTreeMap<String, String>,
}

/// True when `targets` is empty, lists `device.id`, or has a selector all of whose pairs are
/// among the device's labels.
pub fn matches(targets: &Targets, device: &Device) -> bool {
    if targets.is_empty() || targets.devices.contains(&device.id) {
        return true;
    }
    targets
        .selectors
        .iter()
        .any(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| device.labels.get(k) == Some(v)))
}

/// The device's stable position (0..100) in the rollout of bundle `name`.
pub fn wave_position(device_id: &str, name: &str) -> u8 {
    let h = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([0])
        .chain_update(device_id.as_bytes())
        .finalize();
    let mut n = [0u8; 8];
    n.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(n) % 100) as u8
}

/// True when a rollout of `percent` % includes this device. Raising the percentage only ever
/// adds devices: a device in a 20 % wave is also in the 50 % wave.
pub fn in_wave(device_id: &str, name: &str, percent: Option<u8>) -> bool {
    match percent {
        None => true,
        Some(p) => wave_position(device_id, name) < p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, labels: &[(&str, &str)]) -> Device {
        Device {
            id: id.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn target_matching() {
        let d = device("edge-1", &[("site", "berlin"), ("tier", "prod")]);
        assert!(matches(&Targets::default(), &d));
        assert!(matches(
            &Targets {
                devices: vec!["edge-1".into()],
                selectors: vec![]
            },
            &d
        ));
        assert!(!matches(
            &Targets {
                devices: vec!["edge-2".into()],
                selectors: vec![]
            },
            &d
        ));
        let sel = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(matches(
            &Targets {
                devices: vec![],
                selectors: vec![sel(&[("site", "berlin")])]
            },
            &d
        ));
        assert!(!matches(
            &Targets {
                devices: vec![],
                selectors: vec![sel(&[("site", "berlin"), ("tier", "dev")])]
            },
            &d
        ));
        assert!(!matches(
            &Targets {
                devices: vec![],
                selectors: vec![BTreeMap::new()]
            },
            &d
        ));
    }

    #[test]
    fn waves_are_stable_monotonic_and_roughly_fair() {
        let ids: Vec<String> = (0..2000).map(|i| format!("dev-{i}")).collect();
        let share = |p| ids.iter().filter(|id| in_wave(id, "app", Some(p))).count();
        assert_eq!(share(0), 0);
        assert_eq!(share(100), ids.len());
        let twenty = share(20);
        assert!(
            (300..500).contains(&twenty),
            "20% wave had {twenty} of 2000"
        );
        for id in &ids {
            if in_wave(id, "app", Some(20)) {
                assert!(in_wave(id, "app", Some(50)));
            }
        }
        assert_eq!(wave_position("dev-1", "app"), wave_position("dev-1", "app"));
        assert!(in_wave("x", "y", None));
    }
}
