//! SOPS end to end: Secrets encrypted by the real `sops` CLI for keys made by the real
//! `age-keygen` are synced by the real `ferry-agent` to kube-sim with their plaintext, and the
//! plaintext is found nowhere else: not in the state directory (state.db, blob cache, scratch),
//! the drop directory, the agent's output, `status`/`history`/`events`/`diff`, or the status
//! ConfigMap; after a crash, a success, a tampered revision and a wrong-key revision alike. Rotation
//! (old + new recipients, old key removed from the device) keeps working.

mod common;

use common::sops::*;
use common::*;
use ferry_tests::sops_tools::{age_keygen, sops_encrypt};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const MARKER: &str = "MARKER-7f3a-plaintext-never-rests";

fn secret(value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\ntype: Opaque\nstringData:\n  password: {value}\n  user: admin\n"
    )
}

fn configure(env: &Env, key: &Path) {
    env.write_config_full(
        &format!("decryption: {{ageKeyFile: {}}}", key.display()),
        "timeout: 5s",
    );
}

/// The marker (as text and base64, as a Secret's `data` carries it) is nowhere but the cluster.
fn assert_plaintext_rests_nowhere(env: &Env, outputs: &[String]) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(MARKER);
    for needle in [MARKER, b64.as_str(), &MARKER[..20]] {
        for dir in [env.dir.path().join("state"), env.drop_dir()] {
            let hits = files_containing(&dir, needle.as_bytes());
            assert!(hits.is_empty(), "{needle} found in {hits:?}");
        }
        for out in outputs {
            assert!(!out.contains(needle), "{needle} in output:\n{out}");
        }
        let status = env.obj("", "ConfigMap", "kube-system", "ferry-status");
        let status = serde_json::to_string(&status).unwrap();
        assert!(!status.contains(needle), "{needle} in the status ConfigMap");
    }
    for args in [
        &["status"][..],
        &["status", "--output", "json"],
        &["history"],
        &["events"],
        &["diff"],
    ] {
        let o = env.agent(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !text.contains(MARKER) && !text.contains(&b64),
            "{args:?}:\n{text}"
        );
    }
}

fn password(env: &Env) -> Option<String> {
    use base64::Engine;
    let s = env.obj("", "Secret", "apps", "db")?;
    if let Some(p) = s["stringData"]["password"].as_str() {
        return Some(p.to_string());
    }
    let b = s["data"]["password"].as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
    String::from_utf8(raw).ok()
}

fn encrypt(env: &Env, value: &str, recipients: &[&str]) -> String {
    let flags = ["--encrypted-regex", "^(data|stringData)$"];
    sops_encrypt(
        env.dir.path(),
        "secret.yaml",
        secret(value),
        recipients,
        &flags,
    )
}

#[test]
fn a_sops_secret_syncs_and_its_plaintext_rests_nowhere_after_success_or_failure() {
    let env = Env::new();
    let (device_key, device) = age_keygen();
    let key = write_key(&env, "age.key", &device_key);
    configure(&env, &key);
    let enc = encrypt(&env, MARKER, &[&device]);
    assert!(!enc.contains(MARKER));
    let ns = ("ns.yaml", namespace("apps"));
    env.publish(1, &[ns.clone(), ("secret.yaml", enc.clone())]);
    // A crash (abort, like kill -9) after the objects were written, before the record.
    let o = env.agent_env(&["sync", "--once"], &[("FERRY_FAULT", "after-stage")]);
    assert!(!o.status.success(), "the fault point aborts");
    let out0 = String::from_utf8_lossy(&o.stderr).into_owned();
    let (code, out1) = env.sync();
    assert_eq!(code, 0, "{out1}");
    assert_eq!(
        password(&env).as_deref(),
        Some(MARKER),
        "the cluster gets the plaintext"
    );
    // Unchanged: nothing written on the next pass (the keyed hash is stable).
    env.sim.clear_log();
    let (code, out2) = env.sync();
    assert_eq!(code, 0, "{out2}");
    assert_eq!(env.sim.writes().len(), 0, "{:?}", env.sim.writes());

    // Revision 2: one ciphertext byte changed. Refused by name; revision 1 stays.
    let line = enc.lines().find(|l| l.contains("password: ENC[")).unwrap();
    let at = line.find("data:").unwrap() + 7;
    let mut bad = line.as_bytes().to_vec();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    let tampered = enc.replace(line, std::str::from_utf8(&bad).unwrap());
    env.publish(2, &[ns.clone(), ("secret.yaml", tampered)]);
    let (code, out3) = env.sync();
    assert_ne!(code, 0, "{out3}");
    assert!(
        out3.contains("secret.yaml: the value at stringData:password fails authentication"),
        "{out3}"
    );
    assert_eq!(
        password(&env).as_deref(),
        Some(MARKER),
        "last good revision kept"
    );

    // Revision 3: encrypted for someone else. The error names the recipient.
    let (_, stranger) = age_keygen();
    env.publish(
        3,
        &[
            ns.clone(),
            ("secret.yaml", encrypt(&env, "other-value", &[&stranger])),
        ],
    );
    let (code, out4) = env.sync();
    assert_ne!(code, 0, "{out4}");
    assert!(
        out4.contains("no age identity of this device decrypts it") && out4.contains(&stranger),
        "{out4}"
    );
    assert_eq!(
        password(&env).as_deref(),
        Some(MARKER),
        "last good revision kept"
    );
    assert_plaintext_rests_nowhere(&env, &[out0, out1, out2, out3, out4]);
}

#[test]
fn rotation_and_key_file_checks() {
    let env = Env::new();
    let (old_key, old) = age_keygen();
    let (new_key, new) = age_keygen();
    let key = write_key(&env, "age.key", &old_key);
    configure(&env, &key);
    let ns = ("ns.yaml", namespace("apps"));
    env.publish(
        1,
        &[
            ns.clone(),
            ("secret.yaml", encrypt(&env, "v1-old-only", &[&old])),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    // The publisher re-encrypts for old + new; the device gets the new key alongside, then the
    // old key is removed from the device.
    env.publish(
        2,
        &[
            ns.clone(),
            ("secret.yaml", encrypt(&env, "v2-both", &[&old, &new])),
        ],
    );
    write_key(&env, "age.key", &format!("{old_key}{new_key}"));
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_eq!(password(&env).as_deref(), Some("v2-both"));
    write_key(&env, "age.key", &new_key);
    env.publish(
        3,
        &[
            ns.clone(),
            ("secret.yaml", encrypt(&env, "v3-rotated", &[&old, &new])),
        ],
    );
    let (code, out) = env.sync();
    assert_eq!(code, 0, "{out}");
    assert_eq!(password(&env).as_deref(), Some("v3-rotated"));

    // check-config: a key file others can read is refused, naming the file.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = env.agent(&["check-config"]);
    let text =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("decryption.ageKeyFile") && text.contains("chmod 600"),
        "{text}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(env.agent(&["check-config"]).status.success());

    // No decryption configured: a SOPS file is refused naming its recipients.
    env.write_config("timeout: 5s");
    env.publish(4, &[ns, ("secret.yaml", encrypt(&env, "v4", &[&new]))]);
    let (code, out) = env.sync();
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("no decryption.ageKeyFile") && out.contains(&new),
        "{out}"
    );
    assert_eq!(password(&env).as_deref(), Some("v3-rotated"));
}

#[test]
fn a_secret_generator_with_sops_sources_is_completed_on_the_device() {
    use base64::Engine;
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let env = Env::new();
    let (device_key, device) = age_keygen();
    let key = write_key(&env, "age.key", &device_key);
    configure(&env, &key);
    let dotenv = format!("DB_USER=admin\nDB_PASSWORD={MARKER}\nMULTI=a\\nb\n");
    let name = generated_bundle(&env, 1, &dotenv, &device);
    let (code, out1) = env.sync();
    assert_eq!(code, 0, "{out1}");
    let s = env
        .obj("", "Secret", "apps", &name)
        .expect("the generated Secret");
    let data = s["data"].as_object().unwrap();
    assert_eq!(data["DB_PASSWORD"], b64(MARKER.as_bytes()));
    assert_eq!(
        data["MULTI"],
        b64(b"a\\nb"),
        "as Kustomize reads sops's dotenv"
    );
    assert_eq!(data["tls.key"], b64(b"\x00\xffkey-bytes"));
    assert!(data.keys().all(|k| !k.starts_with("sops_")), "{data:?}");
    env.sim.clear_log();
    let (code, out2) = env.sync();
    assert_eq!(code, 0, "{out2}");
    assert_eq!(env.sim.writes().len(), 0, "{:?}", env.sim.writes());

    // A source encrypted for another device: refused by name, revision 1 stays.
    let (_, stranger) = age_keygen();
    generated_bundle(&env, 2, "DB_PASSWORD=other\n", &stranger);
    let (code, out3) = env.sync();
    assert_ne!(code, 0, "{out3}");
    assert!(
        out3.contains("secret-sources/app.env: no age identity") && out3.contains(&stranger),
        "{out3}"
    );
    let s = env.obj("", "Secret", "apps", &name).expect("kept");
    assert_eq!(s["data"]["DB_PASSWORD"], b64(MARKER.as_bytes()));
    assert_plaintext_rests_nowhere(&env, &[out1, out2, out3]);
}
