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
            ..Default::default()
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
    let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let cases: [(&str, Vec<(String, String)>); 6] = [
        (
            "deploy/cloudformation/policy-change-trigger.yaml",
            vec![p("Target", "both"), p("CanaryPasswordsSecretArn", secret)],
        ),
        (
            "deploy/cloudformation/policy-change-trigger.yaml",
            vec![p("Target", "api-destination")],
        ),
        (
            "deploy/cloudformation/policy-change-trigger-us-east-1.yaml",
            vec![p("HomeRegion", "eu-west-1")],
        ),
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

#[test]
fn truncated_and_odd_inputs_never_panic() {
    use iot_canary_audit::sources::FileKind;
    let mut inputs: Vec<String> = vec![
        String::new(),
        "[]".into(),
        "42".into(),
        "Resources: []".into(),
        "Resources: {P: {Type: AWS::IoT::Policy, Properties: {PolicyDocument: 7}}}".into(),
        "Resources: {P: {Type: AWS::IoT::Policy, Properties: {PolicyDocument: !Sub [a, b, c]}}}".into(),
        "Resources: {P: {Type: AWS::IoT::Policy, Properties: {PolicyDocument: {Statement: !If [C, x, y]}}}}".into(),
        "Resources: {R: {Type: AWS::IAM::Role, Properties: {Policies: !Ref AWS::NoValue}}}".into(),
        "Resources: {A: {Type: AWS::IoT::RoleAlias, Properties: {RoleArn: !GetAtt [X]}}}".into(),
        "Conditions: {C: !Condition C}\nResources: {P: {Type: AWS::IoT::Policy, Properties: {PolicyDocument: !If [C, {}, {}]}}}".into(),
        r#"{"planned_values": {"root_module": {"resources": [{"type": "aws_iot_policy"}, 3, {"address": "a", "type": "aws_iam_role_policy_attachment", "values": {}}]}}}"#.into(),
        r#"{"Statement": {"Effect": "Allow", "Action": "iot:*", "Resource": "arn:aws:iot:${"}}"#.into(),
        "Statement: [{Effect: Deny, Action: 'iot:Subscribe', Resource: 'arn:aws:iot:*:*:topicfilter/#/+/${iot:ClientId'}]".into(),
    ];
    for f in [
        "cloudformation/fleet.yaml",
        "terraform/plan.json",
        "device-defender/misconfigured.good.json",
    ] {
        let text = fixture(f);
        let cuts: Vec<usize> = (0..text.len())
            .step_by(5)
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        inputs.extend(cuts.into_iter().map(|i| text[..i].to_owned()));
    }
    for text in &inputs {
        for kind in [
            None,
            Some(FileKind::PolicyDocument),
            Some(FileKind::CloudFormation),
            Some(FileKind::TerraformPlan),
        ] {
            if let Ok(sources) = load("x", text, kind, &LoadOptions::default()) {
                let _ = audit(&sources, &AuditOptions::default());
            }
        }
    }
}

#[test]
fn cloudformation_if_and_conditions_pick_a_branch() {
    let text = r#"
Parameters:
  Strict: {Type: String, Default: "yes"}
Conditions:
  IsStrict: !Equals [!Ref Strict, "yes"]
  Loose: !Not [!Condition IsStrict]
Resources:
  P:
    Type: AWS::IoT::Policy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: iot:Connect
            Resource: !If [Loose, "*", "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]
            Condition: !If [IsStrict, {Bool: {"iot:Connection.Thing.IsAttached": "true"}}, !Ref "AWS::NoValue"]
"#;
    let strict = load("t.yaml", text, None, &LoadOptions::default()).unwrap();
    assert!(audit(&strict, &AuditOptions::default()).is_empty());
    let loose = LoadOptions {
        parameters: vec![("Strict".into(), "no".into())],
        ..Default::default()
    };
    let f = audit(
        &load("t.yaml", text, None, &loose).unwrap(),
        &AuditOptions::default(),
    );
    assert_eq!(f[0].criterion, "connect-any-client-id", "{f:#?}");
}
