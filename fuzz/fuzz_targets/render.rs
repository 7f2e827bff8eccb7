//! Rendering manifests (variable substitution, multi-document YAML) on arbitrary bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let vars = [("DEVICE_ID".to_string(), "edge-1".to_string())].into();
    let _ = ferry_agent::engine::render::render_file("f.yaml", data, &vars);
});
