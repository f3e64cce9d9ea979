//! The one JSON report envelope: every `--format json` report (`once`, `demo --once`,
//! `simulate`, `policy test`, `audit`) is this object with the command's own `summary` and
//! `results`. Consumers read `schema_version` first; a field is only ever added within a
//! version, never renamed or removed (docs/reports.md, docs/schemas/report.schema.json).

use std::time::SystemTime;

use crate::exit::Exit;

/// The envelope's version: bumped when a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

/// The tool's name and version as reports carry them.
pub const TOOL: &str = "iot-canary";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What ran, against what, and when: the envelope's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// `once`, `demo`, `simulate`, `policy test`, `audit`.
    pub command: &'static str,
    /// The AWS IoT endpoint probed (`once`, `demo`); `None` for offline commands.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// `I/N` with `--shard`; `None` when every canary ran.
    pub shard: Option<String>,
    pub started: SystemTime,
    pub finished: SystemTime,
    /// The run was cut short (a signal): `results` holds what finished, and the exit code is
    /// never 0.
    pub incomplete: bool,
}

impl RunInfo {
    /// An offline command's run that started at `started` and finishes now.
    pub fn offline(command: &'static str, started: SystemTime) -> Self {
        RunInfo {
            command,
            endpoint: None,
            region: None,
            shard: None,
            started,
            finished: SystemTime::now(),
            incomplete: false,
        }
    }
}

#[derive(serde::Serialize)]
struct Envelope<'a, S, T> {
    schema_version: u32,
    tool: &'static str,
    version: &'static str,
    command: &'static str,
    endpoint: Option<&'a str>,
    region: Option<&'a str>,
    shard: Option<&'a str>,
    started_at: String,
    finished_at: String,
    incomplete: bool,
    exit_code: u8,
    summary: &'a S,
    results: &'a [T],
}

/// RFC 3339 UTC with milliseconds (`2026-01-01T00:00:00.000Z`).
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The envelope as pretty JSON with a trailing newline.
pub fn to_json<S: serde::Serialize, T: serde::Serialize>(
    run: &RunInfo,
    exit: Exit,
    summary: &S,
    results: &[T],
) -> Result<String, serde_json::Error> {
    let doc = Envelope {
        schema_version: SCHEMA_VERSION,
        tool: TOOL,
        version: VERSION,
        command: run.command,
        endpoint: run.endpoint.as_deref(),
        region: run.region.as_deref(),
        shard: run.shard.as_deref(),
        started_at: rfc3339(run.started),
        finished_at: rfc3339(run.finished),
        incomplete: run.incomplete,
        exit_code: exit.code(),
        summary,
        results,
    };
    serde_json::to_string_pretty(&doc).map(|s| s + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn envelope_carries_version_run_metadata_summary_and_results() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_225_600_000);
        let run = RunInfo {
            command: "once",
            endpoint: Some("abc-ats.iot.us-east-1.amazonaws.com".into()),
            region: Some("us-east-1".into()),
            shard: Some("1/3".into()),
            started: t0,
            finished: t0 + Duration::from_millis(1500),
            incomplete: true,
        };
        let text = to_json(&run, Exit::Blind, &serde_json::json!({"ok": 1}), &[1, 2]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["tool"], "iot-canary");
        assert_eq!(v["version"], VERSION);
        assert_eq!(v["command"], "once");
        assert_eq!(v["endpoint"], "abc-ats.iot.us-east-1.amazonaws.com");
        assert_eq!(v["region"], "us-east-1");
        assert_eq!(v["shard"], "1/3");
        assert_eq!(v["started_at"], "2026-01-01T00:00:00.000Z");
        assert_eq!(v["finished_at"], "2026-01-01T00:00:01.500Z");
        assert_eq!(v["incomplete"], true);
        assert_eq!(v["exit_code"], 2);
        assert_eq!(v["summary"]["ok"], 1);
        assert_eq!(v["results"], serde_json::json!([1, 2]));
        let offline = RunInfo::offline("simulate", t0);
        let v: serde_json::Value =
            serde_json::from_str(&to_json(&offline, Exit::Ok, &(), &[0u8; 0]).unwrap()).unwrap();
        assert!(v["endpoint"].is_null() && v["shard"].is_null(), "{v}");
        assert_eq!(v["incomplete"], false);
    }
}
