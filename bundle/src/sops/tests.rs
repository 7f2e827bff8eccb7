//! Bounds and refusals of the sops reader that need no real tool (interop with the real `sops`
//! is in `bundle/tests/sops_interop.rs`).

use super::meta::Rule;
use super::*;

fn sops_doc(meta: &str) -> String {
    format!("a: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops:\n  lastmodified: \"2026-01-01T00:00:00Z\"\n  mac: x\n{meta}")
}

fn err(text: &str) -> SopsError {
    match decrypt("f.yaml", text.as_bytes(), &[]) {
        Ok(_) => panic!("decrypted"),
        Err(e) => e,
    }
}

#[test]
fn metadata_refusals_are_named() {
    let unsupported = |e: SopsError| matches!(e, SopsError::Unsupported { .. });
    let malformed = |e: SopsError| matches!(e, SopsError::Malformed { .. });
    assert!(unsupported(err(&sops_doc(
        "  encrypted_comment_regex: x\n"
    ))));
    assert!(unsupported(err(&sops_doc(
        "  key_groups: [{age: []}, {age: []}]\n"
    ))));
    let e = err(&sops_doc("  pgp: [{fp: F, enc: E}]\n"));
    assert!(e.to_string().contains("encrypted only for pgp"), "{e}");
    assert!(malformed(err(&sops_doc(
        "  encrypted_regex: a\n  encrypted_suffix: b\n"
    ))));
    assert!(malformed(err(&sops_doc("  age: [{recipient: r}]\n"))));
    assert_eq!(
        err("a: 1\n"),
        SopsError::NotSops {
            file: "f.yaml".into()
        }
    );
    assert!(malformed(err("a: [\n")));
}

#[test]
fn a_file_for_other_recipients_names_them() {
    let e = err(&sops_doc(
        "  age:\n    - {recipient: age1abc, enc: x}\n    - {recipient: age1def, enc: y}\n",
    ));
    assert_eq!(
        e,
        SopsError::NoIdentity {
            file: "f.yaml".into(),
            recipients: vec!["age1abc".into(), "age1def".into()]
        }
    );
}

#[test]
fn budgets_bound_deep_nesting_alias_bombs_and_age_headers() {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(err(&deep), SopsError::Malformed { .. }));
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..8 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let e = err(&bomb);
    assert!(e.to_string().contains("aliases expand"), "{e}");
    let huge = vec![b'A'; age::MAX_ARMORED_BYTES + 1];
    assert_eq!(
        age::decrypt(&huge, &[]).unwrap_err(),
        AgeError::Malformed("larger than 16 KiB")
    );
}

#[test]
fn values_are_bound_to_their_path_and_key() {
    let key = [7u8; 32];
    let enc = cipher::encrypt("s3cret", "str", &key, &[1; 32], "a:b:");
    assert_eq!(
        cipher::decrypt(&enc, &key, "a:b:"),
        Ok(cipher::Plain::Str(Zeroizing::new("s3cret".into())))
    );
    assert_eq!(
        cipher::decrypt(&enc, &key, "a:c:"),
        Err(cipher::ValueError::Tampered)
    );
    assert_eq!(
        cipher::decrypt(&enc, &[8; 32], "a:b:"),
        Err(cipher::ValueError::Tampered)
    );
    assert!(matches!(
        cipher::decrypt("ENC[AES256_GCM,data:x]", &key, ""),
        Err(cipher::ValueError::Format(_))
    ));
    let n = cipher::encrypt("42", "int", &key, &[1; 32], "n:");
    assert_eq!(cipher::decrypt(&n, &key, "n:"), Ok(cipher::Plain::Int(42)));
    assert_eq!(cipher::go_float(1e21), "1000000000000000000000");
    assert_eq!(cipher::go_float(0.1), "0.1");
}

#[test]
fn rules_follow_should_be_encrypted() {
    let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let default = Rule::UnencryptedSuffix("_unencrypted".into());
    assert!(default.encrypts(&path(&["data", "x"])));
    assert!(!default.encrypts(&path(&["note_unencrypted", "x"])));
    let re = Rule::EncryptedRegex(super::pattern::Pattern::new("^(data|stringData)$").unwrap());
    assert!(re.encrypts(&path(&["stringData", "password"])));
    assert!(!re.encrypts(&path(&["metadata", "name"])));
    assert!(!re.encrypts(&path(&["metadata", "dataX"])));
}

#[test]
fn identities_are_checked_and_never_shown() {
    let e = parse_identities("# comment\n\nAGE-SECRET-KEY-1QQQQ\n").unwrap_err();
    assert_eq!(e, AgeError::BadIdentity { line: 3 });
    assert_eq!(
        parse_identities("# only\n").unwrap_err(),
        AgeError::NoIdentities
    );
}
