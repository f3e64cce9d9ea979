//! IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK (Medium; reason
//! ALLOWS_ACCESS_TO_UNUSED_SERVICES).
//! Source: https://docs.aws.amazon.com/iot-device-defender/latest/devguide/audit-chk-role-alias-unused-svcs.html
//! Device Defender compares the role's grants with a year of service usage. No source file
//! holds usage, so the check runs only when the caller names the used services
//! (`--role-alias-used-services iot,s3`): an Allow of any action of another service fires. The
//! witness is that action (as written, or the pattern with `*` filled in) on the statement's
//! resource, decided by the engine.

use iot_canary_policy::Effect;
use iot_canary_policy::actions::SERVICE_PREFIXES;

use super::{Finding, Severity, Subject};
use crate::witness::{Caller, instantiate};

pub const CHECK: &str = "IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK";
pub const REASON: &str = "ALLOWS_ACCESS_TO_UNUSED_SERVICES";

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let Some(used) = &subject.options.role_alias_used_services else {
        return Vec::new();
    };
    let used: Vec<String> = used.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
    let caller = Caller::device();
    let mut out = Vec::new();
    let mut reported: Vec<String> = Vec::new();
    for p in &subject.policies {
        for s in p.statements() {
            if s.effect != Effect::Allow || s.not_action {
                continue;
            }
            for a in s.actions {
                let (svc, action) = match a.split_once(':') {
                    Some((svc, name)) => (
                        svc.to_ascii_lowercase(),
                        format!("{svc}:{}", name.replace('*', "Any").replace('?', "x")),
                    ),
                    // `*`: every service, shown with the first one the caller does not use.
                    None => match SERVICE_PREFIXES
                        .iter()
                        .find(|p| !used.iter().any(|u| u == *p))
                    {
                        Some(svc) => ((*svc).to_owned(), format!("{svc}:AnyAction")),
                        None => continue,
                    },
                };
                if used.contains(&svc) || reported.contains(&svc) {
                    continue;
                }
                let resource = match (s.not_resource, s.resources.first()) {
                    (false, Some(r)) => instantiate(r, &caller, "audit-probe", subject.options),
                    _ => format!(
                        "arn:{}:{svc}:{}:{}:audit-resource",
                        subject.options.partition,
                        subject.options.region,
                        subject.options.account_id
                    ),
                };
                let w = subject.decide(&caller, &action, &resource);
                if !w.allowed() {
                    continue;
                }
                reported.push(svc.clone());
                let message = format!(
                    "Role alias {} allows {svc}, which is not among the used services [{}]. Witness: {}",
                    subject.principal,
                    used.join(", "),
                    w.summary()
                );
                out.push(subject.finding(
                    CHECK,
                    REASON,
                    Severity::Medium,
                    "unused-service",
                    message,
                    vec![w],
                    Some((&p.name, s.label)),
                ));
            }
        }
    }
    out
}
