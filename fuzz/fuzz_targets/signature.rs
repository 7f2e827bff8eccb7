//! Signature parsing and checking on arbitrary signature text.
#![no_main]
use std::sync::OnceLock;

fn keys() -> &'static ferry_bundle::TrustedKeys {
    static KEYS: OnceLock<ferry_bundle::TrustedKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut k = ferry_bundle::TrustedKeys::new();
        k.add_text("demo", include_str!("../../k3s-examples/keys/demo-DO-NOT-USE.pub")).expect("demo key");
        k
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let sig = String::from_utf8_lossy(data);
    let _ = ferry_bundle::sign::check(b"apiVersion: ferry.dev/v1\n", &sig, keys());
});
