//! Differential test: our evaluator against the independent IAM evaluator
//! `@cloud-copilot/iam-simulate` (run as a tool through Node; install with
//! `scripts/test-deps.sh`). Generated identity policies, optional session policies and
//! requests cover wildcards (`*`, `?`, case-insensitive actions), NotAction/NotResource,
//! Allow/Deny mixes, `${aws:username}` and the IAM condition operators on global keys.
//! IoT-only features (IoT policy variables, Cognito intersections, RetainPublish pairing) are
//! excluded: the other evaluator does not model them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use iot_canary_policy::{
    Decision, IotAction, Policy, PolicySet, Request, RequestContext, authorize,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const CASES: usize = 3000;

/// `target/test-tools/npm/node_modules` of the workspace (scripts/test-deps.sh installs the
/// oracle there). Not through iot-canary-testkit: the policy crate stays free of the lab.
fn tool_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-tools/npm/node_modules")
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn fragment(rng: &mut StdRng, alphabet: &[char], max: usize) -> String {
    let n = rng.random_range(0..=max);
    (0..n).map(|_| *pick(rng, alphabet)).collect()
}

/// Resource kinds per action as AWS IoT defines them.
fn kind(a: IotAction) -> &'static str {
    match a {
        IotAction::Connect => "client",
        IotAction::Publish | IotAction::Receive | IotAction::RetainPublish => "topic",
        IotAction::Subscribe => "topicfilter",
        _ => "thing",
    }
}

const ACTIONS: [IotAction; 6] = [
    IotAction::Connect,
    IotAction::Publish,
    IotAction::Subscribe,
    IotAction::Receive,
    IotAction::GetThingShadow,
    IotAction::UpdateThingShadow,
];

fn gen_resource_pattern(rng: &mut StdRng) -> String {
    // Wildcards in the resource-type prefix (`*/x`, `top?c/x`) are excluded: iam-simulate
    // treats the type as literal (citing IAM reference-arns "Incorrect wildcard usage"), we
    // glob-match the whole resource segment. AWS IoT's behaviour there is unverified.
    let k = *pick(rng, &["client", "topic", "topicfilter", "thing"]);
    let region = *pick(rng, &[REGION, REGION, REGION, "*", "us-*", "eu-west-1"]);
    let account = *pick(rng, &[ACCOUNT, ACCOUNT, ACCOUNT, "*", "999999999999"]);
    match rng.random_range(0..10) {
        0 => "*".to_owned(),
        1 => format!(
            "arn:aws:iot:{region}:{account}:{k}/${{aws:username}}/{}",
            fragment(rng, &['a', '*', '/'], 3)
        ),
        _ => format!(
            "arn:aws:iot:{region}:{account}:{k}/{}",
            fragment(rng, &['a', 'b', '/', '+', '#', '*', '?'], 5)
        ),
    }
}

fn gen_condition(rng: &mut StdRng) -> Option<Value> {
    let c = match rng.random_range(0..16) {
        0 => json!({"StringEquals": {"aws:username": pick(rng, &["alice", "bob", "Alice"])}}),
        1 => json!({"StringNotEquals": {"aws:username": ["alice", "carol"]}}),
        2 => json!({"StringLike": {"aws:username": pick(rng, &["a*", "?ob", "*"])}}),
        3 => json!({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}),
        4 => json!({"StringNotLike": {"aws:PrincipalTag/team": "red*"}}),
        5 => json!({"IpAddress": {"aws:SourceIp": pick(rng, &["10.0.0.0/8", "192.0.2.0/24"])}}),
        6 => json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        7 => {
            json!({"DateLessThan": {"aws:CurrentTime": pick(rng, &["2024-01-01T00:00:00Z", "2030-01-01T00:00:00Z"])}})
        }
        8 => json!({"DateGreaterThanEquals": {"aws:CurrentTime": "2024-06-01T00:00:00Z"}}),
        9 => json!({"NumericLessThan": {"aws:MultiFactorAuthAge": pick(rng, &["300", "3600"])}}),
        10 => json!({"NumericGreaterThanEquals": {"aws:MultiFactorAuthAge": "600"}}),
        11 => json!({"Bool": {"aws:SecureTransport": pick(rng, &["true", "false"])}}),
        12 => json!({"Null": {"aws:PrincipalTag/team": pick(rng, &["true", "false"])}}),
        13 => json!({"StringEqualsIfExists": {"aws:PrincipalTag/team": "blue"}}),
        14 => json!({"ForAnyValue:StringEquals": {"aws:PrincipalTag/team": ["blue", "green"]}}),
        _ => return None,
    };
    Some(c)
}

fn gen_statement(rng: &mut StdRng) -> Value {
    let effect = if rng.random_bool(0.3) {
        "Deny"
    } else {
        "Allow"
    };
    let action_pool = [
        "iot:Publish",
        "iot:Subscribe",
        "iot:Receive",
        "iot:Connect",
        "iot:GetThingShadow",
        "iot:UpdateThingShadow",
        "iot:*",
        "iot:Pub*",
        "iot:*Shadow",
        "*",
        "iot:?eceive",
        "IOT:publish",
        "iot:*e*",
    ];
    let n_actions = rng.random_range(1..=2);
    let actions: Vec<&str> = (0..n_actions).map(|_| *pick(rng, &action_pool)).collect();
    let n_res = rng.random_range(1..=2);
    let resources: Vec<String> = (0..n_res).map(|_| gen_resource_pattern(rng)).collect();
    let mut s = serde_json::Map::new();
    s.insert("Effect".into(), json!(effect));
    let a_key = if rng.random_bool(0.2) {
        "NotAction"
    } else {
        "Action"
    };
    s.insert(a_key.into(), json!(actions));
    let r_key = if rng.random_bool(0.2) {
        "NotResource"
    } else {
        "Resource"
    };
    s.insert(r_key.into(), json!(resources));
    if rng.random_bool(0.4)
        && let Some(c) = gen_condition(rng)
    {
        s.insert("Condition".into(), c);
    }
    Value::Object(s)
}

fn gen_policy(rng: &mut StdRng) -> Value {
    let n = rng.random_range(1..=4);
    json!({"Version": "2012-10-17", "Statement": (0..n).map(|_| gen_statement(rng)).collect::<Vec<_>>()})
}

struct Case {
    identity: Vec<Value>,
    session: Option<Value>,
    action: IotAction,
    resource_arn: String,
    context: serde_json::Map<String, Value>,
}

fn gen_case(rng: &mut StdRng) -> Case {
    let identity = (0..rng.random_range(1..=2))
        .map(|_| gen_policy(rng))
        .collect();
    let session = rng.random_bool(0.35).then(|| gen_policy(rng));
    let action = *pick(rng, &ACTIONS);
    let name = fragment(rng, &['a', 'b', '/', '+', '#'], 5);
    let name = if name.is_empty() {
        "a".to_owned()
    } else {
        name
    };
    let resource_arn = format!("arn:aws:iot:{REGION}:{ACCOUNT}:{}/{name}", kind(action));
    let mut context = serde_json::Map::new();
    context.insert("aws:username".into(), json!(pick(rng, &["alice", "bob"])));
    // Global condition keys, each present with its probability, from a few values.
    let optional: [(&str, f64, &[&str]); 5] = [
        (
            "aws:SourceIp",
            0.7,
            &["10.1.2.3", "192.0.2.9", "203.0.113.5"],
        ),
        (
            "aws:CurrentTime",
            0.7,
            &["2023-05-01T00:00:00Z", "2025-01-01T12:00:00Z"],
        ),
        ("aws:MultiFactorAuthAge", 0.5, &["100", "1000"]),
        ("aws:SecureTransport", 0.6, &["true", "false"]),
        ("aws:PrincipalTag/team", 0.5, &["blue", "red-1"]),
    ];
    for (key, p, values) in optional {
        if rng.random_bool(p) {
            context.insert(key.into(), json!(pick(rng, values)));
        }
    }
    Case {
        identity,
        session,
        action,
        resource_arn,
        context,
    }
}

fn ours(c: &Case) -> Decision {
    let parse = |name: &str, v: &Value| {
        Arc::new(Policy::parse(name, &v.to_string()).expect("generated policy parses"))
    };
    let identity: Vec<_> = c
        .identity
        .iter()
        .enumerate()
        .map(|(i, p)| parse(&format!("P{i}"), p))
        .collect();
    let set = match &c.session {
        Some(s) => PolicySet::AssumedRole {
            role_policies: identity,
            session_policies: vec![parse("session", s)],
        },
        None => PolicySet::Iam { policies: identity },
    };
    let mut ctx = RequestContext {
        region: REGION.into(),
        account_id: ACCOUNT.into(),
        ..Default::default()
    };
    for (k, v) in &c.context {
        let v = v.as_str().expect("string context values");
        match k.as_str() {
            "aws:SourceIp" => ctx.source_ip = Some(v.parse().expect("ip")),
            "aws:CurrentTime" => {
                let secs = match v {
                    "2023-05-01T00:00:00Z" => 1_682_899_200,
                    "2025-01-01T12:00:00Z" => 1_735_732_800,
                    other => panic!("unknown time {other}"),
                };
                ctx.current_time = Some(UNIX_EPOCH + Duration::from_secs(secs));
            }
            _ => {
                ctx.values
                    .insert(k.to_ascii_lowercase(), vec![v.to_owned()]);
            }
        }
    }
    authorize(
        &set,
        &Request {
            action: c.action,
            resource: &c.resource_arn,
            context: &ctx,
        },
    )
    .decision
}

#[test]
fn agrees_with_iam_simulate_on_generated_cases() {
    let modules = tool_dir();
    assert!(
        modules
            .join("@cloud-copilot/iam-simulate/package.json")
            .exists(),
        "@cloud-copilot/iam-simulate is missing under {}: run scripts/test-deps.sh",
        modules.display()
    );
    let seed: u64 = std::env::var("POLICY_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x10c4_a7a7);
    let mut rng = StdRng::seed_from_u64(seed);
    let cases: Vec<Case> = (0..CASES).map(|_| gen_case(&mut rng)).collect();

    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("cases.jsonl");
    let mut f = std::fs::File::create(&input).expect("create cases file");
    for c in &cases {
        let principal = if c.session.is_some() {
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/DeviceAccess/alice")
        } else {
            format!("arn:aws:iam::{ACCOUNT}:user/alice")
        };
        let line = json!({
            "principal": principal,
            "action": c.action.name(),
            "resource": c.resource_arn,
            "account": ACCOUNT,
            "context": c.context,
            "identity_policies": c.identity,
            "session_policy": c.session,
        });
        writeln!(f, "{line}").expect("write case");
    }
    drop(f);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/differential.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(&modules)
        .arg(&input)
        .output()
        .expect("node must be installed (run scripts/test-deps.sh)");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let results: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("oracle JSON"))
        .collect();
    assert_eq!(results.len(), cases.len(), "one oracle answer per case");

    let mut disagreements = Vec::new();
    let mut tallies = [0usize; 3];
    for (i, (c, r)) in cases.iter().zip(&results).enumerate() {
        let theirs = match r.get("result").and_then(Value::as_str) {
            Some("Allowed") => Decision::Allowed,
            Some("ExplicitlyDenied") => Decision::ExplicitDeny,
            Some("ImplicitlyDenied") => Decision::ImplicitDeny,
            _ => panic!(
                "case {i}: oracle could not evaluate: {r}\nrequest {} {}\npolicies {}",
                c.action.name(),
                c.resource_arn,
                json!(c.identity)
            ),
        };
        let mine = ours(c);
        tallies[match mine {
            Decision::Allowed => 0,
            Decision::ExplicitDeny => 1,
            Decision::ImplicitDeny => 2,
        }] += 1;
        if mine != theirs {
            disagreements.push(format!(
                "case {i}: ours {mine:?} theirs {theirs:?}\n  request {} {} ctx {}\n  identity {}\n  session {}",
                c.action.name(),
                c.resource_arn,
                json!(c.context),
                json!(c.identity),
                json!(c.session)
            ));
        }
    }
    eprintln!(
        "differential: {} generated cases (seed {seed:#x}): {} allowed, {} explicit deny, {} implicit deny; {} disagreements",
        cases.len(),
        tallies[0],
        tallies[1],
        tallies[2],
        disagreements.len()
    );
    // Every outcome must be exercised, or the comparison proves little.
    assert!(
        tallies.iter().all(|&n| n >= CASES / 20),
        "unbalanced generator: {tallies:?}"
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree; first ones:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
