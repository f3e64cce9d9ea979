//! SESSION_POLICY_SIZE_CHECK (Medium; reason SESSION_POLICY_EXCEEDS_PLAINTEXT_LIMIT): a
//! session-policy template expanded for N devices is over STS's 2,048-character plaintext
//! limit, so AssumeRole fails for a user with N devices. Not a Device Defender check.

use iot_canary_policy::size::{SESSION_POLICY_PLAINTEXT_LIMIT, plaintext_len};

use super::{Finding, Severity, SizeWitness, Subject};

pub const CHECK: &str = "SESSION_POLICY_SIZE_CHECK";
pub const REASON: &str = "SESSION_POLICY_EXCEEDS_PLAINTEXT_LIMIT";

pub fn run(subject: &Subject<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for source in &subject.sources {
        let Some(e) = &source.session else { continue };
        let size = |n: usize| {
            e.expand(n, subject.options)
                .map(|s| plaintext_len(&s))
                .unwrap_or(usize::MAX)
        };
        let chars = size(e.devices);
        if chars <= SESSION_POLICY_PLAINTEXT_LIMIT {
            continue;
        }
        let max_devices = (0..e.devices)
            .take_while(|&n| size(n) <= SESSION_POLICY_PLAINTEXT_LIMIT)
            .last()
            .unwrap_or(0);
        let mut f = subject.finding(
            CHECK,
            REASON,
            Severity::Medium,
            "session-policy-over-2048",
            format!(
                "Session-policy template {} expanded for {} devices is {chars} characters even minified, over STS's {SESSION_POLICY_PLAINTEXT_LIMIT}: AssumeRole fails for such a user; at most {max_devices} devices fit",
                source.name, e.devices
            ),
            Vec::new(),
            Some((&source.name, "")),
        );
        f.statement = None;
        f.location = source.location.clone();
        f.size = Some(SizeWitness {
            devices: e.devices,
            minified_chars: chars,
            limit: SESSION_POLICY_PLAINTEXT_LIMIT,
            max_devices,
        });
        out.push(f);
    }
    out
}
