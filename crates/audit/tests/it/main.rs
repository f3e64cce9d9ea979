//! Integration tests of the audit crate, in one binary. Each Device Defender test names the
//! documentation page and the criterion it encodes.

mod device_defender;
mod extra_checks;
mod generate;
mod sarif;
mod sources;
mod suppressions;

use iot_canary_audit::sources::node::parse;
use iot_canary_audit::sources::{LoadOptions, PolicyKind, SourceSet, json};
use iot_canary_audit::{AuditOptions, Finding, audit};

pub fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The ARN placeholders of the Device Defender pages, as region and account.
pub fn doc_options() -> AuditOptions {
    AuditOptions {
        region: "region".into(),
        account_id: "account-id".into(),
        partition: "aws".into(),
        ..Default::default()
    }
}

pub fn load_doc(name: &str, kind: PolicyKind, text: &str, options: &AuditOptions) -> SourceSet {
    let load = LoadOptions {
        audit: options.clone(),
        parameters: Vec::new(),
        document_kind: Some(kind),
    };
    json::load(
        name,
        &parse(text).unwrap_or_else(|e| panic!("{e:?}")),
        &load,
    )
    .unwrap()
}

/// Audits one policy document of the given kind.
pub fn audit_doc(kind: PolicyKind, text: &str, options: &AuditOptions) -> Vec<Finding> {
    audit(&load_doc("policy.json", kind, text, options), options)
}

/// A policy with one Allow statement of `actions` on `resource`.
pub fn allow(actions: &[&str], resource: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]
    })
    .to_string()
}

/// `(check, reason, criterion)` of each finding.
/// Exactly one finding, with this (check, reason, criterion); `context` names the case.
pub fn assert_single(findings: &[Finding], want: (&str, &str, &str), context: &str) {
    assert_eq!(codes(findings), [want], "{context}");
}

/// Like [`assert_single`], and its message says `says`.
pub fn assert_single_saying(findings: &[Finding], want: (&str, &str, &str), says: &str) {
    assert_single(findings, want, says);
    let message = &findings[0].message;
    assert!(message.contains(says), "{message}");
}

/// The findings of one check.
pub fn of_check(findings: Vec<Finding>, check: &str) -> Vec<Finding> {
    findings.into_iter().filter(|f| f.check == check).collect()
}

pub fn codes(findings: &[Finding]) -> Vec<(&'static str, &'static str, &'static str)> {
    findings
        .iter()
        .map(|f| (f.check, f.reason, f.criterion))
        .collect()
}
