//! SOPS on the real control plane: a Secret encrypted by the real `sops` for a key made by the
//! real `age-keygen` syncs to the real kube-apiserver with its plaintext and is not written
//! again on the next pass; a rotation (old + new recipients, then the old key removed from the
//! device); a tampered value, a wrong key and a missing key each refused by name with the last
//! good revision kept; a kill -9 mid-apply; a Kustomize secretGenerator with a SOPS env file.
//! After all of it the plaintext is found nowhere on disk (the agent's whole test directory:
//! state, blob cache, drop directory, key and config), in any output or report, or in the
//! status ConfigMap.

use super::*;
use common::sops::{files_containing, generated_bundle, write_key};
use ferry_tests::sops_tools::{age_keygen, sops_encrypt};
use std::path::Path;

const MARKER: &str = "MARKER-real-5d2b-never-rests";

fn secret(value: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: sops-real\ntype: Opaque\nstringData:\n  password: {value}\n  user: admin\n")
}

fn encrypt(r: &Real, value: &str, recipients: &[&str]) -> String {
    let flags = ["--encrypted-regex", "^(data|stringData)$"];
    sops_encrypt(
        r.env.dir.path(),
        "secret.yaml",
        secret(value),
        recipients,
        &flags,
    )
}

/// The agent config with `decryption.ageKeyFile` (or none), pointing at the real server.
fn configure(r: &Real, key: Option<&Path>) {
    let top = key.map_or(String::new(), |k| {
        format!("decryption: {{ageKeyFile: {}}}", k.display())
    });
    r.env.write_config_full(&top, "timeout: 30s");
    let text = std::fs::read_to_string(&r.env.config).unwrap().replace(
        &r.env.sim.kubeconfig_path().display().to_string(),
        &r.at.cp.kubeconfig.display().to_string(),
    );
    std::fs::write(&r.env.config, text).unwrap();
}

fn password(r: &Real) -> String {
    use base64::Engine;
    let b = r.get(&["secret", "db", "-n", "sops-real"], "{.data.password}");
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
}

fn refused(r: &Real, label: &str, needles: &[&str]) -> String {
    let (code, out, count) = r.sync(label);
    assert_ne!(code, 0, "{label}: {out}");
    for n in needles {
        assert!(out.contains(n), "{label}: {n:?} not in\n{out}");
    }
    // Only the status ConfigMap (which reports the failure) is written.
    let objects: Vec<_> = count
        .write_uris
        .iter()
        .filter(|u| !u.contains("/configmaps/ferry-status"))
        .collect();
    assert!(objects.is_empty(), "{label}: {objects:?}");
    out
}

#[test]
fn a_sops_secret_on_the_real_server_rotates_refuses_by_name_and_rests_nowhere() {
    use base64::Engine;
    let r = Real::new(shared(), "");
    let (old_key, old) = age_keygen();
    let (new_key, new) = age_keygen();
    let key = write_key(&r.env, "age.key", &old_key);
    configure(&r, Some(&key));
    let ns = ("ns.yaml", namespace("sops-real"));
    let mut outputs = Vec::new();

    // Revision 1, with a kill -9 after the objects were written, before the record.
    r.env.publish(
        1,
        &[ns.clone(), ("secret.yaml", encrypt(&r, MARKER, &[&old]))],
    );
    let o = r
        .env
        .agent_env(&["sync", "--once"], &[("FERRY_FAULT", "after-stage")]);
    assert!(!o.status.success(), "the fault point aborts");
    outputs.push(String::from_utf8_lossy(&o.stderr).into_owned());
    outputs.push(r.pass("sops r1").0);
    assert_eq!(password(&r), MARKER, "the real server holds the plaintext");
    r.quiet("sops r1 again");

    // Rotation: encrypted for old + new, the device holds both; then only the new key.
    let v2 = encrypt(&r, "v2-both-keys", &[&old, &new]);
    r.env.publish(2, &[ns.clone(), ("secret.yaml", v2.clone())]);
    write_key(&r.env, "age.key", &format!("{old_key}{new_key}"));
    outputs.push(r.pass("sops r2 rotation").0);
    assert_eq!(password(&r), "v2-both-keys");
    write_key(&r.env, "age.key", &new_key);
    r.env.publish(
        3,
        &[
            ns.clone(),
            ("secret.yaml", encrypt(&r, "v3-new-key", &[&old, &new])),
        ],
    );
    outputs.push(r.pass("sops r3 old key removed").0);
    assert_eq!(password(&r), "v3-new-key");

    // Tampered: one ciphertext byte of the password changed.
    let line = v2.lines().find(|l| l.contains("password: ENC[")).unwrap();
    let at = line.find("data:").unwrap() + 7;
    let mut bad = line.as_bytes().to_vec();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    let tampered = v2.replace(line, std::str::from_utf8(&bad).unwrap());
    r.env.publish(4, &[ns.clone(), ("secret.yaml", tampered)]);
    outputs.push(refused(
        &r,
        "sops r4 tampered",
        &["secret.yaml: the value at stringData:password fails authentication"],
    ));
    // Wrong key: only the old key, which the device no longer holds.
    r.env.publish(
        5,
        &[
            ns.clone(),
            ("secret.yaml", encrypt(&r, "v5-old-only", &[&old])),
        ],
    );
    outputs.push(refused(
        &r,
        "sops r5 wrong key",
        &["no age identity of this device decrypts it", &old],
    ));
    // Missing key: decryption not configured.
    configure(&r, None);
    outputs.push(refused(
        &r,
        "sops r5 missing key",
        &["no decryption.ageKeyFile", &old],
    ));
    assert_eq!(password(&r), "v3-new-key", "the last good revision stays");

    configure(&r, Some(&key));
    let cm = r.kubectl(&[
        "get",
        "configmap",
        "ferry-status",
        "-n",
        "kube-system",
        "-o",
        "json",
    ]);
    for args in [
        &["status"][..],
        &["status", "--output", "json"],
        &["history"],
        &["events"],
        &["diff"],
    ] {
        let o = r.env.agent(args);
        outputs.push(String::from_utf8_lossy(&o.stdout).into_owned());
        outputs.push(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(MARKER);
    for needle in [MARKER, b64.as_str(), "v3-new-key", "v2-both-keys"] {
        let hits = files_containing(r.env.dir.path(), needle.as_bytes());
        assert!(hits.is_empty(), "{needle} found in {hits:?}");
        for out in &outputs {
            assert!(!out.contains(needle), "{needle} in output:\n{out}");
        }
        assert!(!cm.contains(needle), "{needle} in the status ConfigMap");
    }
}

#[test]
fn a_kustomize_secret_generator_with_a_sops_env_file_syncs_to_the_real_server() {
    use base64::Engine;
    let r = Real::new(shared(), "");
    let (key_text, device) = age_keygen();
    let key = write_key(&r.env, "age.key", &key_text);
    configure(&r, Some(&key));
    let name = generated_bundle(&r.env, 1, &format!("DB_PASSWORD={MARKER}\n"), &device);
    let (out, _) = r.pass("generator r1");
    let got = r.get(&["secret", &name, "-n", "apps"], "{.data.DB_PASSWORD}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(MARKER);
    assert_eq!(got, b64);
    let keys = r.get(&["secret", &name, "-n", "apps"], "{.data}");
    assert!(!keys.contains("sops_"), "{keys}");
    r.quiet("generator r1 again");
    for needle in [MARKER, b64.as_str()] {
        let hits = files_containing(r.env.dir.path(), needle.as_bytes());
        assert!(hits.is_empty(), "{needle} found in {hits:?}");
        assert!(!out.contains(needle), "{out}");
    }
}
