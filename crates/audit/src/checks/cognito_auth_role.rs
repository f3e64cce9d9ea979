//! AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK (Critical; reasons
//! ALLOWS_ACCESS_TO_IOT_THING_ADMIN_WRITE_ACTIONS, ALLOWS_ACCESS_TO_IOT_NON_THING_ADMIN_ACTIONS,
//! ALLOWS_BROAD_ACCESS_TO_IOT_THING_ADMIN_READ_ACTIONS, and the data-plane probes).
//! Source: https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-auth-cognito-role-permissive.html
//! The page lists three reason codes; its text also holds authenticated roles to the MQTT and
//! shadow/job criteria, which are reported with ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS.
//! Thing admin read is compliant on a limited set (`thing/MyThing*`): the probe is another
//! device's thing. The role is audited alone (the IoT policy attached to each identity narrows
//! MQTT access further, but not the control-plane actions).

use super::criteria::{
    DATA_PLANE_REASON, Hit, THING_ADMIN_READ, THING_ADMIN_WRITE, admin_hit, allowed_anywhere,
    allowed_on_other_thing, data_plane, non_thing_admin_actions,
};
use super::{Finding, Subject};

pub const CHECK: &str = "AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK";
pub const WRITE_REASON: &str = "ALLOWS_ACCESS_TO_IOT_THING_ADMIN_WRITE_ACTIONS";
pub const NON_THING_REASON: &str = "ALLOWS_ACCESS_TO_IOT_NON_THING_ADMIN_ACTIONS";
pub const READ_REASON: &str = "ALLOWS_BROAD_ACCESS_TO_IOT_THING_ADMIN_READ_ACTIONS";

/// The admin criteria authenticated roles and role aliases share.
pub fn admin_hits(subject: &Subject<'_>) -> Vec<(&'static str, Hit)> {
    let non_thing = non_thing_admin_actions();
    [
        (
            WRITE_REASON,
            admin_hit(
                "thing-admin-write",
                "IoT thing admin write actions",
                allowed_anywhere(subject, THING_ADMIN_WRITE),
            ),
        ),
        (
            NON_THING_REASON,
            admin_hit(
                "non-thing-admin",
                "IoT non-thing admin actions",
                allowed_anywhere(subject, &non_thing),
            ),
        ),
        (
            READ_REASON,
            admin_hit(
                "thing-admin-read-broad",
                "IoT thing admin read actions on other devices' things",
                allowed_on_other_thing(subject, THING_ADMIN_READ),
            ),
        ),
    ]
    .into_iter()
    .filter_map(|(r, h)| h.map(|h| (r, h)))
    .collect()
}

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let mut hits = admin_hits(subject);
    hits.extend(
        data_plane(subject)
            .into_iter()
            .map(|h| (DATA_PLANE_REASON, h)),
    );
    hits.into_iter()
        .map(|(reason, h)| h.critical(subject, CHECK, reason, "Authenticated Cognito role"))
        .collect()
}
