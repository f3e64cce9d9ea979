//! Suppressions: matched findings stay in the output, marked with the reason.

use iot_canary_audit::checks::{iot_policy_permissive, misconfiguration};
use iot_canary_audit::sources::PolicyKind;
use iot_canary_audit::{AuditOptions, suppress};

use super::{audit_doc, fixture};

#[test]
fn suppressed_findings_keep_their_place_with_the_reason() {
    let doc = fixture("device-defender/misconfigured.wildcard-in-deny.bad.json");
    let mut f = audit_doc(PolicyKind::IotPolicy, &doc, &AuditOptions::default());
    let n = f.len();
    // The documented spelling of the check name, limited to one statement.
    let s = suppress::parse(
        "audit-suppressions.toml",
        "[[suppress]]\ncheck = \"IOT_POLICY_POTENTIAL_MISCONFIGURATION_CHECK\"\npolicy = \"policy\"\nstatement = \"#1\"\nreason = \"literal # topic by design\"\n",
    )
    .unwrap();
    suppress::apply(&mut f, &s);
    assert_eq!(f.len(), n);
    let m = f
        .iter()
        .find(|f| f.check == misconfiguration::CHECK)
        .unwrap();
    assert_eq!(m.suppressed.as_deref(), Some("literal # topic by design"));
}

#[test]
fn a_suppression_for_another_statement_or_check_does_not_match() {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Sid":"C","Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#;
    let mut f = audit_doc(PolicyKind::IotPolicy, doc, &AuditOptions::default());
    let s = suppress::parse(
        "s.toml",
        "[[suppress]]\ncheck = \"IOT_POLICY_OVERLY_PERMISSIVE_CHECK\"\npolicy = \"policy\"\nstatement = \"Other\"\nreason = \"r\"\n\n[[suppress]]\ncheck = \"IOT_POLICY_CLIENT_ID_WILDCARD_CHECK\"\npolicy = \"policy\"\nreason = \"r\"\n",
    )
    .unwrap();
    suppress::apply(&mut f, &s);
    let c = f
        .iter()
        .find(|f| f.check == iot_policy_permissive::CHECK)
        .unwrap();
    assert_eq!(c.suppressed, None);
}
