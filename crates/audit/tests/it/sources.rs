//! Sources end to end: a CloudFormation template and a Terraform plan through `audit`, with
//! findings located at the statement's line.

use iot_canary_audit::checks::{cognito_unauth_role, iot_policy_permissive};
use iot_canary_audit::sources::{LoadOptions, load};
use iot_canary_audit::{AuditOptions, audit};

use super::fixture;

#[test]
fn cloudformation_template_findings_point_at_statement_lines() {
    let text = fixture("cloudformation/fleet.yaml");
    let sources = load("templates/fleet.yaml", &text, None, &LoadOptions::default()).unwrap();
    assert!(sources.findings.is_empty(), "{:?}", sources.findings);
    let f = audit(&sources, &AuditOptions::default());
    let got: Vec<_> = f
        .iter()
        .map(|f| {
            (
                f.check,
                f.principal.as_str(),
                f.statement.as_deref(),
                f.location.line,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            // DescribeThing on fleet-*: one prefix, but guests get no thing admin read at all.
            (cognito_unauth_role::CHECK, "GuestRole", Some("Things"), 33),
            (
                iot_policy_permissive::CHECK,
                "fleet-device",
                Some("Connect"),
                52
            ),
        ]
    );
    assert!(f.iter().all(|f| f.location.file == "templates/fleet.yaml"));
    assert_eq!(
        f[1].witness[0].resource,
        "arn:aws:iot:us-east-1:123456789012:client/audit-other-device"
    );
}

#[test]
fn cloudformation_parameters_and_pseudo_parameters_are_options() {
    let text = fixture("cloudformation/fleet.yaml");
    let options = LoadOptions {
        audit: AuditOptions {
            account_id: "999999999999".into(),
            region: "eu-west-1".into(),
            partition: "aws".into(),
        },
        parameters: vec![("FleetPrefix".into(), "lab".into())],
        document_kind: None,
    };
    let sources = load("fleet.yaml", &text, None, &options).unwrap();
    let device = sources
        .policies
        .iter()
        .find(|p| p.name == "lab-device")
        .unwrap();
    assert_eq!(
        device.document["Statement"][0]["Resource"],
        "arn:aws:iot:eu-west-1:999999999999:client/${iot:ClientId}"
    );
}

#[test]
fn the_projects_own_templates_audit_clean_or_report_what_they_cannot_see() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:canary-pw";
    let cases: [(&str, Vec<(String, String)>); 3] = [
        ("deploy/cloudformation/canary-principals.yaml", vec![]),
        (
            "deploy/ecs/iot-canary.yaml",
            vec![("CanaryPasswordsSecretArn".into(), secret.into())],
        ),
        (
            "deploy/ecs/iot-canary.yaml",
            vec![
                ("CanaryPasswordsSecretArn".into(), secret.into()),
                (
                    "VendingRoleArn".into(),
                    "arn:aws:iam::123456789012:role/vending".into(),
                ),
            ],
        ),
    ];
    for (t, parameters) in cases {
        let text = std::fs::read_to_string(root.join(t)).unwrap();
        let options = LoadOptions {
            parameters,
            ..Default::default()
        };
        let sources = load(t, &text, None, &options).unwrap_or_else(|e| panic!("{e}"));
        let f = audit(&sources, &AuditOptions::default());
        // Only the AWS-managed policy the template names but does not contain is reported.
        assert!(
            f.iter().all(|f| f.reason == "UNRESOLVED_REFERENCE"
                && f.message.contains("AmazonECSTaskExecutionRolePolicy")),
            "{t}: {f:#?}"
        );
    }
    // Without a value for the secret parameter the execution role's policy cannot be audited.
    let text = std::fs::read_to_string(root.join("deploy/ecs/iot-canary.yaml")).unwrap();
    let f = audit(
        &load("ecs.yaml", &text, None, &LoadOptions::default()).unwrap(),
        &AuditOptions::default(),
    );
    assert!(
        f.iter().any(|f| f.reason == "UNRESOLVED_INTRINSIC"
            && f.message
                .contains("--parameter CanaryPasswordsSecretArn=VALUE")),
        "{f:#?}"
    );
}

#[test]
fn terraform_plan_is_audited_with_plan_file_lines() {
    let plan = fixture("terraform/plan.json");
    let sources = load("plan.json", &plan, None, &LoadOptions::default()).unwrap();
    let f = audit(&sources, &AuditOptions::default());
    // Lines of the resources' `address` keys in the plan file.
    let got: Vec<_> = f
        .iter()
        .map(|f| (f.check, f.principal.as_str(), f.location.line))
        .collect();
    assert!(
        got.contains(&(cognito_unauth_role::CHECK, "aws_iam_role.guest", 14)),
        "{got:?}"
    );
    assert!(
        got.contains(&(iot_policy_permissive::CHECK, "device", 7)),
        "{got:?}"
    );
}

#[test]
fn undetectable_and_malformed_files_are_bad_input_with_lines() {
    let e = load("x.json", "{\"a\": 1}", None, &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("--source-kind"), "{e}");
    let e = load(
        "x.yaml",
        "Resources:\n  P: [\n",
        None,
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("x.yaml:"), "{e}");
}
