#![no_main]
//! Arbitrary observations, probe kinds, MQTT versions and control runs through core's evidence
//! rules: nothing reads as denied without an explicit refusal or proof of non-delivery, and
//! control pairing never manufactures a denial.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    iot_canary_core::fuzz_entry::evidence_rules(data);
});
