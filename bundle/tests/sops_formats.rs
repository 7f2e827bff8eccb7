//! ferry's reader for the dotenv and binary files the real `sops` CLI writes (the sources of a
//! Kustomize `secretGenerator`), against keys made by the real `age-keygen`: values as
//! `sops --decrypt` gives them, the MAC, and the refusals by name.

use ferry_bundle::sops::{self, SopsError};
use ferry_tests::sops_tools::{age_keygen, sops_decrypt, sops_encrypt};
use serde_json::Value;

const ENV: &str = "# database credentials
DB_USER=admin
DB_PASSWORD=MARKER-env-plain
URL=postgres://db:5432/app?sslmode=require&x=y
MULTI=line one\\nline two
NOTE_unencrypted=readable
EMPTY=
";

struct Keys {
    dir: tempfile::TempDir,
    key_file: std::path::PathBuf,
    ids: Vec<sops::Identity>,
    recipient: String,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let (text, recipient) = age_keygen();
    let key_file = dir.path().join("age.key");
    std::fs::write(&key_file, &text).unwrap();
    Keys {
        ids: sops::parse_identities(&text).unwrap(),
        dir,
        key_file,
        recipient,
    }
}

/// `KEY=value` lines as sops prints them decrypted, newlines unescaped as sops reads them.
fn env_lines(text: &str) -> serde_json::Map<String, Value> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), Value::String(v.replace("\\n", "\n")))
        })
        .collect()
}

fn expect<T>(r: Result<T, SopsError>) -> SopsError {
    match r {
        Ok(_) => panic!("expected a refusal"),
        Err(e) => e,
    }
}

#[test]
fn dotenv_written_by_sops_decrypts_as_sops_does_under_every_rule() {
    let k = keys();
    for flags in [
        &[][..],
        &["--encrypted-regex", "^DB_"][..],
        &["--unencrypted-regex", "^URL$"][..],
        &["--encrypted-suffix", "PASSWORD"][..],
        &["--mac-only-encrypted"][..],
    ] {
        let enc = sops_encrypt(k.dir.path(), "app.env", ENV, &[&k.recipient], flags);
        assert!(!enc.contains("MARKER-env-plain"), "{flags:?}: encrypted");
        assert!(sops::looks_like_sops(enc.as_bytes()));
        let ours = sops::decrypt("app.env", enc.as_bytes(), &k.ids)
            .unwrap_or_else(|e| panic!("{flags:?}: {e}\n{enc}"));
        let theirs = sops_decrypt(k.dir.path(), "app.env", &enc, &k.key_file);
        assert_eq!(ours.documents.len(), 1);
        assert_eq!(
            ours.documents[0],
            Value::Object(env_lines(&theirs)),
            "{flags:?}"
        );
        assert_eq!(ours.documents[0]["MULTI"], "line one\nline two");
        assert_eq!(ours.documents[0]["DB_PASSWORD"], "MARKER-env-plain");
        let summary = sops::inspect("app.env", enc.as_bytes()).unwrap();
        assert_eq!(summary.recipients, vec![k.recipient.clone()]);
    }
}

#[test]
fn dotenv_tampered_moved_removed_and_wrong_key_are_refused_by_name() {
    let k = keys();
    let enc = sops_encrypt(k.dir.path(), "app.env", ENV, &[&k.recipient], &[]);
    let value = |key: &str| {
        enc.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap()
            .to_string()
    };
    // A value moved to another key fails its authentication (the key is the AAD).
    let moved = enc.replace(&value("DB_USER"), &value("DB_PASSWORD"));
    let e = expect(sops::decrypt("app.env", moved.as_bytes(), &k.ids));
    assert!(
        matches!(&e, SopsError::TamperedValue { path, .. } if path == "DB_USER"),
        "{e}"
    );
    // A removed line, or a changed unencrypted value: the MAC.
    let line = format!("DB_USER={}\n", value("DB_USER"));
    for changed in [
        enc.replace(&line, ""),
        enc.replace("NOTE_unencrypted=readable", "NOTE_unencrypted=other"),
        format!("EXTRA_unencrypted=1\n{enc}"),
    ] {
        let e = expect(sops::decrypt("app.env", changed.as_bytes(), &k.ids));
        assert_eq!(
            e,
            SopsError::MacMismatch {
                file: "app.env".into()
            }
        );
    }
    let other = keys();
    let e = expect(sops::decrypt("app.env", enc.as_bytes(), &other.ids));
    assert!(
        matches!(&e, SopsError::NoIdentity { recipients, .. } if recipients == &vec![k.recipient.clone()]),
        "{e}"
    );
    assert!(e.to_string().contains(&k.recipient), "{e}");
}

#[test]
fn binary_written_by_sops_decrypts_to_its_bytes() {
    let k = keys();
    let mut plain = b"\x00\x01\xfe\xffMARKER-bin-plain\n".to_vec();
    plain.extend((0..=255u8).rev());
    let enc = sops_encrypt(k.dir.path(), "tls.key", &plain, &[&k.recipient], &[]);
    assert!(enc.starts_with('{') && enc.contains("\"data\""), "{enc}");
    assert!(sops::looks_like_sops(enc.as_bytes()));
    let ours = sops::decrypt_binary("tls.key", enc.as_bytes(), &k.ids).unwrap();
    assert_eq!(&ours[..], &plain[..], "the bytes sops encrypted");
    // Text content decrypts as `sops --decrypt` prints it.
    let text = "-----BEGIN CERT-----\nMARKER\n";
    let enc_text = sops_encrypt(k.dir.path(), "tls.crt", text, &[&k.recipient], &[]);
    let theirs = sops_decrypt(k.dir.path(), "tls.crt", &enc_text, &k.key_file);
    let ours = sops::decrypt_binary("tls.crt", enc_text.as_bytes(), &k.ids).unwrap();
    assert_eq!(&ours[..], theirs.as_bytes());

    let data: Value = serde_json::from_str(&enc).unwrap();
    let value = data["data"].as_str().unwrap();
    let other: Value = serde_json::from_str(&enc_text).unwrap();
    let swapped = enc.replace(value, other["data"].as_str().unwrap());
    let e = expect(sops::decrypt_binary("tls.key", swapped.as_bytes(), &k.ids));
    assert!(matches!(e, SopsError::TamperedValue { .. }), "{e}");
    let e = expect(sops::decrypt_binary("tls.key", enc.as_bytes(), &keys().ids));
    assert!(matches!(e, SopsError::NoIdentity { .. }), "{e}");
    let e = expect(sops::decrypt_binary(
        "tls.key",
        enc_text
            .replace("\"data\"", "\"other\": \"x\", \"data\"")
            .as_bytes(),
        &k.ids,
    ));
    assert!(matches!(e, SopsError::Malformed { .. }), "{e}");
}
