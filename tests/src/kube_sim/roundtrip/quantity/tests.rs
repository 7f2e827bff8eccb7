//! Cases from apimachinery's `quantity_test.go` and the API server's observable behaviour.

use super::*;

fn canon(s: &str) -> String {
    Quantity::parse(s)
        .map(|q| q.canonical())
        .unwrap_or_else(|e| format!("error: {e}"))
}

#[test]
fn canonical_forms_match_apimachinery() {
    for (input, want) in [
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("0.1", "100m"),
        ("1e3", "1e3"),
        ("1000", "1k"),
        ("100m", "100m"),
        ("2", "2"),
        ("1Ki", "1Ki"),
        ("1Mi", "1Mi"),
        ("1Gi", "1Gi"),
        ("1000M", "1G"),
        (".001Ki", "1024m"),
        (".000001Ki", "1024u"),
        (".000000001Ki", "1024n"),
        (".000000000001Ki", "2n"),
        ("0.0000000001", "1n"),
        ("0", "0"),
        ("0.0", "0"),
        ("00", "0"),
        ("0m", "0"),
        ("0Gi", "0"),
        ("-0", "0"),
        ("1.5", "1500m"),
        ("512Mi", "512Mi"),
        ("8Mi", "8Mi"),
        ("0.5Gi", "512Mi"),
        ("100Mi", "100Mi"),
        ("1E3", "1E3"),
        ("12e6", "12e6"),
        ("1e2", "100"),
        ("+1", "+1"),
        ("-500m", "-500m"),
        ("-1.5", "-1500m"),
        ("250M", "250M"),
        ("2000Mi", "2000Mi"),
        ("3000", "3k"),
        ("1e-3", "1e-3"),
        ("10e-3", "10e-3"),
        ("1Ti", "1Ti"),
        ("1.", "1."),
        ("-", "0"),
    ] {
        assert_eq!(canon(input), want, "{input}");
    }
}

#[test]
fn negative_forms_mirror_positive_ones() {
    for (input, want) in [("1024Mi", "-1Gi"), (".001Ki", "-1024m"), ("1000M", "-1G")] {
        assert_eq!(canon(&format!("-{input}")), want);
    }
}

#[test]
fn whitespace_is_trimmed_and_garbage_refused() {
    assert_eq!(canon(" 1"), "1");
    assert_eq!(canon("1 "), "1");
    assert_eq!(
        canon("abc"),
        format!("error: quantities must match the regular expression '{SPLIT_RE}'")
    );
    assert_eq!(
        canon(""),
        format!("error: quantities must match the regular expression '{SPLIT_RE}'")
    );
    assert_eq!(
        canon("1Qi"),
        format!("error: quantities must match the regular expression '{SPLIT_RE}'")
    );
    assert_eq!(canon("1ki"), "error: unable to parse quantity's suffix");
    assert_eq!(
        canon("1.2.3"),
        format!("error: quantities must match the regular expression '{SPLIT_RE}'")
    );
}

#[test]
fn json_numbers_read_as_go_writes_them() {
    let q = |v: Value| {
        Quantity::from_json(&v)
            .map(|q| q.canonical())
            .unwrap_or_default()
    };
    assert_eq!(q(serde_json::json!(0.5)), "500m");
    assert_eq!(q(serde_json::json!(2)), "2");
    assert_eq!(q(serde_json::json!(1e21)), "1e+21");
    assert_eq!(q(serde_json::json!(0.25)), "250m");
    assert_eq!(q(serde_json::json!(1024)), "1024");
}
