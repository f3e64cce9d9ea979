#![no_main]
//! Arbitrary server bytes through the daemon's decoding, packet mapping and verdict
//! classification: no panic, and nothing but an explicit refusal reads as denied.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    iot_canary::mqtt::fuzz_entry::server_bytes(data);
});
