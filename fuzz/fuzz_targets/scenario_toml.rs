#![no_main]
//! Arbitrary text as a lab scenario: a located error or a scenario, never a panic. Policy
//! `{ file = ... }` references resolve under a directory that does not exist.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = iot_canary_lab::scenario::parse(
            text,
            "fuzz-scenario.toml",
            std::path::Path::new("/nonexistent-iot-canary-fuzz"),
        );
    }
});
