//! Canary reports made up for tests that exercise what consumes them (the metrics page, the
//! store) without probing anything.

use iot_canary_core::config::Canary;
use iot_canary_core::evidence::{Evidence, Step};
use iot_canary_core::store::CanaryReport;
use iot_canary_core::verdict::{MqttVersion, Observation, Verdict};

/// `c`'s report with `verdict` (standing derived from `c.expect`), observed as a SUBACK 0x87
/// over MQTT 5 with one step; callers override the fields they vary.
pub fn report(c: &Canary, verdict: Verdict) -> CanaryReport {
    let evidence = Evidence {
        mqtt_version: MqttVersion::V5,
        client_id: format!("{}-{}", c.identity, c.name),
        observation: Observation::Suback { code: 0x87 },
        steps: vec![Step {
            at_ms: 1,
            what: "SUBSCRIBE".into(),
        }],
    };
    CanaryReport::new(c, verdict, evidence, 1_700_000_000_000, 5)
}
