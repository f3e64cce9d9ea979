#![no_main]
//! Arbitrary bytes through the lab broker's framing and per-packet decisions.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    iot_canary_lab::fuzz_entry::packets(data);
});
