//! ferry's SOPS reader against files written by the real `sops` CLI for keys made by the real
//! `age-keygen`: every rule sops files carry, YAML and JSON, the MAC over unencrypted values of
//! every scalar type, and the refusals (tampered, moved, removed, wrong key) with their names.

use ferry_bundle::sops::{self, SopsError};
use ferry_bundle::yaml::{documents, Budget};
use ferry_tests::sops_tools::{age_keygen, sops_decrypt, sops_encrypt};
use serde_json::Value;

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: apps
  labels: {app: db, tier: backend}
type: Opaque
# a comment sops encrypts too
stringData:
  password: MARKER-hunter2-plain
  port: 5432
  ratio: 0.25
  big: 1e3
  enabled: true
  legacy: yes
  empty: \"\"
  nothing: null
  quoted: \"0644\"
  octal: 0644
  list: [a, 1, false]
  multi: |
    line one
    line two
";

struct Fixture {
    dir: tempfile::TempDir,
    key_file: std::path::PathBuf,
    identities: Vec<sops::Identity>,
    recipient: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (text, recipient) = age_keygen();
    let key_file = dir.path().join("age.key");
    std::fs::write(&key_file, &text).unwrap();
    let identities = sops::parse_identities(&text).unwrap();
    assert_eq!(
        identities[0].recipient(),
        recipient,
        "ferry derives age-keygen's recipient"
    );
    Fixture {
        dir,
        key_file,
        identities,
        recipient,
    }
}

fn plain_docs(name: &str, text: &str) -> Vec<Value> {
    documents(name, text, &Budget::default())
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// Encrypts with the real sops, decrypts with ferry and with the real sops; all three agree.
fn round_trip(f: &Fixture, name: &str, plain: &str, flags: &[&str]) -> String {
    let enc = sops_encrypt(f.dir.path(), name, plain, &[&f.recipient], flags);
    let ours = sops::decrypt(name, enc.as_bytes(), &f.identities)
        .unwrap_or_else(|e| panic!("{flags:?}: {e}\n{enc}"));
    let theirs = sops_decrypt(f.dir.path(), name, &enc, &f.key_file);
    assert_eq!(
        ours.documents,
        plain_docs(name, &theirs),
        "{flags:?}: as sops decrypts it"
    );
    // As written, except that a YAML 1.1-only boolean (`yes`) in an encrypted value is the
    // string sops read (go-yaml v3), as Flux applies it.
    let plain = plain.replace("legacy: yes", "legacy: \"yes\"");
    assert_eq!(
        ours.documents,
        plain_docs(name, &plain),
        "{flags:?}: as written"
    );
    enc
}

#[test]
fn every_rule_sops_writes_decrypts_with_its_mac() {
    let f = fixture();
    for flags in [
        &[][..],
        &["--encrypted-regex", "^(data|stringData)$"],
        &["--unencrypted-regex", "^(apiVersion|kind|metadata|type)$"],
        &["--encrypted-suffix", "Data"],
        &["--unencrypted-suffix", "_plain"],
        &[
            "--encrypted-regex",
            "^(password|port)$",
            "--mac-only-encrypted",
        ],
    ] {
        let enc = round_trip(&f, "secret.yaml", SECRET, flags);
        assert!(
            !enc.contains("MARKER-hunter2-plain"),
            "{flags:?}: encrypted"
        );
    }
}

#[test]
fn json_and_multi_document_yaml() {
    let f = fixture();
    let json = r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"},
        "data": {"token": "TUFSS0VS"}, "n": 3, "f": 1.5, "b": false, "z": null, "l": [1, "x"]}"#;
    round_trip(&f, "secret.json", json, &[]);
    round_trip(&f, "secret.json", json, &["--encrypted-regex", "^data$"]);
    let two = format!("{SECRET}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: second}}\nstringData: {{a: b}}\n");
    let enc = round_trip(&f, "two.yaml", &two, &["--encrypted-regex", "^stringData$"]);
    assert_eq!(
        sops::decrypt("two.yaml", enc.as_bytes(), &f.identities)
            .unwrap()
            .documents
            .len(),
        2
    );
}

fn expect(result: Result<sops::Decrypted, SopsError>) -> SopsError {
    match result {
        Ok(_) => panic!("decrypted a file that must be refused"),
        Err(e) => e,
    }
}

#[test]
fn tampered_moved_removed_and_added_values_are_refused_by_name() {
    let f = fixture();
    let flags = ["--encrypted-regex", "^stringData$"];
    let enc = sops_encrypt(f.dir.path(), "s.yaml", SECRET, &[&f.recipient], &flags);
    let line = |key: &str| {
        enc.lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}: ENC[")))
            .unwrap()
            .to_string()
    };
    // One changed byte of the ciphertext.
    let pw = line("password");
    let at = pw.find("data:").unwrap() + 6;
    let mut flipped = pw.clone().into_bytes();
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let tampered = enc.replace(&pw, std::str::from_utf8(&flipped).unwrap());
    let e = expect(sops::decrypt("s.yaml", tampered.as_bytes(), &f.identities));
    assert_eq!(
        e,
        SopsError::TamperedValue {
            file: "s.yaml".into(),
            path: "stringData:password".into()
        }
    );
    assert!(!e.to_string().contains("MARKER"), "{e}");
    // A valid ciphertext moved to another key: its path is its additional data.
    let port = line("port");
    let value = |l: &str| l.split_once(": ").unwrap().1.to_string();
    let moved = enc.replace(&port, &port.replace(&value(&port), &value(&pw)));
    let e = expect(sops::decrypt("s.yaml", moved.as_bytes(), &f.identities));
    assert!(
        matches!(e, SopsError::TamperedValue { ref path, .. } if path == "stringData:port"),
        "{e}"
    );
    // An unencrypted value changed, a value removed, a value added: the MAC.
    let name_line = enc
        .lines()
        .find(|l| l.trim_start() == "name: db")
        .unwrap()
        .to_string();
    let indent = name_line.len() - name_line.trim_start().len();
    for changed in [
        enc.replace("name: db", "name: dc"),
        enc.replace(&format!("{}\n", line("ratio")), ""),
        enc.replace(
            &name_line,
            &format!("{name_line}\n{}extra: x", &name_line[..indent]),
        ),
    ] {
        assert_ne!(changed, enc);
        let e = expect(sops::decrypt("s.yaml", changed.as_bytes(), &f.identities));
        assert_eq!(
            e,
            SopsError::MacMismatch {
                file: "s.yaml".into()
            }
        );
    }
}

#[test]
fn wrong_key_names_the_recipients_and_rotation_works() {
    let (old, new, other) = (fixture(), fixture(), fixture());
    let both = [old.recipient.as_str(), new.recipient.as_str()];
    let enc = sops_encrypt(old.dir.path(), "s.yaml", SECRET, &both, &[]);
    let e = expect(sops::decrypt("s.yaml", enc.as_bytes(), &other.identities));
    assert_eq!(
        e,
        SopsError::NoIdentity {
            file: "s.yaml".into(),
            recipients: vec![old.recipient.clone(), new.recipient.clone()]
        }
    );
    assert!(e.to_string().contains(&new.recipient), "{e}");
    // Rotation: the device holds only the new key (old removed), or both.
    for ids in [&new.identities, &old.identities] {
        let plain = sops::decrypt("s.yaml", enc.as_bytes(), ids).unwrap();
        assert_eq!(
            plain.documents[0]["stringData"]["password"],
            "MARKER-hunter2-plain"
        );
    }
    let summary = sops::inspect("s.yaml", enc.as_bytes()).unwrap();
    assert_eq!(summary.recipients, both);
    let not = sops::inspect("p.yaml", SECRET.as_bytes()).unwrap_err();
    assert_eq!(
        not,
        SopsError::NotSops {
            file: "p.yaml".into()
        }
    );
}

/// Decryption cost per file of N values (one recipient), for docs/performance.md: run with
/// `cargo test --release -p ferry-bundle --test sops_interop decryption_cost -- --nocapture`.
#[test]
fn decryption_cost_per_file() {
    let f = fixture();
    let build = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    for n in [1usize, 10, 100, 1000] {
        let mut plain = String::from(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n",
        );
        for i in 0..n {
            plain.push_str(&format!("  key{i}: value-{i}-0123456789abcdef\n"));
        }
        let flags = ["--encrypted-regex", "^(data|stringData)$"];
        let enc = sops_encrypt(f.dir.path(), "s.yaml", &plain, &[&f.recipient], &flags);
        let runs = (2000 / n).clamp(5, 200) as u32;
        let start = std::time::Instant::now();
        for _ in 0..runs {
            let plain = sops::decrypt("s.yaml", enc.as_bytes(), &f.identities).unwrap();
            assert_eq!(
                plain.documents[0]["stringData"].as_object().unwrap().len(),
                n
            );
        }
        let each = start.elapsed() / runs;
        println!(
            "sops decrypt: {n} values, {} bytes, 1 age recipient: {each:?} per file ({build}, {runs} runs)",
            enc.len()
        );
    }
}
