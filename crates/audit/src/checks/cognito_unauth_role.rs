//! UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK (Critical; reasons
//! ALLOWS_ACCESS_TO_IOT_ADMIN_ACTIONS, ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS).
//! Source: https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-unauth-cognito-role-permissive.html
//! Criteria: thing admin write, thing admin read and non-thing admin actions on even a single
//! resource (all three are ALLOWS_ACCESS_TO_IOT_ADMIN_ACTIONS), plus the data-plane probes.

use super::criteria::{
    DATA_PLANE_REASON, THING_ADMIN_READ, THING_ADMIN_WRITE, admin_hit, allowed_anywhere,
    data_plane, guest_wildcard_subscription, non_thing_admin_actions,
};
use super::{Finding, Subject};

pub const CHECK: &str = "UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK";
pub const ADMIN_REASON: &str = "ALLOWS_ACCESS_TO_IOT_ADMIN_ACTIONS";
const GUEST: &str = "Unauthenticated Cognito role";

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let non_thing = non_thing_admin_actions();
    let admin = [
        admin_hit(
            "thing-admin-write",
            "IoT thing admin write actions",
            allowed_anywhere(subject, THING_ADMIN_WRITE),
        ),
        admin_hit(
            "thing-admin-read",
            "IoT thing admin read actions",
            allowed_anywhere(subject, THING_ADMIN_READ),
        ),
        admin_hit(
            "non-thing-admin",
            "IoT non-thing admin actions",
            allowed_anywhere(subject, &non_thing),
        ),
    ];
    for h in admin.into_iter().flatten() {
        out.push(h.critical(subject, CHECK, ADMIN_REASON, GUEST));
    }
    for h in data_plane(subject)
        .into_iter()
        .chain(guest_wildcard_subscription(subject))
    {
        out.push(h.critical(subject, CHECK, DATA_PLANE_REASON, GUEST));
    }
    out
}
