//! An encrypted host file: k3s's config.yaml holding the cluster token travels as a SOPS
//! binary file written by the real sops for the device's age key (made by the real
//! age-keygen); it is decrypted in memory at install time and written with its mode through
//! the host installer. The plaintext is found only at the target (and, after an update, in
//! `config.yaml.ferry-prev`, the previous file the host held in plaintext anyway): not in the
//! state directory, the drop directory, the agent's output, after a success, a wrong-key
//! revision and a kill -9 between staging and commit.

use crate::harness::*;
use ferry_tests::sops_tools::{age_keygen, sops_encrypt};
use std::os::unix::fs::PermissionsExt;

const TOKEN: &str = "MARKER-k3s-token-9c1e";

const CONFIG: &str = "/etc/rancher/k3s/config.yaml";

fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = crate::common::sops::files_containing(dir, needle);
    hits.sort();
    hits
}

fn publish(h: &Host, rev: u64, token: &str, recipient: &str) -> Vec<u8> {
    let plain = [
        h.config_yaml("v1.31.5+k3s1"),
        format!("token: {token}\n").into_bytes(),
    ]
    .concat();
    let dir = h.env.dir.path();
    let enc = sops_encrypt(dir, "config.yaml.sops", &plain, &[recipient], &[]);
    let mut conf = file("host/config.yaml.sops", CONFIG, 0o600, None);
    conf.sops = true;
    let k3s = file("host/k3s", "/usr/local/bin/k3s", 0o755, None);
    h.publish(
        rev,
        vec![
            ("host/k3s", fake_k3s("v1.31.5+k3s1"), k3s),
            ("host/config.yaml.sops", enc.into_bytes(), conf),
        ],
        vec![k3s_unit()],
    );
    plain
}

#[test]
fn an_encrypted_k3s_config_is_decrypted_at_install_and_rests_nowhere_else() {
    let h = Host::new();
    let (key_text, recipient) = age_keygen();
    let key = h.env.dir.path().join("age.key");
    std::fs::write(&key, key_text).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let top = format!(
        "{}decryption: {{ageKeyFile: {}}}\n",
        h.host_config(),
        key.display()
    );
    h.env.write_config_full(&top, HOST_SYNC);
    let state = h.env.dir.path().join("state");
    let mut outputs = Vec::new();

    // A kill -9 after the decrypted config was staged beside its target, before the rename.
    let plain = publish(&h, 1, TOKEN, &recipient);
    let o = h
        .env
        .agent_env(&["sync", "--once"], &[("FERRY_FAULT", "host-staged:2")]);
    assert!(!o.status.success(), "the fault point aborts");
    outputs.push(String::from_utf8_lossy(&o.stderr).into_owned());
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");
    outputs.push(out);
    assert_eq!(h.read(CONFIG).unwrap(), plain, "the decrypted config");
    let mode = std::fs::metadata(h.path(CONFIG))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    assert!(
        h.api_version().contains("v1.31.5+k3s1"),
        "k3s runs on the port of the decrypted config: {}",
        h.api_version()
    );
    // Planned by the plaintext's digest: the next pass installs and restarts nothing.
    let applied = h.events().matches("host-applied").count();
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");
    outputs.push(out);
    assert_eq!(h.events().matches("host-applied").count(), applied);

    // Encrypted for another device: refused naming the recipient; the config stays.
    let (_, stranger) = age_keygen();
    publish(&h, 2, "MARKER-other-token", &stranger);
    let (code, out) = h.env.sync();
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("host/config.yaml.sops") && out.contains(&stranger),
        "{out}"
    );
    outputs.push(out);
    assert_eq!(h.read(CONFIG).unwrap(), plain);

    // A new token: the previous file is kept beside it as the installer always does.
    let next = publish(&h, 3, "MARKER-k3s-token-rotated", &recipient);
    let (code, out) = h.env.sync();
    assert_eq!(code, 0, "{out}");
    outputs.push(out);
    assert_eq!(h.read(CONFIG).unwrap(), next);
    let prev = format!("{CONFIG}.ferry-prev");
    assert_eq!(h.read(&prev).unwrap(), plain);

    for token in [TOKEN, "MARKER-k3s-token-rotated"] {
        for dir in [&state, &h.env.drop_dir()] {
            let hits = holding(dir, token.as_bytes());
            assert!(hits.is_empty(), "{token} in {hits:?}");
        }
        for out in &outputs {
            assert!(!out.contains(token), "{token} in output:\n{out}");
        }
    }
    assert_eq!(
        holding(&h.root, TOKEN.as_bytes()),
        vec![h.path(&prev)],
        "only the previous file holds the old token (no staging file left)"
    );
}
