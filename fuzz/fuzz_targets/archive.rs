//! Bounded archive extraction on arbitrary bytes: never panics, never writes outside its
//! directory, never more than the limits.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = ferry_bundle::Limits { max_total_bytes: 1 << 20, max_files: 64, ..ferry_bundle::Limits::default() };
    let _ = ferry_bundle::archive::extract(data, &dir.path().join("x"), &limits);
    for e in std::fs::read_dir(dir.path()).expect("read_dir").flatten() {
        assert_eq!(e.file_name(), "x", "nothing outside the destination");
    }
});
