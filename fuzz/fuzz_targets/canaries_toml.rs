#![no_main]
//! Arbitrary text as canaries.toml: a located error or a config, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = iot_canary_core::config::parse(std::path::Path::new("fuzz/canaries.toml"), text);
    }
});
