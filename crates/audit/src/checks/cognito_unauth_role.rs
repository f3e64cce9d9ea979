//! UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK (Critical; reasons
//! ALLOWS_ACCESS_TO_IOT_ADMIN_ACTIONS, ALLOWS_BROAD_ACCESS_TO_IOT_DATA_PLANE_ACTIONS).
//! Source: https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-unauth-cognito-role-permissive.html
//! Criteria: thing admin write, thing admin read and non-thing admin actions on even a single
//! resource (all three are ALLOWS_ACCESS_TO_IOT_ADMIN_ACTIONS), plus the data-plane probes.

use super::criteria::{
    DATA_PLANE_REASON, THING_ADMIN_READ, THING_ADMIN_WRITE, admin_hit, allowed_anywhere,
    data_plane, guest_wildcard_subscription, non_thing_admin_actions,
};
use super::{Finding, Severity, Subject};

pub const CHECK: &str = "UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK";
pub const ADMIN_REASON: &str = "ALLOWS_ACCESS_TO_IOT_ADMIN_ACTIONS";

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
        out.push(finish(subject, ADMIN_REASON, h));
    }
    for h in data_plane(subject)
        .into_iter()
        .chain(guest_wildcard_subscription(subject))
    {
        out.push(finish(subject, DATA_PLANE_REASON, h));
    }
    out
}

fn finish(subject: &Subject<'_>, reason: &'static str, h: super::criteria::Hit) -> Finding {
    let message = format!(
        "Unauthenticated Cognito role {} {}. Witness: {}",
        subject.principal,
        h.message,
        h.witness.first().map(|w| w.summary()).unwrap_or_default()
    );
    subject.finding(
        CHECK,
        reason,
        Severity::Critical,
        h.criterion,
        message,
        h.witness,
        None,
    )
}
