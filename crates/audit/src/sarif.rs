//! SARIF 2.1.0 for code-scanning UIs (GitHub code scanning reads `ruleId`, `level`, the
//! message, the first location, and `partialFingerprints` to follow a result across commits).
//!
//! Fingerprints are stable across line moves: a hash of the check, reason, principal, policy,
//! statement and witness request, never of the line. FNV-1a (64-bit, twice with different
//! offsets) is used because its output is fixed by definition, unlike std's `DefaultHasher`.

use std::collections::BTreeMap;

use serde_sarif::sarif::{
    ArtifactLocation, Location as SarifLocation, Message, MultiformatMessageString,
    PhysicalLocation, PropertyBag, Region, ReportingDescriptor, Result as SarifResult, ResultLevel,
    Run, Sarif, Suppression, Tool, ToolComponent,
};

use crate::checks::{Finding, Severity};

fn fnv1a(seed: u64, data: &str) -> u64 {
    data.bytes().fold(seed, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The fingerprint GitHub matches results by (`primaryLocationLineHash`-free: line-independent).
pub fn fingerprint(f: &Finding) -> String {
    let w = f
        .witness
        .iter()
        .map(|w| format!("{}|{}|{:?}", w.action, w.resource, w.caller.client_id))
        .collect::<Vec<_>>()
        .join(";");
    let key = format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        f.check,
        f.reason,
        f.principal,
        f.policy,
        f.statement.as_deref().unwrap_or(""),
        w
    );
    format!(
        "{:016x}{:016x}",
        fnv1a(0xcbf2_9ce4_8422_2325, &key),
        fnv1a(0x8422_2325_cbf2_9ce4, &key)
    )
}

fn level(s: Severity) -> ResultLevel {
    match s {
        Severity::Critical | Severity::High => ResultLevel::Error,
        Severity::Medium => ResultLevel::Warning,
        Severity::Low => ResultLevel::Note,
    }
}

/// A SARIF log of one run. `version` is the tool's version.
pub fn log(findings: &[Finding], version: &str) -> Sarif {
    let mut rule_ids: Vec<&str> = findings.iter().map(|f| f.check).collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let rules: Vec<ReportingDescriptor> = rule_ids
        .iter()
        .map(|id| {
            ReportingDescriptor::builder()
                .id(*id)
                .short_description(MultiformatMessageString::builder().text(*id).build())
                .build()
        })
        .collect();
    let results: Vec<SarifResult> = findings
        .iter()
        .map(|f| {
            let location = SarifLocation::builder()
                .physical_location(
                    PhysicalLocation::builder()
                        .artifact_location(
                            ArtifactLocation::builder()
                                .uri(f.location.file.replace('\\', "/"))
                                .build(),
                        )
                        .region(
                            Region::builder()
                                .start_line(i64::try_from(f.location.line.max(1)).unwrap_or(1))
                                .build(),
                        )
                        .build(),
                )
                .build();
            let mut props = BTreeMap::new();
            props.insert("reason".to_owned(), serde_json::Value::from(f.reason));
            props.insert(
                "severity".to_owned(),
                serde_json::Value::from(f.severity.as_str()),
            );
            props.insert("criterion".to_owned(), serde_json::Value::from(f.criterion));
            props.insert(
                "principal".to_owned(),
                serde_json::Value::from(f.principal.clone()),
            );
            if let Ok(w) = serde_json::to_value(&f.witness) {
                props.insert("witness".to_owned(), w);
            }
            let mut fingerprints = BTreeMap::new();
            fingerprints.insert("iotCanaryAudit/v1".to_owned(), fingerprint(f));
            let rule_index = rule_ids
                .iter()
                .position(|r| *r == f.check)
                .and_then(|i| i64::try_from(i).ok())
                .unwrap_or(0);
            let mut result = SarifResult::builder()
                .rule_id(f.check)
                .rule_index(rule_index)
                .level(level(f.severity))
                .message(
                    Message::builder()
                        .text(format!("[{}] {}", f.reason, f.message))
                        .build(),
                )
                .locations(vec![location])
                .partial_fingerprints(fingerprints)
                .properties(PropertyBag::builder().additional_properties(props).build())
                .build();
            if let Some(reason) = &f.suppressed {
                result.suppressions = Some(vec![
                    Suppression::builder()
                        .kind(serde_json::Value::from("external"))
                        .justification(reason.clone())
                        .build(),
                ]);
            }
            result
        })
        .collect();
    let driver = ToolComponent::builder()
        .name("iot-canary")
        .version(version)
        .semantic_version(version)
        .rules(rules)
        .build();
    Sarif::builder()
        .schema("https://json.schemastore.org/sarif-2.1.0.json")
        .version(serde_json::Value::from("2.1.0"))
        .runs(vec![
            Run::builder()
                .tool(Tool::builder().driver(driver).build())
                .results(results)
                .build(),
        ])
        .build()
}
