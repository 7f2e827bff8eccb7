//! Attack and format tests of the pkt-line codec, on bytes only.

use super::*;

const A: &str = "b39ce0026ba8ea7ba21b4d143d6616b17ad7390d";
const B: &str = "023c7607365ee859f9ad7ccc8cf41a4eb8df6892";

/// One data pkt-line with its length prefix.
fn pkt(line: &str) -> Vec<u8> {
    let mut out = format!("{:04x}", line.len() + 4).into_bytes();
    out.extend_from_slice(line.as_bytes());
    out
}

fn reply(lines: &[&str]) -> Vec<u8> {
    let mut out: Vec<u8> = lines.iter().flat_map(|l| pkt(l)).collect();
    out.extend_from_slice(b"0000");
    out
}

#[test]
fn request_is_framed_as_git_frames_it() {
    // Lengths include their own four digits; checked against `git http-backend` 2.47 by hand
    // (it answers these bodies, with or without `object-format`, for a SHA-1 repository).
    assert_eq!(
        ls_refs_request("refs/heads/main", Peel::No).unwrap(),
        b"0014command=ls-refs\n0001001fref-prefix refs/heads/main\n0000"
    );
    assert_eq!(
        ls_refs_request("refs/tags/", Peel::Yes).unwrap(),
        b"0014command=ls-refs\n00010009peel\n001aref-prefix refs/tags/\n0000"
    );
}

#[test]
fn parses_refs_and_peeled_tags() {
    let body = reply(&[
        &format!("{A} refs/heads/main\n"),
        &format!("{B} refs/tags/v1.0.0 peeled:{A}\n"),
        &format!("{A} refs/tags/light"),
    ]);
    let refs = parse_ls_refs(&body).unwrap();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs[0].name, "refs/heads/main");
    assert_eq!(refs[0].commit().as_str(), A);
    assert_eq!(refs[1].target.as_str(), B);
    assert_eq!(refs[1].commit().as_str(), A, "annotated tags are peeled");
    assert_eq!(
        refs[2].commit().as_str(),
        A,
        "a line without LF is accepted"
    );
    assert!(parse_ls_refs(b"0000").unwrap().is_empty(), "no ref matched");
}

#[test]
fn unknown_attributes_are_ignored_and_uppercase_hex_is_normalized() {
    let upper = A.to_uppercase();
    let body = reply(&[&format!(
        "{upper} refs/heads/main symref-target:refs/heads/x\n"
    )]);
    let refs = parse_ls_refs(&body).unwrap();
    assert_eq!(refs[0].target.as_str(), A);
    assert_eq!(refs[0].peeled, None);
}

#[test]
fn endless_reply_stops_at_the_bound() {
    // An endless body: reading stops one byte past the bound with a named error.
    let mut endless = std::io::repeat(b'0');
    let err = read_bounded(&mut endless, 4096).unwrap_err();
    assert!(
        matches!(err, ReadError::Reply(ProbeError::TooLarge { max: 4096 })),
        "{err}"
    );
    assert!(err.to_string().contains("more than 4096 bytes"), "{err}");
    let mut small = &b"0000"[..];
    assert_eq!(read_bounded(&mut small, 4096).unwrap(), b"0000");
}

#[test]
fn bad_lengths_are_named() {
    for (body, what) in [
        (&b"00zz"[..], "not hex"),
        (b"0003", "out of range"),
        (b"fff1", "out of range"),
        (b"ffff", "out of range"),
        (b"+004", "not hex"),
        (b"0\n04", "not hex"),
    ] {
        let err = parse_ls_refs(body).unwrap_err();
        assert!(
            matches!(err, ProbeError::BadLength { .. }),
            "{body:?}: {err}"
        );
        assert!(err.to_string().contains(what), "{body:?}: {err}");
    }
    // The length field itself is shown escaped.
    let err = parse_ls_refs(b"\x1b[2J").unwrap_err();
    assert!(err.to_string().contains("\\u{1b}"), "{err}");
}

#[test]
fn a_length_past_the_end_is_truncated() {
    let mut body = b"0100".to_vec();
    body.extend_from_slice(A.as_bytes());
    let err = parse_ls_refs(&body).unwrap_err();
    assert!(matches!(err, ProbeError::Truncated), "{err}");
    assert!(err.is_not_understood());
    // An empty pkt-line (0004) is framed correctly but is no ref line.
    let err = parse_ls_refs(b"00040000").unwrap_err();
    assert!(matches!(err, ProbeError::BadLine { .. }), "{err}");
    let err = parse_ls_refs(&b"000"[..]).unwrap_err();
    assert!(matches!(err, ProbeError::Truncated), "{err}");
}

#[test]
fn bad_oids_are_refused() {
    for oid in [
        "g39ce0026ba8ea7ba21b4d143d6616b17ad7390d",
        "b39ce0026ba8ea7ba21b4d143d6616b17ad739",
        "b39ce0026ba8ea7ba21b4d143d6616b17ad7390d00",
        "b39ce0026ba8ea7ba21b4d143d6616b17ad7390\u{e9}",
    ] {
        let err = parse_ls_refs(&reply(&[&format!("{oid} refs/heads/main\n")])).unwrap_err();
        assert!(matches!(err, ProbeError::BadLine { .. }), "{oid}: {err}");
    }
    let err = parse_ls_refs(&reply(&[&format!("{A} refs/tags/t peeled:xyz\n")])).unwrap_err();
    assert!(err.to_string().contains("peeled"), "{err}");
    let err = parse_ls_refs(&reply(&[&format!("{A}\n")])).unwrap_err();
    assert!(matches!(err, ProbeError::BadLine { .. }), "{err}");
}

#[test]
fn err_lines_are_bounded_and_escaped() {
    let huge = format!(
        "ERR {}\x1b]0;pwned\x07\nforged line{}",
        "x".repeat(20),
        "y".repeat(60_000)
    );
    let err = parse_ls_refs(&reply(&[&huge])).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ProbeError::Server { .. }));
    assert!(
        !err.is_not_understood(),
        "a server's error is an error, not a fallback"
    );
    assert!(text.len() < 700, "{} bytes", text.len());
    assert!(!text.contains('\x1b') && !text.contains('\n') && !text.contains('\x07'));
    assert!(text.contains("\\u{1b}]0;pwned"), "{text}");
    assert!(text.contains("more bytes"), "{text}");
}

#[test]
fn a_v0_answer_is_not_understood() {
    // Protocol v0/v1 advertises refs with capabilities after a NUL; the smart-HTTP GET answer
    // starts with `# service=`; a v2 GET answers with its capabilities.
    let v0 = reply(&[&format!("{A} HEAD\0multi_ack thin-pack side-band\n")]);
    let service = reply(&["# service=git-upload-pack\n"]);
    let caps = reply(&["version 2\n", "agent=git/2.47\n", "ls-refs=unborn\n"]);
    for body in [v0, service, caps, Vec::new(), reply(&["version 1\n"])] {
        let err = parse_ls_refs(&body).unwrap_err();
        assert!(err.is_not_understood(), "{body:?}: {err}");
    }
}

#[test]
fn special_packets_in_the_wrong_place_and_trailing_bytes() {
    let mut delim = pkt(&format!("{A} refs/heads/main\n"));
    delim.extend_from_slice(b"00010000");
    assert!(matches!(
        parse_ls_refs(&delim).unwrap_err(),
        ProbeError::Unexpected { .. }
    ));
    let mut trailing = reply(&[&format!("{A} refs/heads/main\n")]);
    trailing.extend_from_slice(b"garbage");
    assert!(matches!(
        parse_ls_refs(&trailing).unwrap_err(),
        ProbeError::TrailingBytes { count: 7 }
    ));
    let no_flush = pkt(&format!("{A} refs/heads/main\n"));
    assert!(matches!(
        parse_ls_refs(&no_flush).unwrap_err(),
        ProbeError::Truncated
    ));
}

#[test]
fn refnames_with_control_characters_are_refused() {
    let err = parse_ls_refs(&reply(&[&format!("{A} refs/heads/a\x1bb\n")])).unwrap_err();
    assert!(matches!(err, ProbeError::BadLine { .. }), "{err}");
    assert!(!err.to_string().contains('\x1b'));
    let mut data = format!("{A} refs/heads/").into_bytes();
    data.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let mut raw = format!("{:04x}", data.len() + 4).into_bytes();
    raw.extend_from_slice(&data);
    raw.extend_from_slice(b"0000");
    let err = parse_ls_refs(&raw).unwrap_err();
    assert!(matches!(err, ProbeError::BadLine { .. }), "{err}");
}

#[test]
fn the_encoder_refuses_what_it_cannot_frame() {
    let long = format!("refs/heads/{}", "a".repeat(MAX_PKT_DATA));
    assert!(matches!(
        ls_refs_request(&long, Peel::No).unwrap_err(),
        ProbeError::BadPrefix { .. }
    ));
    let err = ls_refs_request("refs/heads/a\n0000", Peel::No).unwrap_err();
    assert!(matches!(err, ProbeError::BadPrefix { .. }), "{err}");
    assert!(!err.to_string().contains('\n'));
    let longest = format!("refs/{}", "a".repeat(MAX_PKT_DATA - 17));
    assert!(ls_refs_request(&longest, Peel::No).is_ok());
}
