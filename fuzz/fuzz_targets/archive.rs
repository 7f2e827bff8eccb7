//! Bounded archive extraction on arbitrary bytes: never panics, never writes outside its
//! directory, never more than the limits.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = ferry_bundle::Limits { max_total_bytes: 1 << 20, max_files: 64, ..ferry_bundle::Limits::default() };
    // The head is "verified" by parsing it (fuzzing only): whatever it lists may be unpacked.
    let _ = ferry_bundle::archive::extract_verified(data, &dir.path().join("x"), &limits, |head| {
        ferry_bundle::Manifest::parse(&head.manifest).ok().map(|m| ferry_bundle::archive::Listing::of(&m))
    });
    for e in std::fs::read_dir(dir.path()).expect("read_dir").flatten() {
        assert_eq!(e.file_name(), "x", "nothing outside the destination");
    }
});
