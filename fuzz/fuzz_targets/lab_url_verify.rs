#![no_main]
//! Arbitrary request targets through the lab's SigV4 presigned-URL verifier.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    iot_canary_lab::fuzz_entry::url(data);
});
