//! The k3s `registries.yaml` snippet that makes containerd pull through the mirror: one
//! `"*"` entry (every registry) or one entry per registry the bundles name. k3s renders it to
//! containerd's `certs.d` when it starts; containerd adds `?ns=<registry>` to mirror requests.

/// Renders the snippet for a mirror on `listen` (`127.0.0.1:5001`).
pub fn registries_yaml(listen: &str, registries: &[String]) -> String {
    let mut out =
        String::from("# /etc/rancher/k3s/registries.yaml (restart k3s after a change)\nmirrors:\n");
    let names: Vec<String> = if registries.is_empty() {
        vec!["*".into()]
    } else {
        registries.to_vec()
    };
    for r in names {
        out.push_str(&format!(
            "  \"{r}\":\n    endpoint:\n      - \"http://{listen}\"\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_or_per_registry() {
        let star = registries_yaml("127.0.0.1:5001", &[]);
        assert!(star.contains("  \"*\":\n    endpoint:\n      - \"http://127.0.0.1:5001\"\n"));
        let per = registries_yaml("127.0.0.1:5001", &["docker.io".into(), "ghcr.io".into()]);
        assert!(
            per.contains("\"docker.io\":")
                && per.contains("\"ghcr.io\":")
                && !per.contains("\"*\"")
        );
        let v = ferry_bundle::yaml::value_from_str(
            "registries.yaml",
            &per,
            &ferry_bundle::yaml::Budget::default(),
        )
        .unwrap();
        assert_eq!(
            v["mirrors"]["ghcr.io"]["endpoint"][0].as_str(),
            Some("http://127.0.0.1:5001")
        );
    }
}
