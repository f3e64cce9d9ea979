//! IOT_POLICY_OVERLY_PERMISSIVE_CHECK (Critical; reason
//! ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS).
//! Source: https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-iot-policy-permissive.html
//! Criteria: the data-plane probes in `criteria` (connect with any client id; publish to and
//! subscribe to other devices' reserved topics; shadow and job API on other things; Receive
//! alone is compliant).

use super::criteria::{DATA_PLANE_REASON, data_plane};
use super::{Finding, Subject};

pub const CHECK: &str = "IOT_POLICY_OVERLY_PERMISSIVE_CHECK";

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    data_plane(subject)
        .into_iter()
        .map(|h| h.critical(subject, CHECK, DATA_PLANE_REASON, "Policy"))
        .collect()
}
