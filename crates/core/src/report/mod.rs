//! Round reports: a table for people, JSON with full evidence for machines, JUnit XML for CI.

mod junit;
mod table;

use crate::exit::Exit;
use crate::plan::exit_for;
use crate::store::CanaryReport;

pub use junit::junit;
pub use table::{header, line, summary_line, table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Junit,
}

impl Format {
    /// The `--format` spellings, in help order.
    pub const NAMES: [&'static str; 3] = ["table", "json", "junit"];
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "junit" => Ok(Format::Junit),
            other => Err(format!("unknown format `{other}` (table, json, junit)")),
        }
    }
}

pub fn exit_of(reports: &[CanaryReport]) -> Exit {
    exit_for(reports.iter().map(|r| r.standing))
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    exit_code: u8,
    summary: Summary,
    canaries: &'a [CanaryReport],
}

#[derive(serde::Serialize, Default, Debug, PartialEq, Eq)]
pub struct Summary {
    pub ok: usize,
    pub breach: usize,
    pub control_failed: usize,
    pub blind: usize,
}

pub fn summary(reports: &[CanaryReport]) -> Summary {
    use crate::verdict::Standing::*;
    let mut s = Summary::default();
    for r in reports {
        match r.standing {
            Ok => s.ok += 1,
            Breach => s.breach += 1,
            ControlFailed => s.control_failed += 1,
            Blind => s.blind += 1,
        }
    }
    s
}

pub fn json(reports: &[CanaryReport]) -> String {
    let doc = JsonReport {
        exit_code: exit_of(reports).code(),
        summary: summary(reports),
        canaries: reports,
    };
    // Serializing plain data structs with string keys cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

pub fn render(format: Format, reports: &[CanaryReport]) -> String {
    match format {
        Format::Table => table(reports),
        Format::Json => json(reports),
        Format::Junit => junit(reports),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::evidence::{Evidence, Step};
    use crate::verdict::*;

    pub fn sample(name: &str, expect: Expect, verdict: Verdict, obs: Observation) -> CanaryReport {
        CanaryReport {
            canary: name.into(),
            identity: "alice".into(),
            action: ProbeAction::Receive,
            expect,
            verdict,
            standing: standing(expect, verdict),
            subject: "topic devices/bob-plug/telemetry".into(),
            witness: Some("ops".into()),
            started_at_unix_ms: 1_767_225_600_000,
            duration_ms: 42,
            evidence: Evidence {
                mqtt_version: MqttVersion::V5,
                client_id: "alice-iot-canary".into(),
                observation: obs,
                steps: vec![Step {
                    at_ms: 3,
                    what: "SUBSCRIBE `devices/bob-plug/telemetry` QoS 1 <&>".into(),
                }],
            },
        }
    }

    pub fn rows() -> Vec<CanaryReport> {
        vec![
            sample(
                "denied-one",
                Expect::Deny,
                Verdict::Denied,
                Observation::Suback { code: 0x87 },
            ),
            sample(
                "breached-one",
                Expect::Deny,
                Verdict::Allowed,
                Observation::Delivered,
            ),
            sample(
                "blind-one",
                Expect::Deny,
                Verdict::Inconclusive(Reason::Timeout),
                Observation::TimedOut {
                    waiting_for: Waiting::Suback,
                },
            ),
            sample(
                "control",
                Expect::Allow,
                Verdict::Allowed,
                Observation::Suback { code: 1 },
            ),
        ]
    }

    #[test]
    fn json_carries_verdict_reason_and_evidence() {
        let v: serde_json::Value = serde_json::from_str(&json(&rows())).unwrap();
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["summary"]["breach"], 1);
        assert_eq!(v["summary"]["blind"], 1);
        let b = &v["canaries"][1];
        assert_eq!(b["canary"], "breached-one");
        assert_eq!(b["verdict"], "allowed");
        assert_eq!(b["standing"], "breach");
        assert_eq!(b["evidence"]["observation"]["kind"], "delivered");
        let blind = &v["canaries"][2];
        assert_eq!(blind["verdict"], "inconclusive");
        assert_eq!(blind["reason"], "timeout");
        assert_eq!(v["canaries"][0]["evidence"]["observation"]["code"], 0x87);
    }

    #[test]
    fn exit_of_reports() {
        assert_eq!(exit_of(&rows()), Exit::Breach);
        assert_eq!(exit_of(&rows()[2..]), Exit::Blind);
        assert_eq!(exit_of(&rows()[3..]), Exit::Ok);
    }
}
