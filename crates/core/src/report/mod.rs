//! Round reports: a table for people, JSON with full evidence for machines (the shared
//! [`envelope`]), JUnit XML for CI.

pub mod envelope;
mod junit;
mod table;

use std::collections::BTreeMap;

use crate::exit::Exit;
use crate::plan::exit_for;
use crate::store::CanaryReport;

pub use envelope::RunInfo;
pub use junit::junit;
pub use table::{Columns, sorted, summary_line, table, table_for, use_color};

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

/// The gate's exit code for a run: a run cut short never passes (2 unless a breach was
/// already seen, which stays 1).
pub fn exit_of_run(run: &RunInfo, reports: &[CanaryReport]) -> Exit {
    let exit = exit_of(reports);
    if run.incomplete {
        exit.worst(Exit::Blind)
    } else {
        exit
    }
}

#[derive(serde::Serialize, Default, Debug, PartialEq, Eq)]
pub struct Summary {
    pub ok: usize,
    pub breach: usize,
    pub control_failed: usize,
    pub blind: usize,
    /// The blind rows per inconclusive reason.
    pub blind_reasons: BTreeMap<String, usize>,
}

pub fn summary(reports: &[CanaryReport]) -> Summary {
    use crate::verdict::Standing::*;
    let mut s = Summary {
        blind_reasons: table::blind_reasons(reports),
        ..Summary::default()
    };
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

/// The JSON report: the shared envelope around the round's canary reports (config order).
pub fn json(run: &RunInfo, reports: &[CanaryReport]) -> String {
    // Serializing plain data structs with string keys cannot fail.
    envelope::to_json(run, exit_of_run(run, reports), &summary(reports), reports)
        .unwrap_or_default()
}

/// A round's report in `format`; `color` applies to the table only.
pub fn render(format: Format, run: &RunInfo, reports: &[CanaryReport], color: bool) -> String {
    match format {
        Format::Table => table_for(run, reports, color),
        Format::Json => json(run, reports),
        Format::Junit => junit(run, reports),
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

    pub fn run() -> RunInfo {
        RunInfo::offline("once", std::time::SystemTime::UNIX_EPOCH)
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
        let v: serde_json::Value = serde_json::from_str(&json(&run(), &rows())).unwrap();
        assert_eq!(v["schema_version"], envelope::SCHEMA_VERSION);
        assert_eq!(v["command"], "once");
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["summary"]["breach"], 1);
        assert_eq!(v["summary"]["blind"], 1);
        assert_eq!(v["summary"]["blind_reasons"]["timeout"], 1);
        let b = &v["results"][1];
        assert_eq!(b["canary"], "breached-one");
        assert_eq!(b["verdict"], "allowed");
        assert_eq!(b["standing"], "breach");
        assert_eq!(b["evidence"]["observation"]["kind"], "delivered");
        let blind = &v["results"][2];
        assert_eq!(blind["verdict"], "inconclusive");
        assert_eq!(blind["reason"], "timeout");
        assert_eq!(v["results"][0]["evidence"]["observation"]["code"], 0x87);
    }

    /// An AWS API answer travels whole into the JSON report (status, type, the bounded
    /// message, the ARN tested), and JUnit's failure message carries the evidence with the ARN.
    #[test]
    fn api_answers_reach_json_and_junit() {
        let arn = "arn:aws:iot:us-east-1:123456789012:thing/alice-thermostat";
        let mut breach = sample(
            "bob-cannot-get-alice-thermostat-shadow-https",
            Expect::Deny,
            Verdict::Allowed,
            Observation::ApiAnswer(ApiAnswer::ok(200, arn)),
        );
        breach.action = ProbeAction::HttpsShadowGet;
        let mut blind = sample(
            "bob-cannot-update-alice-thermostat-shadow-https",
            Expect::Deny,
            Verdict::Inconclusive(Reason::NoShadow),
            Observation::ShadowAbsent,
        );
        blind.action = ProbeAction::HttpsShadowUpdate;
        let mut denied = sample(
            "bob-cannot-list-things",
            Expect::Deny,
            Verdict::Denied,
            Observation::ApiAnswer(ApiAnswer::new(
                403,
                Some("AccessDeniedException"),
                Some(
                    "User: arn:aws:sts::123456789012:assumed-role/R/S is not authorized to perform: iot:ListThings on resource: *",
                ),
                "*",
            )),
        );
        denied.action = ProbeAction::ListThings;
        let rows = [breach, blind, denied];
        let v: serde_json::Value = serde_json::from_str(&json(&run(), &rows)).unwrap();
        let b = &v["results"][0];
        assert_eq!(b["action"], "https-shadow-get");
        assert_eq!(b["standing"], "breach");
        assert_eq!(b["evidence"]["observation"]["kind"], "api_answer");
        assert_eq!(b["evidence"]["observation"]["status"], 200);
        assert_eq!(b["evidence"]["observation"]["resource"], arn);
        assert_eq!(v["results"][1]["reason"], "no_shadow");
        assert_eq!(
            v["results"][1]["evidence"]["observation"]["kind"],
            "shadow_absent"
        );
        let d = &v["results"][2]["evidence"]["observation"];
        assert_eq!(d["error_type"], "AccessDeniedException");
        assert!(d["message"].as_str().unwrap().contains("iot:ListThings"));
        assert_eq!(v["summary"]["blind_reasons"]["no_shadow"], 1);
        let x = junit(&run(), &rows);
        assert!(x.contains(arn), "{x}");
        assert!(x.contains("<failure"), "{x}");
    }

    #[test]
    fn exit_of_reports() {
        assert_eq!(exit_of(&rows()), Exit::Breach);
        assert_eq!(exit_of(&rows()[2..]), Exit::Blind);
        assert_eq!(exit_of(&rows()[3..]), Exit::Ok);
        let mut cut = run();
        cut.incomplete = true;
        assert_eq!(exit_of_run(&cut, &rows()[3..]), Exit::Blind);
        assert_eq!(exit_of_run(&cut, &rows()), Exit::Breach);
    }
}
