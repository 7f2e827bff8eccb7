//! The manifest parser and the file-list checks on arbitrary bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ferry_bundle::Manifest::parse(data) {
        let _ = ferry_bundle::verify::check_file_list(&m, &ferry_bundle::Limits::default());
        let _ = ferry_bundle::Manifest::parse(m.to_yaml().as_bytes()).expect("a parsed manifest re-parses");
    }
});
